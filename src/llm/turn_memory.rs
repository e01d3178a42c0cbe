//! What a provider needs back from an earlier assistant turn that clients do not keep, remembered
//! by the turn's tool-call ids.
//!
//! Two providers reject a tool-use turn that comes back without what they produced with it:
//! DeepSeek's thinking mode wants its `reasoning_content`, Anthropic's extended thinking wants
//! its `thinking` blocks with their signatures. Chat clients send neither back. The tool-call ids
//! are what every client does resend verbatim, so they are the key.
//!
//! The memory is bounded (oldest entries go first) so a long-running proxy cannot grow without
//! limit; a forgotten entry only means the follow-up goes upstream as the client sent it. It is
//! per process: a follow-up served by another replica goes up without it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

pub struct TurnMemory<V> {
    inner: Mutex<Inner<V>>,
    capacity: usize,
}

struct Inner<V> {
    by_call_id: HashMap<String, V>,
    order: VecDeque<String>,
}

impl<V: Clone> TurnMemory<V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                by_call_id: HashMap::new(),
                order: VecDeque::new(),
            }),
            capacity: capacity.max(1),
        }
    }

    /// Records `value` for each tool-call id of one assistant turn.
    pub fn remember(&self, call_ids: &[String], value: V) {
        if call_ids.is_empty() {
            return;
        }
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for id in call_ids {
            if inner.by_call_id.insert(id.clone(), value.clone()).is_none() {
                inner.order.push_back(id.clone());
            }
        }
        while inner.order.len() > self.capacity {
            if let Some(old) = inner.order.pop_front() {
                inner.by_call_id.remove(&old);
            }
        }
    }

    pub fn recall(&self, call_id: &str) -> Option<V> {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.by_call_id.get(call_id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recalls_by_any_call_id_of_the_turn_and_evicts_oldest() {
        let memory = TurnMemory::new(2);
        memory.remember(&["a".into()], 1);
        memory.remember(&["b".into(), "c".into()], 2);
        assert_eq!(memory.recall("a"), None, "oldest evicted");
        assert_eq!(memory.recall("b"), Some(2));
        assert_eq!(memory.recall("c"), Some(2));
    }
}
