//! `POST /v1/embeddings` and `POST /v1/completions`, passed through unchanged.
//!
//! Chat UIs use embeddings for document search (Open WebUI's RAG) and editor plugins use the
//! legacy completions endpoint for autocomplete; both expect "the OpenAI API" behind the base
//! URL. The proxy routes them by `model` like chat (renaming `provider/model`), applies keys and
//! limits, and streams the upstream's answer back byte for byte — status, content type and body
//! — since there is nothing to translate. Ollama serves both under its `/v1` API.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::AppState;
use super::admission::{admit, check_model_allowed};
use super::body::read_body;
use super::caller::Caller;
use crate::auth::ClientKey;
use crate::error::ApiError;
use crate::llm::http::transport_error;
use crate::llm::{LlmError, Provider};
use crate::observe::RequestFacts;

/// One handler for both endpoints: the upstream path is the request's, without `/v1`.
pub async fn forward(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path = if uri.path().ends_with("/embeddings") {
        "/embeddings"
    } else {
        "/completions"
    };
    match run(
        &state,
        path,
        &caller.facts,
        caller.key.as_ref(),
        &headers,
        body,
    )
    .await
    {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn run(
    state: &AppState,
    path: &str,
    facts: &RequestFacts,
    client_key: Option<&ClientKey>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (bytes, _memory) = read_body(
        headers,
        body,
        state.config.server.max_body_bytes,
        &state.body_budget,
    )
    .await?;
    let mut request: serde_json::Map<String, Value> = match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => object,
        Ok(_) => {
            return Err(ApiError::invalid_request(
                "The request body must be a JSON object.",
                None,
                "invalid_type",
            ));
        }
        Err(e) => {
            return Err(ApiError::invalid_request(
                format!("We could not parse the JSON body of your request: {e}."),
                None,
                "invalid_json",
            ));
        }
    };
    let requested = match request.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(model)) => Some(model.clone()),
        Some(_) => {
            return Err(ApiError::invalid_request(
                "Invalid type for 'model': expected a string.",
                Some("model"),
                "invalid_type",
            ));
        }
    };
    let route = state.registry.resolve(requested.as_deref())?;
    if route.provider.openai_base.is_empty() {
        // Anthropic's API (and a provider built around an in-process model) has no such endpoint.
        return Err(ApiError::invalid_request(
            format!(
                "Provider '{}' has no OpenAI-compatible {path} endpoint.",
                route.provider.name()
            ),
            Some("model"),
            "unsupported_endpoint",
        ));
    }
    let stream = request
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    facts.record_route(route.provider.name(), &route.model);
    facts.update(|f| f.stream = stream);
    if let Some(key) = client_key {
        check_model_allowed(state, key, requested.as_deref(), &route)?;
    }
    let limit_headers = admit(state, facts, client_key).await?;
    request.insert("model".to_string(), Value::String(route.model.clone()));

    let provider = &route.provider;
    let url = format!("{}{path}", provider.openai_base);
    facts.upstream_starting();
    let send = provider
        .http
        .send(provider.http.client.post(url).json(&request));
    let upstream = match tokio::time::timeout(provider.config.first_byte_timeout(), send).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => return Err(error.to_api_error()),
        Err(_) => {
            return Err(LlmError::Timeout(format!(
                "no answer from provider '{}' within {:.1} s (first_byte_timeout_secs)",
                provider.name(),
                provider.config.first_byte_timeout().as_secs_f64()
            ))
            .to_api_error());
        }
    };
    facts.first_token();
    Ok(relay(upstream, provider, limit_headers, facts, |_| {}))
}

/// The upstream's answer as the client's: status, content type and bytes untouched, plus
/// `x-adk-provider` and the rate-limit headers. `observe` sees each piece of the body as it
/// passes and `None` at its clean end (to read usage without holding anything up). A transport
/// failure or an idle gap longer than `idle_timeout_secs` aborts the response: the client sees a
/// cut, never a fake ending.
pub fn relay(
    upstream: reqwest::Response,
    provider: &Provider,
    limit_headers: Vec<(HeaderName, HeaderValue)>,
    facts: &RequestFacts,
    mut observe: impl FnMut(Option<&[u8]>) + Send + 'static,
) -> Response {
    let status = upstream.status();
    let content_type = upstream.headers().get(header::CONTENT_TYPE).cloned();
    let provider_name = provider.name().to_string();
    let idle = provider.config.idle_timeout();
    let facts = facts.clone();
    let mut upstream_body = upstream.bytes_stream();
    let stream_body = async_stream::stream! {
        loop {
            match tokio::time::timeout(idle, futures_util::StreamExt::next(&mut upstream_body)).await {
                Ok(Some(Ok(bytes))) => {
                    observe(Some(&bytes));
                    yield Ok(bytes);
                }
                Ok(Some(Err(e))) => {
                    let error = transport_error(&provider_name, &e).to_string();
                    facts.update(|f| f.stream_error = Some(error.clone()));
                    yield Err(std::io::Error::other(error));
                    return;
                }
                Ok(None) => {
                    observe(None);
                    return;
                }
                Err(_) => {
                    let error = format!("provider '{provider_name}' idle for {idle:?}");
                    facts.update(|f| f.stream_error = Some(error.clone()));
                    yield Err(std::io::Error::other(error));
                    return;
                }
            }
        }
    };
    let mut response = Body::from_stream(stream_body).into_response();
    *response.status_mut() = status;
    let out = response.headers_mut();
    if let Some(content_type) = content_type {
        out.insert(header::CONTENT_TYPE, content_type);
    }
    if let Ok(value) = HeaderValue::from_str(provider.name()) {
        out.insert("x-adk-provider", value);
    }
    for (name, value) in limit_headers {
        out.insert(name, value);
    }
    response
}
