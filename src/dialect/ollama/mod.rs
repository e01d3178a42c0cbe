//! Ollama's API (`/api/chat`, `/api/generate`) served to tools that speak only Ollama:
//! [`request`] translates onto the chat request every provider and agent takes, [`stream`]
//! writes the answer as Ollama's NDJSON lines or one object.

pub mod request;
pub mod stream;

use serde_json::Value;

use super::SseDialect;
use crate::error::ErrorObject;
use crate::wire::ChatChunk;
use request::Endpoint;
use stream::NdjsonWriter;

/// How one request's answer goes out in Ollama's dialect.
pub struct OllamaOut {
    writer: NdjsonWriter,
}

impl OllamaOut {
    /// `model` as the client named it.
    pub fn new(model: &str, endpoint: Endpoint, stream: bool) -> Self {
        Self {
            writer: NdjsonWriter::new(model.to_string(), endpoint, !stream),
        }
    }

    /// The one object of a non-streaming answer.
    pub fn collect(mut self, chunks: impl IntoIterator<Item = ChatChunk>) -> Value {
        let mut sink = Vec::new();
        for chunk in chunks {
            self.writer.chunk(&chunk, &mut sink);
        }
        self.writer.finish(&mut sink).unwrap_or_default()
    }

    pub fn into_stream(self) -> OllamaNdjson {
        OllamaNdjson {
            writer: self.writer,
        }
    }
}

/// The streamed form: one JSON object per line.
pub struct OllamaNdjson {
    writer: NdjsonWriter,
}

impl SseDialect for OllamaNdjson {
    const CONTENT_TYPE: &'static str = "application/x-ndjson";
    const KEEP_ALIVE: Option<&'static [u8]> = None;

    fn chunk(&mut self, chunk: &ChatChunk, out: &mut Vec<u8>) {
        self.writer.chunk(chunk, out);
    }

    fn failed(&mut self, error: &ErrorObject, out: &mut Vec<u8>) {
        self.writer.fail(error, out);
    }

    async fn finish(&mut self, out: &mut Vec<u8>) {
        self.writer.finish(out);
    }
}
