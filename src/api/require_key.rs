//! A client key for every route but health, readiness and metrics: `Authorization: Bearer <key>`
//! (OpenAI's clients) or `x-api-key: <key>` (Anthropic's).
//! With no keys configured every request passes (the server then listens on loopback only,
//! enforced at start-up).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::error::{ApiError, ErrorObject};
use crate::observe::RequestFacts;

const OPEN_PATHS: &[&str] = &["/health", "/v1/health", "/ready", "/metrics"];

pub async fn require_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if OPEN_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let keys = state.keys();
    if keys.is_empty() {
        return next.run(request).await;
    }
    let headers = request.headers();
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let Some(presented) = presented else {
        return unauthorized(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'.",
        );
    };
    let Some(client) = keys.authenticate(presented).cloned() else {
        return unauthorized("Incorrect API key provided.");
    };
    if let Some(facts) = request.extensions().get::<RequestFacts>() {
        let name = client.name.clone();
        facts.update(|f| f.key_name = Some(name));
    }
    request.extensions_mut().insert(client);
    next.run(request).await
}

fn unauthorized(message: &str) -> Response {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorObject::new(message, "invalid_request_error").with_code("invalid_api_key"),
    )
    .into_response()
}

/// The token of `Bearer <token>`; the scheme name is case-insensitive (RFC 9110 §11.1), so
/// `BEARER` and `bearer` work too.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}
