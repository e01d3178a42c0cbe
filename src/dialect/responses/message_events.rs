//! The assistant message item's events — `output_item.added`, `content_part.added`, one
//! `output_text.delta` per piece of text, then `output_text.done`, `content_part.done` and
//! `output_item.done` — written from byte templates rather than through serde.
//!
//! Why by hand: the message is most of every Responses stream, and a chat UI sends one request
//! at a time, so each stream runs on caches the client and the upstream have just evicted. With
//! the caches evicted between streams (`cargo bench --bench dialect_render`, `BENCH_COLD`), the
//! serde form — a derived `Serialize` per event shape, and the whole text escaped again for each
//! of the three `done` events and the final `output` — cost twice what chat completions' chunks
//! cost for the same answer; this form writes fixed bytes around two variable parts.
//!
//! The text is escaped once, as each delta goes out, and the escaped bytes are kept and copied
//! into the `done` events and the item. JSON escaping works one character at a time, so the
//! escaped pieces joined are exactly the escaped whole. The tests compare every event with what
//! serde writes for the same body.

use super::event::{event_head, push_number};
use crate::ids::push_random_hex;

/// One open message item.
pub struct MessageEvents {
    /// `,"item_id":"msg_…","output_index":N,"content_index":0`: the fields every event of the
    /// item's text part starts with. The id is hex, so it needs no escaping.
    part_fields: Vec<u8>,
    id: String,
    index: usize,
    /// The text so far, JSON-escaped, without quotes.
    escaped: Vec<u8>,
}

impl MessageEvents {
    /// Announces a message item at output `index` and its (empty) text part.
    pub fn open(out: &mut Vec<u8>, sequence: &mut u64, index: usize) -> Self {
        let mut id = String::with_capacity(20);
        id.push_str("msg_");
        push_random_hex(&mut id, 16);
        let mut part_fields = Vec::with_capacity(id.len() + 56);
        part_fields.extend_from_slice(b",\"item_id\":\"");
        part_fields.extend_from_slice(id.as_bytes());
        part_fields.extend_from_slice(b"\",\"output_index\":");
        push_number(&mut part_fields, index);
        part_fields.extend_from_slice(b",\"content_index\":0");
        let events = Self {
            part_fields,
            id,
            index,
            escaped: Vec::with_capacity(256),
        };
        out.reserve(480);
        event_head(out, "response.output_item.added", sequence);
        events.item(out, b"in_progress", None);
        out.extend_from_slice(b"}\n\n");
        event_head(out, "response.content_part.added", sequence);
        out.extend_from_slice(&events.part_fields);
        out.extend_from_slice(b",\"part\":");
        push_part(out, b"");
        out.extend_from_slice(b"}\n\n");
        events
    }

    /// The item's output index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// One piece of the text.
    pub fn delta(&mut self, out: &mut Vec<u8>, sequence: &mut u64, text: &str) {
        out.reserve(self.part_fields.len() + 2 * text.len() + 128);
        event_head(out, "response.output_text.delta", sequence);
        out.extend_from_slice(&self.part_fields);
        out.extend_from_slice(b",\"delta\":");
        let quoted = out.len();
        let _ = serde_json::to_writer(&mut *out, text); // a `&str` always serializes
        if let Some(escaped) = out.get(quoted + 1..out.len() - 1) {
            self.escaped.extend_from_slice(escaped);
        }
        out.extend_from_slice(b",\"logprobs\":[]}\n\n");
    }

    /// Finishes the text and the item; returns the item's JSON text, for the final `output`.
    pub fn close(self, out: &mut Vec<u8>, sequence: &mut u64) -> String {
        // The text goes out three times here and once more in the final event.
        out.reserve(3 * self.escaped.len() + 3 * self.part_fields.len() + 640);
        event_head(out, "response.output_text.done", sequence);
        out.extend_from_slice(&self.part_fields);
        out.extend_from_slice(b",\"text\":\"");
        out.extend_from_slice(&self.escaped);
        out.extend_from_slice(b"\",\"logprobs\":[]}\n\n");
        event_head(out, "response.content_part.done", sequence);
        out.extend_from_slice(&self.part_fields);
        out.extend_from_slice(b",\"part\":");
        push_part(out, &self.escaped);
        out.extend_from_slice(b"}\n\n");
        event_head(out, "response.output_item.done", sequence);
        let item_at = self.item(out, b"completed", Some(&self.escaped));
        let item = out.get(item_at..).map(<[u8]>::to_vec).unwrap_or_default();
        out.extend_from_slice(b"}\n\n");
        // Only our own bytes: ASCII around text that came from a `&str`.
        String::from_utf8(item).unwrap_or_default()
    }

