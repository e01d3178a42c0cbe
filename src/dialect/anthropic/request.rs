//! Anthropic Messages in: a `POST /v1/messages` body becomes the internal chat request.
//!
//! | Messages                                   | internal (chat completions)                   |
//! |--------------------------------------------|-----------------------------------------------|
//! | `system` (a string or text blocks)         | a leading `system` message                    |
//! | a `system` turn inside `messages`          | a `system` message in its place               |
//! | `text` / `image` blocks                    | text (a string when all text) / `image_url` parts (base64 as a `data:` URL) |
//! | assistant `tool_use` blocks                | the assistant message's `tool_calls` (`input` as JSON text) |
//! | user `tool_result` blocks                  | `tool` messages, before the rest of that user turn (`is_error` marked in the text; images follow as a user message) |
//! | `thinking` / `redacted_thinking` blocks    | dropped: chat models take no reasoning back (DeepSeek's is restored server-side) |
//! | `tools` (client tools with `input_schema`) | function tools                                |
//! | `tool_choice` `auto` / `any` / `tool` / `none` | `auto` / `required` / that function / `none`; `disable_parallel_tool_use` → `parallel_tool_calls: false` |
//! | `max_tokens`, `stop_sequences`             | `max_tokens`, `stop`                          |
//! | `temperature`, `top_p`, `top_k`            | the same                                      |
//! | `metadata.user_id`                         | `user`                                        |
//! | `thinking: {type: enabled, budget_tokens}` | `reasoning_effort`: ≤ 4,096 low, ≤ 16,384 medium, more high |
//!
//! `cache_control` marks on blocks, tools and system are accepted and have no effect (the
//! providers behind the proxy cache prompts on their own), as are `context_management` (there is
//! no server-side context to edit) and `output_config.effort` (the routed model keeps its own);
//! `output_config.format` becomes `response_format` (`json_schema`). Refused with a 400 naming the field:
//! Anthropic's server tools (`tools[i].type` such as `web_search_20250305`, `bash_20250124`),
//! `document` and `search_result` blocks, `mcp_servers`, `container`, and unknown fields (as
//! Anthropic refuses them).

use serde_json::{Map, Value, json};

use crate::dialect::chat_build::{
    chat_request, message, missing, push_tool_call, required_str, take_model, tool_call,
    tool_message,
};
use crate::dialect::invalid_type;
use crate::error::ApiError;
use crate::wire::{ChatRequest, Message};

/// A parsed `POST /v1/messages` (or `/v1/messages/count_tokens`) body.
#[derive(Debug, Clone)]
pub struct MessagesRequest {
    pub model: String,
    pub stream: bool,
    messages: Vec<Message>,
    /// Chat-completions parameters translated from the request.
    params: Map<String, Value>,
}

/// Which body: a message to create, or one to count (`max_tokens` is not required there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Create,
    CountTokens,
}

impl MessagesRequest {
    pub fn parse(body: &[u8], purpose: Purpose) -> Result<Self, ApiError> {
        Self::from_fields(super::super::json_object(body)?, purpose)
    }

