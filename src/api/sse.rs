//! Writes a chunk stream to the client as Server-Sent Events, in the client's dialect
//! ([`SseDialect`]: chat completions' `data:` lines and `[DONE]`, or Responses events).
//!
//! Each chunk is serialized once and written as soon as it arrives (no buffering). It is
//! written into one buffer the stream keeps, then copied into a frame of exactly its size: the
//! writing stays in memory that is already in cache, and a frame whose length is its capacity
//! becomes `Bytes` without the extra shared-count allocation that a `Vec` with spare room costs
//! (`Bytes::from(Vec)`), one per chunk. While the
//! upstream is silent a `: keep-alive` comment goes out every keep-alive interval, and a silence
//! longer than the idle timeout ends the stream with an error event. After the first byte an
//! upstream failure can no longer change the status, so it becomes the dialect's error event and
//! the stream closes without its clean end: a client must never mistake a cut answer for a whole
//! one.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::time::{Instant, MissedTickBehavior};

use crate::dialect::SseDialect;
use crate::lifecycle::Lifecycle;
use crate::llm::{ChunkStream, LlmError};
use crate::observe::RequestFacts;
use crate::wire::ChatChunk;

pub struct SseOptions {
    pub keepalive: Duration,
    pub idle_timeout: Duration,
    /// When set, the stream ends with an error event once a shutdown's grace period is over.
    pub shutdown: Option<Arc<Lifecycle>>,
}

/// Counts open streams in the `active_streams` gauge for exactly as long as the body lives.
struct ActiveStream;

impl ActiveStream {
    fn open() -> Self {
        ::metrics::gauge!(crate::observe::metrics::ACTIVE_STREAMS).increment(1.0);
        ActiveStream
    }
}

impl Drop for ActiveStream {
    fn drop(&mut self) {
        ::metrics::gauge!(crate::observe::metrics::ACTIVE_STREAMS).decrement(1.0);
    }
}

pub fn sse_response<D: SseDialect>(
    first: ChatChunk,
    mut rest: ChunkStream,
    options: SseOptions,
    facts: RequestFacts,
    mut dialect: D,
) -> Response {
    let must_end = options.shutdown.as_ref().map(|l| l.streams_must_end());
    let body = async_stream::stream! {
        let _active = ActiveStream::open();
        let must_end = async move {
            match must_end {
                Some(deadline) => deadline.await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(must_end);
        let mut first_token_seen = false;
        observe(&first, &facts, &mut first_token_seen);
        let mut out = Vec::with_capacity(4 * D::CHUNK_BYTES);
        dialect.chunk(&first, &mut out);
        yield Ok::<Bytes, Infallible>(frame(&mut out));
        let mut keepalive = tokio::time::interval_at(Instant::now() + options.keepalive, options.keepalive);
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut deadline = Instant::now() + options.idle_timeout;
        loop {
            let next = tokio::select! {
                biased;
                next = tokio::time::timeout_at(deadline, rest.next()) => next,
                _ = keepalive.tick() => {
                    if let Some(bytes) = D::KEEP_ALIVE {
                        yield Ok(Bytes::from_static(bytes));
                    }
                    continue;
                }
                _ = &mut must_end => {
                    let error = crate::error::ErrorObject::new(
                        "The proxy is shutting down and ended this stream; retry the request.",
                        "api_error",
                    )
                    .with_code("server_shutting_down");
                    facts.update(|f| f.stream_error = Some("server shutting down".to_string()));
                    dialect.failed(&error, &mut out);
                    yield Ok(frame(&mut out));
                    return;
                }
            };
            match next {
                Ok(Some(Ok(chunk))) => {
                    observe(&chunk, &facts, &mut first_token_seen);
                    deadline = Instant::now() + options.idle_timeout;
                    keepalive.reset();
                    dialect.chunk(&chunk, &mut out);
                    if !out.is_empty() {
                        yield Ok(frame(&mut out));
                    }
                }
                Ok(Some(Err(error))) => {
                    yield Ok(error_event(&error, &facts, &mut dialect));
                    return;
                }
                Ok(None) => {
                    dialect.finish(&mut out).await;
                    yield Ok(frame(&mut out));
                    return;
                }
                Err(_elapsed) => {
                    let error = LlmError::Timeout(format!(
                        "no data from the upstream for {:.0} s (idle_timeout_secs)",
                        options.idle_timeout.as_secs_f64()
                    ));
                    yield Ok(error_event(&error, &facts, &mut dialect));
                    return;
                }
            }
        }
    };
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(D::CONTENT_TYPE),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The bytes written so far as one frame of exactly their size; `out` is left empty, its room
/// kept for the next chunk.
fn frame(out: &mut Vec<u8>) -> Bytes {
    let bytes = Bytes::copy_from_slice(out);
    out.clear();
    bytes
}

fn error_event<D: SseDialect>(error: &LlmError, facts: &RequestFacts, dialect: &mut D) -> Bytes {
    tracing::warn!(error = %error, "stream ended by an upstream failure");
    let message = error.to_string();
    facts.update(|f| f.stream_error = Some(message));
    let mut out = Vec::with_capacity(D::CHUNK_BYTES);
    dialect.failed(&error.to_error_object(), &mut out);
    Bytes::from(out)
}

/// Records time to first token and usage for the request log; cheap on chunks that carry neither.
fn observe(chunk: &ChatChunk, facts: &RequestFacts, first_token_seen: &mut bool) {
    let has_token = !*first_token_seen
        && chunk.choices.iter().any(|c| {
            c.delta.content.as_deref().is_some_and(|s| !s.is_empty())
                || c.delta
                    .reasoning_content
                    .as_deref()
                    .is_some_and(|s| !s.is_empty())
                || c.delta.tool_calls.is_some()
        });
    if has_token {
        *first_token_seen = true;
        facts.first_token();
    }
    if let Some(usage) = &chunk.usage {
        let usage = usage.clone();
        facts.update(|f| f.usage = Some(usage));
    }
}
