//! Anthropic Messages out: the internal chunk stream becomes Messages events and, at its end,
//! the whole `message` object. As for the Responses API, one state machine serves both: a
//! streaming request gets the events (`event: <type>` + `data: {json}`), a non-streaming one
//! only the object, so the two cannot disagree.
//!
//! | chunk                                            | content block                          |
//! |--------------------------------------------------|----------------------------------------|
//! | `reasoning_content` (a model's, or agents' work) | `thinking` (`thinking_delta`s, a `signature_delta` before it stops) |
//! | `content`                                        | `text` (`text_delta`s)                 |
//! | `tool_calls` (the client runs them)              | `tool_use` (`input_json_delta`s)       |
//!
//! A block stays open while its kind continues and closes when another begins, so blocks come
//! in the order the model produced them, as Anthropic streams them. `message_start` carries the
//! proxy's estimate of the input tokens (a provider reports them only at the end);
//! `message_delta` carries the provider's counts, which the SDKs take as the final ones.
//!
//! Thinking that did not come from Anthropic has no Anthropic signature. Its blocks get the
//! proxy's own marker as `signature`, so clients that send thinking back (Claude Code does)
//! have a well-formed block; thinking sent back is dropped before a chat model (see
//! `request.rs`).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::dialect::{Piece, for_each_piece};
use crate::error::ErrorObject;
use crate::wire::{ChatChunk, Usage};

/// The `signature` of thinking the proxy relays from a non-Anthropic model.
pub const PROXY_SIGNATURE: &str = "adk-llm-proxy";

enum OpenBlock {
    Thinking { index: usize },
    Text { index: usize },
    ToolUse { index: usize },
}

/// A block's content, kept for the whole message object.
enum Block {
    Thinking(String),
    Text(String),
    ToolUse {
        id: String,
        name: String,
        arguments: String,
    },
}

pub struct MessageWriter {
    id: String,
    /// The model name as the client asked for it.
    model: String,
    input_estimate: u64,
    /// Whether the blocks' content is kept (for the object of a non-streaming answer).
    keep: bool,
    blocks: Vec<Block>,
    open: Option<OpenBlock>,
    /// Tool-call chunk index → block index.
    calls: BTreeMap<u32, usize>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
}

impl MessageWriter {
    /// `keep`: whether [`MessageWriter::finish`] returns the message object.
    pub fn new(id: String, model: String, input_estimate: u64, keep: bool) -> Self {
        Self {
            id,
            model,
            input_estimate,
            keep,
            blocks: Vec::new(),
            open: None,
            calls: BTreeMap::new(),
            finish_reason: None,
            usage: None,
        }
    }

    /// `message_start` and a `ping`, as Anthropic opens every stream.
    pub fn start(&mut self, out: &mut Vec<u8>) {
        let message = json!({
            "id": self.id, "type": "message", "role": "assistant", "model": self.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": self.input_estimate, "output_tokens": 0},
        });
        write_event(out, "message_start", &json!({"message": message}));
        write_event(out, "ping", &json!({}));
    }

    pub fn chunk(&mut self, chunk: &ChatChunk, out: &mut Vec<u8>) {
        if let Some(usage) = &chunk.usage {
            self.usage = Some(usage.clone());
        }
        for_each_piece(chunk, |piece| match piece {
            Piece::Reasoning(text) => self.thinking(out, text),
            Piece::Text(text) => self.text(out, text),
            Piece::ToolCall {
                index,
                id,
                name,
                arguments,
            } => self.tool_use(out, index, id, name, arguments),
            Piece::Finish(reason) => self.finish_reason = Some(reason.to_string()),
        });
    }

