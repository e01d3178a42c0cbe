//! The Responses API: `POST /v1/responses` (streaming and not), `GET` / `DELETE
//! /v1/responses/{id}` and `GET /v1/responses/{id}/input_items`.
//!
//! A request is translated onto a chat request (`dialect::responses::request`) and served by the
//! same path as chat completions (`chat_completions::serve`: auth, the key's model globs, limits,
//! stages, cache, retries, agents, metrics, log line); only the answer's rendering differs.
//! Stored responses belong to the client key that created them: another key gets a 404, as for
//! an id that never existed.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::agent_run::reasoning_mode;
use super::body::read_body;
use super::caller::Caller;
use super::chat_completions::serve;
use super::respond::Dialect;
use super::validate::parse_off_the_workers;
use crate::auth::ClientKey;
use crate::dialect::responses::request::ResponsesRequest;
use crate::dialect::responses::store::ResponseStore;
use crate::dialect::responses::stream::ToolItems;
use crate::dialect::responses::{ResponsesOut, StoreOnFinish};
use crate::error::{ApiError, ErrorObject};
use crate::ids::{random_hex, unix_now};
use crate::session::SessionError;
use crate::session::identity::SESSION_HEADER;
use crate::wire::ReasoningMode;

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match run(&state, &caller, &headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn run(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let limit = state.config.server.max_body_bytes;
    let (bytes, memory) = read_body(headers, body, limit, &state.body_budget).await?;
    let request = parse_off_the_workers(bytes, ResponsesRequest::parse).await?;
    drop(memory);
    let owner = owner(caller.key.as_ref());
    let store = store(state, &owner);
    let (history, session_id) = match &request.previous_response_id {
        None => (Vec::new(), None),
        Some(id) => match store.get(id).await.map_err(store_error)? {
            Some(previous) => (previous.conversation(), previous.session_id),
            None => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    ErrorObject::new(
                        format!("Previous response with id '{id}' not found."),
                        "invalid_request_error",
                    )
                    .with_param("previous_response_id")
                    .with_code("previous_response_not_found"),
                ));
            }
        },
    };
    let chat = request.to_chat(&history)?;
    let id = format!("resp_{}", random_hex(32));
    let tool_items = match reasoning_mode(headers, state.config.reasoning.mode)? {
        ReasoningMode::OpenWebui => ToolItems::OpenWebui,
        _ => ToolItems::McpCall,
    };
    let store_on_finish = request.store.then(|| StoreOnFinish {
        sessions: state.runner.sessions.clone(),
        owner: owner.clone(),
        ttl_secs: state.config.sessions.responses_ttl_secs,
        input: with_item_ids(request.input.clone()),
        history,
        session_id: session_id.clone(),
    });
    // A continuation resumes the agent session of the response it continues.
    let mut headers = std::borrow::Cow::Borrowed(headers);
    if let Some(session) = session_id
        && !headers.contains_key(SESSION_HEADER)
        && let Ok(value) = HeaderValue::from_str(&session)
    {
        headers.to_mut().insert(SESSION_HEADER, value);
    }
    let out = ResponsesOut::new(&request, &id, unix_now(), tool_items, store_on_finish);
    let mut response = serve(
        state,
        &caller.facts,
        caller.key.as_ref(),
        &headers,
        chat,
        Dialect::Responses(Box::new(out)),
    )
    .await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-response-id", value);
    }
    Ok(response)
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let owner = owner(caller.key.as_ref());
    match store(&state, &owner).get(&id).await.map_err(store_error)? {
        Some(stored) => Ok(Json(stored.response)),
        None => Err(not_found(&id)),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let owner = owner(caller.key.as_ref());
    if store(&state, &owner)
        .delete(&id)
        .await
        .map_err(store_error)?
    {
        Ok(Json(
            json!({"id": id, "object": "response.deleted", "deleted": true}),
        ))
    } else {
        Err(not_found(&id))
    }
}

/// `GET /v1/responses/{id}/input_items` paging, as OpenAI: newest first unless `order=asc`.
#[derive(Debug, Deserialize)]
pub struct Paging {
    limit: Option<usize>,
    order: Option<String>,
    after: Option<String>,
}

pub async fn input_items(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(paging): Query<Paging>,
) -> Result<Json<Value>, ApiError> {
    let owner = owner(caller.key.as_ref());
    let Some(stored) = store(&state, &owner).get(&id).await.map_err(store_error)? else {
        return Err(not_found(&id));
    };
    let mut items = stored.input;
    match paging.order.as_deref() {
        None | Some("desc") => items.reverse(),
        Some("asc") => {}
        Some(_) => {
            return Err(ApiError::invalid_request(
                "order must be 'asc' or 'desc'.",
                Some("order"),
                "invalid_value",
            ));
        }
    }
    if let Some(after) = &paging.after {
        let position = items
            .iter()
            .position(|item| item.get("id").and_then(Value::as_str) == Some(after.as_str()));
        items.drain(..position.map_or(items.len(), |p| p + 1));
    }
    let limit = paging.limit.unwrap_or(20).clamp(1, 100);
    let has_more = items.len() > limit;
    items.truncate(limit);
    let id_of = |item: Option<&Value>| item.and_then(|i| i.get("id")).cloned();
    Ok(Json(json!({
        "object": "list",
        "data": items,
        "first_id": id_of(items.first()),
        "last_id": id_of(items.last()),
        "has_more": has_more,
    })))
}

/// Whose responses these are: the client key's owner string, as for agent sessions.
fn owner(key: Option<&ClientKey>) -> String {
    match key {
        Some(key) => format!("key:{}", key.name),
        None => "anonymous".to_string(),
    }
}

fn store<'a>(state: &'a AppState, owner: &'a str) -> ResponseStore<'a> {
    ResponseStore {
        sessions: state.runner.sessions.as_ref(),
        owner,
        ttl_secs: state.config.sessions.responses_ttl_secs,
    }
}

/// Input items as listed later: each with an id (messages given as `{role, content}` get one).
fn with_item_ids(items: Vec<Value>) -> Vec<Value> {
    items
        .into_iter()
        .map(|mut item| {
            if let Value::Object(fields) = &mut item {
                fields
                    .entry("type")
                    .or_insert_with(|| Value::String("message".into()));
                if !fields.contains_key("id") {
                    let prefix = match fields.get("type").and_then(Value::as_str) {
                        Some("function_call_output") => "fco",
                        Some("function_call") => "fc",
                        _ => "msg",
                    };
                    fields.insert("id".into(), format!("{prefix}_{}", random_hex(32)).into());
                }
            }
            item
        })
        .collect()
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(
        format!("Response with id '{id}' not found."),
        "response_not_found",
    )
}

fn store_error(error: SessionError) -> ApiError {
    tracing::warn!(%error, "response store failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorObject::new(
            "The response store is unavailable; retry shortly.",
            "api_error",
        )
        .with_code("store_unavailable"),
    )
}
