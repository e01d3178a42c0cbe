//! Memory for request bodies, bounded by bytes across all requests. A body is read whole and
//! parsed into JSON values, which take many times the body's size (measured: ~28× for a body of
//! 500,000 empty messages), and this happens before admission by key limits — so 30 such
//! requests at once took a process to 1.3 GB, whatever `limits.max_concurrent` said. Each body
//! now reserves its size times [`EXPANSION`] from `server.max_body_memory_bytes` before it is
//! read, and holds the reservation until it is parsed and validated; a request that cannot get
//! its share within [`WAIT`] gets 503. When the last large body's reservation ends, the
//! allocator is asked to give freed memory back to the system (glibc keeps it otherwise), so
//! the process returns to its resting size after a burst.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ApiError, ErrorObject};

/// Parsed JSON takes up to this many times the body's bytes.
pub const EXPANSION: usize = 32;
/// Longest wait for body memory before a 503.
pub const WAIT: Duration = Duration::from_secs(10);
/// How often a body waiting for memory looks for room.
const POLL: Duration = Duration::from_millis(10);
/// Bodies at least this large ask for a trim of the allocator when their memory is released.
const LARGE: usize = 1024 * 1024;

#[derive(Clone)]
pub struct BodyBudget {
    /// Permits are KiB.
    permits: Arc<Semaphore>,
    total_kib: usize,
    large_in_flight: Arc<AtomicUsize>,
}

/// A body's reservation; released when dropped.
pub struct BodyMemory {
    _permit: Option<OwnedSemaphorePermit>,
    large: Option<Arc<AtomicUsize>>,
}

impl BodyBudget {
    pub fn new(max_bytes: usize) -> Self {
        let total_kib = (max_bytes / 1024).clamp(1, Semaphore::MAX_PERMITS);
        Self {
            permits: Arc::new(Semaphore::new(total_kib)),
            total_kib,
            large_in_flight: Arc::default(),
        }
    }

    /// Reserves memory for a body of at most `size` bytes.
    pub async fn reserve(&self, size: usize) -> Result<BodyMemory, ApiError> {
        let kib = (size.saturating_mul(EXPANSION) / 1024).clamp(1, self.total_kib);
        let kib = u32::try_from(kib).unwrap_or(u32::MAX);
        // Never queued on the semaphore: tokio's semaphore is fair and hands free permits to
        // the first waiter even when it needs more than there are, so one large body waiting
        // for room would make every small request wait behind it. Room is polled instead.
        let deadline = tokio::time::Instant::now() + WAIT;
        let permit = loop {
            if let Ok(permit) = self.permits.clone().try_acquire_many_owned(kib) {
                break Some(permit);
            }
            if tokio::time::Instant::now() >= deadline {
                break None;
            }
            tokio::time::sleep(POLL).await;
        };
        let permit = permit.ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorObject::new(
                    "The server is busy reading other large requests; retry shortly.",
                    "api_error",
                )
                .with_code("server_busy"),
            )
        })?;
        let large = (size >= LARGE).then(|| {
            self.large_in_flight.fetch_add(1, Ordering::AcqRel);
            self.large_in_flight.clone()
        });
        Ok(BodyMemory {
            _permit: Some(permit),
            large,
        })
    }
}

impl Drop for BodyMemory {
    fn drop(&mut self) {
        if let Some(large) = &self.large
            && large.fetch_sub(1, Ordering::AcqRel) == 1
        {
            trim_allocator();
        }
    }
}

/// Gives freed heap memory back to the system.
fn trim_allocator() {
    // Off the async workers: a trim of a large heap takes a few milliseconds.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        drop(runtime.spawn_blocking(crate::allocator::return_free_memory));
    }
}
