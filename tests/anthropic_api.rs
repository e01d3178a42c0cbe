//! Anthropic's Messages API (`/v1/messages`) served over HTTP, against the scripted OpenAI-format
//! upstream: the event stream as Anthropic writes it, tool round trips as the provider receives
//! them, agents' work as thinking, errors in Anthropic's shape from every layer, `x-api-key`
//! auth, and failures after the first event. The official `anthropic` SDK is driven against the
//! same upstream in `anthropic_sdk_checks_pass` (tests/sdk/anthropic_check.py).

mod support;

use std::path::PathBuf;

use serde_json::{Value, json};
use support::*;

const KEYS: &str = "auth:\n  keys:\n    - { name: client, key: sk-client }\n    - { name: narrow, key: sk-narrow, models: [\"text\"] }\n";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

async fn proxy_for(up: &FakeUpstream) -> Proxy {
    start_proxy(&agent_settings(&up.openai_base(), &repo(), KEYS)).await
}

async fn post(proxy: &Proxy, path: &str, key: &str, body: Value) -> reqwest::Response {
    client()
        .post(proxy.url(path))
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .expect("send")
}

/// Events of a Messages stream as (event line, data).
async fn events(response: reqwest::Response) -> Vec<(String, Value)> {
    let text = response.text().await.expect("body");
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut kind = String::new();
            let mut data = Value::Null;
            for line in block.lines() {
                if let Some(rest) = line.strip_prefix("event: ") {
                    kind = rest.to_string();
                } else if let Some(rest) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(rest).expect("data is JSON");
                }
            }
            (kind, data)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_sdk_checks_pass() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_for(&up).await;
    run_sdk_check("tests/sdk/anthropic_check.py", &proxy.url("/v1")).await;
}

