//! `AgentTool`: another agent offered to a model as a tool (ADK's `AgentTool`). The model calls
//! it with a `request`; the agent runs in a private session that starts with a copy of the
//! caller's state, its work streams to the client as reasoning, and its final text is the tool's
//! result. State it changes (except `temp:`) is carried back to the caller's session.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::context::{ClientInput, Invocation, InvocationContext};
use super::{EventStream, RunError, final_text, run_agent};
use crate::runner::render::Channel;
use crate::session::Session;
use crate::tool::{Tool, ToolContext, ToolFuture};

pub struct AgentTool {
    agent: String,
    description: String,
    skip_summarization: bool,
}

impl AgentTool {
    pub fn new(agent: &str, description: &str) -> Self {
        Self {
            agent: agent.to_string(),
            description: description.to_string(),
            skip_summarization: false,
        }
    }

    /// ADK's `skip_summarization`: the agent's answer becomes the caller's answer as it is, with
    /// no further model call of the caller.
    pub fn skipping_summarization(mut self, skip: bool) -> Self {
        self.skip_summarization = skip;
        self
    }
}

impl Tool for AgentTool {
    fn name(&self) -> &str {
        &self.agent
    }
    fn description(&self) -> &str {
        &self.description
    }
    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {"request": {
            "type": "string", "description": "What to ask the agent, with everything it needs to know."
        }}, "required": ["request"]})
    }
    fn as_agent(&self) -> Option<&str> {
        Some(&self.agent)
    }
    fn skips_summarization(&self) -> bool {
        self.skip_summarization
    }
    fn run<'a>(&'a self, _args: Value, _ctx: &'a mut ToolContext<'_>) -> ToolFuture<'a> {
        Box::pin(std::future::ready(Err(format!(
            "agent '{}' runs through the agent runtime, not as a plain tool",
            self.agent
        ))))
    }
}

/// Starts the agent; the caller records each event in the returned invocation, shows it, and
/// then asks [`finish`] for the result.
pub async fn start(
    ctx: &InvocationContext,
    agent: &str,
    args: &Value,
) -> Result<(Arc<Invocation>, EventStream), RunError> {
    let target = ctx
        .agents()
        .get(agent)
        .ok_or_else(|| RunError::Agent(format!("agent tool '{agent}' is not loaded")))?;
    let request = match args.get("request") {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => args.to_string(),
    };
    let outer = &ctx.invocation;
    let state = outer.session.lock().await.state.clone();
    let mut session = Session::new(agent, "agent_tool", &crate::ids::random_hex(16));
    session.state = state;
    let input = ClientInput {
        messages: vec![crate::wire::Message::new(
            json!({"role": "user", "content": request})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        )],
        params: Map::new(),
        tools: Vec::new(),
        tool_names: Default::default(),
        model: outer.input.model.clone(),
        replay: Default::default(),
    };
    let inner = Arc::new(Invocation {
        id: format!("inv_{}", crate::ids::random_hex(16)),
        session: tokio::sync::Mutex::new(session),
        store: None,
        agents: outer.agents.clone(),
        registry: outer.registry.clone(),
        facts: outer.facts.clone(),
        budget: outer.budget.clone(),
        input,
        pause: Default::default(),
    });
    let mut inner_ctx = InvocationContext::new(inner.clone());
    inner_ctx.channel = Channel::Answer;
    Ok((inner, run_agent(target, inner_ctx)))
}

/// The tool result (`{"result": <last text>}`) and the state the agent changed.
pub async fn finish(inner: &Invocation) -> (Value, Map<String, Value>) {
    let session = inner.session.lock().await;
    let text = session
        .events
        .iter()
        .rev()
        .find_map(|e| final_text(e))
        .unwrap_or_default();
    let mut delta = Map::new();
    for event in &session.events {
        crate::session::state::apply_keep_nulls(
            &mut delta,
            &crate::session::state::without_temp(&event.actions.state_delta),
        );
    }
    (json!({"result": text}), delta)
}
