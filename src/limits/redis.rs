//! Limits shared by several replicas through Redis: fixed one-minute windows for requests and
//! tokens (`INCR`/`INCRBY` + `EXPIRE`), and a counter for concurrency.
//!
//! When Redis cannot be reached the limiter *fails open* (admits the request and logs a warning):
//! an outage of the limit store should not become an outage of the proxy.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;

use super::{LimitFuture, Permit, Quota, RateLimiter, Verdict};

pub struct RedisLimiter {
    connection: ConnectionManager,
    prefix: String,
}

impl RedisLimiter {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, String> {
        let connection = crate::redis_connection::connect(url).await?;
        Ok(Self {
            connection,
            prefix: prefix.to_string(),
        })
    }

    fn window() -> (u64, Duration) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let minute = now.as_secs() / 60;
        let reset = Duration::from_secs((minute + 1) * 60).saturating_sub(now);
        (minute, reset)
    }

    async fn check_inner(&self, scope: &str, quota: Quota) -> redis::RedisResult<Verdict> {
        let (minute, reset) = Self::window();
        let mut con = self.connection.clone();
        let mut verdict = Verdict {
            scope: scope.to_string(),
            limit_requests: quota.rpm,
            remaining_requests: None,
            reset_requests: reset,
            limit_tokens: quota.tpm,
            remaining_tokens: None,
            reset_tokens: reset,
            rejected: None,
        };
        if let Some(tpm) = quota.tpm {
            let key = format!("{}:rl:{scope}:tok:{minute}", self.prefix);
            let used: Option<u64> = redis::cmd("GET").arg(&key).query_async(&mut con).await?;
            let used = used.unwrap_or(0);
            verdict.remaining_tokens = Some(tpm.saturating_sub(used));
            if used >= tpm {
                verdict.rejected = Some(("tokens per minute", reset));
            }
        }
        if let Some(rpm) = quota.rpm {
            let key = format!("{}:rl:{scope}:req:{minute}", self.prefix);
            let (count,): (u64,) = redis::pipe()
                .atomic()
                .cmd("INCR")
                .arg(&key)
                .cmd("EXPIRE")
                .arg(&key)
                .arg(120)
                .ignore()
                .query_async(&mut con)
                .await?;
            verdict.remaining_requests = Some(rpm.saturating_sub(count));
            if count > rpm {
                verdict.rejected = verdict.rejected.or(Some(("requests per minute", reset)));
            }
        }
        Ok(verdict)
    }
}

struct RedisPermit {
    connection: ConnectionManager,
    key: String,
}

impl Drop for RedisPermit {
    fn drop(&mut self) {
        let mut con = self.connection.clone();
        let key = std::mem::take(&mut self.key);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _: redis::RedisResult<i64> =
                    redis::cmd("DECR").arg(&key).query_async(&mut con).await;
            });
        }
    }
}

impl RateLimiter for RedisLimiter {
    fn check<'a>(&'a self, scope: &'a str, quota: Quota) -> LimitFuture<'a, Verdict> {
        Box::pin(async move {
            match self.check_inner(scope, quota).await {
                Ok(verdict) => verdict,
                Err(error) => {
                    tracing::warn!(%error, scope, "Redis rate limiter unavailable; admitting the request");
                    Verdict {
                        scope: scope.to_string(),
                        limit_requests: None,
                        remaining_requests: None,
                        reset_requests: Duration::ZERO,
                        limit_tokens: None,
                        remaining_tokens: None,
                        reset_tokens: Duration::ZERO,
                        rejected: None,
                    }
                }
            }
        })
    }

    fn acquire<'a>(&'a self, scope: &'a str, max: u64) -> LimitFuture<'a, Option<Permit>> {
        Box::pin(async move {
            let key = format!("{}:cc:{scope}", self.prefix);
            let mut con = self.connection.clone();
            let result: redis::RedisResult<(i64,)> = redis::pipe()
                .atomic()
                .cmd("INCR")
                .arg(&key)
                .cmd("EXPIRE")
                .arg(&key)
                .arg(3600)
                .ignore()
                .query_async(&mut con)
                .await;
            match result {
                Ok((count,)) if count as u64 <= max => Some(Box::new(RedisPermit {
                    connection: self.connection.clone(),
                    key,
                }) as Permit),
                Ok(_) => {
                    let _: redis::RedisResult<i64> =
                        redis::cmd("DECR").arg(&key).query_async(&mut con).await;
                    None
                }
                Err(error) => {
                    tracing::warn!(%error, scope, "Redis concurrency limiter unavailable; admitting the request");
                    Some(Box::new(()) as Permit)
                }
            }
        })
    }

    fn charge(&self, scope: &str, tokens: u64) {
        let (minute, _) = Self::window();
        let key = format!("{}:rl:{scope}:tok:{minute}", self.prefix);
        let mut con = self.connection.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let result: redis::RedisResult<()> = redis::pipe()
                    .atomic()
                    .cmd("INCRBY")
                    .arg(&key)
                    .arg(tokens)
                    .ignore()
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(120)
                    .ignore()
                    .query_async(&mut con)
                    .await;
                if let Err(error) = result {
                    tracing::warn!(%error, "cannot charge tokens in Redis");
                }
            });
        }
    }
}
