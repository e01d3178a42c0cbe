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

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Gives free memory back to the system: mimalloc's pending purges, and glibc's heap top (C code
/// such as SQLite still allocates with glibc's malloc). Takes milliseconds on a large heap:
/// call it off the async workers.
pub fn return_free_memory() {
    // SAFETY: mi_collect only frees and purges memory that no live allocation uses.
    unsafe { libmimalloc_sys::mi_collect(true) };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory at the top of glibc's heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}
