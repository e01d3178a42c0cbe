//! Anthropic's Messages API: `POST /v1/messages` (streaming and not) and `POST
//! /v1/messages/count_tokens`.
//!
//! A request is translated onto a chat request (`dialect::anthropic::request`) and served by the
//! same path as chat completions (`chat_completions::serve`: auth, the key's model globs, limits,
//! stages, cache, retries, agents, metrics, log line); only the answer's rendering differs.
//! Errors get Anthropic's shape from `error_dialect`, whichever layer raised them. A request for
//! a Claude model behind a `kind: anthropic` provider goes up as it came
//! (`messages_passthrough`).

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
use super::messages_passthrough;
use super::respond::Dialect;
use super::validate::parse_off_the_workers;
use crate::agent::set::Target;
use crate::dialect::anthropic::MessagesOut;
use crate::dialect::anthropic::request::{MessagesRequest, Purpose};
use crate::dialect::json_object;
use crate::error::ApiError;
use crate::llm::usage_estimate;

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let limit = state.config.server.max_body_bytes;
        let (bytes, memory) = read_body(&headers, body, limit, &state.body_budget).await?;
        // One parse (large bodies off the async workers); the model decides the path.
        let fields = parse_off_the_workers(bytes, json_object).await?;
        drop(memory);
        let model = fields.get("model").and_then(Value::as_str);
        if let Some(route) = messages_passthrough::direct_route(&state, model) {
            return messages_passthrough::forward(
                &state,
                &caller.facts,
                caller.key.as_ref(),
                &headers,
                fields,
                route,
            )
            .await;
        }
        let request = MessagesRequest::from_fields(fields, Purpose::Create)?;
        let chat = request.to_chat();
        let estimate = usage_estimate::prompt_tokens(&chat);
        let out = MessagesOut::new(&request.model, estimate, request.stream);
        serve(
            &state,
            &caller.facts,
            caller.key.as_ref(),
            &headers,
            chat,
            Dialect::Messages(Box::new(out)),
        )
        .await
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// `{"input_tokens": N}`: the proxy's estimate for the request as the provider would get it
/// (about four bytes a token, as for usage a provider does not report), not a tokenizer's
/// count. The key must be allowed the model, as for a message.
pub async fn count_tokens(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let request = parse(&state, &headers, body, Purpose::CountTokens).await?;
    let chat = request.to_chat();
    let model = chat.model.as_deref();
    if let Target::Agent(root) = state.agents().target_for(model) {
        super::agent_run::check_agent_allowed(&state, caller.key.as_ref(), model, &root)?;
    } else {
        let route = state.registry.resolve(model)?;
        if let Some(key) = caller.key.as_ref() {
            super::admission::check_model_allowed(&state, key, model, &route)?;
        }
    }
    Ok(Json(
        json!({"input_tokens": usage_estimate::prompt_tokens(&chat)}),
    ))
}

async fn parse(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    purpose: Purpose,
) -> Result<MessagesRequest, ApiError> {
    let limit = state.config.server.max_body_bytes;
    let (bytes, memory) = read_body(headers, body, limit, &state.body_budget).await?;
    let request =
        parse_off_the_workers(bytes, move |body| MessagesRequest::parse(body, purpose)).await?;
    drop(memory);
    Ok(request)
}
