//! One chat message of a request: as the client sent it, or as the proxy rendered it.
//!
//! An agent turn builds every model call's messages from the client's messages, the steps the
//! replay puts back and this turn's events, so one message goes into several requests (a tool
//! round is two model calls, a fallback another copy). Two choices keep that cheap:
//!
//! - Shared, copy-on-write: cloning a message is a reference count, not a copy of its JSON
//!   tree; [`Message::fields_mut`] copies only a message that is really changed (DeepSeek's
//!   reasoning put back, content flattened for a provider).
//! - Messages the proxy renders itself (history steps, see `agent::history`) are kept as their
//!   JSON text: written once, copied into each request body as bytes, never built as a map of
//!   `Value`s unless something reads their fields (a provider translating them, a stage), and
//!   then parsed once. The 40 messages a 20-turn chat's replay adds to each model call cost a
//!   copy instead of a tree built, serialised twice and freed.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

#[derive(Clone, Default)]
pub struct Message(Arc<Body>);

#[derive(Clone)]
enum Body {
    Fields(Map<String, Value>),
    /// Rendered by the proxy: its role, and its JSON text with the fields parsed on first read.
    Json {
        role: &'static str,
        text: Box<RawValue>,
        fields: OnceLock<Map<String, Value>>,
    },
}

impl Default for Body {
    fn default() -> Self {
        Body::Fields(Map::new())
    }
}

impl Message {
    pub fn new(fields: Map<String, Value>) -> Self {
        Self(Arc::new(Body::Fields(fields)))
    }

    /// A message the proxy wrote as JSON text: `text` must be an object whose `role` is `role`.
    pub fn rendered(role: &'static str, text: Box<RawValue>) -> Self {
        Self(Arc::new(Body::Json {
            role,
            text,
            fields: OnceLock::new(),
        }))
    }

    /// The message's fields (a rendered message's parsed on first read).
    pub fn fields(&self) -> &Map<String, Value> {
        match &*self.0 {
            Body::Fields(fields) => fields,
            Body::Json { text, fields, .. } => fields.get_or_init(|| parse(text)),
        }
    }

    /// The message's fields to change, copied first if another request shares them.
    pub fn fields_mut(&mut self) -> &mut Map<String, Value> {
        if let Body::Json { text, fields, .. } = &*self.0 {
            let parsed = fields.get().cloned().unwrap_or_else(|| parse(text));
            self.0 = Arc::new(Body::Fields(parsed));
        }
        match Arc::make_mut(&mut self.0) {
            Body::Fields(fields) => fields,
            Body::Json { .. } => unreachable!("a rendered message was just turned into fields"),
        }
    }

    pub fn role(&self) -> &str {
        match &*self.0 {
            Body::Json { role, .. } => role,
            Body::Fields(fields) => fields.get("role").and_then(Value::as_str).unwrap_or(""),
        }
    }

    pub fn content(&self) -> Option<&Value> {
        self.fields().get("content")
    }

    pub fn tool_calls(&self) -> Option<&Vec<Value>> {
        self.fields().get("tool_calls").and_then(Value::as_array)
    }

    /// The plain text of the message: a string content as is, or the text parts of an array
    /// content joined by newlines (images and other parts carry no text).
    pub fn text(&self) -> Option<String> {
        match self.content()? {
            Value::String(s) => Some(s.clone()),
            Value::Array(parts) => Some(super::join_text_parts(parts)),
            _ => None,
        }
    }

    /// The JSON text of a message the proxy rendered; `None` for a client's message. Lets a
    /// reader that only needs a size (the token estimate) skip parsing it.
    pub fn rendered_json(&self) -> Option<&str> {
        match &*self.0 {
            Body::Json { text, .. } => Some(text.get()),
            Body::Fields(_) => None,
        }
    }
}

/// A rendered message's fields. The text was written by the proxy as an object, so a failure
/// here is a bug; it reads as an empty message rather than a panic on a request path.
fn parse(text: &RawValue) -> Map<String, Value> {
    serde_json::from_str(text.get()).unwrap_or_default()
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &*self.0 {
            Body::Fields(fields) => fields.serialize(serializer),
            Body::Json { text, .. } => text.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Map::deserialize(deserializer).map(Message::new)
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.fields() == other.fields()
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.fields().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rendered() -> Message {
        let text = RawValue::from_string(
            json!({"role": "tool", "tool_call_id": "c1", "content": "12:00"}).to_string(),
        )
        .expect("json");
        Message::rendered("tool", text)
    }

    #[test]
    fn a_rendered_message_serialises_as_its_text_and_reads_as_fields() {
        let message = rendered();
        assert_eq!(message.role(), "tool");
        assert_eq!(
            serde_json::to_value(&message).expect("value"),
            json!({"role": "tool", "tool_call_id": "c1", "content": "12:00"})
        );
        assert_eq!(message.text().as_deref(), Some("12:00"));
        assert_eq!(message.fields()["tool_call_id"], "c1");
    }

    #[test]
    fn changing_a_shared_message_leaves_the_other_copy_alone() {
        let original = rendered();
        let mut changed = original.clone();
        changed
            .fields_mut()
            .insert("content".into(), Value::String("13:00".into()));
        assert_eq!(original.text().as_deref(), Some("12:00"));
        assert_eq!(changed.text().as_deref(), Some("13:00"));
        assert_eq!(
            changed.rendered_json(),
            None,
            "a changed message is fields again"
        );
        assert!(
            serde_json::to_string(&changed)
                .expect("text")
                .contains("13:00")
        );
    }
}
