//! Upstream failures, classified by what the client should be told.

use axum::http::{HeaderValue, StatusCode, header};
use serde_json::Value;

use crate::error::{ApiError, ErrorObject};

#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    /// The upstream answered with an HTTP error: its status and message reach the client.
    #[error("upstream answered {status}: {}", error.message)]
    Upstream {
        status: u16,
        error: Box<ErrorObject>,
        retry_after: Option<String>,
    },
    /// No connection could be made (refused, DNS, TLS): 502.
    #[error("upstream unreachable: {0}")]
    Unreachable(String),
    /// The upstream did not answer in time: 504 before the stream, an error event after.
    #[error("upstream timed out: {0}")]
    Timeout(String),
    /// The upstream broke the protocol: a cut connection, a chunk that is not JSON.
    #[error("upstream protocol error: {0}")]
    Protocol(String),
    /// The upstream itself reported an error inside a 2xx stream.
    #[error("upstream error: {}", .0.message)]
    InStream(Box<ErrorObject>),
    /// Every candidate provider's circuit is open and none was tried: 503.
    #[error("no provider is available (all circuits are open)")]
    NoProvider,
}

impl LlmError {
    /// The error object a client sees, before or after the stream began.
    pub fn to_error_object(&self) -> ErrorObject {
        match self {
            LlmError::Upstream { error, .. } => (**error).clone(),
            LlmError::Unreachable(msg) => {
                ErrorObject::new(format!("Upstream unreachable: {msg}"), "api_error")
                    .with_code("upstream_unreachable")
            }
            LlmError::Timeout(msg) => {
                ErrorObject::new(format!("Upstream timed out: {msg}"), "api_error")
                    .with_code("upstream_timeout")
            }
            LlmError::Protocol(msg) => {
                ErrorObject::new(format!("Upstream error: {msg}"), "api_error")
                    .with_code("upstream_protocol_error")
            }
            LlmError::InStream(error) => (**error).clone(),
            LlmError::NoProvider => ErrorObject::new(
                "No provider is available (all circuits are open).",
                "api_error",
            )
            .with_code("no_provider_available"),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            LlmError::Upstream { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            LlmError::Unreachable(_) | LlmError::Protocol(_) | LlmError::InStream(_) => {
                StatusCode::BAD_GATEWAY
            }
            LlmError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            LlmError::NoProvider => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn to_api_error(&self) -> ApiError {
        let mut api = ApiError::new(self.status(), self.to_error_object());
        if let LlmError::Upstream {
            retry_after: Some(value),
            ..
        } = self
            && let Ok(value) = HeaderValue::from_str(value)
        {
            api.headers.push((header::RETRY_AFTER, value));
        }
        api
    }

    /// Builds an `Upstream` error from a non-2xx answer, whatever dialect its body speaks:
    /// OpenAI `{"error":{…}}`, Ollama `{"error":"…"}`, FastAPI `{"detail":…}`, or plain text.
    pub fn from_upstream_body(status: u16, body: &[u8], retry_after: Option<String>) -> Self {
        let fallback_type = match status {
            400 | 404 | 413 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            429 => "rate_limit_error",
            _ => "api_error",
        };
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let error = match parsed.as_ref().and_then(|v| v.get("error")) {
            Some(obj @ Value::Object(_)) => {
                match serde_json::from_value::<ErrorObject>(obj.clone()) {
                    Ok(mut e) => {
                        if e.kind.is_empty() {
                            e.kind = fallback_type.to_string();
                        }
                        e
                    }
                    Err(_) => ErrorObject::new(obj.to_string(), fallback_type),
                }
            }
            Some(Value::String(msg)) => ErrorObject::new(msg.clone(), fallback_type),
            _ => {
                let message = parsed
                    .as_ref()
                    .and_then(|v| v.get("message").or_else(|| v.get("detail")))
                    .map(|m| {
                        m.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| m.to_string())
                    })
                    .unwrap_or_else(|| {
                        let text = String::from_utf8_lossy(body);
                        let text = text.trim();
                        if text.is_empty() {
                            format!("upstream answered HTTP {status}")
                        } else {
                            text.chars().take(2000).collect()
                        }
                    });
                ErrorObject::new(message, fallback_type)
            }
        };
        LlmError::Upstream {
            status,
            error: Box::new(error),
            retry_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_string_error_becomes_object() {
        let e = LlmError::from_upstream_body(404, br#"{"error":"model 'x' not found"}"#, None);
        let obj = e.to_error_object();
        assert_eq!(obj.message, "model 'x' not found");
        assert_eq!(obj.kind, "invalid_request_error");
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn openai_error_is_kept_verbatim() {
        let body = br#"{"error":{"message":"slow down","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
        let e = LlmError::from_upstream_body(429, body, Some("7".into()));
        let api = e.to_api_error();
        assert_eq!(api.error.kind, "requests");
        assert_eq!(api.error.code, "rate_limit_exceeded");
        assert_eq!(api.headers[0].0, header::RETRY_AFTER);
        assert_eq!(api.headers[0].1.as_bytes(), b"7");
    }
}
