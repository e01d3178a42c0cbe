//! The Responses API in: a `POST /v1/responses` body becomes the internal chat request.
//!
//! Every field is either translated, kept for the response object, or refused with a 400 that
//! names it — never dropped silently:
//!
//! | Responses                              | internal (chat completions)                    |
//! |----------------------------------------|------------------------------------------------|
//! | `instructions`                         | a leading `system` message                     |
//! | `input` string / `message` items       | messages (`developer` → `system`; `input_text`, `output_text` → text; `input_image` → `image_url`) |
//! | `function_call` / `function_call_output` | assistant `tool_calls` / `tool` messages     |
//! | `mcp_call` (a server-side call this proxy reported earlier) | an executed call: `tool_calls` + `tool` |
//! | `reasoning` items                      | dropped: chat models take no reasoning back (DeepSeek's is restored server-side) |
//! | `tools` (function), `tool_choice`, `parallel_tool_calls` | the same, in chat's shape           |
//! | `max_output_tokens`                    | `max_tokens`                                   |
//! | `reasoning.effort`                     | `reasoning_effort`                             |
//! | `text.format` / `text.verbosity`       | `response_format` / `verbosity`                |
//! | `temperature`, `top_p`, `user`, `service_tier`, `prompt_cache_key`, `safety_identifier` | the same |
//! | `metadata`, `store`, `previous_response_id`, `truncation` | kept by the proxy (the stored response) |
//!
//! Refused: OpenAI-hosted tools (`web_search_preview`, `file_search`, `code_interpreter`, `mcp`,
//! …: no provider behind the proxy runs them), `background`, `conversation`, `prompt`,
//! `max_tool_calls`, `top_logprobs`, non-empty `include`, `input_file` / `input_audio` parts,
//! `item_reference` items, and unknown fields (as OpenAI does).

use serde_json::{Map, Value, json};

use crate::dialect::chat_build::{
    chat_request, missing, push_tool_call, required_str, tool_call, tool_message,
};
use crate::dialect::invalid_type;
use crate::error::ApiError;
use crate::wire::{ChatRequest, Message};

/// A parsed `POST /v1/responses` body.
#[derive(Debug, Clone)]
pub struct ResponsesRequest {
    pub model: String,
    pub stream: bool,
    pub store: bool,
    pub previous_response_id: Option<String>,
    pub instructions: Option<String>,
    /// This request's input as items (a string input is one user message item).
    pub input: Vec<Value>,
    /// Chat-completions parameters translated from the request.
    params: Map<String, Value>,
    /// Request fields the response object repeats.
    echo: Map<String, Value>,
}

/// One echoed field's value.
enum Echoed<'a> {
    /// JSON text written as it is (a default).
    Raw(&'static str),
    Text(&'a str),
    Integer(i64),
    Value(&'a Value),
}

impl Echoed<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        let _ = match self {
            Echoed::Raw(json) => {
                out.extend_from_slice(json.as_bytes());
                Ok(())
            }
            Echoed::Text(text) => serde_json::to_writer(&mut *out, text),
            Echoed::Integer(n) => serde_json::to_writer(&mut *out, n),
            Echoed::Value(value) => serde_json::to_writer(&mut *out, value),
        };
    }

    fn to_value(&self) -> Value {
        match self {
            Echoed::Raw(json) => serde_json::from_str(json).unwrap_or(Value::Null),
            Echoed::Text(text) => Value::String(text.to_string()),
            Echoed::Integer(n) => Value::from(*n),
            Echoed::Value(value) => (*value).clone(),
        }
    }
}

/// Fields passed to the provider under the same name.
const PASSED: [&str; 6] = [
    "temperature",
    "top_p",
    "user",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
];

