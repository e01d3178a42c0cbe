//! Ollama's API served: `POST /api/chat` and `/api/generate` (NDJSON streams, or one object with
//! `"stream": false`), `GET /api/tags`, `POST /api/show`, `GET /api/version`.
//!
//! Chat and generate are translated onto a chat request (`dialect::ollama::request`) and served
//! by the same path as chat completions (keys, model globs, limits, stages, cache, retries,
//! agents, metrics, log line). The model list is `GET /v1/models`'s, so a tool that speaks only
//! Ollama picks from every provider's models and every agent. Errors come as Ollama's
//! `{"error": …}` (`error_dialect`).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::body::read_body;
use super::caller::Caller;
use super::chat_completions::serve;
use super::respond::Dialect;
use super::validate::parse_off_the_workers;
use crate::auth::ClientKey;
use crate::dialect::ollama::OllamaOut;
use crate::dialect::ollama::request::{Endpoint, OllamaRequest};
use crate::error::ApiError;

/// The Ollama version reported: recent enough that clients enable tools and thinking.
const VERSION: &str = "0.12.0";

pub async fn chat(
    state: State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    answer(state, caller, headers, body, Endpoint::Chat).await
}

pub async fn generate(
    state: State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    answer(state, caller, headers, body, Endpoint::Generate).await
}

async fn answer(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
    endpoint: Endpoint,
) -> Response {
    let result = async {
        let limit = state.config.server.max_body_bytes;
        let (bytes, memory) = read_body(&headers, body, limit, &state.body_budget).await?;
        let request =
            parse_off_the_workers(bytes, move |body| OllamaRequest::parse(body, endpoint)).await?;
        drop(memory);
        let out = OllamaOut::new(&request.model, endpoint, request.stream);
        serve(
            &state,
            &caller.facts,
            caller.key.as_ref(),
            &headers,
            request.to_chat(),
            Dialect::Ollama(Box::new(out)),
        )
        .await
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// Every model and agent the key may use, in Ollama's shape.
pub async fn tags(
    State(state): State<AppState>,
    key: Option<axum::Extension<ClientKey>>,
) -> Json<Value> {
    let models = super::models::visible(&state, key.as_ref().map(|k| &k.0)).await;
    let models: Vec<Value> = models
        .iter()
        .filter_map(|m| m.get("id").and_then(Value::as_str))
        .map(|id| {
            json!({
                "name": id, "model": id, "modified_at": "1970-01-01T00:00:00Z", "size": 0,
                "digest": "", "details": details(),
            })
        })
        .collect();
    Json(json!({"models": models}))
}

/// What Ollama's `show` says of a listed model. The proxy knows no model files, templates or
/// sizes; it reports what clients check: that the model exists and what it can do.
pub async fn show(
    State(state): State<AppState>,
    key: Option<axum::Extension<ClientKey>>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = crate::dialect::json_object(&body)?;
    let name = body
        .get("model")
        .or_else(|| body.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let models = super::models::visible(&state, key.as_ref().map(|k| &k.0)).await;
    let known = models
        .iter()
        .any(|m| m.get("id").and_then(Value::as_str) == Some(name));
    if !known {
        return Err(ApiError::not_found(
            format!("model '{name}' not found"),
            "model_not_found",
        ));
    }
    Ok(Json(json!({
        "modelfile": "", "parameters": "", "template": "", "details": details(),
        "model_info": {}, "capabilities": ["completion", "tools", "thinking"],
        "modified_at": "1970-01-01T00:00:00Z",
    })))
}

pub async fn version() -> Json<Value> {
    Json(json!({"version": VERSION}))
}

fn details() -> Value {
    json!({"parent_model": "", "format": "", "family": "", "families": null, "parameter_size": "", "quantization_level": ""})
}
