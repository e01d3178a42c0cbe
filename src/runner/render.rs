//! Rendering agent events as OpenAI chunks, by this table (docs/ARCHITECTURE.md, "Agent work as chunks"):
//!
//! | event                                   | rendering                                        |
//! |-----------------------------------------|--------------------------------------------------|
//! | answering agent's text                  | `delta.content`                                  |
//! | model reasoning                         | reasoning channel                                |
//! | another agent's text                    | reasoning channel, prefixed once with its name   |
//! | server-side tool call / result          | reasoning channel, one short line each           |
//! | transfer                                | reasoning channel line                           |
//! | client-side tool call                   | `delta.tool_calls`, finish_reason `tool_calls`   |
//! | usage of every model call               | summed into the final usage                      |
//!
//! The *reasoning channel* depends on [`ReasoningMode`]: `reasoning_content` (DeepSeek, Open
//! WebUI, LibreChat), `reasoning` (OpenRouter, Ollama /v1), `think_tags` (`<think>…</think>` inline
//! in content, for clients that only parse tags) or `hidden`. Which events are the answer is the
//! runner's decision (it knows the workflow and each agent's `stream:` setting), passed in as a
//! [`Channel`]; the renderer only renders.

use serde_json::{Map, Value};

use crate::event::{Event, Part};
pub use crate::wire::ReasoningMode;
use crate::wire::{AgentStep, ChatChunk, Delta, FunctionDelta, ToolCallDelta, Usage};

/// Where the runner wants an event's text and tool calls to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The final answer: text as content, tool calls as client tool calls.
    Answer,
    /// Intermediate work: text, tool calls and results as reasoning lines.
    Thought,
    /// Counted (usage) but not shown.
    Hidden,
}

/// Longest tool argument or result shown in a reasoning line.
const PREVIEW_CHARS: usize = 200;

pub struct EventRenderer {
    mode: ReasoningMode,
    id: String,
    created: i64,
    model: String,
    role_sent: bool,
    think_open: bool,
    last_thought_author: Option<String>,
    client_tool_calls: u32,
    usage: Option<Usage>,
    /// Per author, the text of the partial events rendered since its last complete event: that
    /// complete event repeats it, which must not reach the client twice — only what differs.
    streamed: std::collections::HashMap<String, String>,
    finish_reason: Option<&'static str>,
    /// The event (model response) that wrote the answer last, and whether that text ended in
    /// whitespace: a new response's answer text starts a new paragraph instead of running on.
    last_answer: Option<(String, bool)>,
    /// `open_webui` mode: the agent the status line names, and server-side calls waiting for
    /// their results (id → name, arguments) to become tool cards.
    status_author: Option<String>,
    /// Agents that worked in this run, in order (the final status names a hand-over).
    status_agents: Vec<String>,
    pending_calls: std::collections::HashMap<String, (String, Value)>,
}

impl EventRenderer {
    pub fn new(mode: ReasoningMode, id: &str, created: i64, model: &str) -> Self {
        Self {
            mode,
            id: id.to_string(),
            created,
            model: model.to_string(),
            role_sent: false,
            think_open: false,
            last_thought_author: None,
            client_tool_calls: 0,
            usage: None,
            streamed: Default::default(),
            finish_reason: None,
            last_answer: None,
            status_author: None,
            status_agents: Vec::new(),
            pending_calls: Default::default(),
        }
    }

    /// Ends the answer with `finish_reason: "length"`: the run stopped at a limit.
    pub fn mark_truncated(&mut self) {
        self.finish_reason = Some("length");
    }

