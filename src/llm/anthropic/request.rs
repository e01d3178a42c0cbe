//! Chat completions out to Anthropic: the internal chat request becomes a Messages body.
//!
//! | chat completions                               | Messages                                      |
//! |------------------------------------------------|-----------------------------------------------|
//! | `system` / `developer` messages (anywhere)     | the top-level `system`, joined in order (Messages has no system turns) |
//! | user text and `image_url` parts                | `text` and `image` blocks (`data:` URLs as base64, others as `url` sources) |
//! | assistant `content` and `tool_calls`           | `text` and `tool_use` blocks (arguments parsed to `input`), after the turn's remembered `thinking` blocks |
//! | `tool` messages                                | `tool_result` blocks at the start of the next user turn |
//! | `tools` (function tools)                       | `tools` with `input_schema`                   |
//! | `tool_choice` `auto` / `required` / `none` / a function | `auto` / `any` / `none` / `tool`; `parallel_tool_calls: false` → `disable_parallel_tool_use` |
//! | `max_completion_tokens` / `max_tokens`         | `max_tokens` (required there: the provider's `default_max_tokens` when the client sets none) |
//! | `stop` (string or list)                        | `stop_sequences`                              |
//! | `reasoning_effort`                             | `thinking: {type: enabled, budget_tokens}` (minimal 1,024, low 2,048, medium 8,192, high 24,576), added on top of `max_tokens`, which Anthropic counts thinking against; `none` sends no thinking |
//! | `response_format` `json_schema` / `json_object` | one forced tool whose input is the answer (Anthropic's way to a guaranteed JSON shape); its input comes back as the message's content |
//! | `user`                                         | `metadata.user_id`                            |
//! | `temperature`, `top_p`, `top_k`, other fields  | the same, at the top level (Anthropic refuses what it does not know, and the client gets that refusal) |
//!
//! OpenAI-only parameters with no Messages counterpart are refused with a 400 naming the field
//! when they would change the answer (`n` > 1, `logprobs`, penalties, `logit_bias`, `seed`,
//! audio), and dropped when they are at their defaults or only concern the transport
//! (`stream_options`, `store`, OpenAI `metadata`, `service_tier`).

use serde_json::{Map, Value, json};

use super::ThinkingMemory;
use crate::error::ErrorObject;
use crate::llm::LlmError;
use crate::wire::{ChatRequest, Message, join_text_parts};

/// The tool that carries a `response_format` answer: the model must call it, its input is the
/// JSON the client asked for.
pub const JSON_ANSWER_TOOL: &str = "json_answer";

/// Chat fields consumed by the mapping; anything else goes to the top level as it is.
const MAPPED: &[&str] = &[
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning_effort",
    "response_format",
    "user",
    "stream_options",
    "store",
    "metadata",
    "service_tier",
    "n",
    "logprobs",
    "top_logprobs",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "seed",
    "modalities",
    "audio",
    "prediction",
    "web_search_options",
];

