//! `POST /v1/chat/completions`: read the body within the size limit, validate, route, answer.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::AppState;
use super::request_log::RequestFacts;
use super::sse::{SseOptions, sse_response};
use super::validate;
use crate::error::ApiError;
use crate::handler::{self, Answer};

pub async fn chat_completions(
    State(state): State<AppState>,
    facts: Option<axum::Extension<RequestFacts>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let facts = facts.map(|f| f.0);
    match run(&state, facts, &headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn run(
    state: &AppState,
    facts: Option<RequestFacts>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let limit = state.config.server.max_body_bytes;
    let bytes = read_body(headers, body, limit).await?;
    let request = validate::chat_request(&bytes)?;
    let route = state.registry.resolve(request.model.as_deref())?;
    let stream = request.is_stream();
    if let Some(facts) = &facts {
        let (provider, model) = (route.provider.name().to_string(), route.model.clone());
        facts.update(|f| {
            f.provider = Some(provider);
            f.model = Some(model);
            f.stream = stream;
        });
    }
    match handler::answer(request, route).await? {
        Answer::Stream { first, rest, route } => {
            let options = SseOptions {
                keepalive: state.config.keepalive(),
                idle_timeout: route.provider.config.idle_timeout(),
            };
            Ok(sse_response(
                first,
                rest,
                options,
                facts.unwrap_or_else(RequestFacts::detached),
            ))
        }
        Answer::Complete { completion, .. } => {
            if let Some(facts) = &facts {
                let usage = completion.usage.clone();
                facts.first_token();
                facts.update(|f| f.usage = usage);
            }
            Ok(Json(completion).into_response())
        }
    }
}

/// Reads the whole body, refusing with 413 as soon as it exceeds `limit` (without reading the rest).
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::payload_too_large(limit));
    }
    let mut out = Vec::with_capacity(declared.unwrap_or(1024).min(limit));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::invalid_request(
                format!("Could not read the request body: {e}"),
                None,
                "invalid_body",
            )
        })?;
        if out.len() + chunk.len() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
