//! Anthropic's Messages API (`/v1/messages`) served to Claude-style clients: [`request`]
//! translates a request onto the chat request every provider and agent takes, [`stream`]
//! renders the answer as Messages events or one `message` object, and [`error_body`] gives every
//! failure Anthropic's error shape.

pub mod request;
pub mod stream;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::SseDialect;
use crate::error::ErrorObject;
use crate::wire::ChatChunk;
use stream::MessageWriter;

/// How one request's answer goes out in the Messages dialect.
pub struct MessagesOut {
    writer: MessageWriter,
}

impl MessagesOut {
    /// `model` as the client named it; `input_estimate` for `message_start` (see `stream`).
    pub fn new(model: &str, input_estimate: u64, stream: bool) -> Self {
        let id = format!("msg_{}", crate::ids::random_hex(24));
        Self {
            writer: MessageWriter::new(id, model.to_string(), input_estimate, !stream),
        }
    }

    /// Runs the whole answer through the writer for a non-streaming request: the object.
    pub fn collect(mut self, chunks: impl IntoIterator<Item = ChatChunk>) -> Value {
        let mut sink = Vec::new();
        for chunk in chunks {
            sink.clear();
            self.writer.chunk(&chunk, &mut sink);
        }
        self.writer.finish(&mut sink).unwrap_or_default()
    }

    pub fn into_sse(self) -> MessagesSse {
        MessagesSse {
            writer: self.writer,
            started: false,
        }
    }
}

/// The streamed form: `message_start` and `ping` before the first chunk's events.
pub struct MessagesSse {
    writer: MessageWriter,
    started: bool,
}

impl MessagesSse {
    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            self.writer.start(out);
        }
    }
}

impl SseDialect for MessagesSse {
    fn chunk(&mut self, chunk: &ChatChunk, out: &mut Vec<u8>) {
        self.start(out);
        self.writer.chunk(chunk, out);
    }

    fn failed(&mut self, error: &ErrorObject, out: &mut Vec<u8>) {
        self.start(out);
        self.writer.fail(error, out);
    }

    async fn finish(&mut self, out: &mut Vec<u8>) {
        self.start(out);
        self.writer.finish(out);
    }
}

/// Anthropic's error type for an HTTP status (what its SDKs map to exception classes).
pub fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 413 | 415 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        504 => "timeout_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

/// `{"type":"error","error":{"type","message"}}`: an error in Anthropic's shape.
pub fn error_body(status: StatusCode, error: &ErrorObject) -> String {
    json!({"type": "error", "error": {"type": error_type(status), "message": error.message}})
        .to_string()
}