impl ResponsesRequest {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let fields = super::super::json_object(body)?;
        let mut request = ResponsesRequest {
            model: String::new(),
            stream: false,
            store: true,
            previous_response_id: None,
            instructions: None,
            input: Vec::new(),
            params: Map::new(),
            echo: Map::new(),
        };
        for (key, value) in fields {
            request.field(&key, value)?;
        }
        if request.model.is_empty() {
            return Err(missing("model"));
        }
        if request.input.is_empty() && request.previous_response_id.is_none() {
            return Err(missing("input"));
        }
        // The input items are checked by `to_chat`, before anything is stored or called.
        Ok(request)
    }

    fn field(&mut self, key: &str, value: Value) -> Result<(), ApiError> {
        if value.is_null() {
            return Ok(());
        }
        match key {
            "model" => self.model = string(key, value)?,
            "stream" => self.stream = boolean(key, &value)?,
            "store" => self.store = boolean(key, &value)?,
            "previous_response_id" => self.previous_response_id = Some(string(key, value)?),
            "instructions" => {
                let text = string(key, value)?;
                self.echo.insert(key.into(), text.clone().into());
                self.instructions = Some(text);
            }
            "input" => {
                self.input = match value {
                    Value::String(text) => vec![json!({
                        "type": "message", "role": "user",
                        "content": [{"type": "input_text", "text": text}],
                    })],
                    Value::Array(items) => items,
                    other => return Err(invalid_type(key, "a string or an array", &other)),
                }
            }
            "tools" => {
                let Value::Array(tools) = &value else {
                    return Err(invalid_type(key, "an array", &value));
                };
                let converted = tools
                    .iter()
                    .enumerate()
                    .map(|(i, tool)| chat_tool(i, tool))
                    .collect::<Result<Vec<_>, _>>()?;
                if !converted.is_empty() {
                    self.params.insert("tools".into(), converted.into());
                }
                self.echo.insert(key.into(), value);
            }
            "tool_choice" => {
                self.params
                    .insert("tool_choice".into(), chat_tool_choice(&value)?);
                self.echo.insert(key.into(), value);
            }
            "parallel_tool_calls" => {
                boolean(key, &value)?;
                self.params.insert(key.into(), value.clone());
                self.echo.insert(key.into(), value);
            }
            "max_output_tokens" => {
                if !value.is_u64() {
                    return Err(invalid_type(key, "a positive integer", &value));
                }
                self.params.insert("max_tokens".into(), value.clone());
                self.echo.insert(key.into(), value);
            }
            "reasoning" => {
                let Value::Object(reasoning) = &value else {
                    return Err(invalid_type(key, "an object", &value));
                };
                for (name, setting) in reasoning {
                    match name.as_str() {
                        "effort" if setting.is_string() => {
                            self.params
                                .insert("reasoning_effort".into(), setting.clone());
                        }
                        // What the provider streams is what the client gets; no summariser here.
                        "summary" | "generate_summary" => {}
                        _ if setting.is_null() => {}
                        _ => return Err(unsupported(&format!("reasoning.{name}"))),
                    }
                }
                self.echo.insert(key.into(), value);
            }
            "text" => {
                let Value::Object(text) = &value else {
                    return Err(invalid_type(key, "an object", &value));
                };
                for (name, setting) in text {
                    match name.as_str() {
                        "format" => {
                            if let Some(format) = response_format(setting)? {
                                self.params.insert("response_format".into(), format);
                            }
                        }
                        "verbosity" if setting.is_string() => {
                            self.params.insert("verbosity".into(), setting.clone());
                        }
                        _ if setting.is_null() => {}
                        _ => return Err(unsupported(&format!("text.{name}"))),
                    }
                }
                self.echo.insert(key.into(), value);
            }
            "metadata" => {
                if !value.is_object() {
                    return Err(invalid_type(key, "an object", &value));
                }
                self.echo.insert(key.into(), value);
            }
            "truncation" => match value.as_str() {
                Some("auto" | "disabled") => {
                    self.echo.insert(key.into(), value);
                }
                _ => {
                    return Err(ApiError::invalid_request(
                        "Invalid 'truncation': expected 'auto' or 'disabled'.",
                        Some(key),
                        "invalid_value",
                    ));
                }
            },
            "include" => match &value {
                Value::Array(values) if values.is_empty() => {}
                Value::Array(_) => {
                    return Err(ApiError::invalid_request(
                        "'include' cannot be honoured: the proxy has no encrypted reasoning, logprobs or hosted-tool results to add.",
                        Some(key),
                        "unsupported_parameter",
                    ));
                }
                other => return Err(invalid_type(key, "an array", other)),
            },
            // Obfuscation padding only hides lengths from observers of OpenAI's own traffic.
            "stream_options" => {
                if !value.is_object() {
                    return Err(invalid_type(key, "an object", &value));
                }
            }
            _ if PASSED.contains(&key) => {
                self.params.insert(key.into(), value.clone());
                self.echo.insert(key.into(), value);
            }
            "background" | "conversation" | "prompt" | "max_tool_calls" | "top_logprobs" => {
                return Err(unsupported(key));
            }
            _ => {
                return Err(ApiError::invalid_request(
                    format!("Unknown parameter: '{key}'."),
                    Some(key),
                    "unknown_parameter",
                ));
            }
        }
        Ok(())
    }

    /// The response object's fields that repeat the request (its settings, as OpenAI echoes
    /// them), without those the answer sets (`status`, `error`, `incomplete_details`, `output`,
    /// `usage`). One list serves the JSON text every lifecycle event carries ([`Self::echo_json`])
    /// and the object a stored or non-streaming response is built from
    /// ([`Self::response_template`]), so the two cannot disagree. Each field goes to `field`, in
    /// order.
    fn echo_fields<'a>(
        &'a self,
        id: &'a str,
        created_at: i64,
        mut field: impl FnMut(&'static str, Echoed<'a>),
    ) {
        // Defaults as OpenAI reports them when the request left a field out.
        const DEFAULTS: [(&str, &str); 12] = [
            ("instructions", "null"),
            ("max_output_tokens", "null"),
            ("metadata", "{}"),
            ("parallel_tool_calls", "true"),
            ("reasoning", r#"{"effort":null,"summary":null}"#),
            ("temperature", "1.0"),
            ("text", r#"{"format":{"type":"text"}}"#),
            ("tool_choice", r#""auto""#),
            ("tools", "[]"),
            ("top_p", "1.0"),
            ("truncation", r#""disabled""#),
            ("user", "null"),
        ];
        field("id", Echoed::Text(id));
        field("object", Echoed::Raw(r#""response""#));
        field("created_at", Echoed::Integer(created_at));
        field("model", Echoed::Text(&self.model));
        for (key, default) in DEFAULTS {
            let value = self.echo.get(key);
            field(key, value.map_or(Echoed::Raw(default), Echoed::Value));
        }
        for key in ["service_tier", "prompt_cache_key", "safety_identifier"] {
            if let Some(value) = self.echo.get(key) {
                field(key, Echoed::Value(value));
            }
        }
        let previous = self.previous_response_id.as_deref();
        field(
            "previous_response_id",
            previous.map_or(Echoed::Raw("null"), Echoed::Text),
        );
        field(
            "store",
            Echoed::Raw(if self.store { "true" } else { "false" }),
        );
    }

    /// The echo as JSON text without its closing brace: `{"id":…,…` (the writer adds the rest).
    pub fn echo_json(&self, id: &str, created_at: i64) -> String {
        let mut text = Vec::with_capacity(640);
        text.push(b'{');
        self.echo_fields(id, created_at, |key, value| {
            if text.len() > 1 {
                text.push(b',');
            }
            text.push(b'"');
            text.extend_from_slice(key.as_bytes());
            text.extend_from_slice(b"\":");
            value.write(&mut text);
        });
        String::from_utf8(text).unwrap_or_else(|_| r#"{"object":"response""#.into())
    }

    /// The echo as an object, for a response that is stored or returned whole.
    pub fn response_template(&self, id: &str, created_at: i64) -> Map<String, Value> {
        let mut object = Map::new();
        self.echo_fields(id, created_at, |key, value| {
            object.insert(key.to_string(), value.to_value());
        });
        object
    }

    /// The chat request: `instructions`, then `history` (the items of the responses this one
    /// continues), then this request's input.
    pub fn to_chat(&self, history: &[Value]) -> Result<ChatRequest, ApiError> {
        let mut messages = Vec::new();
        if let Some(instructions) = &self.instructions {
            let mut system = Map::new();
            system.insert("role".into(), "system".into());
            system.insert("content".into(), instructions.clone().into());
            messages.push(Message::new(system));
        }
        messages.extend(items_to_messages(history, "previous_response_id")?);
        messages.extend(items_to_messages(&self.input, "input")?);
        if messages.is_empty() {
            return Err(missing("input"));
        }
        Ok(chat_request(
            &self.model,
            messages,
            self.stream,
            &self.params,
        ))
    }
}

/// Input items as chat messages, in order. `path` names the field in errors.
pub fn items_to_messages(items: &[Value], path: &str) -> Result<Vec<Message>, ApiError> {
    let mut messages: Vec<Message> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let at = &At { path, index };
        let Value::Object(fields) = item else {
            return Err(invalid_type(&at.to_string(), "an object", item));
        };
        // A message may come without `type` (the easy input form).
        let kind = match fields.get("type") {
            None => "message",
            Some(Value::String(kind)) => kind.as_str(),
            Some(other) => return Err(invalid_type(&format!("{at}.type"), "a string", other)),
        };
        match kind {
            "message" => messages.push(message(fields, at)?),
            "function_call" => {
                let call = tool_call(
                    required_str(fields, "call_id", at)?,
                    required_str(fields, "name", at)?,
                    arguments_text(fields.get("arguments")),
                );
                push_tool_call(&mut messages, call);
            }
            "function_call_output" => {
                let call_id = required_str(fields, "call_id", at)?;
                let output = output_text(fields.get("output"), &format!("{at}.output"))?;
                messages.push(tool_message(call_id, output));
            }
            "mcp_call" => {
                let id = required_str(fields, "id", at)?;
                let call = tool_call(
                    id,
                    required_str(fields, "name", at)?,
                    arguments_text(fields.get("arguments")),
                );
                push_tool_call(&mut messages, call);
                let output = fields
                    .get("output")
                    .and_then(Value::as_str)
                    .or_else(|| fields.get("error").and_then(Value::as_str))
                    .unwrap_or_default();
                messages.push(tool_message(id, output.to_string()));
            }
            "reasoning" => {}
            other => {
                return Err(ApiError::invalid_request(
                    format!("Input items of type '{other}' are not supported by this proxy."),
                    Some(&format!("{at}.type")),
                    "unsupported_value",
                ));
            }
        }
    }
    Ok(messages)
}

/// Where an input item is, for error messages: `input[3]`. Formatted only when an error names
/// it, not for every item of every request.
struct At<'a> {
    path: &'a str,
    index: usize,
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]", self.path, self.index)
    }
}

fn message(fields: &Map<String, Value>, at: &At) -> Result<Message, ApiError> {
    let role = required_str(fields, "role", at)?;
    let role = match role {
        "user" | "assistant" | "system" => role,
        "developer" => "system",
        other => {
            return Err(ApiError::invalid_request(
                format!(
                    "Invalid value: '{other}'. Supported values are: 'user', 'assistant', 'system' and 'developer'."
                ),
                Some(&format!("{at}.role")),
                "invalid_value",
            ));
        }
    };
    let content = match fields.get("content") {
        Some(Value::String(text)) => Value::String(text.clone()),
        Some(Value::Array(parts)) if let Some(text) = joined_text(parts) => Value::String(text),
        Some(Value::Array(parts)) => {
            let mut converted = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                converted.push(content_part(part, &format!("{at}.content[{j}]"))?);
            }
            let all_text = converted
                .iter()
                .all(|p| p.get("type").and_then(Value::as_str) == Some("text"));
            if all_text {
                // Text as a plain string: every provider takes that (DeepSeek and older
                // OpenAI-compatible servers take no part arrays).
                Value::String(crate::wire::join_text_parts(&converted))
            } else {
                Value::Array(converted)
            }
        }
        None | Some(Value::Null) => Value::String(String::new()),
        Some(other) => {
            return Err(invalid_type(
                &format!("{at}.content"),
                "a string or an array",
                other,
            ));
        }
    };
    let mut message = Map::new();
    message.insert("role".into(), role.into());
    message.insert("content".into(), content);
    Ok(Message::new(message))
}

/// Parts that are all text, joined as [`content_part`] and [`crate::wire::join_text_parts`]
/// would join them, without building a part for each; `None` when any part is something else
/// (or malformed, so the general path names the error).
fn joined_text(parts: &[Value]) -> Option<String> {
    let mut joined = String::new();
    for part in parts {
        let kind = part.get("type")?.as_str()?;
        if !matches!(kind, "input_text" | "output_text" | "text" | "refusal") {
            return None;
        }
        let text = part.get("text").or_else(|| part.get("refusal"))?.as_str()?;
        if !joined.is_empty() {
            joined.push('\n');
        }
        joined.push_str(text);
    }
    Some(joined)
}

fn content_part(part: &Value, at: &str) -> Result<Value, ApiError> {
    let kind = part.get("type").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "input_text" | "output_text" | "text" | "refusal" => {
            let text = part
                .get("text")
                .or_else(|| part.get("refusal"))
                .and_then(Value::as_str)
                .ok_or_else(|| missing(&format!("{at}.text")))?;
            Ok(json!({"type": "text", "text": text}))
        }
        "input_image" => match part.get("image_url").and_then(Value::as_str) {
            Some(url) => {
                let detail = part.get("detail").and_then(Value::as_str).unwrap_or("auto");
                Ok(json!({"type": "image_url", "image_url": {"url": url, "detail": detail}}))
            }
            None => Err(ApiError::invalid_request(
                "Images must be given as 'image_url' (a URL or a data: URL); OpenAI file ids cannot be resolved by this proxy.",
                Some(&format!("{at}.image_url")),
                "unsupported_value",
            )),
        },
        other => Err(ApiError::invalid_request(
            format!("Content parts of type '{other}' are not supported by this proxy."),
            Some(&format!("{at}.type")),
            "unsupported_value",
        )),
    }
}

