//! In-process limits: a token bucket per scope for requests and for tokens (capacity = the
//! per-minute limit, refilled continuously), and a counter for concurrency.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{LimitFuture, Permit, Quota, RateLimiter, Verdict};

#[derive(Default)]
pub struct MemoryLimiter {
    scopes: Arc<Mutex<HashMap<String, ScopeState>>>,
}

#[derive(Default)]
struct ScopeState {
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
    in_flight: u64,
}

/// A token bucket holding at most `per_minute`, refilled at `per_minute / 60` per second. The
/// token bucket may go negative when an answer overdraws it.
struct Bucket {
    per_minute: f64,
    level: f64,
    updated: Instant,
}

impl Bucket {
    fn new(per_minute: u64) -> Self {
        Self {
            per_minute: per_minute as f64,
            level: per_minute as f64,
            updated: Instant::now(),
        }
    }

    fn refill(&mut self, per_minute: u64) {
        let now = Instant::now();
        self.per_minute = per_minute as f64;
        let rate = self.per_minute / 60.0;
        self.level = (self.level + rate * now.duration_since(self.updated).as_secs_f64())
            .min(self.per_minute);
        self.updated = now;
    }

    /// Time until the level reaches `needed`.
    fn wait_for(&self, needed: f64) -> Duration {
        let rate = self.per_minute / 60.0;
        if rate <= 0.0 || self.level >= needed {
            return Duration::ZERO;
        }
        Duration::from_secs_f64((needed - self.level) / rate)
    }

    fn until_full(&self) -> Duration {
        self.wait_for(self.per_minute)
    }
}

impl MemoryLimiter {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ScopeState>> {
        self.scopes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct MemoryPermit {
    scopes: Arc<Mutex<HashMap<String, ScopeState>>>,
    scope: String,
}

impl Drop for MemoryPermit {
    fn drop(&mut self) {
        let mut scopes = self.scopes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(state) = scopes.get_mut(&self.scope) {
            state.in_flight = state.in_flight.saturating_sub(1);
        }
    }
}

impl RateLimiter for MemoryLimiter {
    fn check<'a>(&'a self, scope: &'a str, quota: Quota) -> LimitFuture<'a, Verdict> {
        let mut scopes = self.lock();
        let state = scopes.entry(scope.to_string()).or_default();
        let mut verdict = Verdict {
            scope: scope.to_string(),
            limit_requests: quota.rpm,
            remaining_requests: None,
            reset_requests: Duration::ZERO,
            limit_tokens: quota.tpm,
            remaining_tokens: None,
            reset_tokens: Duration::ZERO,
            rejected: None,
        };
        if let Some(tpm) = quota.tpm {
            let bucket = state.tokens.get_or_insert_with(|| Bucket::new(tpm));
            bucket.refill(tpm);
            verdict.remaining_tokens = Some(bucket.level.max(0.0) as u64);
            verdict.reset_tokens = bucket.until_full();
            if bucket.level < 1.0 {
                verdict.rejected = Some(("tokens per minute", bucket.wait_for(1.0)));
            }
        }
        if let Some(rpm) = quota.rpm {
            let bucket = state.requests.get_or_insert_with(|| Bucket::new(rpm));
            bucket.refill(rpm);
            if bucket.level < 1.0 {
                verdict.rejected = verdict
                    .rejected
                    .or(Some(("requests per minute", bucket.wait_for(1.0))));
            } else if verdict.rejected.is_none() {
                bucket.level -= 1.0;
            }
            verdict.remaining_requests = Some(bucket.level.max(0.0) as u64);
            verdict.reset_requests = bucket.until_full();
        }
        Box::pin(std::future::ready(verdict))
    }

    fn acquire<'a>(&'a self, scope: &'a str, max: u64) -> LimitFuture<'a, Option<Permit>> {
        let mut scopes = self.lock();
        let state = scopes.entry(scope.to_string()).or_default();
        let permit: Option<Permit> = if state.in_flight < max {
            state.in_flight += 1;
            Some(Box::new(MemoryPermit {
                scopes: self.scopes.clone(),
                scope: scope.to_string(),
            }))
        } else {
            None
        };
        Box::pin(std::future::ready(permit))
    }

    fn charge(&self, scope: &str, tokens: u64) {
        let mut scopes = self.lock();
        if let Some(bucket) = scopes.get_mut(scope).and_then(|s| s.tokens.as_mut()) {
            bucket.level -= tokens as f64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rpm_tpm_and_concurrency() {
        let limiter = MemoryLimiter::default();
        let quota = Quota {
            rpm: Some(2),
            tpm: Some(100),
            max_concurrent: None,
        };
        assert!(limiter.check("k", quota).await.rejected.is_none());
        assert!(limiter.check("k", quota).await.rejected.is_none());
        let third = limiter.check("k", quota).await;
        let (which, retry) = third.rejected.expect("third request refused");
        assert_eq!(which, "requests per minute");
        assert!(retry > Duration::from_secs(20) && retry <= Duration::from_secs(30));

        limiter.charge("t", 0);
        let tokens = Quota {
            rpm: None,
            tpm: Some(100),
            max_concurrent: None,
        };
        assert!(limiter.check("t", tokens).await.rejected.is_none());
        limiter.charge("t", 150);
        assert_eq!(
            limiter.check("t", tokens).await.rejected.map(|r| r.0),
            Some("tokens per minute")
        );

        let first = limiter.acquire("c", 1).await;
        assert!(first.is_some());
        assert!(limiter.acquire("c", 1).await.is_none());
        drop(first);
        assert!(limiter.acquire("c", 1).await.is_some());
    }
}
