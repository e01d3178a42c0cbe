//! Converting between the two answer shapes: a stream of chunks and one `chat.completion`.
//!
//! The cache stores whole completions and must replay them to streaming clients; a streamed
//! answer must be assembled before it can be stored. Tool-call fragments are joined by `index`,
//! exactly as OpenAI clients do.

use std::collections::BTreeMap;

use serde_json::Map;

use crate::wire::{
    ChatChunk, ChatCompletion, ChunkChoice, CompletionChoice, Delta, FunctionDelta,
    ResponseMessage, ToolCall, ToolCallDelta,
};

/// Accumulates chunks into a completion.
#[derive(Default)]
pub struct Assembler {
    id: String,
    created: i64,
    model: String,
    extra: Map<String, serde_json::Value>,
    choices: BTreeMap<u32, ChoiceParts>,
    usage: Option<crate::wire::Usage>,
}

#[derive(Default)]
struct ChoiceParts {
    content: Option<String>,
    reasoning: Option<String>,
    tool_calls: BTreeMap<u32, ToolCall>,
    finish_reason: Option<String>,
}

impl Assembler {
    pub fn push(&mut self, chunk: &ChatChunk) {
        if self.id.is_empty() {
            self.id.clone_from(&chunk.id);
            self.created = chunk.created;
            self.model.clone_from(&chunk.model);
            self.extra = chunk.extra.clone();
        }
        if chunk.usage.is_some() {
            self.usage.clone_from(&chunk.usage);
        }
        for choice in &chunk.choices {
            let parts = self.choices.entry(choice.index).or_default();
            if let Some(text) = &choice.delta.content {
                parts.content.get_or_insert_with(String::new).push_str(text);
            }
            if let Some(text) = &choice.delta.reasoning_content {
                parts
                    .reasoning
                    .get_or_insert_with(String::new)
                    .push_str(text);
            }
            for call in choice.delta.tool_calls.iter().flatten() {
                let entry = parts
                    .tool_calls
                    .entry(call.index)
                    .or_insert_with(|| ToolCall {
                        kind: "function".to_string(),
                        ..ToolCall::default()
                    });
                if let Some(id) = &call.id {
                    entry.id.clone_from(id);
                }
                if let Some(kind) = &call.kind {
                    entry.kind.clone_from(kind);
                }
                if let Some(function) = &call.function {
                    if let Some(name) = &function.name {
                        entry.function.name.push_str(name);
                    }
                    if let Some(arguments) = &function.arguments {
                        entry.function.arguments.push_str(arguments);
                    }
                }
            }
            if choice.finish_reason.is_some() {
                parts.finish_reason.clone_from(&choice.finish_reason);
            }
        }
    }

    pub fn finish(self) -> ChatCompletion {
        ChatCompletion {
            id: self.id,
            object: "chat.completion".to_string(),
            created: self.created,
            model: self.model,
            choices: self
                .choices
                .into_iter()
                .map(|(index, parts)| CompletionChoice {
                    index,
                    message: ResponseMessage {
                        role: "assistant".to_string(),
                        content: parts.content,
                        reasoning_content: parts.reasoning,
                        tool_calls: (!parts.tool_calls.is_empty())
                            .then(|| parts.tool_calls.into_values().collect()),
                        extra: Map::new(),
                    },
                    finish_reason: parts.finish_reason,
                    extra: Map::new(),
                })
                .collect(),
            usage: self.usage,
            extra: self.extra,
        }
    }
}

/// Replays a completion as the chunks a stream would have carried: reasoning, content and tool
/// calls (each whole), then the finish, then usage when the client asked for it.
pub fn to_chunks(completion: &ChatCompletion, include_usage: bool) -> Vec<ChatChunk> {
    let chunk = |choices: Vec<ChunkChoice>| ChatChunk {
        id: completion.id.clone(),
        object: "chat.completion.chunk".to_string(),
        created: completion.created,
        model: completion.model.clone(),
        choices,
        usage: None,
        extra: completion.extra.clone(),
        step: None,
    };
    let mut out = Vec::new();
    for choice in &completion.choices {
        let message = &choice.message;
        let delta = Delta {
            role: Some("assistant".to_string()),
            content: message.content.clone(),
            reasoning_content: message.reasoning_content.clone(),
            tool_calls: message.tool_calls.as_ref().map(|calls| {
                calls
                    .iter()
                    .enumerate()
                    .map(|(i, call)| ToolCallDelta {
                        index: i as u32,
                        id: Some(call.id.clone()),
                        kind: Some(call.kind.clone()),
                        function: Some(FunctionDelta {
                            name: Some(call.function.name.clone()),
                            arguments: Some(call.function.arguments.clone()),
                            extra: Map::new(),
                        }),
                        extra: Map::new(),
                    })
                    .collect()
            }),
            extra: Map::new(),
        };
        out.push(chunk(vec![ChunkChoice {
            index: choice.index,
            delta,
            finish_reason: None,
            extra: Map::new(),
        }]));
        out.push(chunk(vec![ChunkChoice {
            index: choice.index,
            delta: Delta::default(),
            finish_reason: choice
                .finish_reason
                .clone()
                .or_else(|| Some("stop".to_string())),
            extra: Map::new(),
        }]));
    }
    if include_usage && let Some(usage) = &completion.usage {
        let mut last = chunk(Vec::new());
        last.usage = Some(usage.clone());
        out.push(last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn assembles_and_replays_tool_calls() {
        let mut assembler = Assembler::default();
        for value in [
            json!({"id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"r"},"finish_reason":null}]}),
            json!({"id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]},"finish_reason":null}]}),
            json!({"id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}]}),
        ] {
            assembler.push(&serde_json::from_value(value).expect("chunk"));
        }
        let completion = assembler.finish();
        let message = &completion.choices[0].message;
        assert_eq!(message.reasoning_content.as_deref(), Some("r"));
        let calls = message.tool_calls.as_ref().expect("calls");
        assert_eq!(calls[0].function.arguments, "{\"a\":1}");
        let chunks = to_chunks(&completion, false);
        assert_eq!(chunks.len(), 2);
        assert_eq!(
            chunks[1].choices[0].finish_reason.as_deref(),
            Some("tool_calls")
        );
    }
}