/// A `function_call_output` as the tool message's text: a string, or text parts joined.
fn output_text(output: Option<&Value>, at: &str) -> Result<String, ApiError> {
    match output {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (j, part) in parts.iter().enumerate() {
                match part.get("type").and_then(Value::as_str) {
                    Some("input_text" | "output_text" | "text") => {
                        text.push_str(part.get("text").and_then(Value::as_str).unwrap_or_default())
                    }
                    _ => {
                        return Err(ApiError::invalid_request(
                            "Only text parts are supported in a function_call_output.",
                            Some(&format!("{at}[{j}]")),
                            "unsupported_value",
                        ));
                    }
                }
            }
            Ok(text)
        }
        None | Some(Value::Null) => Err(missing(at)),
        Some(other) => Err(invalid_type(at, "a string or an array", other)),
    }
}

fn arguments_text(arguments: Option<&Value>) -> String {
    match arguments {
        Some(Value::String(text)) => text.clone(),
        None | Some(Value::Null) => "{}".into(),
        Some(other) => other.to_string(),
    }
}

/// A Responses function tool (`{type, name, description, parameters, strict}`) in chat's shape.
fn chat_tool(i: usize, tool: &Value) -> Result<Value, ApiError> {
    let at = format!("tools[{i}]");
    let kind = tool.get("type").and_then(Value::as_str).unwrap_or_default();
    if kind != "function" {
        return Err(ApiError::invalid_request(
            format!(
                "Tools of type '{kind}' are hosted by OpenAI and no provider behind this proxy can run them; declare a function tool, or give the tool to an agent."
            ),
            Some(&format!("{at}.type")),
            "unsupported_value",
        ));
    }
    let name = tool
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| missing(&format!("{at}.name")))?;
    let mut function = Map::new();
    function.insert("name".into(), name.into());
    for key in ["description", "parameters", "strict"] {
        if let Some(value) = tool.get(key).filter(|v| !v.is_null()) {
            function.insert(key.into(), value.clone());
        }
    }
    Ok(json!({"type": "function", "function": function}))
}