#[tokio::test]
async fn a_stream_has_anthropics_event_order_with_thinking_then_text() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_for(&up).await;
    let body = json!({"model": "reason", "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "6 times 7?"}]});
    let response = post(&proxy, "/v1/messages", "sk-client", body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().ok(),
        Some("text/event-stream")
    );
    let events = events(response).await;
    let order: Vec<String> = events
        .iter()
        .map(|(kind, data)| match data["delta"]["type"].as_str() {
            Some(delta) => format!("{kind}:{delta}"),
            None => kind.clone(),
        })
        .collect();
    assert_eq!(
        order,
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta:thinking_delta",
            "content_block_delta:thinking_delta",
            "content_block_delta:signature_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta:text_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    for (kind, data) in &events {
        assert_eq!(data["type"], kind.as_str(), "every data names its event");
    }
    assert_eq!(events[2].1["content_block"]["type"], "thinking");
    assert_eq!(events[7].1["index"], 1);
    assert_eq!(events[7].1["content_block"]["type"], "text");
    let end = &events[10].1;
    assert_eq!(end["delta"]["stop_reason"], "end_turn");
    assert_eq!(end["usage"], json!({"input_tokens": 7, "output_tokens": 5}));
    // Usage was asked of the provider, as every Messages stream ends with it.
    let sent = &up.requests()[0].body;
    assert_eq!(sent["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn a_tool_round_trip_reaches_the_provider_as_chat_messages() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_for(&up).await;
    let body = json!({
        "model": "tools", "max_tokens": 50, "system": "Be brief.",
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
        "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "call it", "signature": "adk-llm-proxy"},
                {"type": "tool_use", "id": "call_w", "name": "get_weather", "input": {"city": "Oslo"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_w", "content": [{"type": "text", "text": "sunny"}]}
            ]}
        ]
    });
    let message: Value = post(&proxy, "/v1/messages", "sk-client", body)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(message["content"][0]["text"], "It is sunny in Oslo.");
    assert_eq!(message["type"], "message");
    let sent = &up.requests()[0].body;
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_w", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_w", "content": "sunny"}
        ])
    );
    assert_eq!(sent["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(sent["tool_choice"], "auto");
    assert_eq!(sent["parallel_tool_calls"], false);
    assert_eq!(sent["max_tokens"], 50);
}

#[tokio::test]
async fn a_client_tool_call_streams_as_tool_use_with_input_json_deltas() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_for(&up).await;
    let body = json!({"model": "tools", "max_tokens": 50, "stream": true,
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "Weather in Oslo?"}]});
    let events = events(post(&proxy, "/v1/messages", "sk-client", body).await).await;
    let start = events
        .iter()
        .find(|(kind, _)| kind == "content_block_start")
        .expect("a block");
    assert_eq!(start.1["content_block"]["type"], "tool_use");
    assert_eq!(start.1["content_block"]["name"], "get_weather");
    assert_eq!(start.1["content_block"]["id"], "call_w");
    let input: String = events
        .iter()
        .filter(|(_, data)| data["delta"]["type"] == "input_json_delta")
        .map(|(_, data)| data["delta"]["partial_json"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&input).ok(),
        Some(json!({"city": "Oslo"}))
    );
    let end = events
        .iter()
        .find(|(kind, _)| kind == "message_delta")
        .expect("message_delta");
    assert_eq!(end.1["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn every_layers_error_comes_in_anthropics_shape() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_for(&up).await;
    let hi =
        json!({"model": "text", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let cases = [
        // auth layer
        (post(&proxy, "/v1/messages", "sk-wrong", hi.clone()).await, 401, "authentication_error"),
        // the key's model globs
        (
            post(&proxy, "/v1/messages", "sk-narrow", json!({"model": "reason", "max_tokens": 10, "messages": []})).await,
            403,
            "permission_error",
        ),
        // the request's own checks
        (post(&proxy, "/v1/messages", "sk-client", json!({"model": "text"})).await, 400, "invalid_request_error"),
        // an upstream's failure
        (
            post(&proxy, "/v1/messages", "sk-client", json!({"model": "e529", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})).await,
            529,
            "overloaded_error",
        ),
        // a path that does not exist
        (post(&proxy, "/v1/messages/nothing", "sk-client", hi.clone()).await, 404, "not_found_error"),
    ];
    for (response, status, kind) in cases {
        assert_eq!(response.status(), status);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["type"], "error", "{body}");
        assert_eq!(body["error"]["type"], kind, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // Chat completions keep OpenAI's shape.
    let chat = client()
        .post(proxy.url("/v1/chat/completions"))
        .header("x-api-key", "sk-wrong")
        .json(&json!({"model": "text", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("send");
    let body: Value = chat.json().await.expect("json");
    assert_eq!(body["error"]["code"], "invalid_api_key");
}

#[tokio::test]
async fn a_stream_cut_after_its_first_event_ends_with_an_error_event_and_no_message_stop() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_for(&up).await;
    let body = json!({"model": "cut", "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]});
    let events = events(post(&proxy, "/v1/messages", "sk-client", body).await).await;
    let kinds: Vec<&str> = events.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"message_start"));
    assert_eq!(kinds.last(), Some(&"error"), "{kinds:?}");
    assert!(!kinds.contains(&"message_stop"), "{kinds:?}");
    let error = &events.last().expect("error").1;
    assert_eq!(error["type"], "error");
    assert!(error["error"]["type"].is_string());
}

#[tokio::test]
async fn count_tokens_estimates_and_respects_the_keys_models() {
    let up = FakeUpstream::start(dialect_upstream).await;
    let proxy = proxy_for(&up).await;
    let body = json!({"model": "text", "system": "Be brief.",
        "messages": [{"role": "user", "content": "A question of some twelve words or so, to count."}]});
    let counted: Value = post(
        &proxy,
        "/v1/messages/count_tokens",
        "sk-client",
        body.clone(),
    )
    .await
    .json()
    .await
    .expect("json");
    let tokens = counted["input_tokens"].as_u64().expect("a count");
    assert!((5..100).contains(&tokens), "{counted}");
    let mut other = body;
    other["model"] = json!("reason");
    let refused = post(&proxy, "/v1/messages/count_tokens", "sk-narrow", other).await;
    assert_eq!(refused.status(), 403);
    assert!(up.requests().is_empty(), "counting calls no model");
}
