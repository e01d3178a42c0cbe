//! The upstream call's resilience and the agent loop, in process with the scripted `MockLlm`
//! (no sockets): retries and backoff, fallback order, the circuit breaker, a tool round, a
//! transfer and a loop's escalation. The HTTP tests are the product's specification; these pin
//! the logic underneath them, fast and without timing races.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use adk_llm_proxy::agent::AgentSet;
use adk_llm_proxy::agent::config::load_dir;
use adk_llm_proxy::config::{ProviderSettings, RuntimeSettings};
use adk_llm_proxy::llm::call::{self, Answer};
use adk_llm_proxy::llm::mock::{self, MockLlm, MockReply};
use adk_llm_proxy::llm::{LlmError, Provider, ProviderRegistry, Route};
use adk_llm_proxy::observe::RequestFacts;
use adk_llm_proxy::runner::{RunRequest, Runner};
use adk_llm_proxy::session::SessionService;
use adk_llm_proxy::session::identity::SessionKey;
use adk_llm_proxy::session::memory::InMemorySessionService;
use adk_llm_proxy::tool::ToolRegistry;
use adk_llm_proxy::wire::{ChatRequest, ReasoningMode};

fn request(stream: bool) -> ChatRequest {
    serde_json::from_value(json!({
        "messages": [{"role": "user", "content": "hi"}],
        "stream": stream,
    }))
    .expect("request")
}

fn provider(name: &str, llm: &Arc<MockLlm>, tune: impl FnOnce(&mut ProviderSettings)) -> Provider {
    mock::provider(name, llm.clone(), tune)
}

/// One provider `name` over `llm` with these retries and base backoff.
fn single(name: &str, llm: &Arc<MockLlm>, retries: u32, backoff_ms: u64) -> ProviderRegistry {
    let up = provider(name, llm, |s| {
        s.retries = retries;
        s.retry_backoff_ms = backoff_ms;
    });
    ProviderRegistry::new([up], name, "m")
}

fn route(registry: &ProviderRegistry, name: &str) -> Route {
    registry.resolve(Some(&format!("{name}/m"))).expect("route")
}

async fn answer(registry: &ProviderRegistry, name: &str) -> Result<Answer, LlmError> {
    call::answer(
        registry,
        request(true),
        route(registry, name),
        &[],
        &RequestFacts::detached(),
    )
    .await
}

fn served_by(answer: &Answer) -> &str {
    match answer {
        Answer::Stream { route, .. } | Answer::Complete { route, .. } => route.provider.name(),
    }
}

