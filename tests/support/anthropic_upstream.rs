//! A scripted Anthropic Messages API on loopback: the exact wire format (event lines, `ping`,
//! thinking with signatures, `input_json_delta`, `error` events, error bodies and 529), and
//! Anthropic's own checks the proxy must satisfy: the `x-api-key` and `anthropic-version`
//! headers, `max_tokens`, and — with thinking on — every tool-use turn given back with the
//! thinking block it was signed with.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use super::fake_upstream::*;

pub const ANTHROPIC_KEY: &str = "sk-ant-test";

/// The signature the upstream gives the thinking of the turn that made tool call `id`.
pub fn signature_for(id: &str) -> String {
    format!("EqQBCkYIBxgCKkD-{id}-signed")
}

/// One SSE event as Anthropic writes it.
pub fn event(kind: &str, data: Value) -> Step {
    Step::Raw(format!("event: {kind}\ndata: {data}\n\n"))
}

/// `message_start` … `message_stop` around `blocks` (each a list of events for one block).
pub fn message_events(id: &str, model: &str, blocks: Vec<Vec<Step>>, stop: &str) -> Vec<Step> {
    let mut steps = vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {"id": id, "type": "message", "role": "assistant", "content": [], "model": model, "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 10, "output_tokens": 1}}}),
        ),
        event("ping", json!({"type": "ping"})),
    ];
    for block in blocks {
        steps.extend(block);
    }
    steps.push(event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 15}}),
    ));
    steps.push(event("message_stop", json!({"type": "message_stop"})));
    steps
}

pub fn thinking_block(index: usize, text: &str, signature: &str) -> Vec<Step> {
    vec![
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        ),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": text}}),
        ),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": signature}}),
        ),
        event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ),
    ]
}

pub fn text_block(index: usize, pieces: &[&str]) -> Vec<Step> {
    let mut steps = vec![event(
        "content_block_start",
        json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
    )];
    for piece in pieces {
        steps.push(event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}),
        ));
    }
    steps.push(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": index}),
    ));
    steps
}

pub fn tool_use_block(index: usize, id: &str, name: &str, input: &Value) -> Vec<Step> {
    let text = input.to_string();
    let (a, b) = text.split_at(text.len() / 2);
    vec![
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
        ),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        ),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": a}}),
        ),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": b}}),
        ),
        event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ),
    ]
}

fn anthropic_error(status: u16, kind: &str, message: &str) -> Reply {
    Reply::Json {
        status,
        body: json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_test"}),
        headers: if status == 529 || status == 429 {
            vec![("retry-after".into(), "0".into())]
        } else {
            vec![]
        },
    }
}

/// The whole-message form of a thinking + tool_use or thinking + text answer.
fn message_object(id: &str, model: &str, content: Vec<Value>, stop: &str) -> Value {
    json!({"id": id, "type": "message", "role": "assistant", "model": model, "content": content,
        "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": 25, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 10, "output_tokens": 15}})
}

/// What the scripted Anthropic upstream answers, by model:
/// - `claude-think`: extended thinking with tools over three turns — `get_weather`, then
///   `get_time`, then the answer — refusing, as Anthropic does, a tool-use turn that comes back
///   without its signed thinking;
/// - `claude-text`: a plain streamed or whole text answer;
/// - `claude-529`: overloaded (HTTP 529, `Retry-After: 0`);
/// - `claude-flaky`: every other request fails — a stream is accepted, then gets an
///   `overloaded_error` event before any content; a whole message gets a 529 — and the others
///   answer.
pub fn anthropic_upstream() -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    let flaky = AtomicUsize::new(0);
    move |req: &Recorded| {
        if req.headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(ANTHROPIC_KEY) {
            return anthropic_error(401, "authentication_error", "invalid x-api-key");
        }
        if req.headers.get("anthropic-version").is_none() {
            return anthropic_error(
                400,
                "invalid_request_error",
                "anthropic-version: header is required",
            );
        }
        if req.path.starts_with("/v1/models") {
            return Reply::json(json!({"data": [
                {"type": "model", "id": "claude-think", "display_name": "Claude Think", "created_at": "2025-09-29T00:00:00Z"},
                {"type": "model", "id": "claude-text", "display_name": "Claude Text", "created_at": "2025-02-24T00:00:00Z"}
            ], "has_more": false, "first_id": "claude-think", "last_id": "claude-text"}));
        }
        if req.path != "/v1/messages" {
            return anthropic_error(404, "not_found_error", "no such endpoint");
        }
        if !req.body["max_tokens"].is_u64() {
            return anthropic_error(400, "invalid_request_error", "max_tokens: Field required");
        }
        let model = req.body["model"].as_str().unwrap_or("").to_string();
        let stream = req.body["stream"] == true;
        match model.as_str() {
            "claude-think" => think_with_tools(req, stream),
            "claude-text" => text_answer(&model, stream),
            "claude-529" => anthropic_error(529, "overloaded_error", "Overloaded"),
            "claude-flaky" if flaky.fetch_add(1, Ordering::SeqCst) % 2 == 0 && !stream => {
                anthropic_error(529, "overloaded_error", "Overloaded")
            }
            "claude-flaky" if flaky.load(Ordering::SeqCst) % 2 == 1 && stream => {
                let mut steps = message_events("msg_flaky", &model, vec![], "end_turn");
                steps.truncate(2);
                steps.push(event(
                    "error",
                    json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
                ));
                Reply::Sse(steps)
            }
            "claude-flaky" => text_answer(&model, stream),
            _ => anthropic_error(404, "not_found_error", &format!("model: {model}")),
        }
    }
}

