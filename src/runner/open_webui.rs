//! Agent work the way Open WebUI shows its own (`reasoning.mode` / `X-Reasoning-Mode:
//! open_webui`), read from its stream handler (`backend/open_webui/utils/middleware.py`, 0.12):
//!
//! - a chunk `{"event": {"type": "status", "data": {"description", "done"}}}` becomes the live
//!   status line above the message (it is handed to the UI's event emitter; a chunk with no
//!   `choices` is otherwise skipped, so nothing else changes);
//! - a `<details type="tool_calls" done="true" id name arguments result files>` block in the
//!   content is rendered as a native tool card ("View Result from …", input and output); the
//!   attributes hold JSON strings, HTML-escaped, as Open WebUI writes them for its own tools;
//! - `delta.annotations` with `url_citation` entries fill the Sources panel.
//!
//! What comes back on the next turn: status lines and sources are not part of the message, the
//! tool cards are — inside the assistant message's text. `api::tool_cards` turns them back into
//! the tool calls and results they were, so no markup reaches a model.
//!
//! Plain OpenAI clients never get any of this: the style is chosen per request or per server.

use serde_json::{Value, json};

/// The `event` object of a status chunk.
pub fn status(description: &str, done: bool) -> Value {
    json!({"type": "status", "data": {"description": description, "done": done}})
}

/// Longest result a card carries (bytes of its text). The card comes back with every later turn
/// of the chat, and the model gets it back from there; the same default bound as the history
/// replay's (`runtime.replay_max_result_bytes`).
pub const CARD_RESULT_BYTES: usize = 4000;

/// A tool card: the call and its result as Open WebUI's own `<details type="tool_calls">` block,
/// on lines of its own.
pub fn tool_card(id: &str, name: &str, arguments: &Value, result: &Value) -> String {
    let arguments = match arguments {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let result = crate::agent::replay::shortened_text(
        match result {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        },
        CARD_RESULT_BYTES,
    );
    // Open WebUI stores `json.dumps(text)`, then HTML-escapes it.
    let attribute = |text: &str| escape(&Value::String(text.to_string()).to_string());
    format!(
        "\n<details type=\"tool_calls\" done=\"true\" id=\"{}\" name=\"{}\" arguments=\"{}\" result=\"{}\" files=\"\">\n<summary>Tool Executed</summary>\n</details>\n",
        escape(id),
        escape(name),
        attribute(&arguments),
        attribute(&result),
    )
}

/// The `annotations` of a delta that lists one web page as a source.
pub fn source(url: &str, title: &str) -> Value {
    json!([{"type": "url_citation", "url_citation": {"url": url, "title": title}}])
}

/// HTML attribute escaping (what Python's `html.escape` does).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            other => out.push(other),
        }
    }
    out
}

/// The inverse of [`escape`] (and of the numeric forms browsers write).
pub fn unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_carries_json_strings_html_escaped() {
        let card = tool_card(
            "call_1",
            "current_time",
            &json!({"timezone": "Asia/Tokyo"}),
            &json!({"time": "12:00 <noon>"}),
        );
        assert!(card.starts_with(
            "\n<details type=\"tool_calls\" done=\"true\" id=\"call_1\" name=\"current_time\""
        ));
        assert!(
            card.contains(
                "arguments=\"&quot;{\\&quot;timezone\\&quot;:\\&quot;Asia/Tokyo\\&quot;}&quot;\""
            ),
            "{card}"
        );
        assert!(card.contains("12:00 &lt;noon&gt;"), "{card}");
        assert_eq!(unescape(&escape("a&b<\"c\">'d'")), "a&b<\"c\">'d'");
        assert_eq!(
            unescape("&#39;x&#x27; &unknown; & done"),
            "'x' &unknown; & done"
        );
    }
}
