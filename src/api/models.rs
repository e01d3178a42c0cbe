//! `GET /v1/models` and `GET /v1/models/{id}`: every model a client can name here.
//!
//! - Each configured provider's own list (the upstream's objects as it sent them), fetched from
//!   all providers at once and reused for [`LISTS_FRESH_FOR`]. The default provider's models
//!   keep their plain ids; with more than one provider configured, every provider's models are
//!   also listed as `provider/model`, which routes there. A provider that does not answer in
//!   [`LIST_TIMEOUT`] is left out with a log line; the listing itself never fails.
//! - The configured default model, even when its provider cannot list it.
//! - Every top-level agent (`owned_by: adk-llm-proxy`, with its description).
//! - Every alias with a fixed name (`owned_by: adk-llm-proxy`, `description: "alias of …"`).
//!
//! A key limited to some models sees only what it may call: a provider's model by its routed
//! identity, an agent by name, an alias by its first target.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use crate::auth::ClientKey;
use crate::error::ApiError;

/// Model lists are fetched on page load by chat UIs: never make them wait long.
const LIST_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the providers' lists are reused: a chat UI asks on every page load, and a provider's
/// models change rarely.
pub const LISTS_FRESH_FOR: Duration = Duration::from_secs(30);

/// A provider's model as its upstream listed it.
#[derive(Clone)]
struct ProviderModel {
    provider: String,
    id: String,
    object: Value,
}

/// The providers' last lists, with when they were fetched.
#[derive(Default)]
pub struct ProviderLists {
    last: Mutex<Option<(Instant, Vec<ProviderModel>)>>,
}

/// One listed model, with what decides whether a key sees it.
struct Listed {
    object: Value,
    /// (provider, model): a provider's model; `None`: an agent or alias, seen by `name`.
    routed: Option<(String, String)>,
    /// What a key's globs match for agents and aliases.
    name: String,
}

pub async fn list_models(
    State(state): State<AppState>,
    key: Option<axum::Extension<ClientKey>>,
    headers: axum::http::HeaderMap,
) -> Response {
    let models = visible(&state, key.as_ref().map(|k| &k.0)).await;
    // Anthropic's SDKs ask the same path, always with `anthropic-version`: their list shape.
    if headers.contains_key("anthropic-version") {
        return Json(anthropic_list(&models)).into_response();
    }
    Json(json!({"object": "list", "data": models})).into_response()
}

/// `{data: [{type: "model", id, display_name, created_at}], has_more, first_id, last_id}`.
fn anthropic_list(models: &[Value]) -> Value {
    let data: Vec<Value> = models
        .iter()
        .filter_map(|m| m.get("id").and_then(Value::as_str))
        .map(|id| json!({"type": "model", "id": id, "display_name": id, "created_at": "1970-01-01T00:00:00Z"}))
        .collect();
    let first = data.first().map(|m| m["id"].clone()).unwrap_or(Value::Null);
    let last = data.last().map(|m| m["id"].clone()).unwrap_or(Value::Null);
    json!({"data": data, "has_more": false, "first_id": first, "last_id": last})
}

