//! The Responses API out: the internal chunk stream becomes Responses events and, at its end,
//! the whole `response` object. One state machine serves both shapes: a streaming request gets
//! the events as SSE (`event: <type>` + `data: {json}`, each with `sequence_number`, no
//! `[DONE]`); a non-streaming request drives the same machine and gets only the final object, so
//! the two can never disagree.
//!
//! Output items, in the order their first chunk arrived:
//!
//! | chunk                                             | item                                   |
//! |---------------------------------------------------|----------------------------------------|
//! | `reasoning_content` (a model's, or an agent step) | `reasoning`, one per agent in a row    |
//! | `content`                                         | `message` with one `output_text` part  |
//! | `tool_calls` (the client runs them)               | `function_call`                        |
//! | a server-side call and its result (agent step)    | `mcp_call` with `output`, or a         |
//! |                                                   | `function_call` + `function_call_output` pair in Open WebUI style |
//!
//! Why two shapes for server-side calls: the OpenAI Agents SDK (and any client with a tool loop)
//! executes every `function_call` item that names one of its tools and fails on one that does
//! not, while it records `mcp_call` items as work the server did. Open WebUI draws a tool card
//! only for a `function_call` with its `function_call_output` (output as `input_text` parts; a
//! plain string there breaks it) and does not execute a call whose output is present. So the
//! default is `mcp_call` (`server_label` = the agent that called), and the Open WebUI style, the
//! same switch as in chat completions (`X-Reasoning-Mode: open_webui`), gives the pair.
//!
//! A stream that fails after its first event ends with `response.failed` carrying what was
//! finished so far; nothing is made up to look complete.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::event::{event_head, push_number, write_event};
use super::message_events::MessageEvents;
use crate::dialect::{Piece, for_each_piece};
use crate::error::ErrorObject;
use crate::ids::random_hex;
use crate::wire::{AgentStep, ChatChunk, Usage};

/// How server-side tool calls appear (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolItems {
    McpCall,
    OpenWebui,
}

/// The item being written now (at most one text item is open at a time).
enum OpenItem {
    Message(MessageEvents),
    Reasoning {
        index: usize,
        id: String,
        agent: Option<String>,
        text: String,
    },
}

struct ClientCall {
    index: usize,
    id: String,
    call_id: String,
    name: String,
    arguments: String,
}

pub struct ResponseWriter {
    /// The response object without `output`, `status` and `usage` (the request's echo), kept
    /// only when [`ResponseWriter::finish`] must return the object (to store it, or as the body
    /// of a non-streaming answer); a streamed, unstored answer needs only its bytes.
    response: Option<Map<String, Value>>,
    /// The echo as JSON text without its closing brace, written into every lifecycle event.
    echo: String,
    tool_items: ToolItems,
    sequence: u64,
    /// Items by output index as the JSON text of their `output_item.done` event; `None` while
    /// still open. Text, not values: each is serialized once, and the final event (and a
    /// stored object) only needs them again as they were written.
    output: Vec<Option<String>>,
    open: Option<OpenItem>,
    /// Client tool calls by their chunk index.
    client_calls: BTreeMap<u32, ClientCall>,
    /// Server-side calls waiting for their result: call id → (output index, item).
    server_calls: HashMap<String, (usize, Value)>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
}

impl ResponseWriter {
    /// `echo` is the request's echo as JSON text without its closing brace
    /// ([`super::request::ResponsesRequest::echo_json`]); `response` the same as an object
    /// ([`super::request::ResponsesRequest::response_template`]), given when
    /// [`ResponseWriter::finish`] must return the response object.
    pub fn new(echo: String, response: Option<Map<String, Value>>, tool_items: ToolItems) -> Self {
        Self {
            echo,
            response,
            tool_items,
            sequence: 0,
            output: Vec::new(),
            open: None,
            client_calls: BTreeMap::new(),
            server_calls: HashMap::new(),
            finish_reason: None,
            usage: None,
        }
    }

    /// `response.created` and `response.in_progress`.
    pub fn start(&mut self, out: &mut Vec<u8>) {
        out.reserve(2 * (self.echo.len() + 200));
        for kind in ["response.created", "response.in_progress"] {
            self.lifecycle(out, kind, 0, |out| {
                out.extend_from_slice(
                    br#","status":"in_progress","error":null,"incomplete_details":null,"usage":null,"output":[]"#,
                )
            });
        }
    }

