//! Rate limits: requests per minute, tokens per minute and concurrent requests, per client key
//! and for all traffic together. The in-memory backend serves one process; the Redis backend lets
//! several replicas share one budget.
//!
//! Tokens are only known after an answer, so tokens-per-minute admits a request while the budget
//! is positive and charges the real usage when the answer ends (a request may overdraw once).

pub mod memory;
pub mod redis;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};

/// What one limit said about one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub scope: String,
    pub limit_requests: Option<u64>,
    pub remaining_requests: Option<u64>,
    pub reset_requests: Duration,
    pub limit_tokens: Option<u64>,
    pub remaining_tokens: Option<u64>,
    pub reset_tokens: Duration,
    /// `Some` when the request must be refused: which limit, and when to retry.
    pub rejected: Option<(&'static str, Duration)>,
}

/// Limits for one scope (a key name, or `global`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Quota {
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub max_concurrent: Option<u64>,
}

impl Quota {
    pub fn is_unlimited(&self) -> bool {
        self.rpm.is_none() && self.tpm.is_none() && self.max_concurrent.is_none()
    }
}

/// Held while a request runs; releases its concurrency slot when dropped.
pub type Permit = Box<dyn Send + Sync>;

pub type LimitFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait RateLimiter: Send + Sync {
    /// Admits or refuses one request under `quota`; on admission the request is counted.
    fn check<'a>(&'a self, scope: &'a str, quota: Quota) -> LimitFuture<'a, Verdict>;
    /// Takes a concurrency slot, or `None` when all are taken.
    fn acquire<'a>(&'a self, scope: &'a str, max: u64) -> LimitFuture<'a, Option<Permit>>;
    /// Charges the tokens an answer used.
    fn charge(&self, scope: &str, tokens: u64);
}

/// OpenAI's `x-ratelimit-*` headers for a verdict, plus `Retry-After` on refusal.
pub fn headers(verdict: &Verdict) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            out.push((HeaderName::from_static(name), value));
        }
    };
    if let Some(limit) = verdict.limit_requests {
        put("x-ratelimit-limit-requests", limit.to_string());
        put(
            "x-ratelimit-remaining-requests",
            verdict.remaining_requests.unwrap_or(0).to_string(),
        );
        put(
            "x-ratelimit-reset-requests",
            format_reset(verdict.reset_requests),
        );
    }
    if let Some(limit) = verdict.limit_tokens {
        put("x-ratelimit-limit-tokens", limit.to_string());
        put(
            "x-ratelimit-remaining-tokens",
            verdict.remaining_tokens.unwrap_or(0).to_string(),
        );
        put(
            "x-ratelimit-reset-tokens",
            format_reset(verdict.reset_tokens),
        );
    }
    if let Some((_, retry)) = verdict.rejected {
        put(
            "retry-after",
            retry.as_secs_f64().ceil().max(1.0).to_string(),
        );
    }
    out
}

/// OpenAI writes resets as `1s`, `6m0s`, `120ms`.
pub fn format_reset(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{}s", (d.as_secs_f64() * 10.0).round() / 10.0)
    } else {
        format!("{}m{}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_format_matches_openai() {
        assert_eq!(format_reset(Duration::from_millis(120)), "120ms");
        assert_eq!(format_reset(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_reset(Duration::from_secs(360)), "6m0s");
    }
}