    /// The same from a body already parsed into its fields.
    pub fn from_fields(mut fields: Map<String, Value>, purpose: Purpose) -> Result<Self, ApiError> {
        let model = take_model(&mut fields)?;
        let mut request = MessagesRequest {
            model,
            stream: false,
            messages: Vec::new(),
            params: Map::new(),
        };
        if purpose == Purpose::Create && !fields.contains_key("max_tokens") {
            return Err(missing("max_tokens"));
        }
        if let Some(system) = fields.remove("system") {
            let text = system_text(&system)?;
            if !text.is_empty() {
                request
                    .messages
                    .push(message("system", Value::String(text)));
            }
        }
        let Some(messages) = fields.remove("messages") else {
            return Err(missing("messages"));
        };
        let Value::Array(messages) = messages else {
            return Err(invalid_type("messages", "an array", &messages));
        };
        for (i, turn) in messages.iter().enumerate() {
            push_turn(&mut request.messages, turn, &format!("messages[{i}]"))?;
        }
        // Sorted, so a refusal names the same field whatever the body's order.
        let mut rest: Vec<(String, Value)> = fields.into_iter().collect();
        rest.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, value) in rest {
            request.field(&key, value, purpose)?;
        }
        Ok(request)
    }

    fn field(&mut self, key: &str, value: Value, purpose: Purpose) -> Result<(), ApiError> {
        match key {
            "stream" if purpose == Purpose::Create => {
                self.stream = value
                    .as_bool()
                    .ok_or_else(|| invalid_type(key, "a boolean", &value))?;
            }
            "max_tokens" => {
                let Some(n) = value.as_u64().filter(|n| *n >= 1) else {
                    return Err(ApiError::invalid_request(
                        "max_tokens: must be a positive integer.",
                        Some(key),
                        "invalid_value",
                    ));
                };
                self.params.insert("max_tokens".into(), n.into());
            }
            "stop_sequences" => {
                let Value::Array(stops) = &value else {
                    return Err(invalid_type(key, "an array of strings", &value));
                };
                if stops.iter().any(|s| !s.is_string()) {
                    return Err(invalid_type(key, "an array of strings", &value));
                }
                if !stops.is_empty() {
                    self.params.insert("stop".into(), value);
                }
            }
            "temperature" | "top_p" | "top_k" => {
                if !value.is_number() {
                    return Err(invalid_type(key, "a number", &value));
                }
                self.params.insert(key.into(), value);
            }
            "metadata" => {
                if let Some(user) = value.get("user_id").and_then(Value::as_str) {
                    self.params.insert("user".into(), user.into());
                }
            }
            "tools" => {
                let Value::Array(tools) = &value else {
                    return Err(invalid_type(key, "an array", &value));
                };
                let tools = tools
                    .iter()
                    .enumerate()
                    .map(|(i, tool)| chat_tool(i, tool))
                    .collect::<Result<Vec<_>, _>>()?;
                if !tools.is_empty() {
                    self.params.insert("tools".into(), Value::Array(tools));
                }
            }
            "tool_choice" => {
                let (choice, parallel) = chat_tool_choice(&value)?;
                self.params.insert("tool_choice".into(), choice);
                if !parallel {
                    self.params
                        .insert("parallel_tool_calls".into(), false.into());
                }
            }
            "thinking" => {
                if let Some(effort) = reasoning_effort(&value)? {
                    self.params.insert("reasoning_effort".into(), effort.into());
                }
            }
            // Anthropic's capacity tiers have no counterpart behind the proxy; its context
            // editing (clearing old thinking and tool results server-side) has nothing to edit
            // here, where thinking sent back is dropped anyway.
            "service_tier" | "context_management" => {}
            "output_config" => {
                // `effort` is Anthropic's own dial: the routed model keeps its default (a
                // `reasoning_effort` would be refused by models that do not reason).
                if let Some(format) = value.get("format").filter(|f| !f.is_null()) {
                    let schema = format
                        .get("schema")
                        .ok_or_else(|| missing("output_config.format.schema"))?;
                    self.params.insert(
                        "response_format".into(),
                        json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}),
                    );
                }
            }
            "mcp_servers" | "container" => {
                return Err(ApiError::invalid_request(
                    format!(
                        "{key}: runs on Anthropic's servers, which this proxy does not call for this model."
                    ),
                    Some(key),
                    "unsupported_parameter",
                ));
            }
            _ => {
                return Err(ApiError::invalid_request(
                    format!("{key}: Extra inputs are not permitted"),
                    Some(key),
                    "unknown_parameter",
                ));
            }
        }
        Ok(())
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

fn system_text(system: &Value) -> Result<String, ApiError> {
    match system {
        Value::String(text) => Ok(text.clone()),
        Value::Null => Ok(String::new()),
        Value::Array(blocks) => {
            let mut texts = Vec::with_capacity(blocks.len());
            for (i, block) in blocks.iter().enumerate() {
                let at = format!("system[{i}]");
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => texts.push(text_of(block, &at)?.to_string()),
                    _ => return Err(unsupported_block(block, &format!("{at}.type"))),
                }
            }
            Ok(texts.join("\n\n"))
        }
        other => Err(invalid_type("system", "a string or an array", other)),
    }
}

