//! DeepSeek quirks: string-only content, and reasoning given back after tool calls.

mod support;

use serde_json::{Value, json};
use support::*;

fn deepseek_yaml(up: &FakeUpstream) -> String {
    settings_yaml(
        "openai",
        &up.openai_base(),
        "    flatten_content: true\n    replay_reasoning: true\n",
    )
}

#[tokio::test]
async fn array_content_is_flattened() {
    let up = FakeUpstream::start(|_| Reply::Sse(openai_text(&["ok"]))).await;
    let proxy = start_proxy(&deepseek_yaml(&up)).await;
    let response = post_chat(&proxy, &json!({"stream": true, "messages": [{"role": "user", "content": [{"type": "text", "text": "line one"}, {"type": "text", "text": "line two"}]}]})).await;
    let _ = read_sse(response).await;
    assert_eq!(
        up.last_request().body["messages"][0]["content"],
        "line one\nline two"
    );
}

#[tokio::test]
async fn reasoning_with_tool_calls_is_replayed_on_the_next_turn() {
    let up = FakeUpstream::start(|req| {
        let turns = req.body["messages"].as_array().map(Vec::len).unwrap_or(0);
        let streaming = req.body["stream"] == true;
        match (turns, streaming) {
            (1, true) => Reply::Sse(vec![
                Step::Data(chunk(json!({"role": "assistant", "content": null, "reasoning_content": "Need the "}), None)),
                Step::Data(chunk(json!({"reasoning_content": "weather."}), None)),
                Step::Data(chunk(json!({"tool_calls": [{"index": 0, "id": "call_ds1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]}), None)),
                Step::Data(chunk(json!({}), Some("tool_calls"))),
                Step::Data("[DONE]".into()),
            ]),
            (1, false) => Reply::json(completion(
                json!({"role": "assistant", "content": null, "reasoning_content": "Non-stream thought.",
                       "tool_calls": [{"id": "call_ds2", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]}),
                "tool_calls",
            )),
            (_, true) => Reply::Sse(openai_text(&["It is sunny."])),
            (_, false) => Reply::json(completion(json!({"role": "assistant", "content": "Sunny."}), "stop")),
        }
    })
    .await;
    let proxy = start_proxy(&deepseek_yaml(&up)).await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);

    for (stream, call_id, reasoning) in [
        (true, "call_ds1", "Need the weather."),
        (false, "call_ds2", "Non-stream thought."),
    ] {
        let first = post_chat(&proxy, &json!({"stream": stream, "tools": tools, "messages": [{"role": "user", "content": "weather?"}]})).await;
        if stream {
            let _ = read_sse(first).await;
        } else {
            let _: Value = first.json().await.expect("json");
        }
        // The chat UI sends the turn back without reasoning_content.
        let follow_up = json!({"stream": stream, "tools": tools, "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": call_id, "content": "sunny"}
        ]});
        let second = post_chat(&proxy, &follow_up).await;
        assert_eq!(second.status(), 200);
        let _ = second.bytes().await;
        let sent = up.last_request().body;
        assert_eq!(
            sent["messages"][1]["reasoning_content"], reasoning,
            "stream={stream}"
        );
        assert!(sent["messages"][0].get("reasoning_content").is_none());
    }
}
