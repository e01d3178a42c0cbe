//! DeepSeek's thinking mode wants its own earlier `reasoning_content` back in every assistant
//! turn that made tool calls; chat UIs never send it, and DeepSeek then rejects the follow-up.
//! The proxy remembers that reasoning by tool-call id when it streams past and puts it back.
//!
//! The memory is bounded (oldest entries go first) so a long-running proxy cannot grow without
//! limit; a forgotten entry only means the follow-up goes upstream as the client sent it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::wire::Message;

pub struct ReasoningMemory {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Default)]
struct Inner {
    by_call_id: HashMap<String, Arc<str>>,
    order: VecDeque<String>,
}

impl ReasoningMemory {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    /// Records `reasoning` for each tool-call id of one assistant turn.
    pub fn remember(&self, call_ids: &[String], reasoning: &str) {
        if call_ids.is_empty() || reasoning.is_empty() {
            return;
        }
        let reasoning: Arc<str> = Arc::from(reasoning);
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for id in call_ids {
            if inner
                .by_call_id
                .insert(id.clone(), reasoning.clone())
                .is_none()
            {
                inner.order.push_back(id.clone());
            }
        }
        while inner.order.len() > self.capacity {
            if let Some(old) = inner.order.pop_front() {
                inner.by_call_id.remove(&old);
            }
        }
    }

    pub fn recall(&self, call_id: &str) -> Option<Arc<str>> {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.by_call_id.get(call_id).cloned()
    }

    /// Puts remembered reasoning into assistant messages that carry tool calls but no
    /// `reasoning_content`. Messages the client already filled are left alone.
    pub fn restore(&self, messages: &mut [Message]) {
        for (index, reasoning) in self.missing(messages) {
            messages[index].0.insert(
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
            messages[index].0.insert(
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
            .filter(|(_, m)| m.role() == "assistant" && !m.0.contains_key("reasoning_content"))
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
        assert_eq!(messages[0].0["reasoning_content"], "second");
    }
}
