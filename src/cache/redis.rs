//! Cache shared by replicas through Redis: `SET key json EX ttl`. Failures are logged and treated
//! as misses, so a Redis outage costs cache hits, not requests.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::{CacheFuture, ResponseCache};
use crate::wire::ChatCompletion;

pub struct RedisCache {
    connection: ConnectionManager,
    prefix: String,
    ttl: Duration,
}

impl RedisCache {
    pub async fn connect(url: &str, prefix: &str, ttl: Duration) -> Result<Self, String> {
        let connection = crate::redis_connection::connect(url).await?;
        Ok(Self {
            connection,
            prefix: prefix.to_string(),
            ttl,
        })
    }
}

impl ResponseCache for RedisCache {
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Option<Arc<ChatCompletion>>> {
        Box::pin(async move {
            let mut con = self.connection.clone();
            let stored: redis::RedisResult<Option<String>> = redis::cmd("GET")
                .arg(format!("{}:cache:{key}", self.prefix))
                .query_async(&mut con)
                .await;
            match stored {
                Ok(Some(json)) => serde_json::from_str(&json).ok().map(Arc::new),
                Ok(None) => None,
                Err(error) => {
                    tracing::warn!(%error, "Redis cache unavailable; treating as a miss");
                    None
                }
            }
        })
    }

    fn put(&self, key: String, completion: ChatCompletion) {
        let Ok(json) = serde_json::to_string(&completion) else {
            return;
        };
        let mut con = self.connection.clone();
        let key = format!("{}:cache:{key}", self.prefix);
        let ttl = self.ttl.as_secs().max(1);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let result: redis::RedisResult<()> = redis::cmd("SET")
                    .arg(&key)
                    .arg(json)
                    .arg("EX")
                    .arg(ttl)
                    .query_async(&mut con)
                    .await;
                if let Err(error) = result {
                    tracing::warn!(%error, "cannot store a cache entry in Redis");
                }
            });
        }
    }
}
