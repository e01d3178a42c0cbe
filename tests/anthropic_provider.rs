//! Claude models behind the proxy (`kind: anthropic`), against a scripted Anthropic API on
//! loopback (`support::anthropic_upstream`): chat clients get thinking as reasoning and
//! `tool_use` as tool calls; a three-turn thinking-with-tools conversation survives because the
//! signed thinking goes back with each tool-use turn; Messages clients get Anthropic's event
//! stream byte for byte; overloaded answers are retried, mapped and keep `Retry-After`; Claude
//! models are listed beside the other provider's. The official SDKs drive the same upstream in
//! `sdk_clients_use_claude_through_the_proxy` (tests/sdk/claude_upstream_check.py).

mod support;

use serde_json::{Value, json};
use support::*;

/// Two providers: `up` (OpenAI-format, the default) and `claude` (Anthropic), with `extra`
/// under `providers.claude`.
fn settings(openai: &FakeUpstream, claude: &FakeUpstream, extra: &str) -> String {
    format!(
        "{}  claude:\n    kind: anthropic\n    base_url: \"{}\"\n    api_key_env: ANTHROPIC_API_KEY\n{extra}",
        settings_yaml("openai", &openai.openai_base(), ""),
        claude.openai_base()
    )
}

async fn proxy(openai: &FakeUpstream, claude: &FakeUpstream, extra: &str) -> Proxy {
    start_proxy_with_env(
        &settings(openai, claude, extra),
        &[
            ("UP_KEY", "sk-upstream-secret"),
            ("ANTHROPIC_API_KEY", ANTHROPIC_KEY),
        ],
    )
    .await
}

async fn upstreams() -> (FakeUpstream, FakeUpstream) {
    (
        FakeUpstream::start(dialect_upstream).await,
        FakeUpstream::start(anthropic_upstream()).await,
    )
}

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    ])
}

/// One assistant turn as a chat client keeps it: text and tool calls, never the reasoning.
struct Turn {
    reasoning: String,
    content: String,
    calls: Vec<Value>,
    finish: String,
}

