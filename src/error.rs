//! The one error shape every client sees: `{"error":{"message","type","param","code"}}`.
//!
//! OpenAI SDKs pick their exception class from the HTTP status and read `error.message`; chat UIs
//! show the message verbatim. So every failure — bad input, an upstream error, a timeout, a
//! failure after the stream began — is turned into this object, with a status that says whose
//! fault it was.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `error` object. `param` and `code` stay JSON values because providers send strings,
/// numbers or null there and the client deserves what the provider said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    pub message: String,
    #[serde(rename = "type", default = "default_type")]
    pub kind: String,
    #[serde(default)]
    pub param: Value,
    #[serde(default)]
    pub code: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn default_type() -> String {
    "api_error".to_string()
}

impl ErrorObject {
    pub fn new(message: impl Into<String>, kind: &str) -> Self {
        Self {
            message: message.into(),
            kind: kind.to_string(),
            param: Value::Null,
            code: Value::Null,
            extra: Map::new(),
        }
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Value::String(param.into());
        self
    }

    pub fn with_code(mut self, code: &str) -> Self {
        self.code = Value::String(code.to_string());
        self
    }

    /// `{"error": {...}}` as JSON text, for response bodies and in-stream `data:` lines.
    pub fn to_envelope_json(&self) -> String {
        #[derive(Serialize)]
        struct Envelope<'a> {
            error: &'a ErrorObject,
        }
        serde_json::to_string(&Envelope { error: self }).unwrap_or_else(|_| {
            r#"{"error":{"message":"error","type":"api_error","param":null,"code":null}}"#
                .to_string()
        })
    }
}

/// An error answered before any byte of a response was sent.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Boxed so that `Result<_, ApiError>` stays small on the hot path.
    pub error: Box<ErrorObject>,
    /// Headers the client should see, e.g. an upstream 429's `Retry-After`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: ErrorObject) -> Self {
        Self {
            status,
            error: Box::new(error),
            headers: Vec::new(),
        }
    }

    /// 400 for a request the client must fix; `param` names the offending field.
    pub fn invalid_request(message: impl Into<String>, param: Option<&str>, code: &str) -> Self {
        let mut error = ErrorObject::new(message, "invalid_request_error").with_code(code);
        if let Some(param) = param {
            error = error.with_param(param);
        }
        Self::new(StatusCode::BAD_REQUEST, error)
    }

    pub fn not_found(message: impl Into<String>, code: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorObject::new(message, "invalid_request_error").with_code(code),
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorObject::new(
                format!("Request body is larger than the proxy's limit of {limit} bytes."),
                "invalid_request_error",
            )
            .with_code("request_too_large"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.error.to_envelope_json()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}
