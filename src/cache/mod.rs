//! Exact-match response cache.
//!
//! The key is a SHA-256 of the client key's name and the normalized request (so tenants never
//! see each other's entries): the resolved provider and model, messages,
//! tools and every sampling parameter; fields that do not change the answer (`stream`,
//! `stream_options`, `user`, `metadata`) are left out, so a streaming and a non-streaming request
//! share one entry and a cached answer can be replayed either way. Only answers that ended
//! cleanly are stored: never an error, never a cut stream.

pub mod memory;
pub mod redis;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::HeaderMap;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::config::CacheWhen;
use crate::wire::{ChatCompletion, ChatRequest};

pub type CacheFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait ResponseCache: Send + Sync {
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Option<Arc<ChatCompletion>>>;
    fn put(&self, key: String, completion: ChatCompletion);
}

/// Fields that do not change the answer.
const IGNORED_FIELDS: &[&str] = &["stream", "stream_options", "user", "metadata", "store"];

/// The cache key of a request from client key `scope` (empty without auth) routed to `provider`.
pub fn key(scope: &str, provider: &str, request: &ChatRequest) -> String {
    let mut normalized: Map<String, Value> = request
        .extra
        .iter()
        .filter(|(k, _)| !IGNORED_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    normalized.insert("provider".into(), Value::String(provider.to_string()));
    normalized.insert("client_key".into(), Value::String(scope.to_string()));
    normalized.insert(
        "model".into(),
        request
            .model
            .clone()
            .map(Value::String)
            .unwrap_or(Value::Null),
    );
    normalized.insert(
        "messages".into(),
        Value::Array(
            request
                .messages
                .iter()
                .map(|m| Value::Object(m.fields().clone()))
                .collect(),
        ),
    );
    // serde_json's Map is ordered by key, so equal requests serialize equally.
    let bytes = serde_json::to_vec(&Value::Object(normalized)).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether this request may be answered from (and stored into) the cache.
pub fn eligible(when: CacheWhen, request: &ChatRequest, headers: &HeaderMap) -> bool {
    let directives: Vec<String> = headers
        .get_all(axum::http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| {
            v.split(',')
                .map(|d| d.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect();
    if directives
        .iter()
        .any(|d| d == "no-cache" || d == "no-store")
    {
        return false;
    }
    let opted_in = directives.iter().any(|d| d.starts_with("max-age"));
    match when {
        CacheWhen::Always => true,
        CacheWhen::Header => opted_in,
        CacheWhen::Deterministic => {
            opted_in
                || request
                    .extra
                    .get("temperature")
                    .and_then(Value::as_f64)
                    .is_some_and(|t| t == 0.0)
        }
    }
}

/// Passes a stream through unchanged and stores its assembled answer when — and only when — it
/// ends cleanly. An error item or a dropped stream (client left) stores nothing.
pub fn store_when_complete(
    cache: Arc<dyn ResponseCache>,
    key: String,
    first: &crate::wire::ChatChunk,
    mut rest: crate::llm::ChunkStream,
) -> crate::llm::ChunkStream {
    use futures_util::StreamExt;
    let mut assembler = crate::assemble::Assembler::default();
    assembler.push(first);
    Box::pin(async_stream::stream! {
        while let Some(item) = rest.next().await {
            match item {
                Ok(chunk) => {
                    assembler.push(&chunk);
                    yield Ok(chunk);
                }
                Err(error) => {
                    yield Err(error);
                    return;
                }
            }
        }
        cache.put(key, assembler.finish());
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(value: Value) -> ChatRequest {
        serde_json::from_value(value).expect("request")
    }

    #[test]
    fn key_ignores_stream_flags_but_not_parameters() {
        let a = request(
            json!({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":0,"stream":true}),
        );
        let b = request(
            json!({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":0}),
        );
        let c = request(
            json!({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":0,"max_tokens":5}),
        );
        assert_eq!(key("", "p", &a), key("", "p", &b));
        assert_ne!(key("", "p", &b), key("", "p", &c));
        assert_ne!(key("", "p", &b), key("", "q", &b));
        assert_ne!(
            key("team-a", "p", &b),
            key("team-b", "p", &b),
            "tenants do not share entries"
        );
    }

    #[test]
    fn eligibility_by_temperature_and_headers() {
        let zero = request(json!({"messages":[{"role":"user","content":"x"}],"temperature":0}));
        let warm = request(json!({"messages":[{"role":"user","content":"x"}],"temperature":0.7}));
        let mut opt_in = HeaderMap::new();
        opt_in.insert("cache-control", "max-age=60".parse().expect("header"));
        let mut opt_out = HeaderMap::new();
        opt_out.insert("cache-control", "no-cache".parse().expect("header"));
        assert!(eligible(CacheWhen::Deterministic, &zero, &HeaderMap::new()));
        assert!(!eligible(
            CacheWhen::Deterministic,
            &warm,
            &HeaderMap::new()
        ));
        assert!(eligible(CacheWhen::Deterministic, &warm, &opt_in));
        assert!(!eligible(CacheWhen::Always, &zero, &opt_out));
        assert!(!eligible(CacheWhen::Header, &zero, &HeaderMap::new()));
    }
}
