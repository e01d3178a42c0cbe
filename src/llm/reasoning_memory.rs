//! DeepSeek's thinking mode wants its own earlier `reasoning_content` back in every assistant
//! turn that made tool calls; chat UIs never send it, and DeepSeek then rejects the follow-up.
//! The proxy remembers that reasoning by tool-call id when it streams past ([`TurnMemory`]) and
//! puts it back.

use std::sync::Arc;

use serde_json::Value;

use super::turn_memory::TurnMemory;
use crate::wire::Message;

pub struct ReasoningMemory {
    turns: TurnMemory<Arc<str>>,
}

impl ReasoningMemory {
    pub fn new(capacity: usize) -> Self {
        Self {
            turns: TurnMemory::new(capacity),
        }
    }

    /// Records `reasoning` for each tool-call id of one assistant turn.
    pub fn remember(&self, call_ids: &[String], reasoning: &str) {
        if !reasoning.is_empty() {
            self.turns.remember(call_ids, Arc::from(reasoning));
        }
    }

    pub fn recall(&self, call_id: &str) -> Option<Arc<str>> {
        self.turns.recall(call_id)
    }

    /// Puts remembered reasoning into assistant messages that carry tool calls but no
    /// `reasoning_content`. Messages the client already filled are left alone.
    pub fn restore(&self, messages: &mut [Message]) {
        for (index, reasoning) in self.missing(messages) {
            messages[index].fields_mut().insert(
                "reasoning_content".to_string(),
                Value::String(reasoning.to_string()),
            );
        }
    }

    /// The same for a shared request: copied only when some reasoning goes back in.
    pub fn restore_shared(&self, body: &mut std::sync::Arc<crate::wire::ChatRequest>) {
        let missing = self.missing(&body.messages);
        if missing.is_empty() {
            return;
        }
        let messages = &mut std::sync::Arc::make_mut(body).messages;
        for (index, reasoning) in missing {
            messages[index].fields_mut().insert(
                "reasoning_content".to_string(),
                Value::String(reasoning.to_string()),
            );
        }
    }

    /// (message index, remembered reasoning) for each message that lacks it.
    fn missing(&self, messages: &[Message]) -> Vec<(usize, Arc<str>)> {
        messages
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                m.role() == "assistant" && !m.fields().contains_key("reasoning_content")
            })
            .filter_map(|(index, message)| {
                let reasoning = message.tool_calls().and_then(|calls| {
                    calls
                        .iter()
                        .filter_map(|c| c.get("id").and_then(Value::as_str))
                        .find_map(|id| self.recall(id))
                })?;
                Some((index, reasoning))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn restores_by_call_id_and_evicts_oldest() {
        let memory = ReasoningMemory::new(2);
        memory.remember(&["a".into()], "first");
        memory.remember(&["b".into(), "c".into()], "second");
        assert!(memory.recall("a").is_none(), "oldest evicted");
        let mut messages: Vec<Message> = vec![
            serde_json::from_value(json!({"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]})).expect("msg"),
        ];
        memory.restore(&mut messages);
        assert_eq!(messages[0].fields()["reasoning_content"], "second");
    }
}
