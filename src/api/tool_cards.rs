//! Open WebUI tool cards coming back: on every later turn Open WebUI sends the assistant
//! message's text as it was streamed, so the `<details type="tool_calls" …>` blocks the
//! `open_webui` style put there (`runner::open_webui`) come back inside it, HTML-escaped. They are
//! turned back into what they were — an assistant message with the tool calls, a `tool` message
//! per result — ahead of the remaining text, so a model never sees the markup, and the history
//! replay recognises the calls by id instead of adding them a second time.

use serde_json::{Value, json};

use crate::runner::open_webui::unescape;
use crate::wire::Message;

const OPEN: &str = "<details type=\"tool_calls\"";
const CLOSE: &str = "</details>";

/// Unfolds the cards in every assistant message of `messages`.
pub fn unfold(messages: &mut Vec<Message>) {
    if !messages
        .iter()
        .any(|m| m.role() == "assistant" && m.text().is_some_and(|t| t.contains(OPEN)))
    {
        return;
    }
    let mut out = Vec::with_capacity(messages.len() + 2);
    for message in messages.drain(..) {
        let text = match message.text() {
            Some(text) if message.role() == "assistant" && text.contains(OPEN) => text,
            _ => {
                out.push(message);
                continue;
            }
        };
        let (cards, rest) = split(&text);
        if !cards.is_empty() {
            let calls: Vec<Value> = cards
                .iter()
                .map(|c| {
                    json!({"id": c.id, "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments}})
                })
                .collect();
            out.push(message_of(
                json!({"role": "assistant", "content": null, "tool_calls": calls}),
            ));
            for card in &cards {
                out.push(message_of(
                    json!({"role": "tool", "tool_call_id": card.id, "content": card.result}),
                ));
            }
        }
        if !rest.trim().is_empty() || cards.is_empty() {
            let mut kept = message;
            kept.fields_mut()
                .insert("content".into(), Value::String(rest));
            out.push(kept);
        }
    }
    *messages = out;
}

fn message_of(value: Value) -> Message {
    Message::new(value.as_object().cloned().unwrap_or_default())
}

/// One card: the call and its result, as texts.
#[derive(Debug, PartialEq)]
struct Card {
    id: String,
    name: String,
    arguments: String,
    result: String,
}

/// The cards in `text`, and the text without them.
fn split(text: &str) -> (Vec<Card>, String) {
    let mut cards = Vec::new();
    let mut rest = String::with_capacity(text.len());
    let mut remaining = text;
    while let Some(start) = remaining.find(OPEN) {
        let Some(tag_end) = remaining[start..].find('>').map(|e| start + e) else {
            break;
        };
        let Some(close) = remaining[tag_end..].find(CLOSE).map(|e| tag_end + e) else {
            break;
        };
        rest.push_str(&remaining[..start]);
        let tag = &remaining[start..tag_end];
        let attribute = |name: &str| attribute(tag, name).unwrap_or_default();
        // Values are JSON strings (Open WebUI's `json.dumps(text)`); a bare value is kept.
        let decoded = |name: &str| {
            let raw = attribute(name);
            match serde_json::from_str::<Value>(&raw) {
                Ok(Value::String(text)) => text,
                _ => raw,
            }
        };
        let id = attribute("id");
        if !id.is_empty() {
            cards.push(Card {
                id,
                name: attribute("name"),
                arguments: decoded("arguments"),
                result: decoded("result"),
            });
        }
        remaining = &remaining[close + CLOSE.len()..];
    }
    rest.push_str(remaining);
    (cards, rest.trim().to_string())
}

/// An attribute's value in an opening tag, HTML-unescaped.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::open_webui::tool_card;

    #[test]
    fn cards_become_tool_calls_and_results_before_the_text() {
        let card = tool_card(
            "call_7",
            "current_time",
            &json!({"timezone": "Asia/Tokyo"}),
            &json!({"time": "19:00"}),
        );
        let mut messages = vec![
            message_of(json!({"role": "user", "content": "time?"})),
            message_of(json!({"role": "assistant", "content": format!("{card}It is 19:00.")})),
            message_of(json!({"role": "user", "content": "thanks"})),
        ];
        unfold(&mut messages);
        let roles: Vec<&str> = messages.iter().map(Message::role).collect();
        assert_eq!(roles, ["user", "assistant", "tool", "assistant", "user"]);
        assert_eq!(messages[1].fields()["tool_calls"][0]["id"], "call_7");
        assert_eq!(
            messages[1].fields()["tool_calls"][0]["function"]["arguments"],
            "{\"timezone\":\"Asia/Tokyo\"}"
        );
        assert_eq!(messages[2].fields()["content"], "{\"time\":\"19:00\"}");
        assert_eq!(messages[3].fields()["content"], "It is 19:00.");
        assert!(
            !serde_json::to_string(&messages)
                .unwrap_or_default()
                .contains("<details")
        );
    }
}