fn text_answer(model: &str, stream: bool) -> Reply {
    if stream {
        Reply::Sse(message_events(
            "msg_text",
            model,
            vec![text_block(0, &["Hello", " from Claude."])],
            "end_turn",
        ))
    } else {
        Reply::json(message_object(
            "msg_text",
            model,
            vec![json!({"type": "text", "text": "Hello from Claude."})],
            "end_turn",
        ))
    }
}

/// Checks that each assistant turn with `tool_use` starts with its signed thinking, then
/// answers the next step of the weather-and-time conversation.
fn think_with_tools(req: &Recorded, stream: bool) -> Reply {
    if req.body["thinking"]["type"] != "enabled" {
        return anthropic_error(
            400,
            "invalid_request_error",
            "claude-think: thinking must be enabled for this test",
        );
    }
    let messages = req.body["messages"].as_array().cloned().unwrap_or_default();
    for (i, message) in messages.iter().enumerate() {
        let blocks = message["content"].as_array().cloned().unwrap_or_default();
        let Some(tool) = blocks.iter().find(|b| b["type"] == "tool_use") else {
            continue;
        };
        let expected = signature_for(tool["id"].as_str().unwrap_or(""));
        if blocks[0]["type"] != "thinking" || blocks[0]["signature"] != expected.as_str() {
            return anthropic_error(
                400,
                "invalid_request_error",
                &format!(
                    "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks).",
                    blocks[0]["type"].as_str().unwrap_or("?")
                ),
            );
        }
    }
    let results = messages
        .iter()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .filter(|b| b["type"] == "tool_result")
        .count();
    let (thought, content, stop) = match results {
        0 => (
            "I need the weather first.",
            json!({"type": "tool_use", "id": "toolu_weather", "name": "get_weather", "input": {"city": "Oslo"}}),
            "tool_use",
        ),
        1 => (
            "Now the time.",
            json!({"type": "tool_use", "id": "toolu_time", "name": "get_time", "input": {"city": "Oslo"}}),
            "tool_use",
        ),
        _ => (
            "I have both.",
            json!({"type": "text", "text": "Sunny in Oslo, and it is noon."}),
            "end_turn",
        ),
    };
    let signature = match content["id"].as_str() {
        Some(id) => signature_for(id),
        None => "EqQBCkYIBxgCKkD-final-signed".to_string(),
    };
    let model = "claude-think";
    if !stream {
        return Reply::json(message_object(
            &format!("msg_{results}"),
            model,
            vec![
                json!({"type": "thinking", "thinking": thought, "signature": signature}),
                content,
            ],
            stop,
        ));
    }
    let second = if content["type"] == "tool_use" {
        tool_use_block(
            1,
            content["id"].as_str().unwrap_or(""),
            content["name"].as_str().unwrap_or(""),
            &content["input"],
        )
    } else {
        text_block(1, &["Sunny in Oslo, ", "and it is noon."])
    };
    Reply::Sse(message_events(
        &format!("msg_{results}"),
        model,
        vec![thinking_block(0, thought, &signature), second],
        stop,
    ))
}
