//! Every configured model where models are listed, and model aliases: two providers behind one
//! proxy, one of them down; aliases to a provider's model, to an agent and to a list of targets
//! tried in order; what a key limited to some models sees and may call.

mod support;

use std::path::PathBuf;

use serde_json::{Value, json};
use support::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A provider that lists `models` and answers every chat with "from <name>: <model>".
async fn provider(name: &'static str, models: &'static [&'static str]) -> FakeUpstream {
    FakeUpstream::start(move |req: &Recorded| {
        if req.path.ends_with("/models") {
            let data: Vec<Value> = models
                .iter()
                .map(|id| json!({"id": id, "object": "model", "created": 1, "owned_by": name}))
                .collect();
            return Reply::json(json!({"object": "list", "data": data}));
        }
        let model = req.body["model"].as_str().unwrap_or("").to_string();
        if model == "broken" {
            return Reply::error(
                503,
                json!({"error": {"message": "overloaded", "type": "server_error"}}),
            );
        }
        Reply::json(completion(
            json!({"role": "assistant", "content": format!("from {name}: {model}")}),
            "stop",
        ))
    })
    .await
}

/// Settings: `up` (default) and `local` as OpenAI-compatible providers, the shipped agents, and
/// `extra` appended (aliases, keys).
fn settings(up: &str, local: &str, extra: &str) -> String {
    format!(
        "defaults:\n  provider: up\n  model: gpt-4o-mini\nproviders:\n  up: {{ kind: openai, base_url: \"{up}\" }}\n  local: {{ kind: openai, base_url: \"{local}\" }}\nagents:\n  dir: \"{}\"\n  prompts_dir: \"{}\"\n{extra}",
        repo().join("agents").display(),
        repo().join("prompts").display()
    )
}

async fn chat_answer(proxy: &Proxy, model: &str, key: Option<&str>) -> (u16, Value) {
    let mut request = client()
        .post(proxy.url("/v1/chat/completions"))
        .json(&json!({"model": model, "messages": user("hi")}));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn both_providers_models_and_the_agents_are_listed_and_a_down_provider_is_left_out() {
    let up = provider("up", &["gpt-4o-mini", "gpt-4o"]).await;
    let local = provider("local", &["llama3.2", "qwen3"]).await;
    let proxy = start_proxy(&settings(&up.openai_base(), &local.openai_base(), "")).await;
    let list = get_json(&proxy.url("/v1/models"), None).await;
    let listed = model_ids(&list);
    for id in [
        "gpt-4o-mini",
        "gpt-4o",
        "up/gpt-4o",
        "local/llama3.2",
        "local/qwen3",
        "planner",
        "router",
        "assistant",
    ] {
        assert!(
            listed.contains(&id.to_string()),
            "{id} missing from {listed:?}"
        );
    }
    assert!(
        !listed.contains(&"llama3.2".to_string()),
        "only the default provider's models go unprefixed"
    );
    let object = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|m| m["id"] == "local/qwen3")
        .expect("listed");
    assert_eq!(object["owned_by"], "local");
    // A listed id routes where it says.
    let (status, answer) = chat_answer(&proxy, "local/qwen3", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "from local: qwen3"
    );

    // With `local` down, the listing still answers, quickly, without it.
    let down = settings(&up.openai_base(), "http://127.0.0.1:9/v1", "");
    let proxy = start_proxy(&down).await;
    let started = std::time::Instant::now();
    let listed = model_ids(&get_json(&proxy.url("/v1/models"), None).await);
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    assert!(listed.contains(&"up/gpt-4o".to_string()), "{listed:?}");
    assert!(listed.contains(&"planner".to_string()), "{listed:?}");
    assert!(
        !listed.iter().any(|id| id.starts_with("local/")),
        "{listed:?}"
    );
}

#[tokio::test]
async fn the_openai_sdk_lists_both_providers_models_and_the_agents() {
    let up = provider("up", &["gpt-4o-mini", "gpt-4o"]).await;
    let local = provider("local", &["llama3.2"]).await;
    let proxy = start_proxy(&settings(&up.openai_base(), &local.openai_base(), "")).await;
    run_sdk_check("tests/sdk/models_check.py", &proxy.url("/v1")).await;
}

#[tokio::test]
async fn aliases_route_to_a_model_an_agent_or_the_next_target_and_are_listed() {
    let up = provider("up", &["gpt-4o-mini"]).await;
    let local = provider("local", &["llama3.2"]).await;
    let aliases = "models:\n  \"claude-*\": { route: local/llama3.2 }\n  claude-opus-4: { route: planner }\n  sturdy: { route: [local/broken, up/gpt-4o] }\n";
    let proxy = start_proxy(&settings(&up.openai_base(), &local.openai_base(), aliases)).await;

    let (status, answer) = chat_answer(&proxy, "claude-sonnet-4-5", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "from local: llama3.2"
    );

    // The first target fails (503): the next one answers.
    let (status, answer) = chat_answer(&proxy, "sturdy", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "from up: gpt-4o"
    );
    assert!(local.requests().iter().any(|r| r.body["model"] == "broken"));

    // An alias to an agent runs the agent (the planner's two steps reach the upstream).
    let before = up.requests().len();
    let (status, _) = chat_answer(&proxy, "claude-opus-4", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        up.requests().len() - before,
        2,
        "the planner's two model calls"
    );

    // The same alias from an Anthropic client.
    let message: Value = client()
        .post(proxy.url("/v1/messages"))
        .json(&json!({"model": "claude-haiku-4-5", "max_tokens": 20, "messages": user("hi")}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(
        message["content"][0]["text"], "from local: llama3.2",
        "{message}"
    );

    let list = get_json(&proxy.url("/v1/models"), None).await;
    let alias = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|m| m["id"] == "claude-opus-4")
        .expect("a named alias is listed");
    assert_eq!(alias["description"], "alias of planner");
    assert!(
        !model_ids(&list).contains(&"claude-*".to_string()),
        "globs are not listed"
    );
}

#[tokio::test]
async fn a_key_sees_and_calls_only_what_its_globs_allow_aliases_included() {
    let up = provider("up", &["gpt-4o-mini", "gpt-4o"]).await;
    let local = provider("local", &["llama3.2"]).await;
    let extra = "models:\n  cheap: { route: local/llama3.2 }\n  pricey: { route: up/gpt-4o }\nauth:\n  keys:\n    - { name: local-only, key: sk-local, models: [\"local/*\"] }\n";
    let proxy = start_proxy(&settings(&up.openai_base(), &local.openai_base(), extra)).await;
    let listed = model_ids(&get_json(&proxy.url("/v1/models"), Some("sk-local")).await);
    assert!(listed.contains(&"local/llama3.2".to_string()), "{listed:?}");
    assert!(listed.contains(&"cheap".to_string()), "{listed:?}");
    assert!(!listed.contains(&"pricey".to_string()), "{listed:?}");
    assert!(!listed.iter().any(|id| id.contains("gpt")), "{listed:?}");
    let (status, _) = chat_answer(&proxy, "cheap", Some("sk-local")).await;
    assert_eq!(status, 200);
    let (status, body) = chat_answer(&proxy, "pricey", Some("sk-local")).await;
    assert_eq!(status, 403, "an alias cannot widen a key: {body}");
}

#[tokio::test]
async fn an_alias_without_a_target_stops_start_up_naming_the_field() {
    let yaml = settings(
        "http://127.0.0.1:9/v1",
        "http://127.0.0.1:9/v1",
        "models:\n  broken: { route: [] }\n",
    );
    let settings = adk_llm_proxy::config::parse_settings(&yaml, "settings.yaml").expect("parses");
    let error = adk_llm_proxy::config::Config::from_settings(
        std::path::Path::new("settings.yaml"),
        settings,
        &Default::default(),
        &|_| None,
    )
    .expect_err("refused")
    .to_string();
    assert!(
        error.contains("settings.yaml") && error.contains("models.broken.route"),
        "{error}"
    );
}