fn chat_tool_choice(choice: &Value) -> Result<Value, ApiError> {
    match choice {
        Value::String(mode) if matches!(mode.as_str(), "auto" | "none" | "required") => {
            Ok(choice.clone())
        }
        Value::Object(fields) if fields.get("type").and_then(Value::as_str) == Some("function") => {
            let name = fields
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| missing("tool_choice.name"))?;
            Ok(json!({"type": "function", "function": {"name": name}}))
        }
        _ => Err(ApiError::invalid_request(
            "tool_choice must be 'auto', 'none', 'required' or a function tool ({\"type\": \"function\", \"name\": …}).",
            Some("tool_choice"),
            "unsupported_value",
        )),
    }
}

/// `text.format` as chat's `response_format` (`None` for plain text).
fn response_format(format: &Value) -> Result<Option<Value>, ApiError> {
    match format.get("type").and_then(Value::as_str) {
        None if format.is_null() => Ok(None),
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let mut schema = Map::new();
            for key in ["name", "schema", "strict", "description"] {
                if let Some(value) = format.get(key).filter(|v| !v.is_null()) {
                    schema.insert(key.into(), value.clone());
                }
            }
            if !schema.contains_key("name") {
                return Err(missing("text.format.name"));
            }
            Ok(Some(json!({"type": "json_schema", "json_schema": schema})))
        }
        _ => Err(ApiError::invalid_request(
            "text.format.type must be 'text', 'json_object' or 'json_schema'.",
            Some("text.format.type"),
            "invalid_value",
        )),
    }
}

