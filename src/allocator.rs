//! The process's allocator: mimalloc, set up for a proxy that must be cheap per request under
//! load and small when idle.
//!
//! Why not glibc's malloc: a streamed answer allocates and frees a frame per chunk on whichever
//! worker polls it, and glibc serves blocks above its per-thread cache (1 KiB: a Responses
//! stream's first and last frames, request bodies) from arenas behind a lock the two workers
//! then contend for. Measured with `proxy_overhead` in one run each: mimalloc cut the proxy's CPU
//! per streamed request by about a fifth and raised non-streaming throughput at c=8 by a third.
//!
//! The cost was memory: idle RSS went from 11 to 20 MiB, because mimalloc asks for transparent
//! huge pages on its arenas (`madvise`), so touching a few small blocks makes 2 MiB resident.
//! Built without that request (the crate's `no_thp` feature; its run-time option would come too
//! late, as the first arena is mapped before `main`), idle RSS is 12.6 MiB (glibc: 11.2).
//!
//! Freed memory goes back to the system after `purge_delay` (1 s) as mimalloc notices it, and
//! [`return_free_memory`] (called by `memory_return` once the proxy is quiet, and when a large
//! request body is freed) purges what is left at once.
//!
//! mimalloc keeps free pages per thread, and only the owning thread can collect them: a collect
//! on a blocking thread left the async workers' free pages resident (after 500 streams, 34 MiB
//! with every connection closed, 12.7 before). So [`return_free_memory`] also asks each worker
//! to collect its own heap, which it does the next time it goes idle ([`on_worker_park`], a
//! runtime hook): an atomic load per park, a collect only after a request for one.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Gives free memory back to the system: mimalloc's pending purges, and glibc's heap top (C code
/// such as SQLite still allocates with glibc's malloc). Takes milliseconds on a large heap:
/// call it off the async workers.
pub fn return_free_memory() {
    COLLECT_REQUESTS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: mi_collect only frees and purges memory that no live allocation uses.
    unsafe { libmimalloc_sys::mi_collect(true) };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory at the top of glibc's heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Bumped by each [`return_free_memory`]; a worker collects when it has not seen the latest.
static COLLECT_REQUESTS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The collect request this thread last served.
    static COLLECTED: Cell<u64> = const { Cell::new(0) };
}

/// For the async runtime's `on_thread_park`: collects this worker's free memory once after each
/// [`return_free_memory`]. A worker parks when it has nothing to do, so the collect (up to a few
/// milliseconds on a large heap) delays nobody.
pub fn on_worker_park() {
    let wanted = COLLECT_REQUESTS.load(Ordering::Relaxed);
    COLLECTED.with(|seen| {
        if seen.get() != wanted {
            seen.set(wanted);
            // SAFETY: as in `return_free_memory`.
            unsafe { libmimalloc_sys::mi_collect(true) };
        }
    });
}