#[tokio::test(start_paused = true)]
async fn retryable_errors_are_retried_with_growing_backoff() {
    let llm = Arc::new(MockLlm::scripted([
        MockReply::status(503),
        MockReply::status(502),
        MockReply::text("ok"),
    ]));
    let registry = single("up", &llm, 2, 100);
    let started = tokio::time::Instant::now();
    let answer = answer(&registry, "up")
        .await
        .expect("third attempt answers");
    assert_eq!(served_by(&answer), "up");
    assert_eq!(llm.calls(), 3);
    // Backoff 100 ms then 200 ms, each with ±50 % jitter: between 150 and 450 ms of waiting.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited <= Duration::from_millis(450),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_error_is_not_retried() {
    let llm = Arc::new(MockLlm::scripted([
        MockReply::status(400),
        MockReply::text("never"),
    ]));
    let registry = single("up", &llm, 3, 250);
    let error = answer(&registry, "up").await.err().expect("400 is final");
    assert_eq!(error.status().as_u16(), 400);
    assert_eq!(llm.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_upstream_retry_after_is_waited_out() {
    let llm = Arc::new(MockLlm::scripted([
        MockReply::Fail(LlmError::from_upstream_body(
            429,
            br#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#,
            Some("3".into()),
        )),
        MockReply::text("ok"),
    ]));
    let registry = single("up", &llm, 1, 10);
    let started = tokio::time::Instant::now();
    answer(&registry, "up")
        .await
        .expect("answers after the wait");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn fallbacks_are_tried_in_their_order() {
    let primary = Arc::new(MockLlm::scripted([MockReply::status(503)]));
    let second = Arc::new(MockLlm::scripted([MockReply::status(500)]));
    let third = Arc::new(MockLlm::scripted([MockReply::text("from third")]));
    let registry = ProviderRegistry::new(
        [
            provider("primary", &primary, |s| {
                s.fallbacks = vec!["second/m".into(), "third/m".into()];
            }),
            provider("second", &second, |_| {}),
            provider("third", &third, |_| {}),
        ],
        "primary",
        "m",
    );
    let answer = answer(&registry, "primary").await.expect("third answers");
    assert_eq!(served_by(&answer), "third");
    assert_eq!((primary.calls(), second.calls(), third.calls()), (1, 1, 1));
}

/// `primary` (circuit opens after 2 failures, 200 ms cool-down) with a `backup` fallback that
/// always answers.
fn with_backup(primary: &Arc<MockLlm>) -> ProviderRegistry {
    let backup = Arc::new(MockLlm::scripted([MockReply::text("backup")]));
    ProviderRegistry::new(
        [
            provider("primary", primary, |s| {
                s.fallbacks = vec!["backup/m".into()];
                s.circuit_breaker_failures = 2;
                s.circuit_breaker_cooldown_secs = 0.2;
            }),
            provider("backup", &backup, |_| {}),
        ],
        "primary",
        "m",
    )
}

#[tokio::test]
async fn an_open_circuit_is_skipped_and_closes_after_a_successful_trial() {
    let primary = Arc::new(MockLlm::scripted([
        MockReply::status(503),
        MockReply::status(503),
        MockReply::text("recovered"),
    ]));
    let registry = with_backup(&primary);
    // Two failures (each served by the backup) open the primary's circuit.
    for _ in 0..2 {
        let served = answer(&registry, "primary").await.expect("backup answers");
        assert_eq!(served_by(&served), "backup");
    }
    assert!(route(&registry, "primary").provider.breaker.is_open());
    // While open, the primary is not called at all.
    let served = answer(&registry, "primary").await.expect("backup answers");
    assert_eq!(served_by(&served), "backup");
    assert_eq!(primary.calls(), 2);
    // After the cool-down the next request is a trial; its success closes the circuit.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let served = answer(&registry, "primary")
        .await
        .expect("primary recovered");
    assert_eq!(served_by(&served), "primary");
    assert_eq!(primary.calls(), 3);
    assert!(!route(&registry, "primary").provider.breaker.is_open());
}

#[tokio::test]
async fn a_failed_trial_opens_the_circuit_again_at_once() {
    let primary = Arc::new(MockLlm::scripted([MockReply::status(503)]));
    let registry = with_backup(&primary);
    for _ in 0..2 {
        answer(&registry, "primary").await.expect("backup answers");
    }
    tokio::time::sleep(Duration::from_millis(250)).await;
    answer(&registry, "primary").await.expect("backup answers");
    assert_eq!(primary.calls(), 3, "the trial reached the primary");
    assert!(
        route(&registry, "primary").provider.breaker.is_open(),
        "one failed trial re-opens the circuit"
    );
}

/// A run of `root` from the agents in `files` over a model scripted with `replies`; returns the
/// streamed answer text, the reasoning text and the model.
struct Run {
    content: String,
    reasoning: String,
    llm: Arc<MockLlm>,
    sessions: Arc<InMemorySessionService>,
    agents: Arc<AgentSet>,
}

async fn run_agents(files: &[(&str, &str)], root: &str, replies: Vec<MockReply>) -> Run {
    let dir = support::project("in-process", files);
    let llm = Arc::new(MockLlm::scripted(replies));
    let registry = Arc::new(ProviderRegistry::new(
        [provider("up", &llm, |_| {})],
        "up",
        "m",
    ));
    let tree = load_dir(
        &dir.join("agents"),
        &dir.join("prompts"),
        &ToolRegistry::with_builtins(),
    )
    .expect("agents load");
    let agents =
        Arc::new(AgentSet::from_tree(tree, &registry, &dir.join("prompts")).expect("agents build"));
    let sessions = Arc::new(InMemorySessionService::default());
    let runner = Runner {
        sessions: sessions.clone(),
        registry,
        limits: RuntimeSettings::default(),
    };
    let request = request(true);
    let mut chunks = runner
        .start(RunRequest {
            agents: agents.clone(),
            root: root.to_string(),
            request: &request,
            model: None,
            session: SessionKey {
                user: "u".into(),
                id: "s1".into(),
            },
            mode: ReasoningMode::ReasoningContent,
            facts: RequestFacts::detached(),
        })
        .await
        .expect("run starts");
    let (mut content, mut reasoning) = (String::new(), String::new());
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.expect("chunk");
        for choice in &chunk.choices {
            content.push_str(choice.delta.content.as_deref().unwrap_or(""));
            reasoning.push_str(choice.delta.reasoning_content.as_deref().unwrap_or(""));
        }
    }
    Run {
        content,
        reasoning,
        llm,
        sessions,
        agents,
    }
}

fn tool_messages(request: &ChatRequest) -> Vec<Value> {
    request
        .messages
        .iter()
        .filter(|m| m.role() == "tool")
        .map(|m| Value::Object(m.fields().clone()))
        .collect()
}

#[tokio::test]
async fn an_llm_agent_runs_its_tool_and_answers_with_the_result() {
    let run = run_agents(
        &[(
            "agents/clock.yaml",
            "name: clock\ninstruction: Tell the time.\ntools:\n  - name: current_time\n",
        )],
        "clock",
        vec![
            MockReply::tool_call("current_time", json!({"timezone": "UTC"})),
            MockReply::text("It is late."),
        ],
    )
    .await;
    assert_eq!(run.content, "It is late.");
    assert!(run.reasoning.contains("current_time"), "{}", run.reasoning);
    let requests = run.llm.requests();
    assert_eq!(requests.len(), 2);
    let results = tool_messages(&requests[1].body);
    assert_eq!(results.len(), 1, "{results:?}");
    assert!(
        results[0]["content"].as_str().unwrap_or("").contains("UTC"),
        "{results:?}"
    );
}

#[tokio::test]
async fn a_transfer_hands_the_turn_and_the_next_one_to_the_target() {
    let run = run_agents(
        &[
            (
                "agents/front.yaml",
                "name: front\ninstruction: Route.\nsub_agents:\n  - name: expert\n",
            ),
            (
                "agents/expert.yaml",
                "name: expert\ndescription: knows things\ninstruction: Answer.\n",
            ),
        ],
        "front",
        vec![
            MockReply::tool_call("transfer_to_agent", json!({"agent_name": "expert"})),
            MockReply::text("expert answer"),
        ],
    )
    .await;
    assert_eq!(run.content, "expert answer");
    assert_eq!(run.llm.calls(), 2);
    let session = run
        .sessions
        .get_session("front", "u", "s1")
        .await
        .expect("store")
        .expect("session exists");
    assert_eq!(run.agents.agent_to_run("front", &session.events), "expert");
}

#[tokio::test]
async fn exit_loop_stops_a_loop_agent_before_max_iterations() {
    let run = run_agents(
        &[
            (
                "agents/refine.yaml",
                "name: refine\nagent_class: LoopAgent\nmax_iterations: 5\nsub_agents:\n  - name: drafter\n  - name: critic\n",
            ),
            ("agents/drafter.yaml", "name: drafter\ninstruction: Draft.\n"),
            (
                "agents/critic.yaml",
                "name: critic\ninstruction: Judge.\ntools:\n  - name: exit_loop\n",
            ),
        ],
        "refine",
        vec![
            MockReply::text("a fine draft"),
            MockReply::tool_call("exit_loop", json!({})),
            MockReply::text("never reached"),
        ],
    )
    .await;
    assert_eq!(
        run.llm.calls(),
        2,
        "drafter once, critic once, then the loop ends"
    );
    assert!(!run.content.contains("never reached"));
    assert!(
        format!("{}{}", run.content, run.reasoning).contains("a fine draft"),
        "{run:?}",
        run = (run.content, run.reasoning)
    );
}
