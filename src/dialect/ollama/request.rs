//! Ollama's API in: `POST /api/chat` and `POST /api/generate` bodies become the internal chat
//! request, so tools that only speak Ollama (editor plugins, desktop apps, Open WebUI's Ollama
//! connection) reach every model and agent behind the proxy.
//!
//! | Ollama                                   | internal (chat completions)                     |
//! |------------------------------------------|-------------------------------------------------|
//! | `messages` (`system`/`user`/`assistant`/`tool`) | the same roles                           |
//! | a message's `images` (base64)            | `image_url` parts (`data:` URLs, type from the bytes) |
//! | assistant `tool_calls` (`arguments` an object) | `tool_calls` with ids `call_<turn>_<n>` (Ollama has none) |
//! | `tool` messages (`tool_name`)            | `tool` messages answering the earlier call of that name, else the next unanswered one |
//! | assistant `thinking`                     | dropped (chat models take no reasoning back)    |
//! | `tools`                                  | the same (Ollama's are OpenAI-shaped)           |
//! | `think`: `true` / `"low"`…`"high"`       | `reasoning_effort` (`true` → `medium`)          |
//! | `format`: `"json"` / a JSON schema       | `response_format` `json_object` / `json_schema` |
//! | `options.temperature`, `top_p`, `top_k`, `seed`, `stop`, `num_predict`, `frequency_penalty`, `presence_penalty` | the same (`num_predict` → `max_tokens`) |
//! | `/api/generate`: `system`, `prompt`, `images` | a system and a user message                |
//!
//! Other `options` (`num_ctx`, `repeat_penalty`, `mirostat`…) tune a local runtime and have no
//! chat-completions counterpart; they are ignored, as Ollama ignores options a model does not
//! use. `keep_alive` is ignored. `stream` defaults to true, as in Ollama.

use serde_json::{Map, Value, json};

use crate::dialect::chat_build::{
    chat_request, message, missing, push_tool_call, take_model, tool_call, tool_message,
};
use crate::dialect::invalid_type;
use crate::error::ApiError;
use crate::wire::{ChatRequest, Message};

/// Which endpoint the body came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Generate,
}

/// A parsed `/api/chat` or `/api/generate` body.
#[derive(Debug, Clone)]
pub struct OllamaRequest {
    pub model: String,
    pub stream: bool,
    pub endpoint: Endpoint,
    messages: Vec<Message>,
    params: Map<String, Value>,
}

impl OllamaRequest {
    pub fn parse(body: &[u8], endpoint: Endpoint) -> Result<Self, ApiError> {
        let mut fields = super::super::json_object(body)?;
        let model = take_model(&mut fields)?;
        let stream = match fields.remove("stream") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(stream)) => stream,
            Some(other) => return Err(invalid_type("stream", "a boolean", &other)),
        };
        let mut request = OllamaRequest {
            model,
            stream,
            endpoint,
            messages: Vec::new(),
            params: Map::new(),
        };
        match endpoint {
            Endpoint::Chat => {
                let messages = fields.remove("messages").unwrap_or(json!([]));
                let Value::Array(messages) = messages else {
                    return Err(invalid_type("messages", "an array", &messages));
                };
                request.messages = chat_messages(&messages)?;
                if let Some(tools) = fields.remove("tools").filter(|t| !t.is_null()) {
                    if !tools.is_array() {
                        return Err(invalid_type("tools", "an array", &tools));
                    }
                    request.params.insert("tools".into(), tools);
                }
            }
            Endpoint::Generate => {
                if let Some(Value::String(system)) = fields.remove("system") {
                    request.messages.push(message("system", system.into()));
                }
                let prompt = match fields.remove("prompt") {
                    Some(Value::String(prompt)) => prompt,
                    None | Some(Value::Null) => String::new(),
                    Some(other) => return Err(invalid_type("prompt", "a string", &other)),
                };
                let images = images(fields.remove("images").as_ref(), "images")?;
                request.messages.push(user_message(prompt, images));
            }
        }
        if let Some(think) = fields.remove("think") {
            let effort = match &think {
                Value::Bool(true) => Some("medium"),
                Value::Bool(false) | Value::Null => None,
                Value::String(level) if matches!(level.as_str(), "low" | "medium" | "high") => {
                    Some(level.as_str())
                }
                other => return Err(invalid_type("think", "a boolean or low/medium/high", other)),
            };
            if let Some(effort) = effort {
                request
                    .params
                    .insert("reasoning_effort".into(), effort.into());
            }
        }
        match fields.remove("format") {
            None | Some(Value::Null) => {}
            Some(Value::String(format)) if format == "json" => {
                request
                    .params
                    .insert("response_format".into(), json!({"type": "json_object"}));
            }
            Some(Value::String(format)) if format.is_empty() => {}
            Some(schema @ Value::Object(_)) => {
                request.params.insert(
                    "response_format".into(),
                    json!({"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}),
                );
            }
            Some(other) => {
                return Err(invalid_type("format", "\"json\" or a JSON schema", &other));
            }
        }
        if let Some(Value::Object(options)) = fields.remove("options") {
            for (key, value) in options {
                let name = match key.as_str() {
                    "num_predict" => "max_tokens",
                    "temperature" | "top_p" | "top_k" | "seed" | "stop" | "frequency_penalty"
                    | "presence_penalty" => key.as_str(),
                    _ => continue,
                };
                // Ollama's "no limit" (-1) is the provider's default.
                if name == "max_tokens" && value.as_i64().is_some_and(|n| n < 0) {
                    continue;
                }
                request.params.insert(name.into(), value);
            }
        }
        Ok(request)
    }

    /// The chat request every provider and agent takes.
    pub fn to_chat(&self) -> ChatRequest {
        chat_request(
            &self.model,
            self.messages.clone(),
            self.stream,
            &self.params,
        )
    }
}

