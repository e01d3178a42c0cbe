//! OpenAI chat-completions wire types, written to be *tolerant*.
//!
//! A proxy must never be the reason a client or a provider breaks, so every struct here keeps the
//! fields it does not know in a flattened `extra` map and writes them back unchanged. Fields the
//! proxy needs to read or rewrite are typed; everything else rides along. Request messages are
//! kept as raw JSON objects because clients send many shapes (content parts, names, tool ids,
//! vendor fields) that the proxy must forward byte-for-byte in meaning.

mod message;
mod tolerant;

pub use message::Message;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tolerant::tolerant_deserialize;

/// A validated `POST /v1/chat/completions` body.
///
/// Only `model`, `messages` and `stream` are typed: the proxy routes on the first, may rewrite
/// the second (DeepSeek quirks, Ollama mapping) and branches on the third. All other parameters
/// stay in `extra`, so a parameter the client did not set is never invented on the way up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// Whether the client asked for a trailing usage chunk (`stream_options.include_usage`).
    pub fn include_usage(&self) -> bool {
        self.extra
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

/// Joins the `text` of every `{"type":"text"}` content part with newlines.
pub fn join_text_parts(parts: &[Value]) -> String {
    let mut out = String::new();
    for part in parts {
        if let Some(text) = part.get("text").and_then(Value::as_str) {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(text);
        }
    }
    out
}

/// Token counts. Providers add their own details (cache hits, reasoning tokens), kept in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One `chat.completion.chunk` of a stream.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChatChunk {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub model: String,
    pub choices: Vec<ChunkChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// An agent's step, structured, for dialects that show steps as their own items (the
    /// Responses API). Set only when the runner renders in [`ReasoningMode::Steps`]; never
    /// serialized, so a chat-completions client can never receive it.
    #[serde(skip)]
    pub step: Option<Box<AgentStep>>,
}

/// What an agent did, beside its answer, in the order it happened. The reasoning text itself
/// travels in `delta.reasoning_content` of the same chunk, so stream stages and usage see it as
/// they see any reasoning.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentStep {
    /// This chunk's reasoning text is `agent`'s (its model's reasoning, or its text when it is
    /// not the answering agent, or a hand-over line).
    Thinking { agent: String },
    /// A tool the server runs, called by `agent`. `arguments` is JSON text.
    ToolCall {
        agent: String,
        id: String,
        name: String,
        arguments: String,
    },
    /// The result of a server-side call, as JSON text.
    ToolResult {
        agent: String,
        id: String,
        name: String,
        output: String,
    },
}

impl ChatChunk {
    /// A chunk the proxy writes itself (Ollama mapping, agent events, cache replay): one choice
    /// at index 0, or none when `delta` is `None` (the trailing usage chunk).
    pub fn built(
        id: &str,
        created: i64,
        model: &str,
        delta: Option<Delta>,
        finish_reason: Option<String>,
    ) -> Self {
        Self {
            id: id.to_string(),
            object: chunk_object(),
            created,
            model: model.to_string(),
            choices: delta
                .map(|delta| {
                    vec![ChunkChoice {
                        index: 0,
                        delta,
                        finish_reason,
                        extra: Map::new(),
                    }]
                })
                .unwrap_or_default(),
            usage: None,
            extra: Map::new(),
            step: None,
        }
    }
}

// Reading: one pass over the object (`tolerant`); a missing field keeps the start value given
// here, so these are the types' defaults when read.
tolerant_deserialize!(ChatChunk, "a chat.completion.chunk object", ChatChunk { object: chunk_object(), ..ChatChunk::default() }, {
    "id" => id,
    "object" => object,
    "created" => created,
    "model" => model,
    "choices" => choices,
    "usage" => usage,
});

tolerant_deserialize!(ChunkChoice, "a chunk choice object", ChunkChoice::default(), {
    "index" => index,
    "delta" => delta,
    "finish_reason" => finish_reason,
});

tolerant_deserialize!(Delta, "a delta object", Delta::default(), {
    "role" => role,
    "content" => content,
    "reasoning_content" => reasoning_content,
    "tool_calls" => tool_calls,
});

tolerant_deserialize!(ToolCallDelta, "a tool call delta object", ToolCallDelta::default(), {
    "index" => index,
    "id" => id,
    "type" => kind,
    "function" => function,
});

tolerant_deserialize!(ChatCompletion, "a chat.completion object", ChatCompletion { object: completion_object(), ..ChatCompletion::default() }, {
    "id" => id,
    "object" => object,
    "created" => created,
    "model" => model,
    "choices" => choices,
    "usage" => usage,
});

