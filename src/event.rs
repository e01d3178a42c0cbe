//! `Event`: the unit of the agent runtime's output (Google ADK's model). Every agent step — a
//! piece of streamed text, a tool call, its result, a transfer, a state change — is an event with
//! an author; the session keeps the non-partial ones as the conversation's history.
//! The runner (`src/runner/`) stores them and its renderer turns them into OpenAI chunks.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::wire::{Message, Usage};

/// One piece of an event's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    Text {
        text: String,
    },
    /// The model's own reasoning (DeepSeek `reasoning_content`, Ollama `thinking`).
    Reasoning {
        text: String,
    },
    ToolCall {
        id: String,
        name: String,
        arguments: Value,
    },
    ToolResult {
        id: String,
        name: String,
        response: Value,
    },
}

/// Who speaks (`user`, `model`, `tool`) and what was said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Content {
    pub role: String,
    pub parts: Vec<Part>,
}

impl Content {
    pub fn text(role: &str, text: impl Into<String>) -> Self {
        Self {
            role: role.to_string(),
            parts: vec![Part::Text { text: text.into() }],
        }
    }

    /// All text parts joined, ignoring reasoning and tool parts.
    pub fn joined_text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// Side effects an event asks for (ADK's `EventActions`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventActions {
    /// State changes, keys with their scope prefix (`app:`, `user:`, `temp:` or none).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub state_delta: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_to_agent: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub escalate: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_summarization: bool,
    /// A workflow agent's position when the invocation paused inside it (a client tool call):
    /// `{"index": i}` for a sequence or parallel block, plus `"iteration"` for a loop. The turn
    /// that brings the tool's result resumes there (ADK's `agent_state`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_state: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub invocation_id: String,
    /// The agent's name, or `user` for the human's turns.
    pub author: String,
    /// Dotted path of agent names for isolated histories (`ParallelAgent` children).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// A streamed fragment: sent to the client, never stored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    #[serde(default)]
    pub actions: EventActions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Ids of this event's tool calls that the client runs (its own tools, sent in the request's
    /// `tools`): the agent decided, so the renderer, the next turn's routing and the history
    /// replay never guess from names (ADK's `long_running_tool_ids`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_call_ids: Vec<String>,
    /// Its text went to the client as the answer (`content`), so the client's copy of the chat
    /// holds it: the next turns match their messages to the session by it (`agent::replay`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shown_as_answer: bool,
    /// Seconds since the Unix epoch.
    pub timestamp: f64,
    /// What later requests derive from this event, worked out the first time one needs it.
    /// Stored events are shared (`Arc<Event>`) by the memory store across requests, so a long
    /// chat's earlier steps, matched and put back in every turn by the replay, are rendered and
    /// measured once per process rather than once per request. Never stored or compared.
    #[serde(skip)]
    pub memo: EventMemo,
}

/// Derived forms of an event (see [`Event::memo`]). A copy of the event starts empty, so an
/// event built from another with different parts never takes the other's results. Allocated
/// only when first used: most events (every streamed partial) never are, and a pointer keeps
/// `Event`, which moves through every stream, small.
#[derive(Default)]
pub struct EventMemo(OnceLock<Box<Memos>>);

impl EventMemo {
    pub fn get(&self) -> &Memos {
        self.0.get_or_init(Box::default)
    }
}

#[derive(Default)]
pub struct Memos {
    /// Model-history messages as the event's own agent sees them (assistant and tool messages;
    /// `agent::history`).
    pub own: OnceLock<Box<[Message]>>,
    /// Model-history messages as any other agent sees them (context).
    pub foreign: OnceLock<Box<[Message]>>,
    /// The event's text as the replay compares it with a client's message (`agent::replay`).
    pub compared_text: OnceLock<String>,
    /// The event's size as the replay budgets it (`agent::replay`).
    pub replay_size: OnceLock<ReplaySize>,
}

/// An event's size for the replay's limits.
#[derive(Debug, Clone, Copy)]
pub struct ReplaySize {
    /// Estimated tokens of the event's parts (bytes / 4, plus a few per message).
    pub tokens: usize,
    /// Bytes of the JSON text of its longest tool result (0 without one).
    pub longest_result: usize,
}

impl Clone for EventMemo {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for EventMemo {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for EventMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventMemo")
    }
}

impl Event {
    pub fn new(invocation_id: &str, author: &str) -> Self {
        Self {
            id: format!("evt_{}", crate::ids::random_hex(16)),
            invocation_id: invocation_id.to_string(),
            author: author.to_string(),
            branch: None,
            partial: false,
            content: None,
            actions: EventActions::default(),
            usage: None,
            client_call_ids: Vec::new(),
            shown_as_answer: false,
            timestamp: now_secs(),
            memo: EventMemo::default(),
        }
    }

    pub fn with_content(mut self, content: Content) -> Self {
        self.content = Some(content);
        self
    }
}

pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
