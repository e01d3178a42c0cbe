//! `GET /health` (alive), `GET /ready` (configuration loaded and not draining), `GET /metrics`.
//! None of them calls the upstream: a provider outage must not make an orchestrator restart a
//! healthy proxy.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn ready(State(state): State<AppState>) -> Response {
    if state.lifecycle.is_draining() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "draining"})),
        )
            .into_response()
    } else {
        Json(json!({"status": "ready", "provider": state.config.default_provider})).into_response()
    }
}

pub async fn metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::observe::metrics::render(),
    )
        .into_response()
}
