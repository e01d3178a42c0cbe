//! One way to open Redis for the shared backends (limits, cache): few retries and short
//! timeouts, because a slow Redis must cost a cache hit or a limit check, never a stuck request.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub async fn connect(url: &str) -> Result<ConnectionManager, String> {
    let client = redis::Client::open(url).map_err(|e| format!("redis.url '{url}': {e}"))?;
    let config = ConnectionManagerConfig::new()
        .set_number_of_retries(2)
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_millis(500)));
    ConnectionManager::new_with_config(client, config)
        .await
        .map_err(|e| format!("cannot connect to Redis at {url}: {e}"))
}