    /// The chunks for one event (none when nothing is visible).
    pub fn render(&mut self, event: &Event, channel: Channel) -> Vec<ChatChunk> {
        if let Some(usage) = &event.usage {
            let total = self.usage.get_or_insert_with(Usage::default);
            total.prompt_tokens += usage.prompt_tokens;
            total.completion_tokens += usage.completion_tokens;
            total.total_tokens += usage
                .total_tokens
                .max(usage.prompt_tokens + usage.completion_tokens);
        }
        let mut out = Vec::new();
        let already_streamed = if event.partial {
            // Per streamed chunk: append in place, allocating only for an author's first chunk.
            if !self.streamed.contains_key(&event.author) {
                self.streamed.insert(event.author.clone(), String::new());
            }
            if let Some(streamed) = self.streamed.get_mut(&event.author) {
                for part in event.content.iter().flat_map(|c| &c.parts) {
                    if let Part::Text { text } = part {
                        streamed.push_str(text);
                    }
                }
            }
            None
        } else {
            self.streamed.remove(&event.author)
        };
        let client_call = |part: &Part| matches!(part, Part::ToolCall { id, .. } if event.client_call_ids.contains(id));
        if channel == Channel::Hidden {
            // Hidden work stays hidden, except a call the client has to run itself.
            let calls: Vec<Part> = event
                .content
                .iter()
                .flat_map(|c| c.parts.iter())
                .filter(|p| client_call(p))
                .cloned()
                .collect();
            for part in calls {
                if let Part::ToolCall {
                    id,
                    name,
                    arguments,
                } = part
                {
                    self.client_tool_call(&mut out, &id, &name, &arguments);
                }
            }
            return out;
        }
        let cards = self.mode == ReasoningMode::OpenWebui;
        if cards && event.content.is_some() && self.status_author.as_deref() != Some(&event.author)
        {
            self.status_author = Some(event.author.clone());
            if !self.status_agents.contains(&event.author) {
                self.status_agents.push(event.author.clone());
            }
            self.status(&mut out, &format!("{} is working…", event.author), false);
        }
        if let Some(target) = &event.actions.transfer_to_agent {
            if cards {
                self.status(&mut out, &format!("Handing over to {target}"), false);
            }
            self.thought(
                &mut out,
                &event.author,
                &format!("→ transferring to {target}\n"),
            );
        }
        let Some(content) = &event.content else {
            return out;
        };
        if let Some(streamed) = &already_streamed {
            // The complete event repeats what streamed; only a change (an `after_model` callback
            // replaced the text) is rendered: the rest of an extended text, or the new text as a
            // correction, since what a client has shown cannot be taken back.
            let complete = content.joined_text();
            let change = match complete.strip_prefix(streamed.as_str()) {
                Some(rest) => rest.to_string(),
                None => format!("\n\n---\n**Correction:** {complete}"),
            };
            match channel {
                _ if change.is_empty() => {}
                Channel::Answer => self.answer(&mut out, &change, &event.id),
                _ => self.thought(&mut out, &event.author, &change),
            }
        }
        for part in &content.parts {
            match (part, channel) {
                (Part::Reasoning { .. } | Part::Text { .. }, _) if already_streamed.is_some() => {}
                (Part::Reasoning { text }, _) if self.mode == ReasoningMode::Steps => {
                    self.thinking_step(&mut out, &event.author, text)
                }
                (Part::Reasoning { text }, _) => self.reasoning(&mut out, text),
                (Part::Text { text }, Channel::Answer) => self.answer(&mut out, text, &event.id),
                (Part::Text { text }, _) => self.thought(&mut out, &event.author, text),
                (
                    Part::ToolCall {
                        id,
                        name,
                        arguments,
                    },
                    _,
                ) if client_call(part) => self.client_tool_call(&mut out, id, name, arguments),
                (
                    Part::ToolCall {
                        id,
                        name,
                        arguments,
                    },
                    _,
                ) if self.mode == ReasoningMode::Steps => {
                    let arguments = match arguments {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let step = AgentStep::ToolCall {
                        agent: event.author.clone(),
                        id: id.clone(),
                        name: name.clone(),
                        arguments,
                    };
                    self.step(&mut out, step, None);
                }
                (Part::ToolResult { id, name, response }, _)
                    if self.mode == ReasoningMode::Steps =>
                {
                    let output = match response {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let step = AgentStep::ToolResult {
                        agent: event.author.clone(),
                        id: id.clone(),
                        name: name.clone(),
                        output,
                    };
                    self.step(&mut out, step, None);
                }
                // A hand-over shows in the status line, not as a card.
                (Part::ToolCall { name, .. } | Part::ToolResult { name, .. }, _)
                    if cards && name == "transfer_to_agent" => {}
                (
                    Part::ToolCall {
                        id,
                        name,
                        arguments,
                    },
                    _,
                ) if cards => {
                    self.status(&mut out, &format!("Calling {name}…"), false);
                    self.pending_calls
                        .insert(id.clone(), (name.clone(), arguments.clone()));
                }
                (
                    Part::ToolCall {
                        name, arguments, ..
                    },
                    _,
                ) => {
                    let line = format!("\n🔧 {name}({})\n", preview(&arguments.to_string()));
                    self.thought(&mut out, &event.author, &line);
                }
                (Part::ToolResult { id, name, response }, _) if cards => {
                    let arguments = self
                        .pending_calls
                        .remove(id)
                        .map_or(Value::Null, |(_, arguments)| arguments);
                    self.tool_card(&mut out, id, name, &arguments, response);
                }
                (Part::ToolResult { name, response, .. }, _) => {
                    let line = format!("↳ {name}: {}\n", preview(&response.to_string()));
                    self.thought(&mut out, &event.author, &line);
                }
            }
        }
        out
    }

    /// The closing chunks: a finish reason (`tool_calls` when the client must run tools), then
    /// the summed usage when the client asked for it.
    pub fn finish(&mut self, include_usage: bool) -> Vec<ChatChunk> {
        let mut out = Vec::new();
        if self.think_open {
            self.think_open = false;
            self.push(
                &mut out,
                Delta {
                    content: Some("</think>\n".into()),
                    ..Delta::default()
                },
                None,
            );
        }
        if self.mode == ReasoningMode::OpenWebui && self.status_author.is_some() {
            let done = match self.status_agents.as_slice() {
                [_] | [] => "Done".to_string(),
                agents => format!("Done: {}", agents.join(" → ")),
            };
            self.status(&mut out, &done, true);
        }
        let reason = match self.finish_reason {
            Some(reason) => reason,
            None if self.client_tool_calls > 0 => "tool_calls",
            None => "stop",
        };
        self.push(&mut out, Delta::default(), Some(reason.to_string()));
        if include_usage && let Some(usage) = self.usage.clone() {
            let mut last = ChatChunk::built(&self.id, self.created, &self.model, None, None);
            last.usage = Some(usage);
            out.push(last);
        }
        out
    }

    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    fn answer(&mut self, out: &mut Vec<ChatChunk>, text: &str, event_id: &str) {
        if text.is_empty() {
            return;
        }
        let mut content = String::new();
        if self.think_open {
            self.think_open = false;
            content.push_str("</think>\n");
        }
        if let Some((previous, ended_in_space)) = &self.last_answer
            && previous != event_id
            && !ended_in_space
            && !text.starts_with(char::is_whitespace)
        {
            content.push_str("\n\n");
        }
        self.last_answer = Some((event_id.to_string(), text.ends_with(char::is_whitespace)));
        content.push_str(text);
        self.push(
            out,
            Delta {
                content: Some(content),
                ..Delta::default()
            },
            None,
        );
    }

    /// A status line (`open_webui` mode): a chunk with no choices and an `event`.
    fn status(&mut self, out: &mut Vec<ChatChunk>, description: &str, done: bool) {
        let mut chunk = ChatChunk::built(&self.id, self.created, &self.model, None, None);
        chunk
            .extra
            .insert("event".into(), super::open_webui::status(description, done));
        out.push(chunk);
    }

    /// A server-side tool call with its result as Open WebUI's tool card, in the content; a page
    /// `fetch_url` read is listed as a source too.
    fn tool_card(
        &mut self,
        out: &mut Vec<ChatChunk>,
        id: &str,
        name: &str,
        arguments: &Value,
        result: &Value,
    ) {
        let mut content = String::new();
        if self.think_open {
            self.think_open = false;
            content.push_str("</think>\n");
        }
        content.push_str(&super::open_webui::tool_card(id, name, arguments, result));
        // The next answer text starts on the line after the card.
        self.last_answer = Some((format!("card:{id}"), true));
        let mut delta = Delta {
            content: Some(content),
            ..Delta::default()
        };
        if name == "fetch_url"
            && let Some(url) = result
                .get("url")
                .or_else(|| arguments.get("url"))
                .and_then(Value::as_str)
        {
            let title = result
                .get("title")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .unwrap_or(url);
            delta
                .extra
                .insert("annotations".into(), super::open_webui::source(url, title));
        }
        self.push(out, delta, None);
    }

    /// Another agent's text or a tool line: prefixed with the agent's name when the speaker changes.
    fn thought(&mut self, out: &mut Vec<ChatChunk>, author: &str, text: &str) {
        if self.mode == ReasoningMode::Steps {
            return self.thinking_step(out, author, text);
        }
        let mut line = String::new();
        let mut text = text;
        if self.last_thought_author.as_deref() != Some(author) {
            self.last_thought_author = Some(author.to_string());
            line.push_str(&format!("\n[{author}] "));
            text = text.trim_start_matches('\n');
        }
        line.push_str(text);
        self.reasoning(out, &line);
    }

    /// `steps` mode: `author`'s reasoning, with the author attached instead of written in.
    fn thinking_step(&mut self, out: &mut Vec<ChatChunk>, author: &str, text: &str) {
        if text.is_empty() {
            return;
        }
        let step = AgentStep::Thinking {
            agent: author.to_string(),
        };
        self.step(out, step, Some(text.to_string()));
    }

    /// `steps` mode: one chunk carrying `step` (and the reasoning text it labels).
    fn step(&mut self, out: &mut Vec<ChatChunk>, step: AgentStep, reasoning: Option<String>) {
        self.push(
            out,
            Delta {
                reasoning_content: reasoning,
                ..Delta::default()
            },
            None,
        );
        if let Some(chunk) = out.last_mut() {
            chunk.step = Some(Box::new(step));
        }
    }

    fn reasoning(&mut self, out: &mut Vec<ChatChunk>, text: &str) {
        if text.is_empty() {
            return;
        }
        let open_tag = self.mode == ReasoningMode::ThinkTags && !self.think_open;
        let Some(delta) = self.mode.delta(text.to_string(), open_tag, false) else {
            return;
        };
        self.think_open |= open_tag;
        self.push(out, delta, None);
    }

    fn client_tool_call(
        &mut self,
        out: &mut Vec<ChatChunk>,
        id: &str,
        name: &str,
        arguments: &Value,
    ) {
        let index = self.client_tool_calls;
        self.client_tool_calls += 1;
        let arguments = match arguments {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let call = ToolCallDelta {
            index,
            id: Some(id.to_string()),
            kind: Some("function".into()),
            function: Some(FunctionDelta {
                name: Some(name.to_string()),
                arguments: Some(arguments),
                extra: Map::new(),
            }),
            extra: Map::new(),
        };
        self.push(
            out,
            Delta {
                tool_calls: Some(vec![call]),
                ..Delta::default()
            },
            None,
        );
    }

    fn push(&mut self, out: &mut Vec<ChatChunk>, mut delta: Delta, finish_reason: Option<String>) {
        if !self.role_sent {
            self.role_sent = true;
            delta.role = Some("assistant".into());
        }
        out.push(ChatChunk::built(
            &self.id,
            self.created,
            &self.model,
            Some(delta),
            finish_reason,
        ));
    }
}

fn preview(text: &str) -> String {
    if text.chars().count() <= PREVIEW_CHARS {
        return text.to_string();
    }
    let cut: String = text.chars().take(PREVIEW_CHARS).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Content, Event};
    use serde_json::json;

    fn event(author: &str, parts: Vec<Part>) -> Event {
        Event::new("inv", author).with_content(Content {
            role: "model".into(),
            parts,
        })
    }

    fn text(t: &str) -> Part {
        Part::Text { text: t.into() }
    }

    #[test]
    fn planner_thoughts_then_answer_in_reasoning_content_mode() {
        let mut bridge = EventRenderer::new(ReasoningMode::ReasoningContent, "c", 1, "planner");
        let mut chunks = bridge.render(&event("plan", vec![text("1. look up")]), Channel::Thought);
        let mut tool = event(
            "writer",
            vec![Part::ToolCall {
                id: "t".into(),
                name: "current_time".into(),
                arguments: json!({"timezone": "UTC"}),
            }],
        );
        tool.usage = Some(Usage {
            prompt_tokens: 10,
            completion_tokens: 2,
            total_tokens: 12,
            extra: Map::new(),
        });
        chunks.extend(bridge.render(&tool, Channel::Thought));
        chunks.extend(bridge.render(
            &event(
                "writer",
                vec![Part::ToolResult {
                    id: "t".into(),
                    name: "current_time".into(),
                    response: json!({"time": "12:00"}),
                }],
            ),
            Channel::Thought,
        ));
        let mut answer = event(
            "writer",
            vec![Part::Reasoning { text: "ok".into() }, text("It is noon.")],
        );
        answer.usage = Some(Usage {
            prompt_tokens: 20,
            completion_tokens: 4,
            total_tokens: 24,
            extra: Map::new(),
        });
        chunks.extend(bridge.render(&answer, Channel::Answer));
        chunks.extend(bridge.finish(true));

        assert_eq!(
            chunks[0].choices[0].delta.role.as_deref(),
            Some("assistant")
        );
        let reasoning: String = chunks
            .iter()
            .filter_map(|c| c.choices.first()?.delta.reasoning_content.clone())
            .collect();
        assert!(reasoning.contains("[plan] 1. look up"), "{reasoning}");
        assert!(
            reasoning.contains("[writer] 🔧 current_time({\"timezone\":\"UTC\"})"),
            "{reasoning}"
        );
        assert!(
            reasoning.contains("↳ current_time: {\"time\":\"12:00\"}"),
            "{reasoning}"
        );
        let content: String = chunks
            .iter()
            .filter_map(|c| c.choices.first()?.delta.content.clone())
            .collect();
        assert_eq!(content, "It is noon.");
        let finish = &chunks[chunks.len() - 2];
        assert_eq!(finish.choices[0].finish_reason.as_deref(), Some("stop"));
        let usage = chunks.last().and_then(|c| c.usage.clone()).expect("usage");
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.total_tokens
            ),
            (30, 6, 36)
        );
    }

