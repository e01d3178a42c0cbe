//! Request validation with OpenAI's wording: every 400 names the offending field in `param`, so
//! a client developer sees what to fix. Only what the proxy itself depends on, or what every
//! provider would reject anyway, is checked; unknown fields are the provider's business.

use serde_json::Value;

use crate::dialect::invalid_type;
use crate::error::ApiError;
use crate::wire::ChatRequest;

const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// Bodies from this size on are parsed on a blocking thread: parsing megabytes of JSON takes
/// hundreds of milliseconds, which on an async worker would stall every request queued there.
const BLOCKING_PARSE_BYTES: usize = 256 * 1024;

/// `parse` (a dialect's body parser, e.g. [`chat_request`]) on `body`, on a blocking thread when
/// the body is large.
pub async fn parse_off_the_workers<T: Send + 'static>(
    body: Vec<u8>,
    parse: impl FnOnce(&[u8]) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    if body.len() < BLOCKING_PARSE_BYTES {
        return parse(&body);
    }
    tokio::task::spawn_blocking(move || parse(&body))
        .await
        .unwrap_or_else(|e| {
            Err(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                crate::error::ErrorObject::new(
                    format!("The request could not be parsed: {e}"),
                    "api_error",
                ),
            ))
        })
}

/// Parses and validates a chat-completions body.
pub fn chat_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let object = crate::dialect::json_object(body)?;
    let messages = match object.get("messages") {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_request(
                "Missing required parameter: 'messages'.",
                Some("messages"),
                "missing_required_parameter",
            ));
        }
        Some(Value::Array(messages)) => messages,
        Some(other) => return Err(invalid_type("messages", "an array", other)),
    };
    if messages.is_empty() {
        return Err(ApiError::invalid_request(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            Some("messages"),
            "empty_array",
        ));
    }
    for (i, message) in messages.iter().enumerate() {
        validate_message(i, message)?;
    }

    check_type(object.get("model"), "model", "a string", Value::is_string)?;
    check_type(
        object.get("stream"),
        "stream",
        "a boolean",
        Value::is_boolean,
    )?;
    for key in [
        "temperature",
        "top_p",
        "presence_penalty",
        "frequency_penalty",
    ] {
        check_type(object.get(key), key, "a number", Value::is_number)?;
    }
    for key in [
        "max_tokens",
        "max_completion_tokens",
        "n",
        "seed",
        "top_logprobs",
    ] {
        check_type(object.get(key), key, "an integer", |v| {
            v.is_i64() || v.is_u64()
        })?;
    }
    check_type(
        object.get("stop"),
        "stop",
        "a string or an array of strings",
        |v| v.is_string() || v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
    )?;
    check_type(object.get("tools"), "tools", "an array", Value::is_array)?;
    check_type(
        object.get("stream_options"),
        "stream_options",
        "an object",
        Value::is_object,
    )?;
    check_type(
        object.get("tool_choice"),
        "tool_choice",
        "a string or an object",
        |v| v.is_string() || v.is_object(),
    )?;
    check_type(
        object.get("response_format"),
        "response_format",
        "an object",
        Value::is_object,
    )?;
    if let Some(Value::Array(tools)) = object.get("tools") {
        for (i, tool) in tools.iter().enumerate() {
            if !tool.is_object() {
                return Err(invalid_type(&format!("tools[{i}]"), "an object", tool));
            }
        }
    }

    serde_json::from_value(Value::Object(object)).map_err(|e| {
        ApiError::invalid_request(format!("Invalid request: {e}."), None, "invalid_request")
    })
}

fn validate_message(i: usize, message: &Value) -> Result<(), ApiError> {
    let path = format!("messages[{i}]");
    let Value::Object(fields) = message else {
        return Err(invalid_type(&path, "an object", message));
    };
    let role = match fields.get("role") {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_request(
                format!("Missing required parameter: '{path}.role'."),
                Some(&format!("{path}.role")),
                "missing_required_parameter",
            ));
        }
        Some(Value::String(role)) => role.as_str(),
        Some(other) => return Err(invalid_type(&format!("{path}.role"), "a string", other)),
    };
    if !ROLES.contains(&role) {
        return Err(ApiError::invalid_request(
            format!(
                "Invalid value: '{role}'. Supported values are: 'system', 'developer', 'user', 'assistant', 'tool', and 'function'."
            ),
            Some(&format!("{path}.role")),
            "invalid_value",
        ));
    }
    let content_path = format!("{path}.content");
    match fields.get("content") {
        Some(Value::String(_)) => {}
        Some(Value::Array(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                if !part.get("type").is_some_and(Value::is_string) {
                    return Err(ApiError::invalid_request(
                        format!(
                            "Invalid content part '{content_path}[{j}]': expected an object with a string 'type'."
                        ),
                        Some(&format!("{content_path}[{j}]")),
                        "invalid_type",
                    ));
                }
            }
        }
        None | Some(Value::Null) if role == "assistant" => {}
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_request(
                format!("Missing required parameter: '{content_path}'."),
                Some(&content_path),
                "missing_required_parameter",
            ));
        }
        Some(other) => {
            return Err(invalid_type(
                &content_path,
                "a string or an array of content parts",
                other,
            ));
        }
    }
    if let Some(calls) = fields.get("tool_calls").filter(|c| !c.is_null()) {
        let Value::Array(calls) = calls else {
            return Err(invalid_type(
                &format!("{path}.tool_calls"),
                "an array",
                calls,
            ));
        };
        for (j, call) in calls.iter().enumerate() {
            if !call.is_object() {
                return Err(invalid_type(
                    &format!("{path}.tool_calls[{j}]"),
                    "an object",
                    call,
                ));
            }
        }
    }
    if role == "tool" && !fields.get("tool_call_id").is_some_and(Value::is_string) {
        return Err(ApiError::invalid_request(
            format!("Missing required parameter: '{path}.tool_call_id'."),
            Some(&format!("{path}.tool_call_id")),
            "missing_required_parameter",
        ));
    }
    Ok(())
}

fn check_type(
    value: Option<&Value>,
    field: &str,
    expected: &str,
    ok: impl Fn(&Value) -> bool,
) -> Result<(), ApiError> {
    match value {
        None | Some(Value::Null) => Ok(()),
        Some(v) if ok(v) => Ok(()),
        Some(v) => Err(invalid_type(field, expected, v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> ApiError {
        chat_request(body.as_bytes()).expect_err("must be rejected")
    }

    #[test]
    fn names_the_field() {
        assert_eq!(err("{").error.code, "invalid_json");
        assert_eq!(err(r#"{"model":"m"}"#).error.param, "messages");
        assert_eq!(err(r#"{"messages":[]}"#).error.code, "empty_array");
        assert_eq!(
            err(r#"{"messages":[{"role":"wizard","content":"x"}]}"#)
                .error
                .param,
            "messages[0].role"
        );
        assert_eq!(
            err(r#"{"messages":[{"role":"user","content":5}]}"#)
                .error
                .param,
            "messages[0].content"
        );
        assert_eq!(
            err(r#"{"messages":[{"role":"user","content":"x"}],"stream":"yes"}"#)
                .error
                .param,
            "stream"
        );
        assert_eq!(
            err(r#"{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#)
                .error
                .param,
            "temperature"
        );
    }

    #[test]
    fn keeps_unknown_fields() {
        let req =
            chat_request(br#"{"messages":[{"role":"user","content":"x"}],"x_custom":{"a":1}}"#)
                .expect("valid");
        assert_eq!(req.extra["x_custom"]["a"], 1);
    }
}
