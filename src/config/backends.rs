//! `limits:`, `cache:` and `redis:`: the shared-state backends and where Redis is.

use serde::Deserialize;

use super::ConfigError;
use super::Settings;
use super::agents::SessionStore;

/// Limits for all traffic together; per-key limits live on the keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub max_concurrent: Option<u64>,
    pub backend: Backend,
    /// Redis backend: a concurrency slot is a lease of this length, renewed while its request
    /// runs, so a crashed replica's slots free themselves within it.
    pub concurrency_lease_secs: f64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            rpm: None,
            tpm: None,
            max_concurrent: None,
            backend: Backend::Memory,
            concurrency_lease_secs: 10.0,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backend {
    /// In this process only.
    #[default]
    Memory,
    /// Shared through Redis (`redis.url`), so several replicas enforce one budget.
    Redis,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CacheWhen {
    /// Requests with `temperature: 0`, or that opt in with `Cache-Control: max-age=…`.
    #[default]
    Deterministic,
    /// Only requests that opt in with the header.
    Header,
    /// Every request that does not opt out (`Cache-Control: no-cache`/`no-store`).
    Always,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    pub enabled: bool,
    pub when: CacheWhen,
    pub ttl_secs: u64,
    /// Upper bound of cached answers (memory backend).
    pub max_entries: u64,
    pub backend: Backend,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            when: CacheWhen::Deterministic,
            ttl_secs: 300,
            max_entries: 10_000,
            backend: Backend::Memory,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    /// e.g. `redis://127.0.0.1:6379/0`; `url_env` wins when that variable is set.
    pub url: Option<String>,
    pub url_env: Option<String>,
    /// Key prefix, so several deployments can share one Redis.
    pub prefix: Option<String>,
}

settings_enum!(Backend { "memory" => Memory, "redis" => Redis });

settings_enum!(CacheWhen { "deterministic" => Deterministic, "header" => Header, "always" => Always });

/// The Redis URL (`redis.url_env` wins over `redis.url`); required when any backend uses Redis.
pub fn redis_url(
    file: &str,
    settings: &Settings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    let redis_url = settings
        .redis
        .url_env
        .as_deref()
        .and_then(env)
        .or(settings.redis.url.clone());
    let needs_redis = settings.limits.backend == Backend::Redis
        || (settings.cache.enabled && settings.cache.backend == Backend::Redis)
        || settings.sessions.store == SessionStore::Redis;
    let lease = settings.limits.concurrency_lease_secs;
    if !(lease.is_finite() && lease > 0.0) {
        return Err(ConfigError::field(
            file,
            "limits.concurrency_lease_secs",
            "must be a positive number of seconds",
        ));
    }
    if needs_redis && redis_url.is_none() {
        return Err(ConfigError::field(
            file,
            "redis.url",
            "a Redis backend is selected (limits.backend, cache.backend or sessions.store) but no URL is set",
        ));
    }
    Ok(redis_url)
}
