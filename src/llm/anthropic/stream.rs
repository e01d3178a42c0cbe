//! Messages back to chat completions: Anthropic's event stream (or one `message` object) becomes
//! chat chunks (or one completion).
//!
//! | Messages                                   | chat completions                                |
//! |--------------------------------------------|-------------------------------------------------|
//! | `message_start`                            | nothing yet: its id, model and input usage are kept for the chunks |
//! | `text` block, `text_delta`                 | `content`                                       |
//! | `thinking` block, `thinking_delta`         | `reasoning_content`                             |
//! | `signature_delta`, `redacted_thinking`     | nothing for the client: kept with the turn's tool-call ids ([`ThinkingMemory`]) and given back with that turn |
//! | `tool_use` block, `input_json_delta`       | a tool call (id and name first, then argument fragments) |
//! | the `json_answer` tool (a `response_format` request) | `content`: its input is the answer |
//! | `message_delta`                            | `finish_reason` (`end_turn`/`stop_sequence`/`pause_turn` → stop, `max_tokens`/`model_context_window_exceeded` → length, `tool_use` → tool_calls, `refusal` → content_filter) and usage (cache reads and writes counted as prompt tokens, reads also as `cached_tokens`) |
//! | `message_stop`                             | the clean end                                   |
//! | `ping`, unknown events                     | skipped (Anthropic may add event types)        |
//! | `error`                                    | an in-stream error of the mapped type (`overloaded_error` → `overloaded`) |
//!
//! No chunk is produced before the first content: an `error` event right after `message_start`
//! (Anthropic's way to say "overloaded" on an accepted stream) is then still a failure before
//! the first byte, which the proxy can retry or send to a fallback.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::ThinkingMemory;
use super::request::JSON_ANSWER_TOOL;
use crate::error::ErrorObject;
use crate::llm::LlmError;
use crate::wire::{
    ChatChunk, ChatCompletion, CompletionChoice, Delta, FunctionCall, FunctionDelta,
    ResponseMessage, ToolCall, ToolCallDelta, Usage,
};

/// One Anthropic stream's state: turns events into chunks.
pub struct EventMapper {
    id: String,
    model: String,
    created: i64,
    input: Map<String, Value>,
    /// What each open content block is, by its index.
    blocks: Vec<Block>,
    /// Thinking blocks of this message as Anthropic must get them back.
    thinking: Vec<Value>,
    tool_ids: Vec<String>,
    next_tool_index: u32,
    made_tool_calls: bool,
    /// Whether a chunk went out: an `error` event before that is a refusal, after it a failure
    /// mid-answer.
    emitted: bool,
    pub finished: bool,
}

enum Block {
    Text,
    Thinking { text: String, signature: String },
    Tool { index: u32 },
    JsonAnswer,
    Other,
}

impl EventMapper {
    pub fn new(model: &str) -> Self {
        Self {
            id: String::new(),
            model: model.to_string(),
            created: crate::ids::unix_now(),
            input: Map::new(),
            blocks: Vec::new(),
            thinking: Vec::new(),
            tool_ids: Vec::new(),
            next_tool_index: 0,
            made_tool_calls: false,
            emitted: false,
            finished: false,
        }
    }

    /// One event's `data` → at most one chunk, or the upstream's error.
    pub fn event(&mut self, event: &Value) -> Result<Option<ChatChunk>, LlmError> {
        let chunk = self.map(event)?;
        self.emitted |= chunk.is_some();
        Ok(chunk)
    }

