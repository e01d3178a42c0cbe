//! The `mock` provider kind over HTTP: what a user without any provider (or a client author
//! testing against the proxy) gets — an echo streamed word by word, and directives that script
//! reasoning, tool calls and errors.

mod support;

use serde_json::{Value, json};
use support::*;

const MOCK: &str =
    "defaults:\n  provider: mock\nproviders:\n  mock:\n    kind: mock\n    default_model: mock\n";

#[tokio::test]
async fn echoes_the_user_message_as_a_stream_with_usage() {
    let proxy = start_proxy(MOCK).await;
    let response = post_chat(
        &proxy,
        &json!({"model": "anything", "stream": true, "stream_options": {"include_usage": true},
                "messages": [{"role": "user", "content": "hello there [mock:reasoning let me think]"}]}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-adk-provider"], "mock");
    let sse = read_sse(response).await;
    assert_eq!(sse.content(), "Mock answer: hello there");
    assert_eq!(sse.reasoning(), "let me think");
    let content_chunks = sse
        .json()
        .iter()
        .filter(|c| c["choices"][0]["delta"]["content"].is_string())
        .count();
    assert!(content_chunks >= 3, "streamed word by word: {}", sse.raw);
    let last: Value = serde_json::from_str(&sse.data[sse.data.len() - 2]).expect("usage chunk");
    assert!(
        last["usage"]["completion_tokens"].as_u64().unwrap_or(0) > 0,
        "{last}"
    );
}

#[tokio::test]
async fn a_tool_directive_becomes_a_client_tool_call_and_the_result_is_answered() {
    let proxy = start_proxy(MOCK).await;
    let tools = json!([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]);
    let first: Value = post_chat(
        &proxy,
        &json!({"messages": [{"role": "user", "content": r#"find it [mock:tool lookup {"q": "x"}]"#}], "tools": tools}),
    )
    .await
    .json()
    .await
    .expect("json");
    let call = &first["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(first["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(call["function"]["name"], "lookup");
    assert_eq!(call["function"]["arguments"], r#"{"q":"x"}"#);
    let second: Value = post_chat(
        &proxy,
        &json!({"messages": [
            {"role": "user", "content": r#"find it [mock:tool lookup {"q": "x"}]"#},
            first["choices"][0]["message"].clone(),
            {"role": "tool", "tool_call_id": call["id"].clone(), "content": "found: 42"}
        ], "tools": tools}),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(
        second["choices"][0]["message"]["content"],
        "Mock answer from the tool result: found: 42"
    );
}

#[tokio::test]
async fn an_error_directive_is_the_upstream_status_the_client_sees() {
    let proxy = start_proxy(MOCK).await;
    let response = post_chat(
        &proxy,
        &json!({"messages": [{"role": "user", "content": "[mock:error 429]"}]}),
    )
    .await;
    assert_eq!(response.status(), 429);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["message"], "mock error 429");
}
