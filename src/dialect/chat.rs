//! Chat completions out, exactly as OpenAI streams it: `data: {chunk}\n\n` per chunk, an
//! `data: {"error":…}` event when the stream breaks, `data: [DONE]\n\n` after a clean end, no
//! `event:` lines.

use super::SseDialect;
use crate::error::ErrorObject;
use crate::wire::ChatChunk;

const DONE: &[u8] = b"data: [DONE]\n\n";

pub struct ChatSse;

impl SseDialect for ChatSse {
    fn chunk(&mut self, chunk: &ChatChunk, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(b"data: ");
        if serde_json::to_writer(&mut *out, chunk).is_err() {
            // Serializing our own types cannot fail (string keys only); keep the stream
            // well-formed anyway.
            out.truncate(start + 6);
            out.extend_from_slice(b"{}");
        }
        out.extend_from_slice(b"\n\n");
    }

    fn failed(&mut self, error: &ErrorObject, out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(error.to_envelope_json().as_bytes());
        out.extend_from_slice(b"\n\n");
    }

    async fn finish(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(DONE);
    }
}