    fn map(&mut self, event: &Value) -> Result<Option<ChatChunk>, LlmError> {
        match event.get("type").and_then(Value::as_str).unwrap_or("") {
            "message_start" => {
                let message = &event["message"];
                if let Some(id) = message.get("id").and_then(Value::as_str) {
                    self.id = id.to_string();
                }
                if let Some(model) = message.get("model").and_then(Value::as_str) {
                    self.model = model.to_string();
                }
                if let Some(usage) = message.get("usage").and_then(Value::as_object) {
                    self.input = usage.clone();
                }
                Ok(None)
            }
            "content_block_start" => Ok(self.block_start(event)),
            "content_block_delta" => Ok(self.block_delta(event)),
            "content_block_stop" => {
                self.block_stop(event);
                Ok(None)
            }
            "message_delta" => {
                let stop = event["delta"]["stop_reason"].as_str();
                let usage = event
                    .get("usage")
                    .and_then(Value::as_object)
                    .map(|u| usage_of(&self.input, u));
                let reason = finish_reason(stop, self.made_tool_calls);
                let mut chunk = self.chunk(Delta::default(), Some(reason));
                chunk.usage = usage;
                Ok(Some(chunk))
            }
            "message_stop" => {
                self.finished = true;
                Ok(None)
            }
            "error" => {
                let error = event.get("error").unwrap_or(&Value::Null);
                let object = Box::new(error_object(error));
                if self.emitted {
                    return Err(LlmError::InStream(object));
                }
                // Nothing reached the client yet: as good as an HTTP error, so it keeps its
                // status and can be retried.
                let kind = error.get("type").and_then(Value::as_str).unwrap_or("");
                Err(LlmError::Upstream {
                    status: status_of(kind),
                    error: object,
                    retry_after: None,
                })
            }
            _ => Ok(None),
        }
    }

    /// Hands the message's thinking to `memory`, under its tool calls' ids.
    pub fn remember_thinking(&self, memory: &ThinkingMemory) {
        if !self.thinking.is_empty() {
            memory.remember(&self.tool_ids, Arc::new(self.thinking.clone()));
        }
    }

    fn block_start(&mut self, event: &Value) -> Option<ChatChunk> {
        let block = &event["content_block"];
        let (kind, chunk) = match block.get("type").and_then(Value::as_str).unwrap_or("") {
            "text" => {
                let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                (Block::Text, self.text(text))
            }
            "thinking" => {
                let text = block.get("thinking").and_then(Value::as_str).unwrap_or("");
                let chunk = (!text.is_empty()).then(|| {
                    self.chunk(
                        Delta {
                            reasoning_content: Some(text.to_string()),
                            ..Delta::default()
                        },
                        None,
                    )
                });
                let signature = block.get("signature").and_then(Value::as_str).unwrap_or("");
                (
                    Block::Thinking {
                        text: text.to_string(),
                        signature: signature.to_string(),
                    },
                    chunk,
                )
            }
            "redacted_thinking" => {
                self.thinking.push(block.clone());
                (Block::Other, None)
            }
            "tool_use" => {
                let name = block.get("name").and_then(Value::as_str).unwrap_or("");
                if name == JSON_ANSWER_TOOL {
                    (Block::JsonAnswer, None)
                } else {
                    let id = block.get("id").and_then(Value::as_str).unwrap_or("");
                    let index = self.next_tool_index;
                    self.next_tool_index += 1;
                    self.made_tool_calls = true;
                    self.tool_ids.push(id.to_string());
                    let delta = ToolCallDelta {
                        index,
                        id: Some(id.to_string()),
                        kind: Some("function".into()),
                        function: Some(FunctionDelta {
                            name: Some(name.to_string()),
                            arguments: Some(String::new()),
                            extra: Map::new(),
                        }),
                        extra: Map::new(),
                    };
                    (Block::Tool { index }, Some(self.tool_chunk(delta)))
                }
            }
            _ => (Block::Other, None),
        };
        let at = event.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
        if self.blocks.len() <= at {
            self.blocks.resize_with(at + 1, || Block::Other);
        }
        self.blocks[at] = kind;
        chunk
    }