pub async fn get_model(
    State(state): State<AppState>,
    key: Option<axum::Extension<ClientKey>>,
    Path(id): Path<String>,
) -> Response {
    let id = id.trim_start_matches('/');
    if let Some(model) = visible(&state, key.as_ref().map(|k| &k.0))
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

/// The listing as `key` may see it (also Ollama's `/api/tags`).
pub async fn visible(state: &AppState, key: Option<&ClientKey>) -> Vec<Value> {
    let default = state.registry.default_provider().name().to_string();
    collect(state)
        .await
        .into_iter()
        .filter(|m| match (key, &m.routed) {
            (None, _) => true,
            (Some(key), Some((provider, model))) => {
                key.may_call(provider, model, *provider == default)
            }
            (Some(key), None) => key.may_use(&m.name),
        })
        .map(|m| m.object)
        .collect()
}

async fn collect(state: &AppState) -> Vec<Listed> {
    let default_provider = state.registry.default_provider().name().to_string();
    let mut listed: Vec<Listed> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut push = |listed: &mut Vec<Listed>, object: Value, routed: (String, String)| {
        let id = object
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if seen.insert(id.clone()) {
            listed.push(Listed {
                object,
                name: id,
                routed: Some(routed),
            });
        }
    };
    let lists = provider_lists(state).await;
    for model in lists.iter().filter(|m| m.provider == default_provider) {
        let routed = (model.provider.clone(), model.id.clone());
        push(&mut listed, model.object.clone(), routed);
    }
    // The configured default model first, even when its provider cannot list it.
    let default_model = state.registry.default_model().to_string();
    let routed = (default_provider.clone(), default_model.clone());
    push(
        &mut listed,
        model_object(&default_model, &default_provider),
        routed,
    );
    if let Some(at) = listed.iter().position(|m| m.name == default_model) {
        let default = listed.remove(at);
        listed.insert(0, default);
    }
    if state.registry.names().nth(1).is_some() {
        for model in &lists {
            let mut object = model.object.clone();
            object["id"] = Value::String(format!("{}/{}", model.provider, model.id));
            let routed = (model.provider.clone(), model.id.clone());
            push(&mut listed, object, routed);
        }
    }
    // Top-level agents are models too: picking one in a chat UI runs that agent.
    for (name, description) in state.agents().top_level() {
        listed.retain(|m| m.name != name);
        let mut agent = model_object(name, "adk-llm-proxy");
        if !description.is_empty() {
            agent["description"] = Value::String(description.to_string());
        }
        listed.push(Listed {
            object: agent,
            routed: None,
            name: name.to_string(),
        });
    }
    for (alias, target) in state.config.aliases.listed() {
        listed.retain(|m| m.name != alias);
        let mut object = model_object(alias, "adk-llm-proxy");
        object["description"] = Value::String(format!("alias of {target}"));
        listed.push(Listed {
            object,
            routed: None,
            name: target.to_string(),
        });
    }
    listed
}

/// Every provider's models, fetched concurrently, or the recent ones.
async fn provider_lists(state: &AppState) -> Vec<ProviderModel> {
    if let Ok(last) = state.provider_lists.last.lock()
        && let Some((at, lists)) = last.as_ref()
        && at.elapsed() < LISTS_FRESH_FOR
    {
        return lists.clone();
    }
    let fetches = state.registry.names().filter_map(|name| {
        // A provider whose key variable is unset cannot serve a request: nothing to list.
        let provider = state
            .registry
            .get(name)
            .filter(|p| p.config.api_key.is_ok())?
            .clone();
        Some(async move {
            let name = provider.name().to_string();
            let objects = match tokio::time::timeout(LIST_TIMEOUT, provider.llm.list_models()).await {
                Ok(Ok(models)) => models,
                Ok(Err(error)) => {
                    tracing::warn!(provider = %name, %error, "cannot list the provider's models; left out of the listing");
                    Vec::new()
                }
                Err(_) => {
                    tracing::warn!(provider = %name, "the provider's model list timed out; left out of the listing");
                    Vec::new()
                }
            };
            objects
                .into_iter()
                .filter_map(|object| {
                    let id = object.get("id")?.as_str()?.to_string();
                    Some(ProviderModel { provider: name.clone(), id, object })
                })
                .collect::<Vec<_>>()
        })
    });
    let lists: Vec<ProviderModel> = futures_util::future::join_all(fetches)
        .await
        .into_iter()
        .flatten()
        .collect();
    if let Ok(mut last) = state.provider_lists.last.lock() {
        *last = Some((Instant::now(), lists.clone()));
    }
    lists
}

fn model_object(id: &str, owned_by: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": owned_by})
}
