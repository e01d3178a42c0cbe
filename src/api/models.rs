//! `GET /v1/models` and `GET /v1/models/{id}`.
//!
//! The list is the default provider's own (so clients show what the upstream really serves) plus
//! the configured default model, plus every top-level agent (`owned_by: adk-llm-proxy`). An unreachable upstream must not break a client's model picker:
//! the list then holds the default model alone and the log says why.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use crate::auth::ClientKey;
use crate::error::ApiError;

/// Model lists are fetched on page load by chat UIs: never make them wait long.
const LIST_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn list_models(
    State(state): State<AppState>,
    key: Option<axum::Extension<ClientKey>>,
) -> Response {
    let mut models = collect(&state).await;
    if let Some(axum::Extension(key)) = key {
        // A key limited to some models sees only those.
        let provider = state.registry.default_provider().name().to_string();
        models.retain(|m| {
            let id = m.get("id").and_then(Value::as_str).unwrap_or("");
            key.may_use(id) || key.may_use(&format!("{provider}/{id}"))
        });
    }
    Json(json!({"object": "list", "data": models})).into_response()
}

pub async fn get_model(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let id = id.trim_start_matches('/');
    if let Some(model) = collect(&state)
        .await
        .into_iter()
        .find(|m| m.get("id").and_then(Value::as_str) == Some(id))
    {
        return Json(model).into_response();
    }
    // `provider/model` names a route the proxy serves even if the provider cannot list it.
    if let Some((provider, model)) = id.split_once('/')
        && !model.is_empty()
        && state.registry.get(provider).is_some()
    {
        return Json(model_object(id, provider)).into_response();
    }
    ApiError::not_found(
        format!("The model '{id}' does not exist"),
        "model_not_found",
    )
    .into_response()
}

async fn collect(state: &AppState) -> Vec<Value> {
    let provider = state.registry.default_provider();
    let mut models = match tokio::time::timeout(LIST_TIMEOUT, provider.llm.list_models()).await {
        Ok(Ok(models)) => models,
        Ok(Err(error)) => {
            tracing::warn!(provider = provider.name(), %error, "cannot list upstream models; listing the default model only");
            Vec::new()
        }
        Err(_) => {
            tracing::warn!(
                provider = provider.name(),
                "upstream model list timed out; listing the default model only"
            );
            Vec::new()
        }
    };
    // Top-level agents are models too: picking one in a chat UI runs that agent.
    for (name, description) in state.agents().top_level() {
        models.retain(|m| m.get("id").and_then(Value::as_str) != Some(name));
        let mut agent = model_object(name, "adk-llm-proxy");
        if !description.is_empty() {
            agent["description"] = Value::String(description.to_string());
        }
        models.push(agent);
    }
    let default = state.registry.default_model();
    if !models
        .iter()
        .any(|m| m.get("id").and_then(Value::as_str) == Some(default))
    {
        models.insert(0, model_object(default, provider.name()));
    }
    models
}

fn model_object(id: &str, owned_by: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": owned_by})
}
