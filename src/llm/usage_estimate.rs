//! Token usage when the upstream reports none. Some OpenAI-compatible servers (llama.cpp's
//! server, several local runners) send no usage at all, even when asked. Without usage the
//! client's usage chunk never comes, agent runs sum nothing and `tpm` limits charge nothing — a
//! limit any such upstream would bypass. So the proxy estimates: about four bytes of UTF-8 per
//! token (the usual rule of thumb for English with GPT-style tokenizers; other scripts and code
//! differ), over the request's message texts and tools and over everything the answer streamed.
//! Counting bytes keeps the per-chunk cost constant (no character walk on the hot path) and
//! allocates nothing. An estimate carries `"estimated": true` in its usage object, so a client
//! can tell it apart.

use serde_json::Value;

use crate::wire::{ChatChunk, ChatRequest, Usage};

const BYTES_PER_TOKEN: usize = 4;

/// The request's size in estimated tokens (message texts, tool declarations), without copying.
pub fn prompt_tokens(request: &ChatRequest) -> u64 {
    let messages: usize = request
        .messages
        .iter()
        // A message the proxy rendered is counted by its JSON text: reading its content would
        // parse what was written to be copied.
        .map(|m| {
            m.rendered_json()
                .map_or_else(|| text_bytes(m.content()), str::len)
                + 16
        })
        .sum();
    let tools: usize = request
        .extra
        .get("tools")
        .and_then(Value::as_array)
        .map_or(0, |tools| tools.iter().map(json_bytes).sum());
    tokens(messages + tools)
}

/// Bytes of a message's text: string content, or the `text` of its parts.
fn text_bytes(content: Option<&Value>) -> usize {
    match content {
        Some(Value::String(text)) => text.len(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .map(str::len)
            .sum(),
        _ => 0,
    }
}

/// Approximate bytes of a JSON value's strings and keys (a tool declaration).
pub fn json_bytes(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(json_bytes).sum(),
        Value::Object(map) => map.iter().map(|(k, v)| k.len() + json_bytes(v)).sum(),
        _ => 4,
    }
}

/// Bytes an answer chunk adds (text, reasoning, tool call names and arguments).
pub fn answer_bytes(chunk: &ChatChunk) -> usize {
    chunk
        .choices
        .iter()
        .map(|choice| {
            let delta = &choice.delta;
            let text = delta.content.as_deref().map_or(0, str::len)
                + delta.reasoning_content.as_deref().map_or(0, str::len);
            let calls: usize = delta
                .tool_calls
                .iter()
                .flatten()
                .filter_map(|c| c.function.as_ref())
                .map(|f| {
                    f.name.as_deref().map_or(0, str::len)
                        + f.arguments.as_deref().map_or(0, str::len)
                })
                .sum();
            text + calls
        })
        .sum()
}

/// A usage object from estimated counts, marked as an estimate.
pub fn usage(prompt_tokens: u64, answer_bytes: usize) -> Usage {
    let completion_tokens = tokens(answer_bytes);
    let mut usage = Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
        ..Usage::default()
    };
    usage.extra.insert("estimated".into(), Value::Bool(true));
    usage
}

fn tokens(bytes: usize) -> u64 {
    bytes.div_ceil(BYTES_PER_TOKEN) as u64
}
