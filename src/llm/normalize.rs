//! The client-facing contract of a stream, enforced in one place for every provider.
//!
//! Upstreams differ in small ways that break strict clients: some omit `role` in the first
//! delta, some vary `created` between chunks, some glue `usage` onto the last choice chunk even
//! when the client asked for a separate usage chunk, some repeat a tool call's name in every
//! fragment (`tool_call_fragments`). [`normalize`] fixes these so that what the
//! client sees follows the fidelity rules (docs/ARCHITECTURE.md, "Fidelity rules") whatever the
//! upstream did.

use futures_util::StreamExt;

use super::tool_call_fragments::ToolCallFragments;
use super::usage_estimate;
use crate::llm::ChunkStream;
use crate::observe::RequestFacts;
use crate::wire::{ChatChunk, Usage};

/// Wraps a chunk stream so that:
/// - the first chunk with choices carries `delta.role = "assistant"`;
/// - each tool call's id, type and name come once, then argument fragments;
/// - `id`, `created` and `model` are those of the first chunk throughout;
/// - with `include_usage`, usage arrives in its own final chunk with `choices: []`;
/// - when the upstream reported no usage by its clean end, an estimate stands in
///   (`usage_estimate`): as that final chunk if the client asked for usage, else recorded in
///   `facts` for the log, the metrics and the `tpm` limits.
pub fn normalize(
    mut upstream: ChunkStream,
    include_usage: bool,
    prompt_tokens: u64,
    facts: Option<RequestFacts>,
) -> ChunkStream {
    Box::pin(async_stream::stream! {
        let mut identity: Option<(String, i64, String)> = None;
        let mut role_sent = false;
        let mut usage_sent = false;
        let mut usage_seen = false;
        let mut answer_bytes = 0usize;
        let mut pending_usage: Option<Usage> = None;
        let mut tool_calls = ToolCallFragments::default();
        while let Some(item) = upstream.next().await {
            let mut chunk = match item {
                Ok(chunk) => chunk,
                Err(error) => {
                    yield Err(error);
                    return;
                }
            };
            match &identity {
                None => {
                    if chunk.id.is_empty() {
                        chunk.id = crate::ids::completion_id();
                    }
                    identity = Some((chunk.id.clone(), chunk.created, chunk.model.clone()));
                }
                Some((id, created, model)) => {
                    if chunk.id != *id {
                        chunk.id.clone_from(id);
                    }
                    chunk.created = *created;
                    if chunk.model != *model {
                        chunk.model.clone_from(model);
                    }
                }
            }
            if !role_sent && !chunk.choices.is_empty() {
                for choice in &mut chunk.choices {
                    if choice.delta.role.is_none() {
                        choice.delta.role = Some("assistant".to_string());
                    }
                }
                role_sent = true;
            }
            tool_calls.fix(&mut chunk);
            usage_seen |= chunk.usage.is_some();
            answer_bytes += usage_estimate::answer_bytes(&chunk);
            if include_usage && chunk.usage.is_some() {
                if chunk.choices.is_empty() {
                    usage_sent = true;
                } else {
                    pending_usage = chunk.usage.take();
                }
            }
            yield Ok(chunk);
        }
        if !usage_seen {
            let estimate = usage_estimate::usage(prompt_tokens, answer_bytes);
            if include_usage {
                pending_usage = Some(estimate);
            } else if let Some(facts) = &facts {
                facts.update(|f| f.usage = Some(estimate));
            }
        }
        if let (Some(usage), false, Some((id, created, model))) = (pending_usage, usage_sent, identity) {
            let mut last = ChatChunk::built(&id, created, &model, None, None);
            last.usage = Some(usage);
            yield Ok(last);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::LlmError;
    use serde_json::json;

    fn chunk(value: serde_json::Value) -> Result<ChatChunk, LlmError> {
        Ok(serde_json::from_value(value).expect("chunk"))
    }

    #[tokio::test]
    async fn splits_glued_usage_and_pins_identity() {
        let upstream: ChunkStream = Box::pin(futures_util::stream::iter(vec![
            chunk(
                json!({"id":"a","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}),
            ),
            chunk(
                json!({"id":"a","created":2,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}),
            ),
        ]));
        let out: Vec<ChatChunk> = normalize(upstream, true, 0, None)
            .map(|c| c.expect("ok"))
            .collect()
            .await;
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].choices[0].delta.role.as_deref(), Some("assistant"));
        assert_eq!(out[1].created, 1);
        assert!(out[1].usage.is_none());
        assert!(out[2].choices.is_empty());
        assert_eq!(out[2].usage.as_ref().map(|u| u.total_tokens), Some(3));
    }
}
