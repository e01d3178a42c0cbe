//! `POST /v1/chat/completions`: read the body within the size limit, validate, route, check the
//! key's model list and rate limits, answer from the cache or the provider.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::AppState;
use super::request_log::RequestFacts;
use super::sse::{SseOptions, sse_response};
use super::validate;
use crate::auth::ClientKey;
use crate::error::{ApiError, ErrorObject};
use crate::handler::{self, Answer};
use crate::limits::{self, Quota};
use crate::llm::Route;
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
    let request = validate::chat_request(&bytes)?;
    let route = state.registry.resolve(request.model.as_deref())?;
    let stream = request.is_stream();
    {
        let (provider, model) = (route.provider.name().to_string(), route.model.clone());
        facts.update(|f| {
            f.provider = Some(provider);
            f.model = Some(model);
            f.stream = stream;
        });
    }
    if let Some(key) = client_key {
        check_model_allowed(key, request.model.as_deref(), &route)?;
    }
    let mut extra_headers = admit(state, facts, client_key).await?;

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
                replay(state, facts, &request, &hit),
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
    {
        let (provider, model) = (
            served_by.provider.name().to_string(),
            served_by.model.clone(),
        );
        facts.update(|f| {
            f.provider = Some(provider);
            f.model = Some(model);
        });
    }
    let response = match answer {
        Answer::Stream { first, rest, route } => {
            let rest = match (&state.cache, cache_key) {
                (Some(cache), Some(key)) => {
                    cache::store_when_complete(cache.clone(), key, &first, rest)
                }
                _ => rest,
            };
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
            Json(completion).into_response()
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

/// A cached answer, as a stream or as one completion depending on the request.
fn replay(
    state: &AppState,
    facts: &RequestFacts,
    request: &ChatRequest,
    hit: &Arc<crate::wire::ChatCompletion>,
) -> Response {
    if request.is_stream() {
        let mut chunks = assemble::to_chunks(hit, request.include_usage()).into_iter();
        let Some(first) = chunks.next() else {
            return Json(hit.as_ref()).into_response();
        };
        let rest: crate::llm::ChunkStream = Box::pin(futures_util::stream::iter(chunks.map(Ok)));
        let options = SseOptions {
            keepalive: state.config.keepalive(),
            idle_timeout: std::time::Duration::from_secs(60),
            shutdown: None,
        };
        sse_response(first, rest, options, facts.clone())
    } else {
        facts.first_token();
        Json(hit.as_ref()).into_response()
    }
}

fn with_headers(mut response: Response, headers: Vec<(HeaderName, HeaderValue)>) -> Response {
    for (name, value) in headers {
        response.headers_mut().insert(name, value);
    }
    response
}

/// A key restricted to some models may use a route when a pattern matches the model as the
/// client wrote it or in its `provider/model` form.
fn check_model_allowed(
    key: &ClientKey,
    requested: Option<&str>,
    route: &Route,
) -> Result<(), ApiError> {
    let canonical = format!("{}/{}", route.provider.name(), route.model);
    let allowed = key.may_use(&canonical)
        || requested.is_some_and(|m| key.may_use(m))
        || key.may_use(&route.model);
    if allowed {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorObject::new(
            format!(
                "The API key '{}' may not use the model '{}'.",
                key.name,
                requested.unwrap_or(&canonical)
            ),
            "invalid_request_error",
        )
        .with_param("model")
        .with_code("model_not_allowed"),
    ))
}

/// Checks the key's and the global limits; on admission holds concurrency slots until the
/// response ends and charges the answer's tokens then. Returns the `x-ratelimit-*` headers.
async fn admit(
    state: &AppState,
    facts: &RequestFacts,
    client_key: Option<&ClientKey>,
) -> Result<Vec<(HeaderName, HeaderValue)>, ApiError> {
    let global = Quota {
        rpm: state.config.limits.rpm,
        tpm: state.config.limits.tpm,
        max_concurrent: state.config.limits.max_concurrent,
    };
    let mut scopes: Vec<(String, Quota)> = Vec::new();
    if let Some(key) = client_key {
        scopes.push((
            format!("key:{}", key.name),
            Quota {
                rpm: key.rpm,
                tpm: key.tpm,
                max_concurrent: key.max_concurrent,
            },
        ));
    }
    scopes.push(("global".to_string(), global));
    let mut headers = Vec::new();
    for (scope, quota) in &scopes {
        if quota.is_unlimited() {
            continue;
        }
        if quota.rpm.is_some() || quota.tpm.is_some() {
            let verdict = state.limiter.check(scope, *quota).await;
            if headers.is_empty() {
                headers = limits::headers(&verdict);
            }
            if let Some((which, _)) = verdict.rejected {
                ::metrics::counter!(metrics::RATE_LIMITED, "scope" => scope.clone(), "limit" => which).increment(1);
                let mut error = rate_limited(
                    format!("Rate limit reached for {scope} on {which}. Try again later."),
                    which,
                );
                error.headers = limits::headers(&verdict);
                return Err(error);
            }
        }
        if let Some(max) = quota.max_concurrent {
            match state.limiter.acquire(scope, max).await {
                Some(permit) => facts.hold(permit),
                None => {
                    ::metrics::counter!(metrics::RATE_LIMITED, "scope" => scope.clone(), "limit" => "concurrency").increment(1);
                    let mut error = rate_limited(
                        format!(
                            "Too many concurrent requests for {scope} (limit {max}). Try again when one finishes."
                        ),
                        "concurrency",
                    );
                    error.headers.push((
                        axum::http::header::RETRY_AFTER,
                        HeaderValue::from_static("1"),
                    ));
                    return Err(error);
                }
            }
        }
    }
    let charged: Vec<String> = scopes
        .iter()
        .filter(|(_, q)| q.tpm.is_some())
        .map(|(s, _)| s.clone())
        .collect();
    if !charged.is_empty() {
        let limiter = state.limiter.clone();
        facts.on_finish(move |f| {
            if let Some(usage) = &f.usage {
                let tokens = usage
                    .total_tokens
                    .max(usage.prompt_tokens + usage.completion_tokens);
                for scope in &charged {
                    limiter.charge(scope, tokens);
                }
            }
        });
    }
    Ok(headers)
}

fn rate_limited(message: String, which: &str) -> ApiError {
    let kind = match which {
        "tokens per minute" => "tokens",
        _ => "requests",
    };
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorObject::new(message, kind).with_code("rate_limit_exceeded"),
    )
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