    /// A clean end: the open block stops, then `message_delta` (stop reason, usage) and
    /// `message_stop`. Returns the message object when it was asked to keep it.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Option<Value> {
        self.close(out);
        let stop_reason = match self.finish_reason.as_deref() {
            Some("length") => "max_tokens",
            Some("tool_calls") => "tool_use",
            Some("content_filter") => "refusal",
            _ if !self.calls.is_empty() => "tool_use",
            _ => "end_turn",
        };
        let (input, output) = match &self.usage {
            Some(usage) => (usage.prompt_tokens, usage.completion_tokens),
            None => (self.input_estimate, 0),
        };
        let usage = json!({"input_tokens": input, "output_tokens": output});
        let delta = json!({
            "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": usage,
        });
        write_event(out, "message_delta", &delta);
        write_event(out, "message_stop", &json!({}));
        if !self.keep {
            return None;
        }
        let content: Vec<Value> = std::mem::take(&mut self.blocks)
            .into_iter()
            .map(block_json)
            .collect();
        Some(json!({
            "id": self.id, "type": "message", "role": "assistant", "model": self.model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": null,
            "usage": usage,
        }))
    }

    /// The stream broke after its first event: Anthropic's `error` event; the stream ends.
    pub fn fail(&mut self, error: &ErrorObject, out: &mut Vec<u8>) {
        let kind = match error.kind.as_str() {
            "rate_limit_error" | "rate_limit_exceeded" => "rate_limit_error",
            _ if error.code.as_str() == Some("timeout") => "timeout_error",
            _ => "overloaded_error",
        };
        let body = json!({"error": {"type": kind, "message": error.message}});
        write_event(out, "error", &body);
    }

    fn thinking(&mut self, out: &mut Vec<u8>, text: &str) {
        let index = match self.open {
            Some(OpenBlock::Thinking { index }) => index,
            _ => {
                let index = self.open_block(out, Block::Thinking(String::new()));
                self.open = Some(OpenBlock::Thinking { index });
                index
            }
        };
        if let Some(Block::Thinking(all)) = self.blocks.get_mut(index).filter(|_| self.keep) {
            all.push_str(text);
        }
        let delta = DeltaEvent {
            index,
            delta: TextDelta {
                kind: "thinking_delta",
                text: None,
                thinking: Some(text),
            },
        };
        write_event(out, "content_block_delta", &delta);
    }

    fn text(&mut self, out: &mut Vec<u8>, text: &str) {
        let index = match self.open {
            Some(OpenBlock::Text { index }) => index,
            _ => {
                let index = self.open_block(out, Block::Text(String::new()));
                self.open = Some(OpenBlock::Text { index });
                index
            }
        };
        if let Some(Block::Text(all)) = self.blocks.get_mut(index).filter(|_| self.keep) {
            all.push_str(text);
        }
        let delta = DeltaEvent {
            index,
            delta: TextDelta {
                kind: "text_delta",
                text: Some(text),
                thinking: None,
            },
        };
        write_event(out, "content_block_delta", &delta);
    }

    fn tool_use(
        &mut self,
        out: &mut Vec<u8>,
        call: u32,
        id: Option<&str>,
        name: Option<&str>,
        arguments: Option<&str>,
    ) {
        let index = match self.calls.get(&call) {
            Some(index) => *index,
            None => {
                let id = id
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("toolu_{}", crate::ids::random_hex(24)));
                let block = Block::ToolUse {
                    id,
                    name: name.unwrap_or_default().to_string(),
                    arguments: String::new(),
                };
                let index = self.open_block(out, block);
                self.calls.insert(call, index);
                self.open = Some(OpenBlock::ToolUse { index });
                index
            }
        };
        let Some(arguments) = arguments.filter(|a| !a.is_empty()) else {
            return;
        };
        if let Some(Block::ToolUse { arguments: all, .. }) = self.blocks.get_mut(index) {
            all.push_str(arguments);
        }
        let delta = json!({"index": index, "delta": {"type": "input_json_delta", "partial_json": arguments}});
        write_event(out, "content_block_delta", &delta);
    }

    /// Stops the open block and starts `block` at the next index.
    fn open_block(&mut self, out: &mut Vec<u8>, block: Block) -> usize {
        self.close(out);
        let index = self.blocks.len();
        let start = match &block {
            Block::Thinking(_) => json!({"type": "thinking", "thinking": "", "signature": ""}),
            Block::Text(_) => json!({"type": "text", "text": ""}),
            Block::ToolUse { id, name, .. } => {
                json!({"type": "tool_use", "id": id, "name": name, "input": {}})
            }
        };
        write_event(
            out,
            "content_block_start",
            &json!({"index": index, "content_block": start}),
        );
        self.blocks.push(block);
        index
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        let index = match self.open.take() {
            None => return,
            Some(OpenBlock::Thinking { index }) => {
                let delta = json!({"index": index, "delta": {"type": "signature_delta", "signature": PROXY_SIGNATURE}});
                write_event(out, "content_block_delta", &delta);
                index
            }
            Some(OpenBlock::Text { index }) | Some(OpenBlock::ToolUse { index }) => index,
        };
        write_event(out, "content_block_stop", &json!({"index": index}));
    }
}

/// A finished block as the message object carries it.
fn block_json(block: Block) -> Value {
    match block {
        Block::Thinking(thinking) => {
            json!({"type": "thinking", "thinking": thinking, "signature": PROXY_SIGNATURE})
        }
        Block::Text(text) => json!({"type": "text", "text": text}),
        Block::ToolUse {
            id,
            name,
            arguments,
        } => {
            // Arguments a model cut short still reach the client, as a string it can see.
            let input = serde_json::from_str::<Value>(&arguments)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| {
                    if arguments.is_empty() {
                        json!({})
                    } else {
                        json!({"_raw": arguments})
                    }
                });
            json!({"type": "tool_use", "id": id, "name": name, "input": input})
        }
    }
}

fn write_event(out: &mut Vec<u8>, kind: &str, body: &impl Serialize) {
    crate::dialect::write_event(out, kind, None, body);
}

#[derive(Serialize)]
struct DeltaEvent<'a> {
    index: usize,
    delta: TextDelta<'a>,
}

#[derive(Serialize)]
struct TextDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<&'a str>,
}
