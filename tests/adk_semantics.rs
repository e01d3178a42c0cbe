//! ADK semantics that must hold across turns and inside workflows (issue 11): each test is one
//! scenario where the runtime used to differ from google/adk-python, driven through the real HTTP
//! surface with a scripted upstream.

mod support;

use std::sync::Arc;

use adk_llm_proxy::agent::CallbackContext;
use adk_llm_proxy::agent::callbacks::CallbackFuture;
use adk_llm_proxy::event::Content;
use serde_json::{Value, json};
use support::*;

async fn chat(proxy: &Proxy, body: Value, headers: &[(&str, &str)]) -> reqwest::Response {
    chat_request(proxy, None, &body, headers).await
}

fn finish_reason(sse: &SseTranscript) -> Option<String> {
    sse.json().iter().rev().find_map(|c| {
        c["choices"][0]["finish_reason"]
            .as_str()
            .map(str::to_string)
    })
}

fn client_tool_calls(sse: &SseTranscript) -> Vec<Value> {
    sse.json()
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array().cloned())
        .flatten()
        .collect()
}

fn tool(name: &str) -> Value {
    json!({"type": "function", "function": {"name": name, "description": name,
        "parameters": {"type": "object", "properties": {}}}})
}

const ASSISTANT: (&str, &str) = (
    "agents/assistant.yaml",
    "name: assistant\ndescription: Knows the time.\ninstruction: Use current_time.\ntools:\n  - name: current_time\n",
);

/// Defect 1: a client tool with the name of the agent's own tool: the agent's tool wins (ADK),
/// and the client is not asked to run it a second time.
#[tokio::test]
async fn the_agents_own_tool_wins_a_name_clash_and_is_never_sent_to_the_client() {
    let up = FakeUpstream::start(script(vec![
        tool_call_reply(
            &[("c1", "current_time", json!({"timezone": "Asia/Tokyo"}))],
            1,
            1,
        ),
        text_reply("It is noon in Tokyo.", 1, 1),
    ]))
    .await;
    let root = project("clash", &[ASSISTANT]);
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    let sse = read_sse(
        chat(
            &proxy,
            json!({"model": "assistant", "messages": user("time in Tokyo?"), "stream": true,
                   "tools": [tool("current_time"), tool("lookup")]}),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(sse.content(), "It is noon in Tokyo.");
    assert!(client_tool_calls(&sse).is_empty(), "{:?}", sse.json());
    assert_eq!(finish_reason(&sse).as_deref(), Some("stop"));
    let requests = up.requests();
    assert_eq!(requests.len(), 2, "the proxy ran its own tool and answered");
    assert_eq!(requests[0].tool_names(), ["current_time", "lookup"]);
}

/// An `after_model` callback that only writes state.
struct CountsAnswers;

impl adk_llm_proxy::agent::Callbacks for CountsAnswers {
    fn after_model<'a>(
        &'a self,
        ctx: &'a mut CallbackContext,
        response: &'a Content,
    ) -> CallbackFuture<'a, Option<Content>> {
        Box::pin(async move {
            ctx.actions
                .state_delta
                .insert("answers_seen".into(), json!(response.joined_text().len()));
            None
        })
    }
}

/// An `after_model` callback that replaces one answer.
struct Translates;

impl adk_llm_proxy::agent::Callbacks for Translates {
    fn after_model<'a>(
        &'a self,
        _ctx: &'a mut CallbackContext,
        response: &'a Content,
    ) -> CallbackFuture<'a, Option<Content>> {
        Box::pin(async move {
            (response.joined_text() == "Hello").then(|| Content::text("model", "Bonjour"))
        })
    }
}

async fn proxy_with_callbacks(
    up: &FakeUpstream,
    files: &[(&str, &str)],
    callbacks: Vec<Arc<dyn adk_llm_proxy::agent::Callbacks>>,
) -> Proxy {
    let root = project("callbacks", files);
    let state = build_state(
        &agent_settings(&up.openai_base(), &root, ""),
        &[("UP_KEY", "k")],
    )
    .await;
    let agents = adk_llm_proxy::agent::AgentSet::load(&state.config, &state.registry)
        .expect("agents")
        .with_callbacks(callbacks);
    state.replace_agents(agents);
    serve_state(state).await
}

