//! Requests during a graceful shutdown. Every request but the health probes is counted while it
//! is answered (the server exits once none is open). While draining, a new request gets 503 —
//! the server still accepts connections so probes see `/ready` say 503 instead of a refused
//! connection — and a request still waiting for its answer when the grace period ends gets a
//! 503 too, rather than no response at all when the process exits. (A stream that has begun
//! ends itself with an error event: `api::sse`.)

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::error::{ApiError, ErrorObject};
use crate::observe::RequestFacts;

pub async fn drain(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(
        request.uri().path(),
        "/health" | "/v1/health" | "/ready" | "/metrics"
    ) {
        return next.run(request).await;
    }
    let lifecycle = state.lifecycle.clone();
    if lifecycle.is_draining() {
        return shutting_down("The server is shutting down; retry on another instance.");
    }
    let in_flight = lifecycle.track();
    if let Some(facts) = request.extensions().get::<RequestFacts>() {
        // Held until the response body ends, so a stream counts until its last byte.
        facts.hold(in_flight);
    }
    let must_end = lifecycle.streams_must_end();
    tokio::select! {
        response = next.run(request) => response,
        _ = must_end => shutting_down("The server shut down before the answer was ready."),
    }
}

fn shutting_down(message: &str) -> Response {
    let mut response = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorObject::new(message, "api_error").with_code("server_shutting_down"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
