//! What a model sees: the agent's instruction, the client's conversation, and what happened so
//! far in this invocation.
//!
//! The client's `messages` are the history: chat clients resend the whole conversation every
//! turn, so earlier turns come from there and the session adds only what the client never saw —
//! earlier turns' server-side steps, put back before the answers they led to (`replay`), and
//! this invocation's steps after the client's messages. An agent's own steps become assistant and tool messages; other
//! agents' steps are rewritten as user-side context ("For context: [planner] said: …"), as ADK
//! does, so a model never mistakes another agent's words or tool calls for its own.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;

use super::config::IncludeContents;
use super::replay::Replay;
use crate::event::{Event, Part};
use crate::wire::Message;

pub fn build(
    agent: &str,
    system: Option<String>,
    include: IncludeContents,
    client: &[Message],
    replay: &Replay,
    events: &[Arc<Event>],
) -> Vec<Message> {
    let mut out = Vec::with_capacity(client.len() + events.len() + 1);
    if let Some(system) = system.filter(|s| !s.trim().is_empty()) {
        out.push(text_message("system", &system));
    }
    let mut events = events;
    match include {
        IncludeContents::Default if replay.is_empty() => out.extend(client.iter().cloned()),
        IncludeContents::Default => {
            for (index, message) in client.iter().enumerate() {
                for step in replay.before(index) {
                    push_event(&mut out, agent, step);
                }
                out.push(message.clone());
            }
        }
        IncludeContents::None => {
            // Only the current turn, which starts (ADK) at the latest user message or the
            // latest reply of another agent, whichever is newer: the events are newer than
            // the client's messages, so another agent's reply there wins.
            let foreign = events
                .iter()
                .rposition(|e| e.author != agent && e.content.is_some());
            match foreign {
                Some(start) => events = &events[start..],
                None => {
                    let start = client.iter().rposition(|m| m.role() == "user").unwrap_or(0);
                    out.extend(client[start..].iter().cloned());
                }
            }
        }
    }
    for event in events {
        push_event(&mut out, agent, event);
    }
    out
}

/// An agent's own step as its assistant and tool messages; another agent's as context.
/// Written once per event (its `memo`), then shared by every model call after.
fn push_event(out: &mut Vec<Message>, agent: &str, event: &Event) {
    let messages = if event.author == agent {
        event.memo.get().own.get_or_init(|| {
            let mut messages = Vec::new();
            own_event(&mut messages, event);
            messages.into_boxed_slice()
        })
    } else {
        event.memo.get().foreign.get_or_init(|| {
            let mut messages = Vec::new();
            foreign_event(&mut messages, event);
            messages.into_boxed_slice()
        })
    };
    out.extend(messages.iter().cloned());
}

/// A message as the proxy writes it: serialised from borrowed parts straight to its JSON text
/// (see `wire::Message`), with no map of values built, copied or freed on the way.
#[derive(Serialize)]
struct Written<'a> {
    role: &'static str,
    content: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tool_calls: &'a [WrittenCall<'a>],
}

#[derive(Serialize)]
struct WrittenCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WrittenFunction<'a>,
}

#[derive(Serialize)]
struct WrittenFunction<'a> {
    name: &'a str,
    arguments: Cow<'a, str>,
}

fn written(message: Written<'_>) -> Message {
    match serde_json::value::to_raw_value(&message) {
        Ok(text) => Message::rendered(message.role, text),
        // Serialising borrowed strings cannot fail; were it to, the message is still sent.
        Err(_) => Message::default(),
    }
}

fn text_message(role: &'static str, content: &str) -> Message {
    written(Written {
        role,
        content,
        tool_call_id: None,
        tool_calls: &[],
    })
}

fn arguments_text(arguments: &Value) -> Cow<'_, str> {
    match arguments {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

fn own_event(out: &mut Vec<Message>, event: &Event) {
    let Some(content) = &event.content else {
        return;
    };
    let text = content.joined_text();
    let calls: Vec<WrittenCall> = content
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall {
                id,
                name,
                arguments,
            } => Some(WrittenCall {
                id,
                kind: "function",
                function: WrittenFunction {
                    name,
                    arguments: arguments_text(arguments),
                },
            }),
            _ => None,
        })
        .collect();
    if !text.is_empty() || !calls.is_empty() {
        out.push(written(Written {
            role: "assistant",
            content: &text,
            tool_call_id: None,
            tool_calls: &calls,
        }));
    }
    for part in &content.parts {
        if let Part::ToolResult { id, response, .. } = part {
            out.push(written(Written {
                role: "tool",
                content: &response.to_string(),
                tool_call_id: Some(id),
                tool_calls: &[],
            }));
        }
    }
}