/// The Messages body for `request`, streaming or not.
pub fn to_messages_body(
    request: &ChatRequest,
    stream: bool,
    default_max_tokens: u64,
    thinking: &ThinkingMemory,
) -> Result<Value, LlmError> {
    let extra = &request.extra;
    refuse_unanswerable(extra)?;
    let mut body = Map::new();
    body.insert(
        "model".into(),
        json!(request.model.clone().unwrap_or_default()),
    );
    let (system, messages) = map_messages(&request.messages, thinking)?;
    if !system.is_empty() {
        body.insert("system".into(), Value::String(system));
    }
    body.insert("messages".into(), Value::Array(messages));

    let answer_budget = extra
        .get("max_completion_tokens")
        .or_else(|| extra.get("max_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(default_max_tokens);
    let thinking_budget = match extra.get("reasoning_effort").and_then(Value::as_str) {
        None | Some("none") => None,
        Some("minimal") => Some(1024),
        Some("low") => Some(2048),
        Some("medium") => Some(8192),
        Some("high") => Some(24576),
        Some(other) => {
            return Err(bad_request(
                format!(
                    "reasoning_effort: '{other}' is not one of none, minimal, low, medium, high"
                ),
                "reasoning_effort",
            ));
        }
    };
    let max_tokens = answer_budget + thinking_budget.unwrap_or(0);
    body.insert("max_tokens".into(), json!(max_tokens));
    if let Some(budget) = thinking_budget {
        body.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    }
    match extra.get("stop") {
        Some(Value::String(stop)) => {
            body.insert("stop_sequences".into(), json!([stop]));
        }
        Some(Value::Array(stops)) if !stops.is_empty() => {
            body.insert("stop_sequences".into(), Value::Array(stops.clone()));
        }
        _ => {}
    }
    let mut tools = match extra.get("tools") {
        Some(Value::Array(tools)) => tools
            .iter()
            .enumerate()
            .map(|(i, tool)| anthropic_tool(i, tool))
            .collect::<Result<Vec<_>, _>>()?,
        _ => Vec::new(),
    };
    let mut tool_choice = tool_choice(extra)?;
    if let Some(schema) = json_answer_schema(extra)? {
        tools.push(json!({
            "name": JSON_ANSWER_TOOL,
            "description": "Give your answer by calling this tool; its input is the answer.",
            "input_schema": schema,
        }));
        tool_choice = Some(json!({"type": "tool", "name": JSON_ANSWER_TOOL}));
    }
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = tool_choice {
        body.insert("tool_choice".into(), choice);
    }
    if let Some(user) = extra.get("user").and_then(Value::as_str) {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    if stream {
        body.insert("stream".into(), Value::Bool(true));
    }
    for (key, value) in extra {
        if !MAPPED.contains(&key.as_str()) && !value.is_null() {
            body.insert(key.clone(), value.clone());
        }
    }
    Ok(Value::Object(body))
}

/// Refuses what would change the answer but has no Messages counterpart.
fn refuse_unanswerable(extra: &Map<String, Value>) -> Result<(), LlmError> {
    let set = |key: &str| extra.get(key).filter(|v| !v.is_null());
    if set("n").and_then(Value::as_u64).is_some_and(|n| n > 1) {
        return Err(bad_request(
            "n: Anthropic's API gives one answer per request".to_string(),
            "n",
        ));
    }
    for key in ["logprobs", "top_logprobs"] {
        if set(key).is_some_and(|v| v != &json!(false) && v != &json!(0)) {
            return Err(bad_request(
                format!("{key}: Anthropic's API does not return log probabilities"),
                key,
            ));
        }
    }
    for key in ["frequency_penalty", "presence_penalty"] {
        if set(key).and_then(Value::as_f64).is_some_and(|v| v != 0.0) {
            return Err(bad_request(
                format!("{key}: Anthropic's API has no repetition penalties"),
                key,
            ));
        }
    }
    if set("logit_bias").is_some_and(|v| v.as_object().is_some_and(|o| !o.is_empty())) {
        return Err(bad_request(
            "logit_bias: Anthropic's API has no token biases".to_string(),
            "logit_bias",
        ));
    }
    for key in ["seed", "audio", "prediction", "web_search_options"] {
        if set(key).is_some() {
            return Err(bad_request(
                format!("{key}: Anthropic's API has no counterpart for this parameter"),
                key,
            ));
        }
    }
    if let Some(modalities) = set("modalities").and_then(Value::as_array)
        && modalities.iter().any(|m| m != "text")
    {
        return Err(bad_request(
            "modalities: Anthropic's API answers in text only".to_string(),
            "modalities",
        ));
    }
    Ok(())
}

/// `(system, messages)`: system text pulled out, tool results folded into user turns, each
/// assistant tool-use turn given back its thinking.
fn map_messages(
    messages: &[Message],
    thinking: &ThinkingMemory,
) -> Result<(String, Vec<Value>), LlmError> {
    let mut system = String::new();
    let mut out: Vec<Value> = Vec::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        let field = format!("messages[{i}]");
        match message.role() {
            "system" | "developer" => {
                let text = match message.content() {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Array(parts)) => join_text_parts(parts),
                    _ => String::new(),
                };
                if !text.is_empty() {
                    if !system.is_empty() {
                        system.push_str("\n\n");
                    }
                    system.push_str(&text);
                }
            }
            "user" => {
                let blocks = user_blocks(message.content(), &field)?;
                push_blocks(&mut out, "user", blocks);
            }
            "assistant" => {
                let blocks = assistant_blocks(message, thinking, &field)?;
                push_blocks(&mut out, "assistant", blocks);
            }
            "tool" | "function" => {
                let id = message
                    .fields()
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        bad_request(
                            format!("{field}.tool_call_id: a tool message must name its call"),
                            "messages",
                        )
                    })?;
                let content = tool_result_content(message.content(), &field)?;
                let block = json!({"type": "tool_result", "tool_use_id": id, "content": content});
                push_blocks(&mut out, "user", vec![block]);
            }
            other => {
                return Err(bad_request(
                    format!("{field}.role: '{other}' is not a chat role"),
                    "messages",
                ));
            }
        }
    }
    Ok((system, out))
}