    fn block_delta(&mut self, event: &Value) -> Option<ChatChunk> {
        let at = event.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
        let delta = &event["delta"];
        let piece = |key: &str| delta.get(key).and_then(Value::as_str).unwrap_or("");
        match (
            self.blocks.get_mut(at),
            delta.get("type").and_then(Value::as_str),
        ) {
            (Some(Block::Text), Some("text_delta")) => {
                let text = piece("text").to_string();
                self.text(&text)
            }
            (Some(Block::Thinking { text, .. }), Some("thinking_delta")) => {
                let more = piece("thinking");
                text.push_str(more);
                let more = more.to_string();
                Some(self.chunk(
                    Delta {
                        reasoning_content: Some(more),
                        ..Delta::default()
                    },
                    None,
                ))
            }
            (Some(Block::Thinking { signature, .. }), Some("signature_delta")) => {
                signature.push_str(piece("signature"));
                None
            }
            (Some(Block::Tool { index }), Some("input_json_delta")) => {
                let index = *index;
                let fragment = piece("partial_json");
                if fragment.is_empty() {
                    return None;
                }
                let delta = ToolCallDelta {
                    index,
                    id: None,
                    kind: None,
                    function: Some(FunctionDelta {
                        name: None,
                        arguments: Some(fragment.to_string()),
                        extra: Map::new(),
                    }),
                    extra: Map::new(),
                };
                Some(self.tool_chunk(delta))
            }
            (Some(Block::JsonAnswer), Some("input_json_delta")) => {
                let text = piece("partial_json").to_string();
                self.text(&text)
            }
            _ => None,
        }
    }

    fn block_stop(&mut self, event: &Value) {
        let at = event.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
        if let Some(Block::Thinking { text, signature }) = self.blocks.get_mut(at) {
            self.thinking.push(json!({
                "type": "thinking",
                "thinking": std::mem::take(text),
                "signature": std::mem::take(signature),
            }));
            self.blocks[at] = Block::Other;
        }
    }

    fn text(&self, text: &str) -> Option<ChatChunk> {
        (!text.is_empty()).then(|| {
            self.chunk(
                Delta {
                    content: Some(text.to_string()),
                    ..Delta::default()
                },
                None,
            )
        })
    }

    fn tool_chunk(&self, call: ToolCallDelta) -> ChatChunk {
        self.chunk(
            Delta {
                tool_calls: Some(vec![call]),
                ..Delta::default()
            },
            None,
        )
    }

    fn chunk(&self, delta: Delta, finish: Option<String>) -> ChatChunk {
        ChatChunk::built(&self.id, self.created, &self.model, Some(delta), finish)
    }
}

/// A whole Messages `message` → one completion (thinking remembered for its tool calls).
pub fn to_completion(message: &Value, memory: &ThinkingMemory) -> ChatCompletion {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    let mut thinking = Vec::new();
    for block in message["content"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        match block.get("type").and_then(Value::as_str).unwrap_or("") {
            "text" => text.push_str(block["text"].as_str().unwrap_or("")),
            "thinking" => {
                reasoning.push_str(block["thinking"].as_str().unwrap_or(""));
                thinking.push(block.clone());
            }
            "redacted_thinking" => thinking.push(block.clone()),
            "tool_use" if block["name"] == JSON_ANSWER_TOOL => {
                text.push_str(&block["input"].to_string());
            }
            "tool_use" => calls.push(ToolCall {
                id: block["id"].as_str().unwrap_or("").to_string(),
                kind: "function".into(),
                function: FunctionCall {
                    name: block["name"].as_str().unwrap_or("").to_string(),
                    arguments: block
                        .get("input")
                        .map(Value::to_string)
                        .unwrap_or_else(|| "{}".into()),
                    extra: Map::new(),
                },
                extra: Map::new(),
            }),
            _ => {}
        }
    }
    if !thinking.is_empty() {
        let ids: Vec<String> = calls.iter().map(|c| c.id.clone()).collect();
        memory.remember(&ids, Arc::new(thinking));
    }
    let empty = Map::new();
    let usage = message
        .get("usage")
        .and_then(Value::as_object)
        .map(|u| usage_of(u, &empty));
    let finish = finish_reason(message["stop_reason"].as_str(), !calls.is_empty());
    ChatCompletion {
        id: message["id"].as_str().unwrap_or("").to_string(),
        object: "chat.completion".into(),
        created: crate::ids::unix_now(),
        model: message["model"].as_str().unwrap_or("").to_string(),
        choices: vec![CompletionChoice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".into(),
                content: (!text.is_empty() || calls.is_empty()).then_some(text),
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
                tool_calls: (!calls.is_empty()).then_some(calls),
                extra: Map::new(),
            },
            finish_reason: Some(finish),
            extra: Map::new(),
        }],
        usage,
        extra: Map::new(),
    }
}

