//! Random identifiers (`chatcmpl-…`, `resp_…`, `call_…`, request ids, trace ids, session ids).
//!
//! Each 64-bit block is SipHash-1-3 of a process-wide counter under the std hasher's secret
//! random keys (drawn from the OS once per thread). A counter never repeats, so ids are unique
//! within the process; SipHash is a keyed pseudo-random function, so a client that sees its own
//! ids learns nothing about the next ones (session and response ids must not be guessable, even
//! though stores also check the owner). Not a general-purpose CSPRNG, and no random-number
//! dependency.
//!
//! Why this shape: ids are made on every request (two or three on a Responses stream), and the
//! earlier form — a fresh hasher, a clock read and a `format!` per block — cost about a
//! microsecond each on a cold cache; this one is one hash and a table lookup per byte.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    /// This thread's secret keys.
    static KEYS: RandomState = RandomState::new();
}

/// Never repeats within the process, across threads.
static COUNTER: AtomicU64 = AtomicU64::new(0);

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `len` random lowercase hex digits.
pub fn random_hex(len: usize) -> String {
    let mut out = String::with_capacity(len);
    push_random_hex(&mut out, len);
    out
}

/// Appends `len` random lowercase hex digits to `out`.
pub fn push_random_hex(out: &mut String, len: usize) {
    KEYS.with(|keys| {
        let mut left = len;
        while left > 0 {
            let block = keys.hash_one(COUNTER.fetch_add(1, Ordering::Relaxed));
            let digits = left.min(16);
            for shift in (0..digits).map(|i| 60 - 4 * i) {
                out.push(char::from(HEX[((block >> shift) & 0xf) as usize]));
            }
            left -= digits;
        }
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_asked_length_are_hex_and_do_not_repeat() {
        let mut seen = std::collections::HashSet::new();
        for len in [1, 12, 16, 17, 24, 32, 48] {
            for _ in 0..2_000 {
                let id = random_hex(len);
                assert_eq!(id.len(), len);
                assert!(
                    id.bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                );
                if len >= 12 {
                    assert!(seen.insert(id), "an id repeated");
                }
            }
        }
    }

    #[test]
    fn threads_draw_different_ids() {
        let here = random_hex(32);
        let there = std::thread::spawn(|| random_hex(32))
            .join()
            .expect("thread");
        assert_ne!(here, there);
    }
}