/// Appends blocks as a turn of `role`, merged into the previous turn when it has the same role
/// (Messages alternates turns; several tool results and the user's next words are one turn).
/// Tool results stay ahead of the text in a user turn, as Anthropic requires.
fn push_blocks(out: &mut Vec<Value>, role: &str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    if let Some(last) = out.last_mut()
        && last["role"] == role
        && let Some(content) = last["content"].as_array_mut()
    {
        content.extend(blocks);
        if role == "user" {
            // Stable: results keep their order, and so does the rest.
            content.sort_by_key(|b| b["type"] != "tool_result");
        }
        return;
    }
    out.push(json!({"role": role, "content": blocks}));
}

fn user_blocks(content: Option<&Value>, field: &str) -> Result<Vec<Value>, LlmError> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(text_block(text).into_iter().collect()),
        Some(Value::Array(parts)) => {
            let mut blocks = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                let part_field = format!("{field}.content[{j}]");
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let text = part.get("text").and_then(Value::as_str).unwrap_or("");
                        blocks.extend(text_block(text));
                    }
                    Some("image_url") => blocks.push(image_block(part, &part_field)?),
                    other => {
                        return Err(bad_request(
                            format!(
                                "{part_field}.type: '{}' cannot be sent to Anthropic (text and image_url can)",
                                other.unwrap_or("?")
                            ),
                            "messages",
                        ));
                    }
                }
            }
            Ok(blocks)
        }
        Some(other) => Ok(text_block(&other.to_string()).into_iter().collect()),
    }
}

/// Anthropic refuses empty text blocks; an empty part simply has nothing to say.
fn text_block(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| json!({"type": "text", "text": text}))
}

fn image_block(part: &Value, field: &str) -> Result<Value, LlmError> {
    let url = part
        .get("image_url")
        .and_then(|u| u.get("url").or(Some(u)))
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Some(rest) = url.strip_prefix("data:") {
        let Some((media_type, data)) = rest.split_once(";base64,") else {
            return Err(bad_request(
                format!("{field}.image_url: a data: URL must be base64"),
                "messages",
            ));
        };
        return Ok(
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}),
        );
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(bad_request(
        format!("{field}.image_url: expected a data: or http(s) URL"),
        "messages",
    ))
}

fn assistant_blocks(
    message: &Message,
    thinking: &ThinkingMemory,
    field: &str,
) -> Result<Vec<Value>, LlmError> {
    let mut blocks = Vec::new();
    let calls = message.tool_calls().map(Vec::as_slice).unwrap_or_default();
    // Anthropic rejects a tool-use turn whose thinking is missing when thinking is on: the
    // blocks it signed go back first, exactly as they came.
    if let Some(remembered) = calls
        .iter()
        .filter_map(|c| c.get("id").and_then(Value::as_str))
        .find_map(|id| thinking.recall(id))
    {
        blocks.extend(remembered.iter().cloned());
    }
    match message.content() {
        Some(Value::String(text)) => blocks.extend(text_block(text)),
        Some(Value::Array(parts)) => blocks.extend(text_block(&join_text_parts(parts))),
        _ => {}
    }
    for (j, call) in calls.iter().enumerate() {
        let function = call.get("function");
        let name = function
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let id = call.get("id").and_then(Value::as_str).ok_or_else(|| {
            bad_request(
                format!("{field}.tool_calls[{j}].id: a tool call needs its id"),
                "messages",
            )
        })?;
        let input = match function.and_then(|f| f.get("arguments")) {
            Some(Value::String(s)) if s.trim().is_empty() => json!({}),
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(object @ Value::Object(_)) => object,
                _ => {
                    return Err(bad_request(
                        format!(
                            "{field}.tool_calls[{j}].function.arguments: Anthropic takes tool input as a JSON object"
                        ),
                        "messages",
                    ));
                }
            },
            Some(object @ Value::Object(_)) => object.clone(),
            _ => json!({}),
        };
        blocks.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    Ok(blocks)
}

/// A tool result's content: its text, or text and image blocks.
fn tool_result_content(content: Option<&Value>, field: &str) -> Result<Value, LlmError> {
    match content {
        Some(Value::Array(_)) => Ok(Value::Array(user_blocks(content, field)?)),
        Some(Value::String(text)) => Ok(Value::String(text.clone())),
        None | Some(Value::Null) => Ok(Value::String(String::new())),
        Some(other) => Ok(Value::String(other.to_string())),
    }
}

fn anthropic_tool(i: usize, tool: &Value) -> Result<Value, LlmError> {
    let kind = tool
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("function");
    let Some(function) = tool.get("function").filter(|_| kind == "function") else {
        return Err(bad_request(
            format!("tools[{i}].type: '{kind}' cannot be sent to Anthropic (function tools can)"),
            "tools",
        ));
    };
    let name = function.get("name").and_then(Value::as_str).unwrap_or("");
    let mut out = Map::new();
    out.insert("name".into(), json!(name));
    if let Some(description) = function.get("description").filter(|d| d.is_string()) {
        out.insert("description".into(), description.clone());
    }
    let schema = function
        .get("parameters")
        .filter(|p| p.is_object())
        .cloned()
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    out.insert("input_schema".into(), schema);
    Ok(Value::Object(out))
}