/// One Messages turn as chat messages (a user turn with tool results becomes several).
fn push_turn(messages: &mut Vec<Message>, turn: &Value, at: &str) -> Result<(), ApiError> {
    let Value::Object(fields) = turn else {
        return Err(invalid_type(at, "an object", turn));
    };
    let role = required_str(fields, "role", at)?;
    if role == "system" {
        // A system turn between the others (Claude Code sends its reminders this way).
        let text = system_text(fields.get("content").unwrap_or(&Value::Null))?;
        messages.push(message("system", Value::String(text)));
        return Ok(());
    }
    if role != "user" && role != "assistant" {
        return Err(ApiError::invalid_request(
            format!("{at}.role: Input should be 'user', 'assistant' or 'system'"),
            Some(&format!("{at}.role")),
            "invalid_value",
        ));
    }
    let blocks = match fields.get("content") {
        Some(Value::String(text)) => {
            messages.push(message(role, Value::String(text.clone())));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        None | Some(Value::Null) => return Err(missing(&format!("{at}.content"))),
        Some(other) => {
            return Err(invalid_type(
                &format!("{at}.content"),
                "a string or an array",
                other,
            ));
        }
    };
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    // Images inside tool results: chat's tool messages carry only text, so they follow the
    // results as a user message.
    let mut result_images = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        let kind = block
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match (role, kind) {
            (_, "text") => parts.push(json!({"type": "text", "text": text_of(block, &at)?})),
            ("user", "image") => parts.push(image_part(block, &at)?),
            ("assistant", "tool_use") => {
                let Value::Object(use_fields) = block else {
                    return Err(invalid_type(&at, "an object", block));
                };
                let input = use_fields.get("input").cloned().unwrap_or(json!({}));
                calls.push(tool_call(
                    required_str(use_fields, "id", &at)?,
                    required_str(use_fields, "name", &at)?,
                    input.to_string(),
                ));
            }
            ("user", "tool_result") => {
                let Value::Object(result) = block else {
                    return Err(invalid_type(&at, "an object", block));
                };
                let id = required_str(result, "tool_use_id", &at)?;
                let (mut text, images) = tool_result_content(result.get("content"), &at)?;
                if result.get("is_error").and_then(Value::as_bool) == Some(true) {
                    text = format!("[tool error] {text}");
                }
                messages.push(tool_message(id, text));
                result_images.extend(images);
            }
            ("assistant", "thinking" | "redacted_thinking") => {}
            _ => return Err(unsupported_block(block, &format!("{at}.type"))),
        }
    }
    if !result_images.is_empty() {
        messages.push(message("user", Value::Array(result_images)));
    }
    if parts.is_empty() && calls.is_empty() {
        return Ok(());
    }
    let content = if parts.is_empty() {
        Value::Null
    } else if parts.iter().all(|p| p["type"] == "text") {
        // Text as a plain string: every provider takes that.
        Value::String(crate::wire::join_text_parts(&parts))
    } else {
        Value::Array(parts)
    };
    messages.push(message(role, content));
    for call in calls {
        push_tool_call(messages, call);
    }
    Ok(())
}

fn text_of<'a>(block: &'a Value, at: &str) -> Result<&'a str, ApiError> {
    match block.get("text") {
        Some(Value::String(text)) => Ok(text),
        None | Some(Value::Null) => Err(missing(&format!("{at}.text"))),
        Some(other) => Err(invalid_type(&format!("{at}.text"), "a string", other)),
    }
}

