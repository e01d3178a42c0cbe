//! Tools an agent may call.
//!
//! A [`Tool`] has a name, a description and a JSON Schema for its arguments (from `schemars` for
//! the built-ins), and runs with a [`ToolContext`] through which it reads and writes session state
//! and sets event actions (transfer, escalate). [`ToolRegistry`] builds tools by name from agent
//! YAML (`tools: [{name, args}]`), so later tools (HTTP fetch, MCP) plug in without touching the
//! runtime. [`run_tool`] applies ADK's result rules in one place: a failing tool returns
//! `{"error": "..."}` to the model instead of failing the request, and a non-object result is
//! wrapped as `{"result": ...}`.

pub mod builtins;
pub mod calculator;
pub mod fetch_url;
pub mod http_request;
pub mod mcp;
pub mod read_file;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::event::EventActions;

pub type ToolFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, String>> + Send + 'a>>;

/// The tools a toolset stands for, once known.
pub type ExpandFuture = Pin<Box<dyn Future<Output = Result<Vec<Arc<dyn Tool>>, String>> + Send>>;

/// What a running tool may see and change.
pub struct ToolContext<'a> {
    /// The invocation's view of the state (all scopes, `temp:` included).
    pub state: &'a Map<String, Value>,
    /// Actions for the tool-result event: `state_delta`, `transfer_to_agent`, `escalate`, …
    pub actions: &'a mut EventActions,
    pub agent_name: &'a str,
    pub function_call_id: &'a str,
}

impl ToolContext<'_> {
    /// Reads a state key, seeing this call's own writes first.
    pub fn get_state(&self, key: &str) -> Option<&Value> {
        self.actions
            .state_delta
            .get(key)
            .or_else(|| self.state.get(key))
    }

    /// Writes a state key (scoped by prefix when the event is appended to the session).
    pub fn set_state(&mut self, key: &str, value: Value) {
        self.actions.state_delta.insert(key.to_string(), value);
    }
}

pub trait Tool: Send + Sync {
    fn name(&self) -> &str;
    fn description(&self) -> &str;
    /// JSON Schema of the arguments object.
    fn parameters(&self) -> Value;
    fn run<'a>(&'a self, args: Value, ctx: &'a mut ToolContext<'_>) -> ToolFuture<'a>;

    /// `Some(agent name)` for an agent used as a tool: the runtime runs it (streaming its work)
    /// instead of calling [`Tool::run`].
    fn as_agent(&self) -> Option<&str> {
        None
    }

    /// Its result is the calling agent's answer: the agent makes no further model call (ADK's
    /// `skip_summarization` on an `AgentTool`).
    fn skips_summarization(&self) -> bool {
        false
    }

    /// `Some` for a toolset (an MCP server): it stands for several tools, known only once it is
    /// reached; the agent offers those instead of this entry.
    fn expand(self: Arc<Self>) -> Option<ExpandFuture> {
        None
    }

    /// The OpenAI `tools[]` entry offered to the model.
    fn declaration(&self) -> Value {
        json!({"type": "function", "function": {
            "name": self.name(), "description": self.description(), "parameters": self.parameters()
        }})
    }
}

/// Runs a tool with a time limit and normalizes what comes back for the model.
pub async fn run_tool(
    tool: &dyn Tool,
    args: Value,
    ctx: &mut ToolContext<'_>,
    timeout: Duration,
) -> Value {
    let outcome = match tokio::time::timeout(timeout, tool.run(args, ctx)).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "tool '{}' timed out after {:.0} s",
            tool.name(),
            timeout.as_secs_f64()
        )),
    };
    match outcome {
        Ok(value @ Value::Object(_)) => value,
        Ok(other) => json!({"result": other}),
        Err(message) => json!({"error": message}),
    }
}

/// Builds a tool from its YAML `args`; an error names what is wrong with them.
pub type ToolFactory = Arc<dyn Fn(&Value) -> Result<Arc<dyn Tool>, String> + Send + Sync>;

/// Tools by name, for the agent loader.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    factories: BTreeMap<String, ToolFactory>,
}

impl ToolRegistry {
    /// The registry with every built-in tool.
    pub fn with_builtins() -> Self {
        let mut registry = Self::default();
        builtins::register(&mut registry);
        calculator::register(&mut registry);
        fetch_url::register(&mut registry);
        read_file::register(&mut registry);
        http_request::register(&mut registry);
        mcp::register(&mut registry);
        registry
    }

    pub fn register(&mut self, name: &str, factory: ToolFactory) {
        self.factories.insert(name.to_string(), factory);
    }

    pub fn build(&self, name: &str, args: &Value) -> Result<Arc<dyn Tool>, String> {
        let factory = self.factories.get(name).ok_or_else(|| {
            format!(
                "unknown tool '{name}' (known: {})",
                self.factories
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        factory(args)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }
}
