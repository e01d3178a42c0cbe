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

use serde_json::{Map, Value};

use crate::error::{ApiError, ErrorObject};
use crate::wire::ChatChunk;

/// A request body as a JSON object, or the 400 every dialect gives for one that is not.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid_request(
            format!("We could not parse the JSON body of your request: {e}."),
            None,
            "invalid_json",
        )
    })?;
    match value {
        Value::Object(object) => Ok(object),
        other => Err(ApiError::invalid_request(
            format!(
                "The request body must be a JSON object, but got {}.",
                type_name(&other)
            ),
            None,
            "invalid_type",
        )),
    }
}

/// The 400 for a field of the wrong JSON type, in OpenAI's wording.
pub fn invalid_type(field: &str, expected: &str, got: &Value) -> ApiError {
    ApiError::invalid_request(
        format!(
            "Invalid type for '{field}': expected {expected}, but got {} instead.",
            type_name(got)
        ),
        Some(field),
        "invalid_type",
    )
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

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