    #[test]
    fn a_new_response_starts_a_new_paragraph() {
        let mut bridge = EventRenderer::new(ReasoningMode::ReasoningContent, "c", 1, "m");
        let mut first = event("a", vec![text("Let me check.")]);
        first.id = "one".into();
        first.partial = true;
        let mut more = first.clone();
        more.content = Some(Content {
            role: "model".into(),
            parts: vec![text(" Done")],
        });
        let mut second = event("a", vec![text("It is noon.")]);
        second.id = "two".into();
        second.partial = true;
        let mut chunks = bridge.render(&first, Channel::Answer);
        chunks.extend(bridge.render(&more, Channel::Answer));
        chunks.extend(bridge.render(&second, Channel::Answer));
        let content: String = chunks
            .iter()
            .filter_map(|c| c.choices.first()?.delta.content.clone())
            .collect();
        assert_eq!(content, "Let me check. Done\n\nIt is noon.");
    }

    #[test]
    fn think_tags_wrap_reasoning_before_the_answer() {
        let mut bridge = EventRenderer::new(ReasoningMode::ThinkTags, "c", 1, "m");
        let mut chunks = bridge.render(
            &event(
                "a",
                vec![Part::Reasoning { text: "hmm".into() }, text("Yes.")],
            ),
            Channel::Answer,
        );
        chunks.extend(bridge.finish(false));
        let content: String = chunks
            .iter()
            .filter_map(|c| c.choices.first()?.delta.content.clone())
            .collect();
        assert_eq!(content, "<think>\nhmm</think>\nYes.");
        assert!(chunks.last().is_some_and(|c| c.usage.is_none()));
    }