/// Defect 2: the callback's state rides on the model event (ADK), so the answer is shown once;
/// a replaced answer reaches a streaming client as a correction after what it already saw.
#[tokio::test]
async fn after_model_state_does_not_repeat_the_answer_and_a_replacement_is_shown() {
    let up = FakeUpstream::start(script(vec![
        text_reply("Hello", 1, 1),
        text_reply("Hello", 1, 1),
    ]))
    .await;
    let echo = (
        "agents/echo.yaml",
        "name: echo\ninstruction: Greet.\noutput_key: greeting\n",
    );
    let proxy = proxy_with_callbacks(&up, &[echo], vec![Arc::new(CountsAnswers)]).await;
    let sse = read_sse(
        chat(
            &proxy,
            json!({"model": "echo", "messages": user("hi"), "stream": true}),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(sse.content(), "Hello");

    let proxy = proxy_with_callbacks(&up, &[echo], vec![Arc::new(Translates)]).await;
    let sse = read_sse(
        chat(
            &proxy,
            json!({"model": "echo", "messages": user("hi"), "stream": true}),
            &[("X-Session-Id", "replaced")],
        )
        .await,
    )
    .await;
    assert_eq!(sse.content(), "Hello\n\n---\n**Correction:** Bonjour");
}

const SEQUENCE: &[(&str, &str)] = &[
    (
        "agents/pipeline.yaml",
        "name: pipeline\nagent_class: SequentialAgent\nsub_agents:\n  - name: collect\n  - name: answer\n",
    ),
    (
        "agents/collect.yaml",
        "name: collect\ninstruction: Collect facts with lookup.\noutput_key: facts\n",
    ),
    (
        "agents/answer.yaml",
        "name: answer\ninstruction: \"Answer from: {facts}\"\n",
    ),
];

/// Defect 3: a client tool call pauses the whole workflow; the client's result resumes it at
/// the agent that made the call, and the sequence goes on from there.
#[tokio::test]
async fn a_client_tool_call_pauses_a_sequence_and_the_result_resumes_it_in_place() {
    let up = FakeUpstream::start(script(vec![
        tool_call_reply(&[("l1", "lookup", json!({"q": "answer"}))], 1, 1),
        text_reply("The fact is 42.", 1, 1),
        text_reply("The answer is 42.", 1, 1),
    ]))
    .await;
    let root = project("pause-sequence", SEQUENCE);
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    let headers = [("X-Session-Id", "seq-1")];
    let sse = read_sse(
        chat(
            &proxy,
            json!({"model": "pipeline", "messages": user("what is it?"), "stream": true,
                   "tools": [tool("lookup")]}),
            &headers,
        )
        .await,
    )
    .await;
    assert_eq!(finish_reason(&sse).as_deref(), Some("tool_calls"));
    assert_eq!(client_tool_calls(&sse).len(), 1);
    assert_eq!(
        sse.content(),
        "",
        "the answer step waits for the tool result"
    );
    assert_eq!(up.requests().len(), 1);

    let messages = json!([
        {"role": "user", "content": "what is it?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "l1", "type": "function",
            "function": {"name": "lookup", "arguments": "{\"q\":\"answer\"}"}}]},
        {"role": "tool", "tool_call_id": "l1", "content": "42"},
    ]);
    let sse = read_sse(
        chat(
            &proxy,
            json!({"model": "pipeline", "messages": messages, "stream": true,
                   "tools": [tool("lookup")]}),
            &headers,
        )
        .await,
    )
    .await;
    assert_eq!(sse.content(), "The answer is 42.");
    let requests = up.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(
        requests[1].system(),
        "Collect facts with lookup.",
        "resumed at collect"
    );
    assert!(
        requests[1]
            .messages_text()
            .contains("\"tool_call_id\":\"l1\"")
    );
    assert_eq!(requests[2].system(), "Answer from: The fact is 42.");
}

