//! Random identifiers (`chatcmpl-…`, `call_…`, request ids, trace ids). Not cryptographic: they
//! only need to be unique, so the std hasher's per-process random keys plus a counter and the
//! clock suffice, without a random-number dependency.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn random_hex(len: usize) -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out.truncate(len);
    out
}

/// Seconds since the Unix epoch, for `created` fields.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A chat completion id in OpenAI's shape (`chatcmpl-` + 24 hex digits): for answers the proxy
/// builds itself (agent runs, refusals, upstreams that send none).
pub fn completion_id() -> String {
    format!("chatcmpl-{}", random_hex(24))
}