    #[test]
    fn client_tool_calls_and_hidden_modes() {
        let mut bridge = EventRenderer::new(ReasoningMode::Hidden, "c", 1, "m");
        let call = Part::ToolCall {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: json!({"city": "Oslo"}),
        };
        let mut asks_client = event(
            "a",
            vec![
                Part::Reasoning {
                    text: "secret".into(),
                },
                call,
            ],
        );
        asks_client.client_call_ids = vec!["call_1".into()];
        let mut chunks = bridge.render(&asks_client, Channel::Answer);
        chunks.extend(bridge.render(&event("b", vec![text("invisible")]), Channel::Hidden));
        chunks.extend(bridge.finish(false));
        let json = serde_json::to_string(&chunks).expect("json");
        assert!(
            !json.contains("secret") && !json.contains("invisible"),
            "{json}"
        );
        let calls = chunks[0].choices[0]
            .delta
            .tool_calls
            .clone()
            .expect("tool calls");
        assert_eq!(calls[0].id.as_deref(), Some("call_1"));
        assert_eq!(
            calls[0]
                .function
                .as_ref()
                .and_then(|f| f.arguments.clone())
                .as_deref(),
            Some("{\"city\":\"Oslo\"}")
        );
        assert_eq!(
            chunks
                .last()
                .and_then(|c| c.choices[0].finish_reason.clone())
                .as_deref(),
            Some("tool_calls")
        );

        let mut openrouter = EventRenderer::new(ReasoningMode::Reasoning, "c", 1, "m");
        let chunks = openrouter.render(
            &event("a", vec![Part::Reasoning { text: "r".into() }]),
            Channel::Answer,
        );
        assert_eq!(
            chunks[0].choices[0].delta.extra.get("reasoning"),
            Some(&json!("r"))
        );
        assert_eq!(
            ReasoningMode::parse("THINK_TAGS"),
            Some(ReasoningMode::ThinkTags)
        );
    }
}
