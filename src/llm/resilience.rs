//! Surviving a flaky provider: which failures are worth another try, how long to wait, and a
//! circuit breaker that stops sending traffic to a provider that keeps failing.
//!
//! Retries and fallbacks only ever happen before the first byte reached the client: after that a
//! second answer would be spliced onto the first.

use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::llm::LlmError;

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
