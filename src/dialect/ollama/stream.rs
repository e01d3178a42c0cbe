//! Ollama's API out: the internal chunk stream becomes newline-delimited JSON objects as
//! `/api/chat` (`message.content` / `message.thinking`) or `/api/generate` (`response` /
//! `thinking`) writes them, ending with a `done: true` object that carries `done_reason` and the
//! token counts; a non-streaming request gets that last object with the whole answer. The same
//! state machine serves both.
//!
//! Reasoning (a model's, or agents' work) goes out as `thinking`, the answer as `content`. Tool
//! calls come whole in Ollama (`arguments` an object, never fragments), so their fragments are
//! gathered and sent in one object just before the last. A stream that breaks after its first
//! line ends with `{"error": …}`, which Ollama's clients raise as an error.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Map, Value, json};

use super::request::Endpoint;
use crate::dialect::{Piece, for_each_piece};
use crate::error::ErrorObject;
use crate::wire::ChatChunk;
use crate::wire::Usage;

pub struct NdjsonWriter {
    model: String,
    endpoint: Endpoint,
    started: Instant,
    /// Whether the whole answer is kept (for a non-streaming request's one object).
    keep: bool,
    content: String,
    thinking: String,
    /// Tool calls by chunk index: (name, arguments so far).
    calls: BTreeMap<u32, (String, String)>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
}

impl NdjsonWriter {
    pub fn new(model: String, endpoint: Endpoint, keep: bool) -> Self {
        Self {
            model,
            endpoint,
            started: Instant::now(),
            keep,
            content: String::new(),
            thinking: String::new(),
            calls: BTreeMap::new(),
            finish_reason: None,
            usage: None,
        }
    }

    pub fn chunk(&mut self, chunk: &ChatChunk, out: &mut Vec<u8>) {
        if let Some(usage) = &chunk.usage {
            self.usage = Some(usage.clone());
        }
        for_each_piece(chunk, |piece| match piece {
            Piece::Reasoning(text) => {
                if self.keep {
                    self.thinking.push_str(text);
                } else {
                    self.line(out, "", Some(text), None, None);
                }
            }
            Piece::Text(text) => {
                if self.keep {
                    self.content.push_str(text);
                } else {
                    self.line(out, text, None, None, None);
                }
            }
            Piece::ToolCall {
                index,
                name,
                arguments,
                ..
            } => {
                let call = self.calls.entry(index).or_default();
                if let Some(name) = name.filter(|_| call.0.is_empty()) {
                    call.0 = name.to_string();
                }
                call.1.push_str(arguments.unwrap_or_default());
            }
            Piece::Finish(reason) => self.finish_reason = Some(reason.to_string()),
        });
    }

    /// The tool calls (if any) and the `done: true` object; for a non-streaming request, the
    /// one object with everything, returned.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Option<Value> {
        let calls = self.tool_calls();
        let done = self.done_fields();
        if self.keep {
            let content = std::mem::take(&mut self.content);
            let thinking = std::mem::take(&mut self.thinking);
            let thinking = (!thinking.is_empty()).then_some(thinking);
            return Some(self.object(&content, thinking.as_deref(), calls, Some(done)));
        }
        if calls.is_some() {
            self.line(out, "", None, calls, None);
        }
        self.line(out, "", None, None, Some(done));
        None
    }

    /// The stream broke after its first line.
    pub fn fail(&mut self, error: &ErrorObject, out: &mut Vec<u8>) {
        let _ = serde_json::to_writer(&mut *out, &json!({"error": error.message}));
        out.push(b'\n');
    }

    fn line(
        &self,
        out: &mut Vec<u8>,
        content: &str,
        thinking: Option<&str>,
        calls: Option<Value>,
        done: Option<Map<String, Value>>,
    ) {
        let object = self.object(content, thinking, calls, done);
        let _ = serde_json::to_writer(&mut *out, &object);
        out.push(b'\n');
    }

    /// One object of the answer: a piece of it (`done: false`) or, with `done`, the end.
    fn object(
        &self,
        content: &str,
        thinking: Option<&str>,
        calls: Option<Value>,
        done: Option<Map<String, Value>>,
    ) -> Value {
        let mut object = Map::new();
        object.insert("model".into(), self.model.clone().into());
        object.insert(
            "created_at".into(),
            jiff::Timestamp::now().to_string().into(),
        );
        match self.endpoint {
            Endpoint::Chat => {
                let mut message = Map::new();
                message.insert("role".into(), "assistant".into());
                message.insert("content".into(), content.into());
                if let Some(thinking) = thinking {
                    message.insert("thinking".into(), thinking.into());
                }
                if let Some(calls) = calls {
                    message.insert("tool_calls".into(), calls);
                }
                object.insert("message".into(), Value::Object(message));
            }
            Endpoint::Generate => {
                object.insert("response".into(), content.into());
                if let Some(thinking) = thinking {
                    object.insert("thinking".into(), thinking.into());
                }
            }
        }
        let finished = done.is_some();
        object.insert("done".into(), finished.into());
        object.extend(done.unwrap_or_default());
        Value::Object(object)
    }

    /// Ollama's `tool_calls`: whole calls, `arguments` as an object.
    fn tool_calls(&mut self) -> Option<Value> {
        if self.calls.is_empty() {
            return None;
        }
        let calls = std::mem::take(&mut self.calls)
            .into_values()
            .map(|(name, arguments)| {
                let arguments = serde_json::from_str::<Value>(&arguments)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({}));
                json!({"function": {"name": name, "arguments": arguments}})
            })
            .collect();
        Some(Value::Array(calls))
    }

    /// `done_reason`, durations and counts for the last object.
    fn done_fields(&self) -> Map<String, Value> {
        let reason = match self.finish_reason.as_deref() {
            Some("length") => "length",
            _ => "stop",
        };
        let (prompt, completion) = self
            .usage
            .as_ref()
            .map_or((0, 0), |u| (u.prompt_tokens, u.completion_tokens));
        let total = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let fields = json!({
            "done_reason": reason, "total_duration": total, "load_duration": 0,
            "prompt_eval_count": prompt, "prompt_eval_duration": 0,
            "eval_count": completion, "eval_duration": total,
        });
        match fields {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}