/// Usage from `message_start`'s input counts and `message_delta`'s (cumulative) ones; the later
/// counts win where both have a field.
pub fn usage_of(start: &Map<String, Value>, delta: &Map<String, Value>) -> Usage {
    let count = |key: &str| {
        delta
            .get(key)
            .or_else(|| start.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let cache_read = count("cache_read_input_tokens");
    let prompt = count("input_tokens") + cache_read + count("cache_creation_input_tokens");
    let completion = count("output_tokens");
    let mut extra = Map::new();
    if cache_read > 0 {
        extra.insert(
            "prompt_tokens_details".into(),
            json!({"cached_tokens": cache_read}),
        );
    }
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        extra,
    }
}

fn finish_reason(stop: Option<&str>, made_tool_calls: bool) -> String {
    match stop {
        Some("tool_use") if made_tool_calls => "tool_calls",
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
    .to_string()
}

/// The HTTP status Anthropic gives each error type (529 for `overloaded_error` becomes 503).
fn status_of(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 503,
        _ => 500,
    }
}

/// Anthropic's error object `{type, message}` in the OpenAI form clients parse.
pub fn error_object(error: &Value) -> ErrorObject {
    let kind = error.get("type").and_then(Value::as_str).unwrap_or("");
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the provider reported an error");
    let (kind, code) = match kind {
        "invalid_request_error" | "request_too_large" => ("invalid_request_error", None),
        "authentication_error" => ("authentication_error", None),
        "permission_error" => ("permission_error", None),
        "not_found_error" => ("invalid_request_error", Some("model_not_found")),
        "rate_limit_error" => ("rate_limit_error", Some("rate_limit_exceeded")),
        "overloaded_error" => ("api_error", Some("overloaded")),
        "timeout_error" => ("api_error", Some("upstream_timeout")),
        _ => ("api_error", None),
    };
    let object = ErrorObject::new(message, kind);
    match code {
        Some(code) => object.with_code(code),
        None => object,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_a_thinking_tool_use_stream_and_keeps_the_signature() {
        let memory = ThinkingMemory::new(4);
        let mut mapper = EventMapper::new("claude");
        let events = [
            json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm."}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "SIG"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\":"}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "\"Oslo\"}"}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}}),
            json!({"type": "message_stop"}),
        ];
        let chunks: Vec<ChatChunk> = events
            .iter()
            .filter_map(|e| mapper.event(e).expect("maps"))
            .collect();
        assert!(mapper.finished);
        assert_eq!(
            chunks[0].choices[0].delta.reasoning_content.as_deref(),
            Some("Hmm.")
        );
        let call = &chunks[1].choices[0]
            .delta
            .tool_calls
            .as_ref()
            .expect("call")[0];
        assert_eq!(call.id.as_deref(), Some("toolu_1"));
        let last = chunks.last().expect("last");
        assert_eq!(last.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        let usage = last.usage.as_ref().expect("usage");
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (15, 7));
        mapper.remember_thinking(&memory);
        let kept = memory.recall("toolu_1").expect("kept");
        assert_eq!(kept[0]["signature"], "SIG");
        assert_eq!(kept[0]["thinking"], "Hmm.");
    }

    #[test]
    fn an_error_event_is_a_refusal_before_content_and_a_failure_after() {
        let overloaded = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
        let mut mapper = EventMapper::new("claude");
        let error = mapper.event(&overloaded).expect_err("error");
        assert!(matches!(error, LlmError::Upstream { status: 503, .. }));
        let object = error.to_error_object();
        assert_eq!(object.message, "Overloaded");
        assert_eq!(object.code, "overloaded");

        let mut mapper = EventMapper::new("claude");
        let text = json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "Hi"}});
        assert!(mapper.event(&text).expect("text").is_some());
        let error = mapper.event(&overloaded).expect_err("error");
        assert!(matches!(error, LlmError::InStream(_)));
    }
}
