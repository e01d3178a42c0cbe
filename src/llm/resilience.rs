//! Surviving a flaky provider: which failures are worth another try, how long to wait, and a
//! circuit breaker that stops sending traffic to a provider that keeps failing.
//!
//! Retries and fallbacks only ever happen before the first byte reached the client: after that a
//! second answer would be spliced onto the first.

use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::llm::{LlmError, Provider};
use crate::observe::metrics;

/// Connect errors, timeouts, protocol breaks, 408 (timeout), 409 (conflict), 429 (rate limit)
/// and 5xx may succeed on another try; other 4xx are the request's fault and would fail again.
pub fn is_retryable(error: &LlmError) -> bool {
    match error {
        LlmError::Upstream { status, .. } => matches!(status, 408 | 409 | 429) || *status >= 500,
        LlmError::Unreachable(_) | LlmError::Timeout(_) | LlmError::Protocol(_) => true,
        // An error the upstream reported itself (content policy, context length) would repeat.
        LlmError::InStream(_) | LlmError::NoProvider => false,
    }
}

/// What to do after a failed attempt on `provider`.
pub enum Next {
    /// The request itself is at fault: another try or provider would refuse it too.
    GiveUp,
    /// Try the same provider again after this wait.
    RetryAfter(Duration),
    /// Move on to the next candidate (retries spent, circuit opened, or a wait too long).
    NextCandidate,
}

/// Records a failed attempt (metrics, breaker, log) and decides what comes next: the one rule
/// that every path calling a provider (translated answers, Messages passed through) follows.
pub fn after_failure(provider: &Provider, attempt: u32, error: &LlmError) -> Next {
    ::metrics::counter!(metrics::UPSTREAM_ERRORS, "provider" => provider.name().to_string(), "kind" => error_kind(error))
        .increment(1);
    if !is_retryable(error) {
        return Next::GiveUp;
    }
    if provider.breaker.record_failure() {
        ::metrics::counter!(metrics::CIRCUIT_OPENED, "provider" => provider.name().to_string())
            .increment(1);
        tracing::warn!(
            provider = provider.name(),
            "circuit opened after repeated failures"
        );
    }
    tracing::warn!(provider = provider.name(), attempt, %error, "upstream attempt failed");
    // An upstream that names its own wait is believed, up to a point: a long wait is better spent
    // on the next fallback.
    let asked_wait = upstream_retry_after(error);
    let wait_too_long = asked_wait.is_some_and(|w| w > MAX_RETRY_AFTER);
    if attempt < provider.config.settings.retries && !provider.breaker.is_open() && !wait_too_long {
        ::metrics::counter!(metrics::RETRIES, "provider" => provider.name().to_string())
            .increment(1);
        let base = Duration::from_millis(provider.config.settings.retry_backoff_ms);
        Next::RetryAfter(backoff(base, attempt).max(asked_wait.unwrap_or_default()))
    } else {
        Next::NextCandidate
    }
}

/// Longest upstream `Retry-After` the proxy waits out before retrying the same provider.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

fn upstream_retry_after(error: &LlmError) -> Option<Duration> {
    match error {
        LlmError::Upstream {
            retry_after: Some(value),
            ..
        } => value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64),
        _ => None,
    }
}

fn error_kind(error: &LlmError) -> String {
    match error {
        LlmError::Upstream { status, .. } => format!("http_{status}"),
        LlmError::Unreachable(_) => "unreachable".into(),
        LlmError::Timeout(_) => "timeout".into(),
        LlmError::Protocol(_) => "protocol".into(),
        LlmError::InStream(_) => "in_stream".into(),
        LlmError::NoProvider => "no_provider".into(),
    }
}

/// Exponential backoff with ±50 % jitter, so that many clients retrying at once spread out.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(10));
    let jitter = 0.5 + random_fraction();
    exp.mul_f64(jitter).min(Duration::from_secs(30))
}

fn random_fraction() -> f64 {
    let value = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    (value % 10_000) as f64 / 10_000.0
}

/// Opens after `threshold` consecutive failures and stays open for `cooldown`; the first request
/// after the cool-down is a trial: success closes the circuit, failure opens it again.
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    consecutive_failures: AtomicU32,
    open_until: Mutex<Option<Instant>>,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold,
            cooldown,
            consecutive_failures: AtomicU32::new(0),
            open_until: Mutex::new(None),
        }
    }

    pub fn is_open(&self) -> bool {
        let open_until = self.open_until.lock().unwrap_or_else(|p| p.into_inner());
        open_until.is_some_and(|until| Instant::now() < until)
    }

    pub fn record_success(&self) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
        *self.open_until.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Returns true when this failure opened the circuit.
    pub fn record_failure(&self) -> bool {
        if self.threshold == 0 {
            return false;
        }
        let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= self.threshold {
            let mut open_until = self.open_until.lock().unwrap_or_else(|p| p.into_inner());
            let was_open = open_until.is_some_and(|until| Instant::now() < until);
            *open_until = Some(Instant::now() + self.cooldown);
            return !was_open;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_threshold_and_closes_on_success() {
        let breaker = CircuitBreaker::new(2, Duration::from_secs(60));
        assert!(!breaker.record_failure());
        assert!(!breaker.is_open());
        assert!(breaker.record_failure());
        assert!(breaker.is_open());
        breaker.record_success();
        assert!(!breaker.is_open());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let first = backoff(base, 0);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(150));
        assert!(backoff(base, 3) >= Duration::from_millis(400));
        assert!(backoff(base, 20) <= Duration::from_secs(30));
    }
}
