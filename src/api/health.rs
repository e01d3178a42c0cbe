//! `GET /health`: the process is up and serving HTTP. It does not call the upstream, so a
//! provider outage does not make an orchestrator restart a healthy proxy.

use axum::Json;
use serde_json::{Value, json};

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