/// An `image` block as chat's `image_url` part.
fn image_part(block: &Value, at: &str) -> Result<Value, ApiError> {
    let source = block
        .get("source")
        .ok_or_else(|| missing(&format!("{at}.source")))?;
    let url = match source.get("type").and_then(Value::as_str) {
        Some("base64") => {
            let media = source
                .get("media_type")
                .and_then(Value::as_str)
                .ok_or_else(|| missing(&format!("{at}.source.media_type")))?;
            let data = source
                .get("data")
                .and_then(Value::as_str)
                .ok_or_else(|| missing(&format!("{at}.source.data")))?;
            format!("data:{media};base64,{data}")
        }
        Some("url") => source
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| missing(&format!("{at}.source.url")))?
            .to_string(),
        _ => {
            return Err(ApiError::invalid_request(
                "Images must be given as base64 or as a URL; Anthropic file ids cannot be resolved by this proxy.",
                Some(&format!("{at}.source.type")),
                "unsupported_value",
            ));
        }
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

/// A tool result's text, and its images as `image_url` parts.
fn tool_result_content(
    content: Option<&Value>,
    at: &str,
) -> Result<(String, Vec<Value>), ApiError> {
    match content {
        None | Some(Value::Null) => Ok((String::new(), Vec::new())),
        Some(Value::String(text)) => Ok((text.clone(), Vec::new())),
        Some(Value::Array(blocks)) => {
            let mut texts = Vec::new();
            let mut images = Vec::new();
            for (k, block) in blocks.iter().enumerate() {
                let at = format!("{at}.content[{k}]");
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => texts.push(text_of(block, &at)?),
                    Some("image") => images.push(image_part(block, &at)?),
                    _ => return Err(unsupported_block(block, &format!("{at}.type"))),
                }
            }
            Ok((texts.join("\n"), images))
        }
        Some(other) => Err(invalid_type(
            &format!("{at}.content"),
            "a string or an array",
            other,
        )),
    }
}

fn unsupported_block(block: &Value, at: &str) -> ApiError {
    let kind = block.get("type").and_then(Value::as_str).unwrap_or("?");
    ApiError::invalid_request(
        format!("{at}: content blocks of type '{kind}' are not supported here by this proxy."),
        Some(at),
        "unsupported_value",
    )
}

/// A client tool (`{name, description, input_schema}`) in chat's shape.
fn chat_tool(i: usize, tool: &Value) -> Result<Value, ApiError> {
    let at = format!("tools[{i}]");
    match tool.get("type").and_then(Value::as_str) {
        None | Some("custom") => {}
        Some(kind) => {
            return Err(ApiError::invalid_request(
                format!(
                    "{at}.type: '{kind}' is one of Anthropic's server tools, which no provider behind this proxy runs; declare a client tool with an input_schema, or give the tool to an agent."
                ),
                Some(&format!("{at}.type")),
                "unsupported_value",
            ));
        }
    }
    let Value::Object(fields) = tool else {
        return Err(invalid_type(&at, "an object", tool));
    };
    let name = required_str(fields, "name", &at)?;
    let mut function = Map::new();
    function.insert("name".into(), name.into());
    if let Some(description) = fields.get("description").filter(|v| !v.is_null()) {
        function.insert("description".into(), description.clone());
    }
    let schema = fields
        .get("input_schema")
        .ok_or_else(|| missing(&format!("{at}.input_schema")))?;
    function.insert("parameters".into(), schema.clone());
    Ok(json!({"type": "function", "function": function}))
}

/// `tool_choice` in chat's shape, and whether parallel calls stay allowed.
fn chat_tool_choice(choice: &Value) -> Result<(Value, bool), ApiError> {
    let parallel = choice
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        != Some(true);
    let chat = match choice.get("type").and_then(Value::as_str) {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => {
            let name = choice
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| missing("tool_choice.name"))?;
            json!({"type": "function", "function": {"name": name}})
        }
        _ => {
            return Err(ApiError::invalid_request(
                "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'",
                Some("tool_choice.type"),
                "invalid_value",
            ));
        }
    };
    Ok((chat, parallel))
}

