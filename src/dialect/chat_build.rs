//! The chat messages other dialects translate into: tool calls joined to their assistant turn,
//! tool results, and the 400s for a missing or mistyped field. One builder, so the Responses API
//! and Anthropic Messages give the providers the same shapes for the same conversation.

use serde_json::{Map, Value, json};

use super::invalid_type;
use crate::error::ApiError;
use crate::wire::{ChatRequest, Message};

/// A chat `tool_calls` entry.
pub fn tool_call(id: &str, name: &str, arguments: String) -> Value {
    json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})
}

/// Joins calls that follow an assistant turn (its text, or earlier calls) into that message, as
/// chat completions carries them.
pub fn push_tool_call(messages: &mut Vec<Message>, call: Value) {
    if let Some(last) = messages.last_mut()
        && last.role() == "assistant"
    {
        match last.fields_mut().get_mut("tool_calls") {
            Some(Value::Array(calls)) => calls.push(call),
            _ => {
                last.fields_mut()
                    .insert("tool_calls".into(), Value::Array(vec![call]));
            }
        }
        return;
    }
    let mut message = Map::new();
    message.insert("role".into(), "assistant".into());
    message.insert("content".into(), Value::Null);
    message.insert("tool_calls".into(), Value::Array(vec![call]));
    messages.push(Message::new(message));
}

/// A tool's result, answering call `call_id`.
pub fn tool_message(call_id: &str, output: String) -> Message {
    let mut message = Map::new();
    message.insert("role".into(), "tool".into());
    message.insert("tool_call_id".into(), call_id.into());
    message.insert("content".into(), output.into());
    Message::new(message)
}

/// A message with `role` and `content` (a string, or content parts).
pub fn message(role: &str, content: Value) -> Message {
    let mut message = Map::new();
    message.insert("role".into(), role.into());
    message.insert("content".into(), content);
    Message::new(message)
}

/// `fields[key]` as a string, or the 400 naming `at.key`.
pub fn required_str<'a>(
    fields: &'a Map<String, Value>,
    key: &str,
    at: &(impl std::fmt::Display + ?Sized),
) -> Result<&'a str, ApiError> {
    match fields.get(key) {
        Some(Value::String(text)) => Ok(text),
        None | Some(Value::Null) => Err(missing(&format!("{at}.{key}"))),
        Some(other) => Err(invalid_type(&format!("{at}.{key}"), "a string", other)),
    }
}

/// Takes the body's `model` (a non-empty string), or the 400 naming it.
pub fn take_model(fields: &mut Map<String, Value>) -> Result<String, ApiError> {
    match fields.remove("model") {
        Some(Value::String(model)) if !model.is_empty() => Ok(model),
        None | Some(Value::Null) | Some(Value::String(_)) => Err(missing("model")),
        Some(other) => Err(invalid_type("model", "a string", &other)),
    }
}

pub fn missing(param: &str) -> ApiError {
    ApiError::invalid_request(
        format!("Missing required parameter: '{param}'."),
        Some(param),
        "missing_required_parameter",
    )
}

/// The chat request a translated body becomes. A streamed answer asks the provider for usage:
/// every other dialect ends its stream with the counts.
pub fn chat_request(
    model: &str,
    messages: Vec<Message>,
    stream: bool,
    params: &Map<String, Value>,
) -> ChatRequest {
    let mut extra = params.clone();
    if stream {
        extra.insert("stream_options".into(), json!({"include_usage": true}));
    }
    ChatRequest {
        model: Some(model.to_string()),
        messages,
        stream: Some(stream),
        extra,
    }
}
