//! Token usage when the upstream reports none. Some OpenAI-compatible servers (llama.cpp's
//! server, several local runners) send no usage at all, even when asked. Without usage the
//! client's usage chunk never comes, agent runs sum nothing and `tpm` limits charge nothing — a
//! limit any such upstream would bypass. So the proxy estimates: about four characters per token
//! (the usual rule of thumb for English with GPT-style tokenizers; other scripts and code differ),
//! counted over the request's messages and tools and over everything the answer streamed. An
//! estimate carries `"estimated": true` in its usage object, so a client can tell it apart.

use serde_json::Value;

use crate::wire::{ChatChunk, ChatRequest, Usage};

const CHARS_PER_TOKEN: usize = 4;

/// The request's size in estimated tokens.
pub fn prompt_tokens(request: &ChatRequest) -> u64 {
    let messages: usize = request
        .messages
        .iter()
        .map(|m| m.text().map_or(0, |t| t.chars().count()) + 4)
        .sum();
    let tools = request
        .extra
        .get("tools")
        .map_or(0, |t| t.to_string().chars().count());
    tokens(messages + tools)
}

/// Characters an answer chunk adds (text, reasoning, tool call names and arguments).
pub fn answer_chars(chunk: &ChatChunk) -> usize {
    chunk
        .choices
        .iter()
        .map(|choice| {
            let delta = &choice.delta;
            let text = delta.content.as_deref().map_or(0, |t| t.chars().count())
                + delta
                    .reasoning_content
                    .as_deref()
                    .map_or(0, |t| t.chars().count());
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
pub fn usage(prompt_tokens: u64, answer_chars: usize) -> Usage {
    let completion_tokens = tokens(answer_chars);
    let mut usage = Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
        ..Usage::default()
    };
    usage.extra.insert("estimated".into(), Value::Bool(true));
    usage
}

fn tokens(chars: usize) -> u64 {
    chars.div_ceil(CHARS_PER_TOKEN) as u64
}