/// `thinking` as chat's `reasoning_effort` (`None` when thinking is off).
fn reasoning_effort(thinking: &Value) -> Result<Option<&'static str>, ApiError> {
    match thinking.get("type").and_then(Value::as_str) {
        Some("disabled") => Ok(None),
        Some("enabled") => {
            let budget = thinking
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .ok_or_else(|| missing("thinking.budget_tokens"))?;
            Ok(Some(match budget {
                0..=4096 => "low",
                4097..=16384 => "medium",
                _ => "high",
            }))
        }
        // The model decides how much to think: the provider's default.
        Some("adaptive") => Ok(None),
        _ => Err(ApiError::invalid_request(
            "thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'",
            Some("thinking.type"),
            "invalid_value",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(body: Value) -> Result<ChatRequest, ApiError> {
        MessagesRequest::parse(body.to_string().as_bytes(), Purpose::Create).map(|r| r.to_chat())
    }

    #[test]
    fn a_tool_round_trip_becomes_chat_messages_in_order() {
        let request = chat(json!({
            "model": "m", "max_tokens": 100, "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "use the tool", "signature": "sig"},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "18C"}]},
                    {"type": "text", "text": "And tomorrow?"}
                ]}
            ],
            "tools": [{"name": "get_weather", "description": "d", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "stop_sequences": ["END"], "metadata": {"user_id": "u1"},
            "thinking": {"type": "enabled", "budget_tokens": 8000},
        }))
        .expect("valid");
        let roles: Vec<&str> = request.messages.iter().map(|m| m.role()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool", "user"]);
        let assistant = request.messages[2].fields();
        assert_eq!(assistant["content"], "Checking.");
        assert_eq!(assistant["tool_calls"][0]["id"], "toolu_1");
        assert_eq!(
            assistant["tool_calls"][0]["function"]["arguments"],
            r#"{"city":"Paris"}"#
        );
        assert_eq!(request.messages[3].fields()["tool_call_id"], "toolu_1");
        assert_eq!(request.messages[3].fields()["content"], "18C");
        assert_eq!(request.extra["tool_choice"], "required");
        assert_eq!(request.extra["parallel_tool_calls"], false);
        assert_eq!(request.extra["stop"], json!(["END"]));
        assert_eq!(request.extra["user"], "u1");
        assert_eq!(request.extra["reasoning_effort"], "medium");
        assert_eq!(
            request.extra["tools"][0]["function"]["parameters"]["type"],
            "object"
        );
    }

    /// The shape Claude Code (2.1) sends: a system turn inside `messages`, adaptive thinking,
    /// `context_management`, `output_config.effort`, system blocks with `cache_control`.
    #[test]
    fn a_claude_code_request_is_taken() {
        let request = chat(json!({
            "model": "claude-opus-4-8", "max_tokens": 64000, "stream": true,
            "system": [{"type": "text", "text": "You are a CLI."}, {"type": "text", "text": "Be careful.", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "<reminder>"}, {"type": "text", "text": "Say hello", "cache_control": {"type": "ephemeral"}}]},
                {"role": "system", "content": "The date is today."}
            ],
            "tools": [{"name": "Bash", "description": "Run", "input_schema": {"type": "object"}}],
            "metadata": {"user_id": "{\"session_id\":\"s1\"}"},
            "thinking": {"type": "adaptive"},
            "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
            "output_config": {"effort": "high"},
        }))
        .expect("taken");
        let roles: Vec<&str> = request.messages.iter().map(|m| m.role()).collect();
        assert_eq!(roles, ["system", "user", "system"]);
        assert_eq!(
            request.messages[0].fields()["content"],
            "You are a CLI.\n\nBe careful."
        );
        assert_eq!(
            request.messages[2].fields()["content"],
            "The date is today."
        );
        assert!(request.extra.get("reasoning_effort").is_none());
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_naming_the_field() {
        let base = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
        let with = |key: &str, value: Value| {
            let mut body = base.clone();
            body[key] = value;
            chat(body)
                .err()
                .and_then(|e| e.error.param.as_str().map(str::to_string))
        };
        assert_eq!(
            with(
                "tools",
                json!([{"type": "web_search_20250305", "name": "web_search"}])
            ),
            Some("tools[0].type".into())
        );
        assert_eq!(with("frobnicate", json!(1)), Some("frobnicate".into()));
        assert_eq!(with("mcp_servers", json!([])), Some("mcp_servers".into()));
        let document = json!([{"role": "user", "content": [{"type": "document", "source": {}}]}]);
        assert_eq!(
            with("messages", document),
            Some("messages[0].content[0].type".into())
        );
        let no_max = json!({"model": "m", "messages": []});
        let refused = chat(no_max)
            .err()
            .and_then(|e| e.error.param.as_str().map(str::to_string));
        assert_eq!(refused, Some("max_tokens".into()));
    }
}