async fn chat_turn(proxy: &Proxy, messages: &[Value], stream: bool) -> Turn {
    let body = json!({"model": "claude/claude-think", "stream": stream, "reasoning_effort": "low",
        "tools": tools(), "messages": messages});
    let response = post_chat(proxy, &body).await;
    assert_eq!(response.status(), 200, "turn {}", messages.len());
    if !stream {
        let completion: Value = response.json().await.expect("json");
        let message = &completion["choices"][0]["message"];
        return Turn {
            reasoning: message["reasoning_content"].as_str().unwrap_or("").into(),
            content: message["content"].as_str().unwrap_or("").into(),
            calls: message["tool_calls"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            finish: completion["choices"][0]["finish_reason"]
                .as_str()
                .unwrap_or("")
                .into(),
        };
    }
    let sse = read_sse(response).await;
    assert!(sse.ends_with_done(), "{}", sse.raw);
    let mut calls: Vec<Value> = Vec::new();
    let mut finish = String::new();
    for chunk in sse.json() {
        let Some(choice) = chunk["choices"].get(0) else {
            continue;
        };
        if let Some(reason) = choice["finish_reason"].as_str() {
            finish = reason.to_string();
        }
        for call in choice["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let index = call["index"].as_u64().unwrap_or(0) as usize;
            if calls.len() <= index {
                calls.push(json!({"id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}));
            }
            let so_far = calls[index]["function"]["arguments"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let more = call["function"]["arguments"].as_str().unwrap_or("");
            calls[index]["function"]["arguments"] = json!(format!("{so_far}{more}"));
        }
    }
    Turn {
        reasoning: sse.reasoning(),
        content: sse.content(),
        calls,
        finish,
    }
}

#[tokio::test]
async fn a_thinking_with_tools_conversation_survives_three_turns_with_signatures_given_back() {
    for stream in [true, false] {
        let (openai, claude) = upstreams().await;
        let proxy = proxy(&openai, &claude, "").await;
        let mut messages = vec![json!({"role": "user", "content": "Weather and time in Oslo?"})];
        let replies = [("toolu_weather", "sunny"), ("toolu_time", "12:00")];
        for (turn, (call_id, result)) in replies.iter().enumerate() {
            let answer = chat_turn(&proxy, &messages, stream).await;
            assert!(
                !answer.reasoning.is_empty(),
                "turn {turn}: thinking arrives as reasoning"
            );
            assert_eq!(answer.finish, "tool_calls", "stream={stream} turn {turn}");
            assert_eq!(answer.calls.len(), 1);
            assert_eq!(answer.calls[0]["id"], *call_id);
            let arguments: Value = serde_json::from_str(
                answer.calls[0]["function"]["arguments"]
                    .as_str()
                    .unwrap_or(""),
            )
            .expect("arguments are JSON");
            assert_eq!(arguments["city"], "Oslo");
            // The client keeps what chat clients keep: no reasoning, no signature.
            messages
                .push(json!({"role": "assistant", "content": null, "tool_calls": answer.calls}));
            messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": result}));
        }
        let last = chat_turn(&proxy, &messages, stream).await;
        assert_eq!(last.finish, "stop");
        assert_eq!(last.content, "Sunny in Oslo, and it is noon.");
        assert_eq!(last.reasoning, "I have both.");

        // What Anthropic got on the third turn: each tool-use turn led by its own signed
        // thinking, tool results folded into user turns, the key in x-api-key.
        let sent = claude.last_request();
        assert_eq!(sent.headers["x-api-key"], ANTHROPIC_KEY);
        assert!(sent.headers.get("authorization").is_none());
        assert_eq!(sent.headers["anthropic-version"], "2023-06-01");
        let turns = sent.body["messages"].as_array().expect("messages").clone();
        let roles: Vec<&str> = turns.iter().filter_map(|m| m["role"].as_str()).collect();
        assert_eq!(roles, ["user", "assistant", "user", "assistant", "user"]);
        assert_eq!(
            turns[1]["content"][0]["signature"],
            signature_for("toolu_weather")
        );
        assert_eq!(
            turns[1]["content"][0]["thinking"],
            "I need the weather first."
        );
        assert_eq!(
            turns[3]["content"][0]["signature"],
            signature_for("toolu_time")
        );
        assert_eq!(turns[2]["content"][0]["type"], "tool_result");
        assert_eq!(turns[2]["content"][0]["tool_use_id"], "toolu_weather");
        assert_eq!(sent.body["thinking"]["budget_tokens"], 2048);
        assert_eq!(sent.body["model"], "claude-think");
    }
}

#[tokio::test]
async fn without_the_remembered_thinking_anthropic_refuses_and_the_client_is_told_why() {
    // A proxy that never saw turn one (another replica, or a restart) sends the turn as the
    // client has it; Anthropic's refusal reaches the client as a 400 with its message.
    let (openai, claude) = upstreams().await;
    let proxy = proxy(&openai, &claude, "").await;
    let messages = [
        json!({"role": "user", "content": "Weather?"}),
        json!({"role": "assistant", "content": null, "tool_calls": [{"id": "toolu_weather", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]}),
        json!({"role": "tool", "tool_call_id": "toolu_weather", "content": "sunny"}),
    ];
    let body = json!({"model": "claude/claude-think", "reasoning_effort": "low", "tools": tools(), "messages": messages});
    let response = post_chat(&proxy, &body).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.expect("json");
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("Expected `thinking`"),
        "{error}"
    );
}

#[tokio::test]
async fn a_messages_stream_for_claude_comes_back_byte_for_byte() {
    let (openai, claude) = upstreams().await;
    let proxy = proxy(&openai, &claude, "").await;
    let body = json!({"model": "claude/claude-think", "max_tokens": 1024, "stream": true,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}},
                  {"type": "web_search_20250305", "name": "web_search", "max_uses": 1}],
        "messages": [{"role": "user", "content": "Weather in Oslo?"}]});
    let response = client()
        .post(proxy.url("/v1/messages"))
        .header("x-api-key", "anything")
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "interleaved-thinking-2025-05-14")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-adk-provider"], "claude");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let got = response.text().await.expect("body");

    // The upstream's own bytes for the same request, asked for directly.
    let direct = client()
        .post(format!("{}/messages", claude.openai_base()))
        .header("x-api-key", ANTHROPIC_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "claude-think", "max_tokens": 1024, "stream": true,
            "thinking": {"type": "enabled"}, "messages": [{"role": "user", "content": "Weather in Oslo?"}]}))
        .send()
        .await
        .expect("direct");
    let expected = direct.text().await.expect("direct body");
    assert_eq!(got, expected, "the event stream passes untouched");
    assert!(got.contains("event: ping") && got.contains("signature_delta"));

    // Up went the client's body with only `model` renamed: cache_control, the server tool and
    // the beta header included (the translated path would have refused the server tool).
    let sent = claude.requests()[0].clone();
    assert_eq!(sent.body["model"], "claude-think");
    assert_eq!(sent.body["system"], body["system"]);
    assert_eq!(sent.body["tools"], body["tools"]);
    assert_eq!(
        sent.headers["anthropic-beta"],
        "interleaved-thinking-2025-05-14"
    );
    assert_eq!(
        sent.headers["x-api-key"], ANTHROPIC_KEY,
        "the provider's key, not the client's"
    );
}

