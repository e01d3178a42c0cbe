//! `POST /v1/chat/completions`: read the body within the size limit, validate, route, check the
//! key's model list and rate limits, answer from the cache or the provider. Requests that an
//! agent serves go to [`agent_run`]; the transparent default agent is this direct path.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::admission::{admit, check_model_allowed};
use super::agent_run;
use super::body::read_body;
use super::request_log::RequestFacts;
use super::sse::{SseOptions, sse_response};
use super::stages;
use super::validate;
use crate::agent::set::Target;
use crate::auth::ClientKey;
use crate::error::ApiError;
use crate::handler::{self, Answer};
use crate::llm::Route;
use crate::pipeline::{Pipeline, StreamContext};
use crate::wire::ChatRequest;
use crate::{assemble, cache, metrics};

pub async fn chat_completions(
    State(state): State<AppState>,
    facts: Option<axum::Extension<RequestFacts>>,
    client_key: Option<axum::Extension<ClientKey>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let facts = facts.map(|f| f.0).unwrap_or_else(RequestFacts::detached);
    let client_key = client_key.map(|k| k.0);
    match run(&state, &facts, client_key.as_ref(), &headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn run(
    state: &AppState,
    facts: &RequestFacts,
    client_key: Option<&ClientKey>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let limit = state.config.server.max_body_bytes;
    let bytes = read_body(headers, body, limit).await?;
    let mut request = validate::chat_request(&bytes)?;
    let agents = state.agents();
    if let Target::Agent(root) = agents.target_for(request.model.as_deref()) {
        return agent_run::run(state, facts, client_key, headers, request, agents, root).await;
    }
    let route = state.registry.resolve(request.model.as_deref())?;
    let stream = request.is_stream();
    facts.record_route(&route);
    facts.update(|f| f.stream = stream);
    if let Some(key) = client_key {
        check_model_allowed(key, request.model.as_deref(), &route)?;
    }
    let mut extra_headers = admit(state, facts, client_key).await?;

    let model_label = request.model.clone().unwrap_or_else(|| route.model.clone());
    let pipeline = state.pipelines().for_model(&model_label);
    let mode = agent_run::reasoning_mode(headers, state.config.reasoning.mode)?;
    let outcome = stages::before(&pipeline, &mut request, &model_label, "").await?;
    let refusal = outcome.refusal.clone();
    let cx = stages::context(
        &pipeline,
        facts,
        &request,
        &model_label,
        "",
        outcome.notes,
        mode,
    );
    if let Some(text) = refusal {
        return Ok(with_headers(
            stages::refusal_response(state, facts, &pipeline, cx, &model_label, &text, stream)
                .await,
            extra_headers,
        ));
    }

    let cache_key = match &state.cache {
        Some(_) if cache::eligible(state.config.cache.when, &request, headers) => Some(cache::key(
            client_key.map(|k| k.name.as_str()).unwrap_or(""),
            route.provider.name(),
            &ChatRequest {
                model: Some(route.model.clone()),
                ..request.clone()
            },
        )),
        _ => None,
    };
    if let (Some(cache), Some(key)) = (&state.cache, &cache_key) {
        if let Some(hit) = cache.get(key).await {
            ::metrics::counter!(metrics::CACHE, "result" => "hit").increment(1);
            facts.update(|f| f.cache = Some("hit"));
            extra_headers.push((
                HeaderName::from_static("x-cache"),
                HeaderValue::from_static("hit"),
            ));
            return Ok(with_headers(
                replay(state, facts, &request, &hit, &pipeline, cx).await?,
                extra_headers,
            ));
        }
        ::metrics::counter!(metrics::CACHE, "result" => "miss").increment(1);
        facts.update(|f| f.cache = Some("miss"));
        extra_headers.push((
            HeaderName::from_static("x-cache"),
            HeaderValue::from_static("miss"),
        ));
    }

    let answer = handler::answer(&state.registry, request, route, facts).await?;
    let served_by = match &answer {
        Answer::Stream { route, .. } | Answer::Complete { route, .. } => route.clone(),
    };
    if let Ok(value) = HeaderValue::from_str(served_by.provider.name()) {
        extra_headers.push((HeaderName::from_static("x-adk-provider"), value));
    }
    facts.record_route(&served_by);
    let response = match answer {
        Answer::Stream { first, rest, route } => {
            let rest = match (&state.cache, cache_key) {
                (Some(cache), Some(key)) => {
                    cache::store_when_complete(cache.clone(), key, &first, rest)
                }
                _ => rest,
            };
            let (first, rest) = stages::stream(&pipeline, cx, first, rest).await?;
            sse_response(first, rest, sse_options(state, &route), facts.clone())
        }
        Answer::Complete { completion, .. } => {
            facts.first_token();
            let usage = completion.usage.clone();
            facts.update(|f| f.usage = usage);
            if let (Some(cache), Some(key)) = (&state.cache, cache_key)
                && completion.choices.iter().all(|c| c.finish_reason.is_some())
            {
                cache.put(key, completion.clone());
            }
            Json(stages::completion(&pipeline, cx, completion).await).into_response()
        }
    };
    Ok(with_headers(response, extra_headers))
}

fn sse_options(state: &AppState, route: &Route) -> SseOptions {
    SseOptions {
        keepalive: state.config.keepalive(),
        idle_timeout: route.provider.config.idle_timeout(),
        shutdown: Some(state.lifecycle.clone()),
    }
}

/// A cached answer (stored as the upstream gave it), through the stream stages, as a stream or
/// as one completion depending on the request.
async fn replay(
    state: &AppState,
    facts: &RequestFacts,
    request: &ChatRequest,
    hit: &Arc<crate::wire::ChatCompletion>,
    pipeline: &Pipeline,
    cx: Option<StreamContext>,
) -> Result<Response, ApiError> {
    if request.is_stream() {
        let mut chunks = assemble::to_chunks(hit, request.include_usage()).into_iter();
        let Some(first) = chunks.next() else {
            return Ok(Json(hit.as_ref()).into_response());
        };
        let rest: crate::llm::ChunkStream = Box::pin(futures_util::stream::iter(chunks.map(Ok)));
        let (first, rest) = stages::stream(pipeline, cx, first, rest).await?;
        let options = SseOptions {
            keepalive: state.config.keepalive(),
            idle_timeout: std::time::Duration::from_secs(60),
            shutdown: None,
        };
        Ok(sse_response(first, rest, options, facts.clone()))
    } else {
        facts.first_token();
        let completion = stages::completion(pipeline, cx, hit.as_ref().clone()).await;
        Ok(Json(completion).into_response())
    }
}

fn with_headers(mut response: Response, headers: Vec<(HeaderName, HeaderValue)>) -> Response {
    for (name, value) in headers {
        response.headers_mut().insert(name, value);
    }
    response
}