fn tool_choice(extra: &Map<String, Value>) -> Result<Option<Value>, LlmError> {
    let mut choice = match extra.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Some(json!({"type": "auto"})),
            "required" => Some(json!({"type": "any"})),
            "none" => Some(json!({"type": "none"})),
            other => {
                return Err(bad_request(
                    format!("tool_choice: '{other}' is not auto, required, none or a function"),
                    "tool_choice",
                ));
            }
        },
        Some(object) => {
            let name = object
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    bad_request(
                        "tool_choice: expected {\"type\":\"function\",\"function\":{\"name\":…}}"
                            .to_string(),
                        "tool_choice",
                    )
                })?;
            Some(json!({"type": "tool", "name": name}))
        }
    };
    if extra.get("parallel_tool_calls") == Some(&Value::Bool(false)) {
        let choice = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = Value::Bool(true);
        }
    }
    Ok(choice)
}

/// The JSON schema a `response_format` asks for, if it asks for JSON.
fn json_answer_schema(extra: &Map<String, Value>) -> Result<Option<Value>, LlmError> {
    let Some(format) = extra.get("response_format").filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "object"}))),
        Some("json_schema") => Ok(Some(
            format
                .get("json_schema")
                .and_then(|s| s.get("schema"))
                .filter(|s| s.is_object())
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"})),
        )),
        _ => Err(bad_request(
            "response_format.type: expected text, json_object or json_schema".to_string(),
            "response_format",
        )),
    }
}

fn bad_request(message: String, param: &str) -> LlmError {
    LlmError::Upstream {
        status: 400,
        error: Box::new(
            ErrorObject::new(message, "invalid_request_error")
                .with_param(param)
                .with_code("unsupported_by_provider"),
        ),
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn request(value: Value) -> ChatRequest {
        serde_json::from_value(value).expect("request")
    }

    #[test]
    fn folds_system_tool_results_and_thinking_into_messages_shape() {
        let memory = ThinkingMemory::new(8);
        memory.remember(
            &["toolu_1".into()],
            Arc::new(vec![
                json!({"type": "thinking", "thinking": "Need weather.", "signature": "sig1"}),
            ]),
        );
        let chat = request(json!({
            "model": "claude-x",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Weather?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
                {"role": "user", "content": "And tomorrow?"}
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
            "tool_choice": "required",
            "parallel_tool_calls": false,
            "stop": "END",
            "max_tokens": 100,
            "reasoning_effort": "low",
            "user": "u1",
            "stream_options": {"include_usage": true}
        }));
        let body = to_messages_body(&chat, true, 4096, &memory).expect("maps");
        assert_eq!(body["system"], "Be brief.");
        assert_eq!(body["max_tokens"], 100 + 2048);
        assert_eq!(body["thinking"]["budget_tokens"], 2048);
        assert_eq!(body["stop_sequences"], json!(["END"]));
        assert_eq!(
            body["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
        assert_eq!(body["tools"][0]["input_schema"], json!({"type": "object"}));
        assert_eq!(body["metadata"]["user_id"], "u1");
        assert!(body.get("stream_options").is_none());
        let messages = body["messages"].as_array().expect("messages");
        assert_eq!(messages.len(), 3);
        assert_eq!(
            messages[0]["content"][1]["source"]["media_type"],
            "image/png"
        );
        assert_eq!(messages[1]["content"][0]["signature"], "sig1");
        assert_eq!(messages[1]["content"][1]["input"]["city"], "Oslo");
        assert_eq!(messages[2]["content"][0]["type"], "tool_result");
        assert_eq!(messages[2]["content"][1]["text"], "And tomorrow?");
    }

    #[test]
    fn refuses_what_changes_the_answer_and_forces_a_tool_for_json() {
        let memory = ThinkingMemory::new(1);
        let refused = to_messages_body(
            &request(json!({"messages": [{"role": "user", "content": "x"}], "n": 2})),
            false,
            10,
            &memory,
        );
        assert!(matches!(
            refused,
            Err(LlmError::Upstream { status: 400, .. })
        ));
        let json_mode = to_messages_body(
            &request(json!({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}})),
            false,
            10,
            &memory,
        )
        .expect("maps");
        assert_eq!(json_mode["tool_choice"]["name"], JSON_ANSWER_TOOL);
        assert_eq!(
            json_mode["tools"][0]["input_schema"]["properties"]["a"]["type"],
            "string"
        );
    }
}
