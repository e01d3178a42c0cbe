//! Client dialects: how a request comes in and how its answer goes out, around one internal form
//! (the chat request, chunks, agent events). Chat completions is the internal form itself; the
//! others translate in ([`responses::request`]) and render out ([`responses::stream`]).
//!
//! A streamed answer is written by an [`SseDialect`]: the SSE writer in `api::sse` owns timing
//! (keep-alives, idle timeout, shutdown, the request log) and asks the dialect for the bytes of
//! each chunk, of a failure after the first byte, and of a clean end.

pub mod anthropic;
pub mod chat;
pub mod chat_build;
pub mod ollama;
pub mod responses;

use std::future::Future;

use serde::Serialize;
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

/// What one chunk says, for a dialect that builds its own items from it (Responses, Anthropic
/// Messages): the writers walk chunks through [`for_each_piece`], so they read the same fields
/// the same way.
pub enum Piece<'a> {
    Reasoning(&'a str),
    Text(&'a str),
    /// A fragment of a tool call the client runs.
    ToolCall {
        index: u32,
        id: Option<&'a str>,
        name: Option<&'a str>,
        arguments: Option<&'a str>,
    },
    Finish(&'a str),
}

/// The first choice's pieces in the order a model produces them: reasoning, text, tool calls,
/// then the finish reason. Empty texts are skipped.
pub fn for_each_piece(chunk: &ChatChunk, mut piece: impl FnMut(Piece<'_>)) {
    for choice in chunk.choices.iter().filter(|c| c.index == 0) {
        let delta = &choice.delta;
        let reasoning = delta.reasoning_content.as_deref().or_else(|| {
            // Upstreams that name the field `reasoning` (OpenRouter, Ollama's /v1).
            delta.extra.get("reasoning").and_then(Value::as_str)
        });
        if let Some(text) = reasoning.filter(|t| !t.is_empty()) {
            piece(Piece::Reasoning(text));
        }
        if let Some(text) = delta.content.as_deref().filter(|t| !t.is_empty()) {
            piece(Piece::Text(text));
        }
        for call in delta.tool_calls.iter().flatten() {
            let function = call.function.as_ref();
            piece(Piece::ToolCall {
                index: call.index,
                id: call.id.as_deref(),
                name: function.and_then(|f| f.name.as_deref()),
                arguments: function.and_then(|f| f.arguments.as_deref()),
            });
        }
        if let Some(reason) = &choice.finish_reason {
            piece(Piece::Finish(reason));
        }
    }
}

/// Writes one named SSE event as the Responses and Messages APIs do: `event: <kind>` and `data: `
/// the body (a JSON object) with `"type": <kind>` put first, then `"sequence_number"` when the
/// dialect numbers its events. Bodies are written straight from borrowed fields: the per-delta
/// events are most of a stream, and building a JSON value for each would cost more than the
/// chunk itself.
pub fn write_event(
    out: &mut Vec<u8>,
    kind: &str,
    sequence: Option<&mut u64>,
    body: &impl Serialize,
) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: {\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.push(b'"');
    if let Some(sequence) = sequence {
        out.extend_from_slice(b",\"sequence_number\":");
        let _ = serde_json::to_writer(&mut *out, sequence);
        *sequence += 1;
    }
    let body_at = out.len();
    match serde_json::to_writer(&mut *out, body) {
        // The body's own `{` goes; a `,` joins it unless it is empty.
        Ok(()) if out.get(body_at) == Some(&b'{') => {
            if out.get(body_at + 1) == Some(&b'}') {
                out.remove(body_at);
            } else {
                out[body_at] = b',';
            }
        }
        _ => {
            out.truncate(body_at);
            out.push(b'}');
        }
    }
    out.extend_from_slice(b"\n\n");
}

/// A streamed answer's wire form. Most dialects stream Server-Sent Events; Ollama's streams
/// newline-delimited JSON, which has no comments, so it sends no keep-alives.
pub trait SseDialect: Send + 'static {
    /// About the bytes one chunk's output takes. The stream's buffer starts with room for a few,
    /// so the first chunk (often with a dialect's opening events) needs no reallocation.
    const CHUNK_BYTES: usize = 256;
    const CONTENT_TYPE: &'static str = "text/event-stream";
    /// What goes out while the upstream is silent, if the format has a way to say nothing.
    const KEEP_ALIVE: Option<&'static [u8]> = Some(b": keep-alive\n\n");

    /// Appends the bytes for one chunk (possibly none).
    fn chunk(&mut self, chunk: &ChatChunk, out: &mut Vec<u8>);
    /// The stream broke after its first byte: the dialect's error event; the stream ends after it.
    fn failed(&mut self, error: &ErrorObject, out: &mut Vec<u8>);
    /// A clean end. May wait (e.g. to store the finished response before its last event goes
    /// out, so a client that continues at once finds it).
    fn finish(&mut self, out: &mut Vec<u8>) -> impl Future<Output = ()> + Send;
}