#[tokio::test]
async fn overloaded_is_retried_before_the_first_byte_and_mapped_when_it_persists() {
    let (openai, claude) = upstreams().await;
    let proxy = proxy(
        &openai,
        &claude,
        "    retries: 1\n    retry_backoff_ms: 1\n",
    )
    .await;

    // An accepted stream whose first event after message_start is overloaded_error: nothing
    // reached the client, so the proxy tries again and the client sees only the answer.
    for stream in [true, false] {
        let body =
            json!({"model": "claude/claude-flaky", "stream": stream, "messages": user("hi")});
        let response = post_chat(&proxy, &body).await;
        assert_eq!(response.status(), 200);
        let text = if stream {
            read_sse(response).await.content()
        } else {
            let completion: Value = response.json().await.expect("json");
            completion["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        assert_eq!(text, "Hello from Claude.", "stream={stream}");
    }

    // 529 on every try: an OpenAI client gets 503 with the reason and Retry-After; a Messages
    // client gets Anthropic's own answer (529, overloaded_error).
    let body = json!({"model": "claude/claude-529", "stream": true, "messages": user("hi")});
    let response = post_chat(&proxy, &body).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "0");
    let error: Value = response.json().await.expect("json");
    assert_eq!(error["error"]["code"], "overloaded");
    assert_eq!(error["error"]["message"], "Overloaded");

    let response = client()
        .post(proxy.url("/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "claude/claude-529", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 529);
    let error: Value = response.json().await.expect("json");
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "overloaded_error");
    let tries = claude
        .requests()
        .iter()
        .filter(|r| r.body["model"] == "claude-529")
        .count();
    assert_eq!(tries, 4, "two tries for each client");
}

#[tokio::test]
async fn chat_requests_are_translated_to_messages_and_usage_comes_back() {
    let (openai, claude) = upstreams().await;
    let proxy = proxy(&openai, &claude, "    default_max_tokens: 300\n").await;
    let body = json!({"model": "claude/claude-text", "stream": true,
    "stream_options": {"include_usage": true}, "stop": ["END"], "temperature": 0.2,
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}
    ]});
    let sse = read_sse(post_chat(&proxy, &body).await).await;
    assert_eq!(sse.content(), "Hello from Claude.");
    let usage = sse
        .json()
        .into_iter()
        .find(|c| c["choices"].as_array().is_some_and(Vec::is_empty))
        .expect("a usage chunk");
    assert_eq!(
        usage["usage"]["prompt_tokens"], 35,
        "input plus cache reads"
    );
    assert_eq!(usage["usage"]["completion_tokens"], 15);
    assert_eq!(usage["usage"]["prompt_tokens_details"]["cached_tokens"], 10);
    let sent = claude.last_request().body;
    assert_eq!(sent["system"], "Be brief.");
    assert_eq!(sent["max_tokens"], 300);
    assert_eq!(sent["stop_sequences"], json!(["END"]));
    assert_eq!(sent["temperature"], 0.2);
    assert_eq!(
        sent["messages"][0]["content"][1]["source"]["type"],
        "base64"
    );
    assert!(sent.get("stream_options").is_none());

    // A parameter Anthropic has no counterpart for is refused, naming it, before any call.
    let calls = claude.requests().len();
    let body = json!({"model": "claude/claude-text", "n": 2, "messages": user("hi")});
    let response = post_chat(&proxy, &body).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.expect("json");
    assert_eq!(error["error"]["param"], "n");
    assert_eq!(claude.requests().len(), calls);
}

#[tokio::test]
async fn claude_models_are_listed_beside_the_other_providers() {
    let (openai, claude) = upstreams().await;
    let proxy = proxy(&openai, &claude, "").await;
    let list: Value = client()
        .get(proxy.url("/v1/models"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let ids = model_ids(&list);
    assert!(ids.iter().any(|id| id == "claude/claude-think"), "{ids:?}");
    let think = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|m| m["id"] == "claude/claude-think")
        .expect("listed");
    assert_eq!(think["owned_by"], "anthropic");
    assert_eq!(think["created"], 1759104000);
}

#[tokio::test]
async fn sdk_clients_use_claude_through_the_proxy() {
    let (openai, claude) = upstreams().await;
    let proxy = proxy(&openai, &claude, "").await;
    run_sdk_check("tests/sdk/claude_upstream_check.py", &proxy.url("/v1")).await;
}
