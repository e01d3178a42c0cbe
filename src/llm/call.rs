//! One model call with retries, fallbacks and the circuit breaker: what plain proxying answers
//! with, and what every `LlmAgent` step calls, so both paths share the same resilience. Failures
//! are [`LlmError`]s; the HTTP layer decides what status they become.

use futures_util::StreamExt;

use super::normalize;
use super::resilience;
use super::usage_estimate;
use super::{ChunkStream, LlmError, LlmRequest, ProviderRegistry, Route};
use crate::observe::RequestFacts;
use crate::wire::{ChatChunk, ChatCompletion, ChatRequest};

/// A started answer. A stream is only handed out once its first chunk arrived, so every failure
/// before that point can still be a proper HTTP status — and can still be retried.
pub enum Answer {
    Stream {
        first: ChatChunk,
        rest: ChunkStream,
        route: Route,
    },
    Complete {
        completion: ChatCompletion,
        route: Route,
    },
}

/// Tries `route`, then `then` (an alias's further targets), then the route's provider's
/// fallbacks, each with its provider's retries, skipping providers whose circuit is open. Client
/// errors (4xx other than 408/409/429) are returned at once: another provider would refuse the
/// same request.
pub async fn answer(
    registry: &ProviderRegistry,
    mut request: ChatRequest,
    route: Route,
    then: &[String],
    facts: &RequestFacts,
) -> Result<Answer, LlmError> {
    // One shared copy of the request for every attempt; a fallback with another model gets its
    // own copy with that model.
    request.model = Some(route.model.clone());
    let request = std::sync::Arc::new(request);
    let mut candidates = vec![route.clone()];
    for fallback in then.iter().chain(&route.provider.config.settings.fallbacks) {
        match registry.resolve(Some(fallback)) {
            Ok(next) => candidates.push(next),
            Err(error) => {
                tracing::warn!(fallback, error = %error.error.message, "fallback skipped")
            }
        }
    }
    let all_open = candidates.iter().all(|c| c.provider.breaker.is_open());
    let mut last_error: Option<LlmError> = None;
    for candidate in candidates {
        let provider = &candidate.provider;
        if provider.breaker.is_open() && !all_open {
            tracing::info!(
                provider = provider.name(),
                "circuit open: skipping provider"
            );
            continue;
        }
        let retries = provider.config.settings.retries;
        for attempt in 0..=retries {
            facts.upstream_starting();
            match attempt_once(for_model(&request, &candidate.model), &candidate, facts).await {
                Ok(answer) => {
                    provider.breaker.record_success();
                    return Ok(answer);
                }
                Err(error) => match resilience::after_failure(provider, attempt, &error) {
                    resilience::Next::GiveUp => return Err(error),
                    resilience::Next::RetryAfter(wait) => {
                        last_error = Some(error);
                        tokio::time::sleep(wait).await;
                    }
                    resilience::Next::NextCandidate => {
                        last_error = Some(error);
                        break;
                    }
                },
            }
        }
    }
    Err(last_error.unwrap_or(LlmError::NoProvider))
}

/// The request with `model` as its model: the shared one when it already is.
fn for_model(request: &std::sync::Arc<ChatRequest>, model: &str) -> std::sync::Arc<ChatRequest> {
    if request.model.as_deref() == Some(model) {
        return request.clone();
    }
    let mut copy = (**request).clone();
    copy.model = Some(model.to_string());
    std::sync::Arc::new(copy)
}

async fn attempt_once(
    request: std::sync::Arc<ChatRequest>,
    route: &Route,
    facts: &RequestFacts,
) -> Result<Answer, LlmError> {
    let prompt_tokens = usage_estimate::prompt_tokens(&request);
    let provider = &route.provider;
    let llm = provider.llm.clone();
    if request.is_stream() {
        let include_usage = request.include_usage();
        let timeout = provider.config.first_byte_timeout();
        let facts = facts.clone();
        let started = tokio::time::timeout(timeout, async move {
            let stream = llm.stream(LlmRequest { body: request }).await?;
            let mut stream =
                normalize::normalize(stream, include_usage, prompt_tokens, Some(facts));
            match stream.next().await {
                Some(Ok(first)) => Ok((first, stream)),
                Some(Err(error)) => Err(error),
                None => Err(LlmError::Protocol(
                    "the upstream sent an empty stream".to_string(),
                )),
            }
        })
        .await;
        match started {
            Ok(Ok((first, rest))) => Ok(Answer::Stream {
                first,
                rest,
                route: route.clone(),
            }),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(LlmError::Timeout(format!(
                "no first byte from provider '{}' within {:.1} s (first_byte_timeout_secs)",
                provider.name(),
                timeout.as_secs_f64()
            ))),
        }
    } else {
        let timeout = provider.config.response_timeout();
        match tokio::time::timeout(timeout, llm.complete(LlmRequest { body: request })).await {
            Ok(Ok(mut completion)) => {
                if completion.usage.is_none() {
                    let bytes = crate::assemble::to_chunks(&completion, false)
                        .iter()
                        .map(usage_estimate::answer_bytes)
                        .sum();
                    completion.usage = Some(usage_estimate::usage(prompt_tokens, bytes));
                }
                Ok(Answer::Complete {
                    completion,
                    route: route.clone(),
                })
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Err(LlmError::Timeout(format!(
                "no answer from provider '{}' within {:.1} s (response_timeout_secs)",
                provider.name(),
                timeout.as_secs_f64()
            ))),
        }
    }
}