fn foreign_event(out: &mut Vec<Message>, event: &Event) {
    let Some(content) = &event.content else {
        return;
    };
    let mut lines = Vec::new();
    for part in &content.parts {
        match part {
            Part::Text { text } if !text.trim().is_empty() => {
                lines.push(format!("[{}] said: {text}", event.author))
            }
            Part::ToolCall {
                name, arguments, ..
            } => lines.push(format!(
                "[{}] called tool `{name}` with parameters: {}",
                event.author,
                arguments_text(arguments)
            )),
            Part::ToolResult { name, response, .. } => lines.push(format!(
                "[{}] `{name}` tool returned result: {response}",
                event.author
            )),
            _ => {}
        }
    }
    if !lines.is_empty() {
        let text = format!("For context:\n{}", lines.join("\n"));
        out.push(text_message("user", &text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Content;
    use serde_json::json;

    fn message(value: Value) -> Message {
        Message::new(value.as_object().cloned().unwrap_or_default())
    }

    #[test]
    fn own_steps_are_assistant_and_tool_messages_others_are_context() {
        let client = vec![message(json!({"role": "user", "content": "hi"}))];
        let plan = Event::new("i", "planner").with_content(Content::text("model", "1. greet"));
        let call = Event::new("i", "writer").with_content(Content {
            role: "model".into(),
            parts: vec![Part::ToolCall {
                id: "c1".into(),
                name: "current_time".into(),
                arguments: json!({}),
            }],
        });
        let result = Event::new("i", "writer").with_content(Content {
            role: "tool".into(),
            parts: vec![Part::ToolResult {
                id: "c1".into(),
                name: "current_time".into(),
                response: json!({"time": "12:00"}),
            }],
        });
        let messages = build(
            "writer",
            Some("Be brief.".into()),
            IncludeContents::Default,
            &client,
            &Replay::default(),
            &[plan.into(), call.into(), result.into()],
        );
        let roles: Vec<&str> = messages.iter().map(Message::role).collect();
        assert_eq!(roles, ["system", "user", "user", "assistant", "tool"]);
        assert_eq!(
            messages[2].text().as_deref(),
            Some("For context:\n[planner] said: 1. greet")
        );
        assert_eq!(
            messages[3].fields()["tool_calls"][0]["function"]["arguments"],
            "{}"
        );
        assert_eq!(messages[4].fields()["tool_call_id"], "c1");
    }

    #[test]
    fn an_events_rendering_is_kept_and_a_changed_copy_renders_its_own() {
        let answer: Arc<Event> = Event::new("i", "writer")
            .with_content(Content::text("model", "first"))
            .into();
        let writer_sees = |events: &[Arc<Event>]| {
            build(
                "writer",
                None,
                IncludeContents::Default,
                &[],
                &Replay::default(),
                events,
            )
        };
        let first = writer_sees(std::slice::from_ref(&answer));
        assert!(answer.memo.get().own.get().is_some(), "kept on the event");
        let again = writer_sees(std::slice::from_ref(&answer));
        assert_eq!(first[0].rendered_json(), again[0].rendered_json());

        let mut copy = (*answer).clone();
        copy.content = Some(Content::text("model", "second"));
        let changed = writer_sees(&[copy.into()]);
        assert_eq!(changed[0].text().as_deref(), Some("second"));
        assert_eq!(first[0].text().as_deref(), Some("first"));
    }

    #[test]
    fn include_contents_none_starts_at_the_latest_user_or_other_agent_turn() {
        let client = vec![
            message(json!({"role": "user", "content": "old"})),
            message(json!({"role": "assistant", "content": "old answer"})),
            message(json!({"role": "user", "content": "new"})),
        ];
        let alone = build(
            "writer",
            None,
            IncludeContents::None,
            &client,
            &Replay::default(),
            &[],
        );
        assert_eq!(alone.len(), 1);
        assert_eq!(alone[0].text().as_deref(), Some("new"));

        let plan = Event::new("i", "planner").with_content(Content::text("model", "1. greet"));
        let after_plan = build(
            "writer",
            None,
            IncludeContents::None,
            &client,
            &Replay::default(),
            &[plan.into()],
        );
        assert_eq!(after_plan.len(), 1, "the planner's reply starts the turn");
        assert_eq!(
            after_plan[0].text().as_deref(),
            Some("For context:\n[planner] said: 1. greet")
        );
    }
}
