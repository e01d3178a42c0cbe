//! Client dialects: how a request comes in and how its answer goes out, around one internal form
//! (the chat request, chunks, agent events). Chat completions is the internal form itself; the
//! others translate in ([`responses::request`]) and render out ([`responses::stream`]).
//!
//! A streamed answer is written by an [`SseDialect`]: the SSE writer in `api::sse` owns timing
//! (keep-alives, idle timeout, shutdown, the request log) and asks the dialect for the bytes of
//! each chunk, of a failure after the first byte, and of a clean end.

pub mod chat;
pub mod responses;

use std::future::Future;

use crate::error::ErrorObject;
use crate::wire::ChatChunk;

pub trait SseDialect: Send + 'static {
    /// Bytes to reserve for one chunk's output, so a typical chunk needs no reallocation.
    const CHUNK_BYTES: usize = 256;

    /// Appends the bytes for one chunk (possibly none).
    fn chunk(&mut self, chunk: &ChatChunk, out: &mut Vec<u8>);
    /// The stream broke after its first byte: the dialect's error event; the stream ends after it.
    fn failed(&mut self, error: &ErrorObject, out: &mut Vec<u8>);
    /// A clean end. May wait (e.g. to store the finished response before its last event goes
    /// out, so a client that continues at once finds it).
    fn finish(&mut self, out: &mut Vec<u8>) -> impl Future<Output = ()> + Send;
}
