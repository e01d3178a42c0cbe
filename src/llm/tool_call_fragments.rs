//! Streamed tool calls as the client contract has them: each call's `id`, `type` and `name` once,
//! in its first fragment, then only argument fragments — whatever the upstream sent.
//!
//! Real OpenAI-compatible servers differ here, and an SDK that accumulates fragments (as the
//! official ones do: it appends every `name` and `arguments` piece) breaks on each difference:
//! - llama.cpp's Python server (`chatml-function-calling`) repeats `id`, `type` and the whole
//!   `name` in every chunk: the SDK sees `get_weatherget_weather…`. Later repeats are dropped.
//! - Some servers send no `id`, or an empty one: one is made (`call_<hex>`), since the client must
//!   answer with a `tool_call_id` that names the call.
//! - Some reuse one `id` for two calls, or send every call at `index` 0 each with a new id: a
//!   fragment that brings a different `id` and a `name` for an index whose call already has both
//!   starts a new call at the next free index; a reused id is replaced by a fresh one.
//! - Some send `arguments` whole as a JSON object: `wire` reads it as its JSON text.
//!
//! A `name` piece that differs from the one already sent is kept (a server may stream a long
//! name in pieces). Chunks without tool calls pass untouched, so plain text streams pay one
//! `is_none` check per chunk.

use std::collections::HashMap;

use crate::wire::{ChatChunk, ToolCallDelta};

/// One call as the client has seen it so far.
struct SentCall {
    /// The index the client knows this call by.
    index: u32,
    id: String,
    name: String,
}

#[derive(Default)]
pub struct ToolCallFragments {
    /// (choice index, upstream call index) → the call that index currently continues.
    calls: HashMap<(u32, u32), SentCall>,
    /// Per choice: the next free index and every id given out.
    next_index: HashMap<u32, u32>,
    ids: Vec<String>,
}

impl ToolCallFragments {
    pub fn fix(&mut self, chunk: &mut ChatChunk) {
        for choice in &mut chunk.choices {
            let Some(calls) = choice.delta.tool_calls.as_mut() else {
                continue;
            };
            for call in calls.iter_mut() {
                self.fix_call(choice.index, call);
            }
        }
    }

    fn fix_call(&mut self, choice: u32, call: &mut ToolCallDelta) {
        let key = (choice, call.index);
        let name = call.function.as_ref().and_then(|f| f.name.clone());
        let id = call.id.clone().filter(|id| !id.is_empty());
        let continues = self.calls.get(&key).is_some_and(|sent| {
            let new_call = name.as_ref().is_some_and(|n| !n.is_empty())
                && id.as_ref().is_some_and(|id| *id != sent.id)
                && !sent.name.is_empty();
            !new_call
        });
        if continues {
            let Some(sent) = self.calls.get_mut(&key) else {
                return;
            };
            call.index = sent.index;
            call.id = None;
            call.kind = None;
            if let Some(function) = call.function.as_mut() {
                match function.name.take() {
                    Some(piece) if piece.is_empty() || piece == sent.name => {}
                    Some(piece) => {
                        sent.name.push_str(&piece);
                        function.name = Some(piece);
                    }
                    None => {}
                }
            }
            return;
        }
        // A new call: the upstream index if it is free, else the next one.
        let next = self.next_index.entry(choice).or_insert(0);
        let taken = self.calls.contains_key(&key);
        let index = if taken || call.index < *next {
            *next
        } else {
            call.index
        };
        *next = index + 1;
        let id = match id {
            Some(id) if !self.ids.contains(&id) => id,
            _ => format!("call_{}", crate::ids::random_hex(12)),
        };
        self.ids.push(id.clone());
        call.index = index;
        call.id = Some(id.clone());
        call.kind.get_or_insert_with(|| "function".to_string());
        self.calls.insert(
            key,
            SentCall {
                index,
                id,
                name: name.unwrap_or_default(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assemble::Assembler;
    use serde_json::{Value, json};

    fn chunk(calls: Value) -> ChatChunk {
        serde_json::from_value(json!({"id": "c", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"tool_calls": calls}, "finish_reason": null}]}))
        .expect("chunk")
    }

    fn assembled(chunks: Vec<ChatChunk>) -> Value {
        let mut fixer = ToolCallFragments::default();
        let mut assembler = Assembler::default();
        for mut chunk in chunks {
            fixer.fix(&mut chunk);
            assembler.push(&chunk);
        }
        let completion = assembler.finish();
        serde_json::to_value(&completion.choices[0].message.tool_calls).expect("json")
    }

    #[test]
    fn llama_cpp_repeats_become_one_header_then_arguments() {
        let repeat = |args: &str| {
            chunk(
                json!([{"index": 0, "id": "call__0_get_weather", "type": "function",
                "function": {"name": "get_weather", "arguments": args}}]),
            )
        };
        let calls = assembled(vec![repeat("{\"city\""), repeat(": \"Oslo\""), repeat("}")]);
        assert_eq!(calls[0]["function"]["name"], "get_weather");
        assert_eq!(calls[0]["id"], "call__0_get_weather");
        assert_eq!(calls[0]["function"]["arguments"], "{\"city\": \"Oslo\"}");
    }

    #[test]
    fn missing_reused_and_indexless_ids_become_distinct_calls() {
        let calls = assembled(vec![
            chunk(json!([{"function": {"name": "a", "arguments": "{}"}}])),
            chunk(
                json!([{"index": 0, "id": "same", "function": {"name": "b", "arguments": "{}"}}]),
            ),
            chunk(
                json!([{"index": 0, "id": "same2", "function": {"name": "c", "arguments": {"x": 1}}}]),
            ),
        ]);
        let calls = calls.as_array().expect("calls");
        assert_eq!(calls.len(), 3, "{calls:?}");
        let names: Vec<&str> = calls
            .iter()
            .filter_map(|c| c["function"]["name"].as_str())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(
            calls[0]["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("call_"))
        );
        assert_eq!(calls[2]["function"]["arguments"], "{\"x\":1}");
    }

    #[test]
    fn well_formed_fragments_pass_unchanged() {
        let mut fixer = ToolCallFragments::default();
        let mut first = chunk(json!([{"index": 0, "id": "call_1", "type": "function",
            "function": {"name": "f", "arguments": ""}}]));
        let before = serde_json::to_value(&first).expect("json");
        fixer.fix(&mut first);
        assert_eq!(serde_json::to_value(&first).expect("json"), before);
        let mut second = chunk(json!([{"index": 0, "function": {"arguments": "{}"}}]));
        let before = serde_json::to_value(&second).expect("json");
        fixer.fix(&mut second);
        assert_eq!(serde_json::to_value(&second).expect("json"), before);
    }
}