/// Defect 3, inside a loop: the iteration and position survive the pause.
#[tokio::test]
async fn a_paused_loop_resumes_in_the_same_iteration() {
    let up = FakeUpstream::start(script(vec![
        text_reply("draft 1", 1, 1),
        tool_call_reply(&[("l1", "lookup", json!({}))], 1, 1),
        text_reply("checked 1", 1, 1),
        text_reply("draft 2", 1, 1),
        text_reply("checked 2", 1, 1),
        text_reply("never", 1, 1),
    ]))
    .await;
    let root = project(
        "pause-loop",
        &[
            (
                "agents/rounds.yaml",
                "name: rounds\nagent_class: LoopAgent\nmax_iterations: 2\nsub_agents:\n  - name: drafter\n  - name: checker\n",
            ),
            (
                "agents/drafter.yaml",
                "name: drafter\ninstruction: Draft.\n",
            ),
            (
                "agents/checker.yaml",
                "name: checker\ninstruction: Check with lookup.\n",
            ),
        ],
    );
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    let headers = [("X-Session-Id", "loop-1")];
    let first = read_sse(
        chat(
            &proxy,
            json!({"model": "rounds", "messages": user("go"), "stream": true,
                   "tools": [tool("lookup")]}),
            &headers,
        )
        .await,
    )
    .await;
    assert_eq!(finish_reason(&first).as_deref(), Some("tool_calls"));
    assert_eq!(up.requests().len(), 2);
    let messages = json!([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "l1", "type": "function",
            "function": {"name": "lookup", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "l1", "content": "ok"},
    ]);
    let second = read_sse(
        chat(
            &proxy,
            json!({"model": "rounds", "messages": messages, "stream": true,
                   "tools": [tool("lookup")]}),
            &headers,
        )
        .await,
    )
    .await;
    let requests = up.requests();
    let systems: Vec<String> = requests.iter().map(|r| r.system()).collect();
    assert_eq!(
        systems,
        [
            "Draft.",
            "Check with lookup.",
            "Check with lookup.",
            "Draft.",
            "Check with lookup."
        ],
        "iteration 1 resumes at checker, then iteration 2 runs, then the loop ends"
    );
    assert_eq!(second.content(), "draft 2");
}

const ROUTER: &[(&str, &str)] = &[
    (
        "agents/router.yaml",
        "name: router\ninstruction: Route.\nsub_agents:\n  - name: code_expert\n",
    ),
    (
        "agents/code_expert.yaml",
        "name: code_expert\ndescription: Programming.\ninstruction: Write code.\ndisallow_transfer_to_parent: true\n",
    ),
];

