//! What every model-calling endpoint checks before spending upstream tokens: the client key's
//! allowed models, and the key's and the global rate limits.

use axum::http::{HeaderName, HeaderValue, StatusCode};

use super::AppState;
use crate::auth::ClientKey;
use crate::error::{ApiError, ErrorObject};
use crate::limits::{self, Quota};
use crate::llm::Route;
use crate::observe::RequestFacts;
use crate::observe::metrics;

/// A key restricted to some models may use a route when a pattern matches the routed identity
/// (see [`ClientKey::may_call`]).
pub fn check_model_allowed(
    state: &AppState,
    key: &ClientKey,
    requested: Option<&str>,
    route: &Route,
) -> Result<(), ApiError> {
    let canonical = format!("{}/{}", route.provider.name(), route.model);
    let is_default = route.provider.name() == state.registry.default_provider().name();
    if key.may_call(route.provider.name(), &route.model, is_default) {
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
pub async fn admit(
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