fn string(key: &str, value: Value) -> Result<String, ApiError> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(invalid_type(key, "a string", &other)),
    }
}

fn boolean(key: &str, value: &Value) -> Result<bool, ApiError> {
    value
        .as_bool()
        .ok_or_else(|| invalid_type(key, "a boolean", value))
}

fn unsupported(param: &str) -> ApiError {
    ApiError::invalid_request(
        format!("'{param}' is not supported by this proxy."),
        Some(param),
        "unsupported_parameter",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: Value) -> Result<ResponsesRequest, ApiError> {
        let request = ResponsesRequest::parse(body.to_string().as_bytes())?;
        request.to_chat(&[])?;
        Ok(request)
    }

    #[test]
    fn the_echo_text_and_the_echo_object_agree() {
        for body in [
            json!({"model": "m", "input": "hi"}),
            json!({
                "model": "m", "input": "hi", "instructions": "Be \"brief\".", "temperature": 0.2,
                "metadata": {"k": "v"}, "store": false, "user": "u1", "service_tier": "flex",
                "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
                "text": {"format": {"type": "json_object"}}, "max_output_tokens": 50,
            }),
        ] {
            let request = parse(body).expect("valid");
            let text = request.echo_json("resp_1", 7) + "}";
            let from_text: Value = serde_json::from_str(&text).expect("the echo is JSON");
            let object = Value::Object(request.response_template("resp_1", 7));
            assert_eq!(from_text, object);
            assert_eq!(object["id"], "resp_1");
            assert_eq!(object["created_at"], 7);
        }
    }

    #[test]
    fn items_become_chat_messages_in_order() {
        let request = parse(json!({
            "model": "m", "instructions": "Be brief.",
            "input": [
                {"role": "user", "content": "time?"},
                {"type": "mcp_call", "id": "mcp_1", "name": "current_time", "arguments": "{}", "output": "{\"time\":\"12:00\"}", "server_label": "assistant"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Noon."}]},
                {"type": "function_call", "call_id": "c2", "name": "lookup", "arguments": "{\"q\":1}"},
                {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "found"}]},
                {"type": "reasoning", "id": "rs_1", "summary": []},
            ],
            "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
            "tool_choice": {"type": "function", "name": "lookup"},
            "max_output_tokens": 50,
            "reasoning": {"effort": "low"},
            "text": {"format": {"type": "json_schema", "name": "x", "schema": {}}},
        }))
        .expect("parses");
        let chat = request.to_chat(&[]).expect("chat");
        let roles: Vec<&str> = chat.messages.iter().map(|m| m.role()).collect();
        assert_eq!(
            roles,
            ["system", "user", "assistant", "tool", "assistant", "tool"]
        );
        assert_eq!(chat.messages[2].fields()["tool_calls"][0]["id"], "mcp_1");
        assert_eq!(chat.messages[4].fields()["content"], "Noon.");
        assert_eq!(chat.messages[4].fields()["tool_calls"][0]["id"], "c2");
        assert_eq!(chat.messages[5].fields()["content"], "found");
        assert_eq!(chat.extra["max_tokens"], 50);
        assert_eq!(chat.extra["reasoning_effort"], "low");
        assert_eq!(chat.extra["tools"][0]["function"]["name"], "lookup");
        assert_eq!(chat.extra["tool_choice"]["function"]["name"], "lookup");
        assert_eq!(chat.extra["response_format"]["json_schema"]["name"], "x");
    }

    /// All-text content takes a shortcut; it must join exactly as the general path does.
    #[test]
    fn text_parts_join_as_the_general_path_joins_them() {
        let cases = [
            json!([{"type": "input_text", "text": "one"}]),
            json!([{"type": "input_text", "text": "a"}, {"type": "input_text", "text": ""}, {"type": "output_text", "text": "b"}]),
            json!([{"type": "input_text", "text": ""}, {"type": "text", "text": "x"}]),
            json!([{"type": "refusal", "refusal": "no"}, {"type": "input_text", "text": "yes"}]),
            json!([]),
        ];
        for parts in cases {
            let Value::Array(parts) = parts else {
                unreachable!()
            };
            let general: Vec<Value> = parts
                .iter()
                .map(|p| content_part(p, "input[0].content").expect("a text part"))
                .collect();
            let expected = crate::wire::join_text_parts(&general);
            assert_eq!(
                joined_text(&parts).as_deref(),
                Some(expected.as_str()),
                "{parts:?}"
            );
        }
        let image = json!([{"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": "data:,"}]);
        let Value::Array(image) = image else {
            unreachable!()
        };
        assert_eq!(joined_text(&image), None);
        let missing_text = [json!({"type": "input_text"})];
        assert_eq!(joined_text(&missing_text), None);
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_by_name() {
        for (body, param) in [
            (
                json!({"model": "m", "input": "hi", "tools": [{"type": "web_search_preview"}]}),
                "tools[0].type",
            ),
            (
                json!({"model": "m", "input": "hi", "frobnicate": 1}),
                "frobnicate",
            ),
            (
                json!({"model": "m", "input": "hi", "background": true}),
                "background",
            ),
            (
                json!({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}),
                "input[0].type",
            ),
            (
                json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}),
                "input[0].content[0].type",
            ),
            (
                json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_text"}]}]}),
                "input[0].content[0].text",
            ),
            (
                json!({"model": "m", "input": [{"role": "user"}, {"type": "function_call", "name": "f"}]}),
                "input[1].call_id",
            ),
            (json!({"input": "hi"}), "model"),
            (json!({"model": "m"}), "input"),
        ] {
            let error = parse(body).expect_err("refused");
            assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST);
            assert_eq!(error.error.param, json!(param));
        }
    }
}