/// Defect 4: a client tool's result goes back to the agent that asked for it, even when that
/// agent may not hand the conversation back to its parent.
#[tokio::test]
async fn a_tool_result_goes_to_the_agent_that_called_the_tool() {
    let up = FakeUpstream::start(script(vec![
        tool_call_reply(
            &[(
                "t1",
                "transfer_to_agent",
                json!({"agent_name": "code_expert"}),
            )],
            1,
            1,
        ),
        tool_call_reply(&[("c1", "run_code", json!({"code": "1+1"}))], 1, 1),
        text_reply("It prints 2.", 1, 1),
    ]))
    .await;
    let root = project("result-owner", ROUTER);
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    let headers = [("X-Session-Id", "owner-1")];
    let tools = json!([tool("run_code")]);
    let first = read_sse(
        chat(
            &proxy,
            json!({"model": "router", "messages": user("1+1?"), "stream": true, "tools": tools}),
            &headers,
        )
        .await,
    )
    .await;
    assert_eq!(finish_reason(&first).as_deref(), Some("tool_calls"));
    let messages = json!([
        {"role": "user", "content": "1+1?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "run_code", "arguments": "{\"code\":\"1+1\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "2"},
    ]);
    let second = read_sse(
        chat(
            &proxy,
            json!({"model": "router", "messages": messages, "stream": true, "tools": tools}),
            &headers,
        )
        .await,
    )
    .await;
    assert_eq!(second.content(), "It prints 2.");
    assert!(
        up.requests()[2].system().starts_with("Write code."),
        "code_expert gets its tool's result: {}",
        up.requests()[2].system()
    );
}

/// Defect 5: an AgentTool's inner run passes up only state: the inner critic's `exit_loop`
/// ends the inner loop, never the outer one.
#[tokio::test]
async fn an_agent_tools_inner_exit_loop_does_not_end_the_outer_loop() {
    let up = FakeUpstream::start(script(vec![
        tool_call_reply(&[("j1", "review", json!({"request": "draft"}))], 1, 1),
        tool_call_reply(&[("x1", "exit_loop", json!({}))], 1, 1),
        text_reply("draft 1", 1, 1),
        text_reply("draft 2", 1, 1),
    ]))
    .await;
    let root = project(
        "agent-tool-actions",
        &[
            (
                "agents/outer.yaml",
                "name: outer\nagent_class: LoopAgent\nmax_iterations: 2\nsub_agents:\n  - name: writer\n",
            ),
            (
                "agents/writer.yaml",
                "name: writer\ninstruction: Write.\ntools:\n  - name: AgentTool\n    args: { agent: review }\n",
            ),
            (
                "agents/review.yaml",
                "name: review\nagent_class: LoopAgent\nmax_iterations: 3\ndescription: Reviews.\nsub_agents:\n  - name: critic\n",
            ),
            (
                "agents/critic.yaml",
                "name: critic\ninstruction: Criticise; call exit_loop when good.\ntools:\n  - name: exit_loop\n",
            ),
        ],
    );
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    let sse = read_sse(
        chat(
            &proxy,
            json!({"model": "outer", "messages": user("write"), "stream": true}),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(
        up.requests().len(),
        4,
        "the outer loop ran its second iteration"
    );
    assert_eq!(sse.content(), "draft 2");
}

/// The error loading the project's `agents/` gives, or "".
fn load_error(root: &std::path::Path) -> String {
    adk_llm_proxy::agent::config::load_dir(
        &root.join("agents"),
        &root.join("prompts"),
        &adk_llm_proxy::tool::ToolRegistry::with_builtins(),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default()
}

/// Defect 6: ADK reserves `user` for the human's events; an agent may not take the name.
#[test]
fn an_agent_named_user_is_refused_naming_file_and_field() {
    let root = project(
        "named-user",
        &[(
            "agents/user.yaml",
            "name: user\ninstruction: I am the user.\n",
        )],
    );
    let error = load_error(&root);
    assert!(error.contains("user.yaml"), "{error}");
    assert!(error.contains("name"), "{error}");
    assert!(error.contains("reserved"), "{error}");
}

/// An agent whose model streams tool calls the way llama.cpp's server does (id, type and the
/// whole name repeated in every fragment) runs its tool: the name is not `current_timecurrent_time`.
#[tokio::test]
async fn an_agent_on_a_llama_cpp_style_server_runs_its_tool() {
    let fragment = |arguments: &str| {
        Step::Data(chunk(
            json!({"tool_calls": [{"index": 0, "id": "call__0_current_time_cmpl-9", "type": "function",
                "function": {"name": "current_time", "arguments": arguments}}]}),
            None,
        ))
    };
    let up = FakeUpstream::start(script(vec![
        Reply::Sse(vec![
            Step::Data(chunk(json!({"role": "assistant", "content": null}), None)),
            fragment("{\"timezone\":"),
            fragment(" \"UTC\"}"),
            Step::Data(chunk(json!({}), Some("tool_calls"))),
            Step::Data("[DONE]".into()),
        ]),
        text_reply("It is noon.", 1, 1),
    ]))
    .await;
    let root = project("llama-tools", &[ASSISTANT]);
    let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, "")).await;
    let sse = read_sse(
        chat(
            &proxy,
            json!({"model": "assistant", "messages": user("time?"), "stream": true}),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(sse.content(), "It is noon.");
    let requests = up.requests();
    assert_eq!(requests.len(), 2);
    let messages = requests[1].body["messages"]
        .as_array()
        .expect("messages")
        .clone();
    let call = &messages[messages.len() - 2]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "current_time");
    assert_eq!(call["function"]["arguments"], "{\"timezone\":\"UTC\"}");
    let result = messages.last().expect("tool result");
    assert!(
        result["content"]
            .as_str()
            .is_some_and(|t| !t.contains("unknown tool")),
        "{result}"
    );
}

/// Turn 1 runs a server-side tool; turn 2 (the client's plain history, its own copy of the
/// answer) gives the model that call and its result where they happened. `replay: none` is the
/// client's history alone; an edited answer gets nothing; a client that kept the proxy's tool
/// calls gets them once, never run again.
#[tokio::test]
async fn earlier_turns_tool_work_is_replayed_before_the_answer_it_led_to() {
    for (replay, edited, kept_calls) in [
        ("all", false, false),
        ("none", false, false),
        ("all", true, false),
        ("all", false, true),
    ] {
        let up = FakeUpstream::start(script(vec![
            tool_call_reply(
                &[("c1", "current_time", json!({"timezone": "Asia/Tokyo"}))],
                1,
                1,
            ),
            text_reply("It is noon in Tokyo.", 1, 1),
            text_reply("Still noon.", 1, 1),
        ]))
        .await;
        let root = project("replay", &[ASSISTANT]);
        let extra = format!("runtime:\n  replay: {replay}\n");
        let proxy = start_proxy(&agent_settings(&up.openai_base(), &root, &extra)).await;
        let headers = [("X-Session-Id", "replay-1")];
        let first = read_sse(
            chat(
                &proxy,
                json!({"model": "assistant", "messages": user("time in Tokyo?"), "stream": true}),
                &headers,
            )
            .await,
        )
        .await;
        assert_eq!(first.content(), "It is noon in Tokyo.");

        let answer = if edited {
            "I wrote this reply myself instead."
        } else {
            // Open WebUI sends the answer back without the reasoning it showed.
            "It is noon in Tokyo.\n"
        };
        let mut messages = vec![json!({"role": "user", "content": "time in Tokyo?"})];
        if kept_calls {
            messages.push(
                json!({"role": "assistant", "content": null, "tool_calls": [{"id": "c1",
                "type": "function", "function": {"name": "current_time",
                "arguments": "{\"timezone\":\"Asia/Tokyo\"}"}}]}),
            );
            messages.push(
                json!({"role": "tool", "tool_call_id": "c1", "content": "{\"time\":\"12:00\"}"}),
            );
        }
        messages.push(json!({"role": "assistant", "content": answer}));
        messages.push(json!({"role": "user", "content": "and now?"}));
        let second = read_sse(
            chat(
                &proxy,
                json!({"model": "assistant", "messages": messages, "stream": true}),
                &headers,
            )
            .await,
        )
        .await;
        assert_eq!(
            second.content(),
            "Still noon.",
            "{replay} {edited} {kept_calls}"
        );
        let requests = up.requests();
        assert_eq!(requests.len(), 3);
        let sent = requests[2].body["messages"]
            .as_array()
            .expect("messages")
            .clone();
        let roles: Vec<&str> = sent.iter().filter_map(|m| m["role"].as_str()).collect();
        let case = format!("replay={replay} edited={edited} kept={kept_calls}: {sent:?}");
        if replay == "all" && !edited {
            assert_eq!(
                roles,
                ["system", "user", "assistant", "tool", "assistant", "user"],
                "{case}"
            );
            assert_eq!(sent[2]["tool_calls"][0]["id"], "c1", "{case}");
            assert_eq!(
                sent[2]["tool_calls"][0]["function"]["name"], "current_time",
                "{case}"
            );
            assert_eq!(sent[3]["tool_call_id"], "c1", "{case}");
            if !kept_calls {
                let result = sent[3]["content"].as_str().expect("result text");
                assert!(
                    result.contains("Asia/Tokyo") && result.contains("date"),
                    "{case}"
                );
            }
            assert_eq!(sent[4]["content"], answer, "the client's own copy stays");
        } else {
            assert_eq!(roles, ["system", "user", "assistant", "user"], "{case}");
        }
    }
}

/// The ADK-format sample directory in `examples/adk-agent-config` loads and runs: a nested
/// `config_path` relative to its file, Gemini-named generation parameters sent as the provider's,
/// and an AgentTool with `skip_summarization` whose answer ends the turn without another call.
#[tokio::test]
async fn an_adk_agent_config_directory_loads_and_runs() {
    let up = FakeUpstream::start(script(vec![
        tool_call_reply(
            &[(
                "t1",
                "transfer_to_agent",
                json!({"agent_name": "research_agent"}),
            )],
            1,
            1,
        ),
        tool_call_reply(
            &[(
                "s1",
                "summarizer",
                json!({"request": "Rust: a systems language by Mozilla, 2015."}),
            )],
            1,
            1,
        ),
        text_reply("Rust is a systems language. It shipped 1.0 in 2015.", 1, 1),
        text_reply("never called", 1, 1),
    ]))
    .await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/adk-agent-config");
    let settings = format!(
        "{}agents:\n  dir: \"{}\"\n  prompts_dir: \"{}\"\n",
        settings_yaml("openai", &up.openai_base(), ""),
        dir.display(),
        dir.display()
    );
    let proxy = start_proxy(&settings).await;
    let sse = read_sse(
        chat(
            &proxy,
            json!({"model": "root_agent", "messages": user("What is Rust?"), "stream": true}),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(
        sse.content(),
        "Rust is a systems language. It shipped 1.0 in 2015."
    );
    let requests = up.requests();
    assert_eq!(
        requests.len(),
        3,
        "skip_summarization: no call after the summary"
    );
    let root = &requests[0].body;
    assert_eq!(
        (
            &root["max_tokens"],
            &root["stop"],
            &root["top_k"],
            &root["temperature"]
        ),
        (&json!(800), &json!(["END"]), &json!(40), &json!(0.3))
    );
    assert!(root.get("maxOutputTokens").is_none() && root.get("candidate_count").is_none());
    assert_eq!(
        requests[1].system().lines().next(),
        Some(
            "Find the facts the user needs and pass them to the summarizer tool; its summary is your answer."
        )
    );
    assert!(requests[1].tool_names().contains(&"summarizer".to_string()));
    assert_eq!(requests[2].body["max_tokens"], 200);
    assert!(requests[2].body.get("n").is_none());
}

/// ADK fields and values this runtime cannot honour stop loading with the file and field named.
#[test]
fn unsupported_adk_fields_fail_naming_the_field() {
    for (yaml, field, reason) in [
        (
            "name: a\ninstruction: x\noutput_schema: {type: object}\n",
            "output_schema",
            "response_schema",
        ),
        (
            "name: a\ninstruction: x\nplanner: {}\n",
            "planner",
            "not supported",
        ),
        (
            "name: a\ninstruction: \"Read {artifact.notes}\"\n",
            "instruction",
            "artifacts are not supported",
        ),
    ] {
        let root = project("adk-unsupported", &[("agents/a.yaml", yaml)]);
        let error = load_error(&root);
        assert!(
            error.contains("a.yaml") && error.contains(field) && error.contains(reason),
            "{error}"
        );
    }
}

/// Generation parameters the provider cannot take, and bare Gemini model names, are load errors.
#[tokio::test]
async fn provider_specific_refusals_happen_at_load_time() {
    for (yaml, field, reason) in [
        (
            "name: a\ninstruction: x\ngenerate_content_config: {safetySettings: []}\n",
            "generate_content_config.safetySettings",
            "safety",
        ),
        (
            "name: a\ninstruction: x\ngenerate_content_config: {candidateCount: 3}\n",
            "generate_content_config.candidateCount",
            "one answer",
        ),
        (
            "name: a\nmodel: gemini-2.5-flash\ninstruction: x\n",
            "model",
            "Gemini",
        ),
        (
            "name: a\ninstruction: x\ngenerate_content_config: {top_k: 40}\n",
            "generate_content_config.top_k",
            "api.openai.com",
        ),
    ] {
        let root = project("adk-refusals", &[("agents/a.yaml", yaml)]);
        let state = build_state(
            &settings_yaml("openai", "https://api.openai.com/v1", ""),
            &[("UP_KEY", "k")],
        )
        .await;
        let mut config = (*state.config).clone();
        config.agents.dir = root.join("agents").display().to_string();
        config.agents.prompts_dir = root.join("prompts").display().to_string();
        let error = adk_llm_proxy::agent::AgentSet::load(&config, &state.registry)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("a.yaml") && error.contains(field) && error.contains(reason),
            "{error}"
        );
    }
}