    /// `,"output_index":N,"item":{…}`, the item with its one text part once there is text;
    /// returns where the item's object starts in `out`.
    fn item(&self, out: &mut Vec<u8>, status: &[u8], text: Option<&[u8]>) -> usize {
        out.extend_from_slice(b",\"output_index\":");
        push_number(out, self.index);
        out.extend_from_slice(b",\"item\":");
        let item_at = out.len();
        out.extend_from_slice(b"{\"id\":\"");
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(b"\",\"type\":\"message\",\"status\":\"");
        out.extend_from_slice(status);
        out.extend_from_slice(b"\",\"role\":\"assistant\",\"content\":[");
        if let Some(text) = text {
            push_part(out, text);
        }
        out.extend_from_slice(b"]}");
        item_at
    }
}

/// An `output_text` part holding `escaped` (JSON-escaped, without quotes).
fn push_part(out: &mut Vec<u8>, escaped: &[u8]) {
    out.extend_from_slice(b"{\"type\":\"output_text\",\"text\":\"");
    out.extend_from_slice(escaped);
    out.extend_from_slice(b"\",\"annotations\":[],\"logprobs\":[]}");
}

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use serde_json::Value;

    use super::*;
    use crate::dialect::responses::event::write_event;

    // The shapes as serde writes them: the reference the templates must match byte for byte.

    #[derive(Serialize)]
    struct ItemEvent<T: Serialize> {
        output_index: usize,
        item: T,
    }

    #[derive(Serialize)]
    struct MessageItem<'a> {
        id: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
        status: &'static str,
        role: &'static str,
        content: Vec<OutputText<'a>>,
    }

    #[derive(Serialize, Clone, Copy)]
    struct OutputText<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        text: &'a str,
        annotations: [(); 0],
        logprobs: [(); 0],
    }

    #[derive(Serialize)]
    struct PartEvent<'a> {
        item_id: &'a str,
        output_index: usize,
        content_index: u32,
        part: OutputText<'a>,
    }

    #[derive(Serialize)]
    struct Delta<'a> {
        item_id: &'a str,
        output_index: usize,
        content_index: u32,
        delta: &'a str,
        logprobs: [(); 0],
    }

    #[derive(Serialize)]
    struct TextDone<'a> {
        item_id: &'a str,
        output_index: usize,
        content_index: u32,
        text: &'a str,
        logprobs: [(); 0],
    }

    fn part(text: &str) -> OutputText<'_> {
        OutputText {
            kind: "output_text",
            text,
            annotations: [],
            logprobs: [],
        }
    }

    fn message<'a>(
        id: &'a str,
        status: &'static str,
        content: Vec<OutputText<'a>>,
    ) -> MessageItem<'a> {
        MessageItem {
            id,
            kind: "message",
            status,
            role: "assistant",
            content,
        }
    }

    /// Every event of a message, from the templates and from serde, for text that needs every
    /// kind of escape, split across deltas in the middle of escaped characters' neighbours.
    #[test]
    fn the_templates_write_what_serde_writes() {
        let pieces = [
            "first ",
            "quote \" back\\slash ",
            "new\nline\ttab ",
            "é ☃ \u{1} \u{7f}",
            "",
        ];
        let whole: String = pieces.concat();
        for index in [0usize, 7, 12] {
            let mut sequence = 3;
            let mut ours = Vec::new();
            let mut events = MessageEvents::open(&mut ours, &mut sequence, index);
            for piece in pieces {
                events.delta(&mut ours, &mut sequence, piece);
            }
            let id = events.id.clone();
            let item_text = events.close(&mut ours, &mut sequence);

            let mut seq = 3;
            let mut theirs = Vec::new();
            let kind = "response.output_item.added";
            write_event(
                &mut theirs,
                &mut seq,
                kind,
                ItemEvent {
                    output_index: index,
                    item: message(&id, "in_progress", vec![]),
                },
            );
            let body = PartEvent {
                item_id: &id,
                output_index: index,
                content_index: 0,
                part: part(""),
            };
            write_event(&mut theirs, &mut seq, "response.content_part.added", body);
            for piece in pieces {
                let body = Delta {
                    item_id: &id,
                    output_index: index,
                    content_index: 0,
                    delta: piece,
                    logprobs: [],
                };
                write_event(&mut theirs, &mut seq, "response.output_text.delta", body);
            }
            let body = TextDone {
                item_id: &id,
                output_index: index,
                content_index: 0,
                text: &whole,
                logprobs: [],
            };
            write_event(&mut theirs, &mut seq, "response.output_text.done", body);
            let body = PartEvent {
                item_id: &id,
                output_index: index,
                content_index: 0,
                part: part(&whole),
            };
            write_event(&mut theirs, &mut seq, "response.content_part.done", body);
            let item = message(&id, "completed", vec![part(&whole)]);
            let item_json = serde_json::to_string(&item).expect("item");
            write_event(
                &mut theirs,
                &mut seq,
                "response.output_item.done",
                ItemEvent {
                    output_index: index,
                    item,
                },
            );

            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            );
            assert_eq!(sequence, seq);
            assert_eq!(item_text, item_json);
            let parsed: Value = serde_json::from_str(&item_text).expect("JSON");
            assert_eq!(parsed["content"][0]["text"], whole.as_str());
        }
    }
}
