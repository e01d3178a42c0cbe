//! Ollama's API (`/api/chat`, `/api/generate`, `/api/tags`, `/api/show`, `/api/version`) served
//! over HTTP, against the scripted OpenAI-format upstream: NDJSON lines as Ollama writes them,
//! tool calls whole, tool results matched to their calls, errors as `{"error": …}`. The official
//! `ollama` client is driven in `ollama_client_checks_pass` (tests/sdk/ollama_check.py).

mod support;

use std::path::PathBuf;

use serde_json::{Value, json};
use support::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

async fn proxy_for(up: &FakeUpstream, extra: &str) -> Proxy {
    start_proxy(&agent_settings(&up.openai_base(), &repo(), extra)).await
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).expect("every line is one JSON object"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_client_checks_pass() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_for(&up, "").await;
    run_sdk_check("tests/sdk/ollama_check.py", &proxy.url("/v1")).await;
}

#[tokio::test]
async fn a_chat_streams_ndjson_lines_ending_with_the_counts() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_for(&up, "").await;
    let response = client()
        .post(proxy.url("/api/chat"))
        .json(&json!({"model": "reason", "messages": user("6 times 7?")}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().ok(),
        Some("application/x-ndjson")
    );
    let lines = lines(&response.text().await.expect("body"));
    let last = lines.last().expect("a last line");
    assert_eq!(last["done"], true);
    assert_eq!(last["done_reason"], "stop");
    assert_eq!(last["prompt_eval_count"], 7);
    assert_eq!(last["eval_count"], 5);
    for line in &lines[..lines.len() - 1] {
        assert_eq!(line["done"], false);
        assert_eq!(line["model"], "reason");
        assert_eq!(line["message"]["role"], "assistant");
        assert!(
            line["created_at"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
        );
    }
    let thinking: String = lines
        .iter()
        .filter_map(|l| l["message"]["thinking"].as_str())
        .collect();
    let content: String = lines
        .iter()
        .filter_map(|l| l["message"]["content"].as_str())
        .collect();
    assert_eq!(thinking, "Thinking it over.");
    assert_eq!(content, "42");
}

#[tokio::test]
async fn tool_calls_come_whole_and_results_answer_the_call_they_name() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_for(&up, "").await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
    let text = client()
        .post(proxy.url("/api/chat"))
        .json(&json!({"model": "tools", "tools": tools, "messages": user("Weather in Oslo?")}))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("body");
    let lines = lines(&text);
    let with_calls: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"]["tool_calls"].is_array())
        .collect();
    assert_eq!(with_calls.len(), 1, "{text}");
    assert_eq!(
        with_calls[0]["message"]["tool_calls"],
        json!([{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}])
    );
    let follow_up = json!({"model": "tools", "stream": false, "tools": tools, "messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]},
        {"role": "tool", "tool_name": "get_weather", "content": "sunny"}
    ]});
    let answer: Value = client()
        .post(proxy.url("/api/chat"))
        .json(&follow_up)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["message"]["content"], "It is sunny in Oslo.");
    assert_eq!(answer["done"], true);
    let sent = &up.requests()[1].body["messages"];
    assert_eq!(
        sent[1]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Oslo\"}"
    );
    assert_eq!(sent[2]["role"], "tool");
    assert_eq!(sent[2]["tool_call_id"], sent[1]["tool_calls"][0]["id"]);
}

#[tokio::test]
async fn tags_show_and_version_describe_what_the_proxy_serves_and_errors_are_ollamas() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let keys = "auth:\n  keys:\n    - { name: narrow, key: sk-narrow, models: [\"planner\"] }\n";
    let proxy = proxy_for(&up, keys).await;
    let get = |path: &str, key: &str| client().get(proxy.url(path)).bearer_auth(key).send();
    let tags: Value = get("/api/tags", "sk-narrow")
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = tags["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(|m| m["model"].as_str())
        .collect();
    assert_eq!(names, ["planner"], "a key sees what it may use");
    let version: Value = get("/api/version", "sk-narrow")
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(version["version"].is_string());
    let show = |model: &str| {
        client()
            .post(proxy.url("/api/show"))
            .bearer_auth("sk-narrow")
            .json(&json!({"model": model}))
            .send()
    };
    let shown = show("planner").await.expect("send");
    assert_eq!(shown.status(), 200);
    let missing = show("nope").await.expect("send");
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.expect("json");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("nope")),
        "{body}"
    );

    // Every layer's error in Ollama's shape: auth, the key's models, bad input.
    let chat = |key: &str, body: Value| {
        client()
            .post(proxy.url("/api/chat"))
            .bearer_auth(key)
            .json(&body)
            .send()
    };
    for (response, status) in [
        (
            chat(
                "sk-wrong",
                json!({"model": "planner", "messages": user("hi")}),
            )
            .await,
            401,
        ),
        (
            chat(
                "sk-narrow",
                json!({"model": "text", "messages": user("hi")}),
            )
            .await,
            403,
        ),
        (
            chat("sk-narrow", json!({"messages": user("hi")})).await,
            400,
        ),
    ] {
        let response = response.expect("send");
        assert_eq!(response.status(), status);
        let body: Value = response.json().await.expect("json");
        assert!(body["error"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn a_stream_cut_after_its_first_line_ends_with_an_error_line() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_for(&up, "").await;
    let text = client()
        .post(proxy.url("/api/generate"))
        .json(&json!({"model": "cut", "prompt": "hi"}))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("body");
    let lines = lines(&text);
    assert_eq!(lines[0]["response"], "Half an");
    let last = lines.last().expect("lines");
    assert!(last["error"].is_string(), "{text}");
    assert!(!lines.iter().any(|l| l["done"] == true), "{text}");
}
