//! Errors in the client's dialect. Every layer of the proxy (auth, the browser guard, body
//! limits, rate limits, draining, a route's own checks, an upstream's failure) answers with one
//! error shape, OpenAI's `{"error":{…}}`. A client of another dialect must get its own shape from
//! all of them, so this layer, outside the others, rewrites an error answer on that dialect's
//! paths: Anthropic Messages (`/v1/messages…`) get `{"type":"error","error":{"type","message"}}`
//! with the type Anthropic's SDKs map to their exception classes; Ollama's API (`/api/…`) gets
//! `{"error": "<message>"}`. Status and headers (e.g. `Retry-After`) stay as they were.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::dialect::anthropic;
use crate::error::ErrorObject;

/// Error bodies are small; anything larger is not one of ours and passes unchanged.
const MAX_ERROR_BYTES: usize = 64 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum ErrorDialect {
    OpenAi,
    Anthropic,
    Ollama,
}

impl ErrorDialect {
    fn of_path(path: &str) -> Self {
        if path.starts_with("/api/") {
            return ErrorDialect::Ollama;
        }
        let path = path.strip_prefix("/v1").unwrap_or(path);
        if path == "/messages" || path.starts_with("/messages/") {
            ErrorDialect::Anthropic
        } else {
            ErrorDialect::OpenAi
        }
    }
}

pub async fn in_client_dialect(request: Request, next: Next) -> Response {
    let dialect = ErrorDialect::of_path(request.uri().path());
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if dialect == ErrorDialect::OpenAi || response.status().is_success() || !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BYTES).await else {
        // Unreadable: the status alone still tells the client what happened.
        return Response::from_parts(parts, Body::empty());
    };
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: ErrorObject,
    }
    let Ok(Envelope { error }) = serde_json::from_slice::<Envelope>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let body = match dialect {
        ErrorDialect::Ollama => serde_json::json!({"error": error.message}).to_string(),
        _ => anthropic::error_body(parts.status, &error),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}