    /// The events for one chunk (often one, sometimes none: a finish reason, usage).
    pub fn chunk(&mut self, chunk: &ChatChunk, out: &mut Vec<u8>) {
        if let Some(usage) = &chunk.usage {
            self.usage = Some(usage.clone());
        }
        let step = chunk.step.as_deref();
        match step {
            Some(AgentStep::ToolCall {
                agent,
                id,
                name,
                arguments,
            }) => self.server_call(out, agent, id, name, arguments),
            Some(AgentStep::ToolResult {
                agent, id, output, ..
            }) => self.server_result(out, agent, id, output),
            _ => {}
        }
        let agent = match step {
            Some(AgentStep::Thinking { agent }) => Some(agent.as_str()),
            _ => None,
        };
        for_each_piece(chunk, |piece| match piece {
            Piece::Reasoning(text) => self.reasoning(out, agent, text),
            Piece::Text(text) => self.text(out, text),
            Piece::ToolCall {
                index,
                id,
                name,
                arguments,
            } => self.client_call(out, index, id, name, arguments),
            Piece::Finish(reason) => self.finish_reason = Some(reason.to_string()),
        });
    }

    /// A clean end: every open item is finished, then `response.completed` (or
    /// `response.incomplete` when the model stopped at its token limit or a filter). Returns the
    /// final response object.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Option<Value> {
        self.close_all(out);
        let (status, incomplete) = match self.finish_reason.as_deref() {
            Some("length") => ("incomplete", json!({"reason": "max_output_tokens"})),
            Some("content_filter") => ("incomplete", json!({"reason": "content_filter"})),
            _ => ("completed", Value::Null),
        };
        let kind = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        let end = End {
            status,
            error: Value::Null,
            incomplete_details: incomplete,
        };
        self.end(out, kind, end)
    }

    /// The stream broke after its first event: `response.failed` with the items finished so far.
    pub fn fail(&mut self, error: &ErrorObject, out: &mut Vec<u8>) -> Option<Value> {
        let end = End {
            status: "failed",
            error: json!({
                "code": error.code.as_str().unwrap_or("server_error"),
                "message": error.message,
            }),
            incomplete_details: Value::Null,
        };
        self.end(out, "response.failed", end)
    }

    /// Writes the last event and, when asked to keep it, returns the response object.
    fn end(&mut self, out: &mut Vec<u8>, kind: &str, end: End) -> Option<Value> {
        let items = std::mem::take(&mut self.output);
        let items = items.iter().flatten();
        let items_bytes: usize = items.clone().map(|item| item.len() + 1).sum();
        let mut usage = Vec::with_capacity(192);
        self.write_usage(&mut usage);
        self.lifecycle(out, kind, items_bytes + usage.len() + 128, |out| {
            out.extend_from_slice(b",\"status\":\"");
            out.extend_from_slice(end.status.as_bytes());
            out.extend_from_slice(b"\",\"error\":");
            let _ = serde_json::to_writer(&mut *out, &end.error);
            out.extend_from_slice(b",\"incomplete_details\":");
            let _ = serde_json::to_writer(&mut *out, &end.incomplete_details);
            out.extend_from_slice(b",\"usage\":");
            out.extend_from_slice(&usage);
            out.extend_from_slice(b",\"output\":[");
            for (i, item) in items.clone().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(item.as_bytes());
            }
            out.push(b']');
        });
        let mut response = self.response.take()?;
        let output = items.filter_map(|item| serde_json::from_str(item).ok());
        response.insert("status".into(), end.status.into());
        response.insert("error".into(), end.error);
        response.insert("incomplete_details".into(), end.incomplete_details);
        response.insert("output".into(), Value::Array(output.collect()));
        let usage = serde_json::from_slice(&usage).unwrap_or(Value::Null);
        response.insert("usage".into(), usage);
        Some(Value::Object(response))
    }

    /// A lifecycle event: `{"response": {…the echo…, <fields written by `rest`>}}`. The echo
    /// was serialized once, when the writer was made. `rest_bytes` is about what `rest` writes,
    /// so the event is sized once rather than regrown.
    fn lifecycle(
        &mut self,
        out: &mut Vec<u8>,
        kind: &str,
        rest_bytes: usize,
        rest: impl FnOnce(&mut Vec<u8>),
    ) {
        out.reserve(self.echo.len() + 256 + rest_bytes);
        event_head(out, kind, &mut self.sequence);
        out.extend_from_slice(b",\"response\":");
        out.extend_from_slice(self.echo.as_bytes());
        rest(out);
        out.extend_from_slice(b"}}\n\n");
    }

    /// The usage in the Responses shape (`null` when the upstream sent none).
    fn write_usage(&self, out: &mut Vec<u8>) {
        let Some(usage) = &self.usage else {
            out.extend_from_slice(b"null");
            return;
        };
        let detail = |outer: &str, inner: &str| {
            usage
                .extra
                .get(outer)
                .and_then(|d| d.get(inner))
                .and_then(Value::as_u64)
        };
        let reasoning = detail("completion_tokens_details", "reasoning_tokens").unwrap_or(0);
        let cached = detail("prompt_tokens_details", "cached_tokens")
            .or_else(|| usage.extra.get("prompt_cache_hit_tokens")?.as_u64())
            .unwrap_or(0);
        let total = usage
            .total_tokens
            .max(usage.prompt_tokens + usage.completion_tokens);
        let fields = [
            (&b"{\"input_tokens\":"[..], usage.prompt_tokens),
            (b",\"input_tokens_details\":{\"cached_tokens\":", cached),
            (b"},\"output_tokens\":", usage.completion_tokens),
            (
                b",\"output_tokens_details\":{\"reasoning_tokens\":",
                reasoning,
            ),
            (b"},\"total_tokens\":", total),
        ];
        for (before, n) in fields {
            out.extend_from_slice(before);
            push_number(out, n);
        }
        out.push(b'}');
    }

    /// One SSE event: `event: <kind>` and the body with `type` and `sequence_number` added.
    /// Bodies are written straight from borrowed fields: the per-delta events are most of a
    /// stream, and building a JSON value for each would cost more than the chunk itself.
    fn write(&mut self, out: &mut Vec<u8>, kind: &str, body: impl Serialize) {
        write_event(out, &mut self.sequence, kind, body);
    }

    /// Reserves the next output index and announces `item` there.
    fn add_item(&mut self, out: &mut Vec<u8>, item: impl Serialize) -> usize {
        let index = self.reserve_index();
        let body = ItemEvent {
            output_index: index,
            item,
        };
        self.write(out, "response.output_item.added", body);
        index
    }

    /// The next output index, held for an item until it is done.
    fn reserve_index(&mut self) -> usize {
        self.output.push(None);
        self.output.len() - 1
    }

    /// Announces `item` finished and keeps its JSON text for the final event.
    fn done_item(&mut self, out: &mut Vec<u8>, index: usize, item: impl Serialize) {
        let Ok(item) = serde_json::to_string(&item) else {
            return; // our own items always serialize (string keys only)
        };
        event_head(out, "response.output_item.done", &mut self.sequence);
        out.extend_from_slice(b",\"output_index\":");
        push_number(out, index);
        out.extend_from_slice(b",\"item\":");
        out.extend_from_slice(item.as_bytes());
        out.extend_from_slice(b"}\n\n");
        self.keep_item(index, item);
    }

    fn keep_item(&mut self, index: usize, item: String) {
        if let Some(slot) = self.output.get_mut(index) {
            *slot = Some(item);
        }
    }

    /// Reasoning text. A model's own reasoning streams as the item's `content`
    /// (`reasoning_text` deltas). An agent's streams as its `summary`, opened with the agent's
    /// name ("planning_step: …"): clients that show reasoning show the summary first (Open WebUI
    /// shows only the summary when there is one), so that is where the name must be; `content`
    /// still gets the plain text when the item is done.
    fn reasoning(&mut self, out: &mut Vec<u8>, agent: Option<&str>, text: &str) {
        let same = matches!(&self.open, Some(OpenItem::Reasoning { agent: a, .. }) if a.as_deref() == agent);
        if !same {
            self.close_open(out);
            let id = format!("rs_{}", random_hex(16));
            let index = self.add_item(
                out,
                json!({"id": id, "type": "reasoning", "summary": [], "content": []}),
            );
            if let Some(agent) = agent {
                let part = json!({"type": "summary_text", "text": ""});
                self.write(
                    out,
                    "response.reasoning_summary_part.added",
                    json!({"item_id": id, "output_index": index, "summary_index": 0, "part": part}),
                );
                let body = SummaryDelta {
                    item_id: &id,
                    output_index: index,
                    summary_index: 0,
                    delta: &format!("{agent}: "),
                };
                write_event(
                    out,
                    &mut self.sequence,
                    "response.reasoning_summary_text.delta",
                    body,
                );
            }
            self.open = Some(OpenItem::Reasoning {
                index,
                id,
                agent: agent.map(str::to_string),
                text: String::new(),
            });
        }
        let Some(OpenItem::Reasoning {
            index,
            id,
            agent,
            text: all,
        }) = &mut self.open
        else {
            return;
        };
        all.push_str(text);
        if agent.is_some() {
            let body = SummaryDelta {
                item_id: id,
                output_index: *index,
                summary_index: 0,
                delta: text,
            };
            write_event(
                out,
                &mut self.sequence,
                "response.reasoning_summary_text.delta",
                body,
            );
        } else {
            let body = Delta {
                item_id: id,
                output_index: *index,
                content_index: Some(0),
                delta: text,
                logprobs: None,
            };
            write_event(
                out,
                &mut self.sequence,
                "response.reasoning_text.delta",
                body,
            );
        }
    }

    fn text(&mut self, out: &mut Vec<u8>, text: &str) {
        if !matches!(self.open, Some(OpenItem::Message(_))) {
            self.close_open(out);
            let index = self.reserve_index();
            let events = MessageEvents::open(out, &mut self.sequence, index);
            self.open = Some(OpenItem::Message(events));
        }
        if let Some(OpenItem::Message(events)) = &mut self.open {
            events.delta(out, &mut self.sequence, text);
        }
    }

    fn client_call(
        &mut self,
        out: &mut Vec<u8>,
        position: u32,
        call_id: Option<&str>,
        name: Option<&str>,
        arguments: Option<&str>,
    ) {
        if !self.client_calls.contains_key(&position) {
            self.close_open(out);
            let id = format!("fc_{}", random_hex(16));
            let call_id = call_id
                .map(str::to_string)
                .unwrap_or_else(|| format!("call_{}", random_hex(24)));
            let name = name.unwrap_or_default().to_string();
            let index = self.add_item(
                out,
                json!({"id": id, "type": "function_call", "status": "in_progress", "call_id": call_id, "name": name, "arguments": ""}),
            );
            self.client_calls.insert(
                position,
                ClientCall {
                    index,
                    id,
                    call_id,
                    name,
                    arguments: String::new(),
                },
            );
        }
        let Some(call) = self.client_calls.get_mut(&position) else {
            return;
        };
        if call.name.is_empty()
            && let Some(name) = name
        {
            call.name = name.to_string();
        }
        if let Some(arguments) = arguments.filter(|a| !a.is_empty()) {
            call.arguments.push_str(arguments);
            let body = Delta {
                item_id: &call.id,
                output_index: call.index,
                content_index: None,
                delta: arguments,
                logprobs: None,
            };
            write_event(
                out,
                &mut self.sequence,
                "response.function_call_arguments.delta",
                body,
            );
        }
    }

    fn server_call(
        &mut self,
        out: &mut Vec<u8>,
        agent: &str,
        call_id: &str,
        name: &str,
        arguments: &str,
    ) {
        self.close_open(out);
        match self.tool_items {
            ToolItems::McpCall => {
                let item = json!({
                    "id": format!("mcp_{}", random_hex(16)), "type": "mcp_call", "status": "in_progress",
                    "server_label": agent, "name": name, "arguments": arguments,
                    "output": null, "error": null,
                });
                let index = self.add_item(out, &item);
                self.server_calls.insert(call_id.to_string(), (index, item));
            }
            ToolItems::OpenWebui => {
                let id = format!("fc_{}", random_hex(16));
                let mut item = json!({
                    "id": id, "type": "function_call", "status": "in_progress",
                    "call_id": call_id, "name": name, "arguments": "",
                });
                let index = self.add_item(out, &item);
                let body = json!({"item_id": id, "output_index": index, "delta": arguments});
                self.write(out, "response.function_call_arguments.delta", body);
                let body = json!({"item_id": id, "output_index": index, "name": name, "arguments": arguments});
                self.write(out, "response.function_call_arguments.done", body);
                item["arguments"] = arguments.into();
                item["status"] = "completed".into();
                self.done_item(out, index, item);
            }
        }
    }

    fn server_result(&mut self, out: &mut Vec<u8>, agent: &str, call_id: &str, output: &str) {
        self.close_open(out);
        match self.tool_items {
            ToolItems::McpCall => {
                let Some((index, mut item)) = self.server_calls.remove(call_id) else {
                    return;
                };
                item["output"] = output.into();
                item["status"] = "completed".into();
                item["server_label"] = agent.into();
                self.done_item(out, index, item);
            }
            ToolItems::OpenWebui => {
                let item = json!({
                    "id": format!("fco_{}", random_hex(16)), "type": "function_call_output",
                    "status": "completed", "call_id": call_id,
                    "output": [{"type": "input_text", "text": output}],
                });
                let index = self.add_item(out, &item);
                self.done_item(out, index, item);
            }
        }
    }

    /// Finishes the open text item, if any.
    fn close_open(&mut self, out: &mut Vec<u8>) {
        match self.open.take() {
            None => {}
            Some(OpenItem::Message(events)) => {
                let index = events.index();
                let item = events.close(out, &mut self.sequence);
                self.keep_item(index, item);
            }
            Some(OpenItem::Reasoning {
                index,
                id,
                agent,
                text,
            }) => {
                let mut summary = Vec::new();
                if let Some(agent) = agent {
                    let summary_text = format!("{agent}: {text}");
                    let body = json!({"item_id": id, "output_index": index, "summary_index": 0, "text": summary_text});
                    self.write(out, "response.reasoning_summary_text.done", body);
                    let part = json!({"type": "summary_text", "text": summary_text});
                    let body = json!({"item_id": id, "output_index": index, "summary_index": 0, "part": part.clone()});
                    self.write(out, "response.reasoning_summary_part.done", body);
                    summary.push(part);
                } else {
                    let body = json!({"item_id": id, "output_index": index, "content_index": 0, "text": text});
                    self.write(out, "response.reasoning_text.done", body);
                }
                let item = json!({
                    "id": id, "type": "reasoning", "summary": summary,
                    "content": [{"type": "reasoning_text", "text": text}],
                });
                self.done_item(out, index, item);
            }
        }
    }

    fn close_all(&mut self, out: &mut Vec<u8>) {
        self.close_open(out);
        for (_, call) in std::mem::take(&mut self.client_calls) {
            let body = json!({"item_id": call.id, "output_index": call.index, "name": call.name, "arguments": call.arguments});
            self.write(out, "response.function_call_arguments.done", body);
            let item = json!({
                "id": call.id, "type": "function_call", "status": "completed",
                "call_id": call.call_id, "name": call.name, "arguments": call.arguments,
            });
            self.done_item(out, call.index, item);
        }
        // A server-side call whose result never came (the run stopped at a limit).
        let mut pending: Vec<(usize, Value)> = self.server_calls.drain().map(|(_, v)| v).collect();
        pending.sort_by_key(|(index, _)| *index);
        for (index, mut item) in pending {
            item["status"] = "incomplete".into();
            self.done_item(out, index, item);
        }
    }
}

/// A reasoning summary delta.
#[derive(Serialize)]
struct SummaryDelta<'a> {
    item_id: &'a str,
    output_index: usize,
    summary_index: u32,
    delta: &'a str,
}

/// A text, reasoning or arguments delta.
#[derive(Serialize)]
struct Delta<'a> {
    item_id: &'a str,
    output_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_index: Option<u32>,
    delta: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<&'a [Value]>,
}

/// How a response ended, for its last event and its object.
struct End {
    status: &'static str,
    error: Value,
    incomplete_details: Value,
}

/// `response.output_item.added`.
#[derive(Serialize)]
struct ItemEvent<T: Serialize> {
    output_index: usize,
    item: T,
}
