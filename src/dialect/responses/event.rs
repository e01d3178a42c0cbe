//! How one Responses SSE event is framed: `event: <type>`, then `data: {"type":"<type>",
//! "sequence_number":N` and the body's fields, then `}` and a blank line. The hand-written
//! events ([`super::message_events`], the lifecycle events) start with [`event_head`]; the rest go
//! through [`write_event`] with a serializable body. Both give the same bytes.

use serde::Serialize;

/// `event: <kind>\ndata: {"type":"<kind>","sequence_number":N` — the body's fields follow, each
/// with its leading comma; the caller closes with `}\n\n`.
pub fn event_head(out: &mut Vec<u8>, kind: &str, sequence: &mut u64) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: {\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"sequence_number\":");
    push_number(out, *sequence);
    *sequence += 1;
}

/// One whole event with a serialized body (its fields after `type` and `sequence_number`).
pub fn write_event(out: &mut Vec<u8>, sequence: &mut u64, kind: &str, body: impl Serialize) {
    crate::dialect::write_event(out, kind, Some(sequence), &body);
}

/// A JSON number, as `serde_json` writes it.
pub fn push_number(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}
