//! Limits shared by several replicas through Redis: fixed one-minute windows for requests and
//! tokens (`INCR`/`INCRBY` + `EXPIRE`), and leases for concurrency.
//!
//! A concurrency slot is a lease, not a counter: a member of the scope's sorted set whose score
//! is its expiry (Redis server time, so replicas' clocks do not matter). The request holding it
//! renews it every third of `limits.concurrency_lease_secs` and removes it when it ends. A
//! replica that crashes renews nothing, so its slots free themselves within one lease time
//! instead of throttling the key until a counter's expiry.
//!
//! When Redis cannot be reached the limiter *fails open* (admits the request and logs a warning):
//! an outage of the limit store should not become an outage of the proxy.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;

use super::{LimitFuture, Permit, Quota, RateLimiter, Verdict};

pub struct RedisLimiter {
    connection: ConnectionManager,
    prefix: String,
    lease: Duration,
}

/// Drops expired leases, then takes one if fewer than `max` remain. KEYS[1] the scope's set;
/// ARGV: lease id, max, lease milliseconds. Returns 1 when taken.
const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[3]))
  return 1
end
return 0
";

/// Extends a lease that still exists. KEYS[1] the set; ARGV: lease id, lease milliseconds.
const RENEW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return 1
";

impl RedisLimiter {
    pub async fn connect(url: &str, prefix: &str, lease: Duration) -> Result<Self, String> {
        let connection = crate::redis_connection::connect(url).await?;
        Ok(Self {
            connection,
            prefix: prefix.to_string(),
            lease: lease.max(Duration::from_millis(300)),
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

/// A held lease: renewed in the background while alive, removed when dropped.
struct RedisPermit {
    connection: ConnectionManager,
    key: String,
    id: String,
    renewal: tokio::task::JoinHandle<()>,
}

impl Drop for RedisPermit {
    fn drop(&mut self) {
        self.renewal.abort();
        let mut con = self.connection.clone();
        let key = std::mem::take(&mut self.key);
        let id = std::mem::take(&mut self.id);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _: redis::RedisResult<i64> = redis::cmd("ZREM")
                    .arg(&key)
                    .arg(&id)
                    .query_async(&mut con)
                    .await;
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
            let key = format!("{}:lease:{scope}", self.prefix);
            let id = crate::ids::random_hex(16);
            let lease_ms = self.lease.as_millis() as u64;
            let mut con = self.connection.clone();
            let taken: redis::RedisResult<i64> = redis::Script::new(ACQUIRE)
                .key(&key)
                .arg(&id)
                .arg(max)
                .arg(lease_ms)
                .invoke_async(&mut con)
                .await;
            match taken {
                Ok(1) => {
                    let renewal = tokio::spawn(renew(
                        self.connection.clone(),
                        key.clone(),
                        id.clone(),
                        self.lease,
                    ));
                    Some(Box::new(RedisPermit {
                        connection: self.connection.clone(),
                        key,
                        id,
                        renewal,
                    }) as Permit)
                }
                Ok(_) => None,
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

/// Renews a lease every third of its time until aborted (the permit's drop).
async fn renew(mut connection: ConnectionManager, key: String, id: String, lease: Duration) {
    let mut every = tokio::time::interval(lease / 3);
    every.tick().await;
    loop {
        every.tick().await;
        let renewed: redis::RedisResult<i64> = redis::Script::new(RENEW)
            .key(&key)
            .arg(&id)
            .arg(lease.as_millis() as u64)
            .invoke_async(&mut connection)
            .await;
        if let Err(error) = renewed {
            tracing::warn!(%error, "cannot renew a concurrency lease in Redis");
        }
    }
}