fn chat_messages(messages: &[Value]) -> Result<Vec<Message>, ApiError> {
    let mut out: Vec<Message> = Vec::new();
    // The calls of the latest assistant turn not answered yet: (id, name).
    let mut unanswered: Vec<(String, String)> = Vec::new();
    for (i, turn) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let Value::Object(fields) = turn else {
            return Err(invalid_type(&at, "an object", turn));
        };
        let role = match fields.get("role") {
            Some(Value::String(role)) => role.as_str(),
            _ => return Err(missing(&format!("{at}.role"))),
        };
        let content = match fields.get("content") {
            Some(Value::String(text)) => text.clone(),
            None | Some(Value::Null) => String::new(),
            Some(other) => return Err(invalid_type(&format!("{at}.content"), "a string", other)),
        };
        match role {
            "system" | "user" => {
                let images = images(fields.get("images"), &format!("{at}.images"))?;
                let mut user = user_message(content, images);
                user.fields_mut().insert("role".into(), role.into());
                out.push(user);
            }
            "assistant" => {
                out.push(message("assistant", content.into()));
                unanswered.clear();
                for (n, call) in fields
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let function = &call["function"];
                    let name = function["name"].as_str().unwrap_or_default();
                    let arguments = match &function["arguments"] {
                        Value::String(text) => text.clone(),
                        Value::Null => "{}".to_string(),
                        other => other.to_string(),
                    };
                    let id = format!("call_{i}_{n}");
                    push_tool_call(&mut out, tool_call(&id, name, arguments));
                    unanswered.push((id, name.to_string()));
                }
            }
            "tool" => {
                let name = fields.get("tool_name").and_then(Value::as_str);
                let position = name
                    .and_then(|name| unanswered.iter().position(|(_, n)| n == name))
                    .or((!unanswered.is_empty()).then_some(0));
                let Some(position) = position else {
                    return Err(ApiError::invalid_request(
                        format!("{at}: a tool result with no tool call before it to answer."),
                        Some(&at),
                        "invalid_value",
                    ));
                };
                let (id, _) = unanswered.remove(position);
                out.push(tool_message(&id, content));
            }
            other => {
                return Err(ApiError::invalid_request(
                    format!("{at}.role: '{other}' is not one of system, user, assistant, tool."),
                    Some(&format!("{at}.role")),
                    "invalid_value",
                ));
            }
        }
    }
    Ok(out)
}

/// A user message with its images as `image_url` parts (text alone stays a string).
fn user_message(text: String, images: Vec<Value>) -> Message {
    if images.is_empty() {
        return message("user", text.into());
    }
    let mut parts = vec![json!({"type": "text", "text": text})];
    parts.extend(images);
    message("user", Value::Array(parts))
}

/// Base64 images as `image_url` parts, the media type read from the data's first bytes.
fn images(images: Option<&Value>, at: &str) -> Result<Vec<Value>, ApiError> {
    let Some(images) = images.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let Value::Array(images) = images else {
        return Err(invalid_type(at, "an array of base64 strings", images));
    };
    images
        .iter()
        .enumerate()
        .map(|(k, image)| {
            let data = image
                .as_str()
                .ok_or_else(|| invalid_type(&format!("{at}[{k}]"), "a base64 string", image))?;
            let media = match data.get(..4) {
                Some("iVBO") => "image/png",
                Some("R0lG") => "image/gif",
                Some("UklG") => "image/webp",
                _ => "image/jpeg",
            };
            Ok(json!({"type": "image_url", "image_url": {"url": format!("data:{media};base64,{data}")}}))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_results_answer_the_calls_they_name_and_options_translate() {
        let body = json!({
            "model": "m", "think": true, "format": "json",
            "options": {"num_predict": 64, "temperature": 0.1, "num_ctx": 8192},
            "messages": [
                {"role": "user", "content": "weather and time?", "images": ["iVBORw0KGgo="]},
                {"role": "assistant", "content": "", "thinking": "two tools", "tool_calls": [
                    {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}},
                    {"function": {"name": "get_time", "arguments": {}}}
                ]},
                {"role": "tool", "tool_name": "get_time", "content": "noon"},
                {"role": "tool", "content": "sunny"}
            ]
        });
        let request = OllamaRequest::parse(body.to_string().as_bytes(), Endpoint::Chat)
            .expect("valid")
            .to_chat();
        assert!(request.is_stream(), "stream defaults to true");
        let roles: Vec<&str> = request.messages.iter().map(|m| m.role()).collect();
        assert_eq!(roles, ["user", "assistant", "tool", "tool"]);
        let image = &request.messages[0].fields()["content"][1]["image_url"]["url"];
        assert_eq!(image, "data:image/png;base64,iVBORw0KGgo=");
        let calls = request.messages[1].tool_calls().expect("calls");
        assert_eq!(calls[0]["function"]["arguments"], r#"{"city":"Oslo"}"#);
        assert_eq!(request.messages[2].fields()["tool_call_id"], calls[1]["id"]);
        assert_eq!(request.messages[3].fields()["tool_call_id"], calls[0]["id"]);
        assert_eq!(request.extra["max_tokens"], 64);
        assert_eq!(request.extra["reasoning_effort"], "medium");
        assert_eq!(request.extra["response_format"]["type"], "json_object");
        assert!(request.extra.get("num_ctx").is_none());
    }
}
