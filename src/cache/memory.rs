//! In-process cache (moka): bounded by entry count, entries expire after the TTL.

use std::sync::Arc;
use std::time::Duration;

use super::{CacheFuture, ResponseCache};
use crate::wire::ChatCompletion;

pub struct MemoryCache {
    entries: moka::sync::Cache<String, Arc<ChatCompletion>>,
}

impl MemoryCache {
    pub fn new(max_entries: u64, ttl: Duration) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(ttl)
                .build(),
        }
    }
}

impl ResponseCache for MemoryCache {
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Option<Arc<ChatCompletion>>> {
        Box::pin(std::future::ready(self.entries.get(key)))
    }

    fn put(&self, key: String, completion: ChatCompletion) {
        self.entries.insert(key, Arc::new(completion));
    }
}