tolerant_deserialize!(CompletionChoice, "a completion choice object", CompletionChoice::default(), {
    "index" => index,
    "message" => message,
    "finish_reason" => finish_reason,
});

tolerant_deserialize!(ResponseMessage, "a message object", ResponseMessage::default(), {
    "role" => role,
    "content" => content,
    "reasoning_content" => reasoning_content,
    "tool_calls" => tool_calls,
});

fn chunk_object() -> String {
    "chat.completion.chunk".to_string()
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    /// Always serialized: clients read `finish_reason: null` as "more to come".
    pub finish_reason: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Delta {
    /// Moves an OpenRouter / Ollama-v1 style `reasoning` string into `reasoning_content`, the
    /// one name the rest of the proxy speaks.
    pub fn normalize_reasoning(&mut self) {
        normalize_reasoning_field(&mut self.reasoning_content, &mut self.extra);
    }
}

/// A fragment of a tool call inside a streamed delta. Argument fragments are concatenated by the
/// client in order of arrival; the proxy never merges or splits them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ToolCallDelta {
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDelta>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_arguments_text"
    )]
    pub arguments: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A whole non-streaming `chat.completion`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub model: String,
    pub choices: Vec<CompletionChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn completion_object() -> String {
    "chat.completion".to_string()
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CompletionChoice {
    pub index: u32,
    pub message: ResponseMessage,
    pub finish_reason: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResponseMessage {
    pub role: String,
    /// Serialized even when null: OpenAI sends `"content": null` beside tool calls.
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for ResponseMessage {
    fn default() -> Self {
        Self {
            role: assistant_role(),
            content: None,
            reasoning_content: None,
            tool_calls: None,
            extra: Map::new(),
        }
    }
}

impl ResponseMessage {
    pub fn normalize_reasoning(&mut self) {
        normalize_reasoning_field(&mut self.reasoning_content, &mut self.extra);
    }
}

fn assistant_role() -> String {
    "assistant".to_string()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    #[serde(default)]
    pub id: String,
    #[serde(default = "function_kind", rename = "type")]
    pub kind: String,
    pub function: FunctionCall,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Tool-call arguments are JSON text in OpenAI's format; some servers send the object itself.
/// Either way the proxy holds text, so clients get the format their SDK parses.
fn arguments_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => text,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

fn optional_arguments_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => Some(text),
        Value::Null => None,
        other => Some(other.to_string()),
    })
}

fn function_kind() -> String {
    "function".to_string()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "arguments_text")]
    pub arguments: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn normalize_reasoning_field(
    reasoning_content: &mut Option<String>,
    extra: &mut Map<String, Value>,
) {
    if reasoning_content.is_none()
        && let Some(Value::String(text)) = extra.remove("reasoning")
    {
        *reasoning_content = Some(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chunk_keeps_unknown_fields_and_null_finish_reason() {
        let raw = json!({
            "id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m",
            "system_fingerprint": "fp",
            "choices": [{"index": 0, "delta": {"content": "hi", "x_vendor": 1}, "finish_reason": null, "logprobs": null}]
        });
        let chunk: ChatChunk = serde_json::from_value(raw).expect("chunk parses");
        let back = serde_json::to_value(&chunk).expect("chunk serializes");
        assert_eq!(back["system_fingerprint"], "fp");
        assert_eq!(back["choices"][0]["delta"]["x_vendor"], 1);
        assert!(back["choices"][0]["finish_reason"].is_null());
        assert!(
            back["choices"][0]
                .as_object()
                .is_some_and(|c| c.contains_key("logprobs"))
        );
    }

    /// The one-pass reader (`tolerant`) against what the flattening derive gave: from text (the
    /// borrowed path, and an escaped key that cannot borrow), defaults for missing fields,
    /// unknown fields at every level kept, a typed field of the wrong type refused.
    #[test]
    fn chunks_and_completions_read_in_one_pass_keep_what_the_derive_kept() {
        let text = r#"{"id":"c1","created":7,"model":"m","x_top":{"a":[1,2]},
            "choices":[{"index":1,"delta":{"role":"assistant","content":"h\u00e9","tool_calls":[{"index":0,"id":"t","type":"function","function":{"name":"f","arguments":"{}"},"x_call":true}],"x_d\u0065lta":null},"finish_reason":"stop","logprobs":null}],
            "usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#;
        let chunk: ChatChunk = serde_json::from_str(text).expect("chunk parses");
        assert_eq!(
            chunk.object, "chat.completion.chunk",
            "missing object: its default"
        );
        assert_eq!(
            (chunk.id.as_str(), chunk.created, chunk.model.as_str()),
            ("c1", 7, "m")
        );
        assert_eq!(chunk.extra["x_top"], json!({"a": [1, 2]}));
        let choice = &chunk.choices[0];
        assert_eq!(
            (choice.index, choice.finish_reason.as_deref()),
            (1, Some("stop"))
        );
        assert!(choice.extra.contains_key("logprobs"));
        assert_eq!(choice.delta.content.as_deref(), Some("hé"));
        assert!(
            choice.delta.extra.contains_key("x_delta"),
            "escaped key kept, unescaped"
        );
        let call = &choice.delta.tool_calls.as_ref().expect("calls")[0];
        assert_eq!(
            (call.id.as_deref(), call.kind.as_deref()),
            (Some("t"), Some("function"))
        );
        assert_eq!(call.extra["x_call"], true);
        assert_eq!(chunk.usage.as_ref().map(|u| u.total_tokens), Some(7));

        let empty: ChatChunk = serde_json::from_str("{}").expect("empty chunk");
        assert!(empty.choices.is_empty() && empty.usage.is_none() && empty.extra.is_empty());
        assert!(serde_json::from_str::<ChatChunk>(r#"{"choices":"none"}"#).is_err());
        assert!(serde_json::from_str::<ChatChunk>(r#"{"id":null}"#).is_err());
        assert!(serde_json::from_str::<ChatChunk>("[]").is_err());

        let completion: ChatCompletion = serde_json::from_str(
            r#"{"choices":[{"message":{"content":null,"refusal":null},"finish_reason":null}],"system_fingerprint":"fp"}"#,
        )
        .expect("completion parses");
        assert_eq!(completion.object, "chat.completion");
        let message = &completion.choices[0].message;
        assert_eq!(
            (message.role.as_str(), message.content.as_deref()),
            ("assistant", None)
        );
        assert!(message.extra.contains_key("refusal"));
        assert_eq!(completion.extra["system_fingerprint"], "fp");
    }

    #[test]
    fn reasoning_is_renamed_once() {
        let mut delta: Delta =
            serde_json::from_value(json!({"reasoning": "think"})).expect("delta");
        delta.normalize_reasoning();
        assert_eq!(delta.reasoning_content.as_deref(), Some("think"));
        assert!(!delta.extra.contains_key("reasoning"));
    }
}

/// Where reasoning goes in the client's stream: `reasoning_content` (DeepSeek, Open WebUI,
/// LibreChat), `reasoning` (OpenRouter, Ollama /v1), `think_tags` (`<think>…</think>` inline in
/// content, for clients that only parse tags) or `hidden`. `open_webui` is `reasoning_content`
/// plus what only Open WebUI understands, for agent runs (`runner::open_webui`): a live status
/// line, tool cards, sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasoningMode {
    #[default]
    ReasoningContent,
    Reasoning,
    ThinkTags,
    Hidden,
    OpenWebui,
    /// Internal: reasoning as `reasoning_content` with each agent step attached as
    /// [`ChatChunk::step`], for a dialect that renders steps as items. Never chosen by a client
    /// header or settings (not parsed, not deserialized).
    #[serde(skip)]
    Steps,
}

impl ReasoningMode {
    /// The delta that carries `text` in this mode (none in `hidden`). In `think_tags` the caller
    /// says whether this text opens the `<think>` block and whether it also closes it, since a
    /// streamed block spans many deltas.
    pub fn delta(self, text: String, open_tag: bool, close_tag: bool) -> Option<Delta> {
        match self {
            Self::Hidden => None,
            Self::ReasoningContent | Self::OpenWebui | Self::Steps => Some(Delta {
                reasoning_content: Some(text),
                ..Delta::default()
            }),
            Self::Reasoning => {
                let mut delta = Delta::default();
                delta.extra.insert("reasoning".into(), Value::String(text));
                Some(delta)
            }
            Self::ThinkTags => {
                let open = if open_tag { "<think>\n" } else { "" };
                let close = if close_tag { "</think>\n" } else { "" };
                Some(Delta {
                    content: Some(format!("{open}{text}{close}")),
                    ..Delta::default()
                })
            }
        }
    }

    /// Parses the `X-Reasoning-Mode` header value.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "reasoning_content" => Some(Self::ReasoningContent),
            "reasoning" => Some(Self::Reasoning),
            "think_tags" => Some(Self::ThinkTags),
            "hidden" => Some(Self::Hidden),
            "open_webui" => Some(Self::OpenWebui),
            _ => None,
        }
    }
}
