//! Per-request state of an agent run: the session, the client's request, the limits, where the
//! current agent's text goes. Cheap to clone: a child agent gets a copy with its own branch and
//! channel, everything else is shared.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Map, Value};

use super::callbacks::{CallbackContext, Callbacks};
use super::set::AgentSet;
use super::{Emitted, RunError};
use crate::config::RuntimeSettings;
use crate::event::{Content, Event};
use crate::llm::ProviderRegistry;
use crate::observe::RequestFacts;
use crate::runner::render::Channel;
use crate::session::{Session, SessionService};
use crate::wire::{ChatRequest, Message};

/// Counts model calls and tool rounds across every agent of one request (an `AgentTool`'s inner
/// run included), so no combination of agents can loop without end.
pub struct Budget {
    pub limits: RuntimeSettings,
    llm_calls: AtomicU32,
    tool_rounds: AtomicU32,
}

impl Budget {
    pub fn new(limits: RuntimeSettings) -> Self {
        Self {
            limits,
            llm_calls: AtomicU32::new(0),
            tool_rounds: AtomicU32::new(0),
        }
    }

    pub fn take_llm_call(&self) -> Result<(), RunError> {
        let used = self.llm_calls.fetch_add(1, Ordering::Relaxed);
        if used >= self.limits.max_llm_calls {
            return Err(RunError::Limit(format!(
                "Stopped: this request reached its limit of {} model calls (runtime.max_llm_calls).",
                self.limits.max_llm_calls
            )));
        }
        Ok(())
    }

    pub fn take_tool_round(&self) -> Result<(), RunError> {
        let used = self.tool_rounds.fetch_add(1, Ordering::Relaxed);
        if used >= self.limits.max_tool_rounds {
            return Err(RunError::Limit(format!(
                "Stopped: this request reached its limit of {} tool-call rounds (runtime.max_tool_rounds).",
                self.limits.max_tool_rounds
            )));
        }
        Ok(())
    }

    pub fn llm_calls(&self) -> u32 {
        self.llm_calls.load(Ordering::Relaxed)
    }
}

/// What the client sent, as the agents need it.
pub struct ClientInput {
    /// The conversation as the client knows it: the history every agent starts from.
    pub messages: Vec<Message>,
    /// Sampling and other parameters of the request (everything but messages, model, stream).
    pub params: Map<String, Value>,
    /// The client's own tools (`tools[]` entries): offered to the models, never run here.
    pub tools: Vec<Value>,
    pub tool_names: HashSet<String>,
    /// The model the client asked for when it is not an agent's name (default agent).
    pub model: Option<String>,
    /// Earlier turns' steps the client never saw, by the message they go before.
    pub replay: super::replay::Replay,
}

impl ClientInput {
    pub fn from_request(request: &ChatRequest, model: Option<String>) -> Self {
        let mut params = request.extra.clone();
        let tools: Vec<Value> = match params.remove("tools") {
            Some(Value::Array(tools)) => tools,
            _ => Vec::new(),
        };
        let tool_names = tools
            .iter()
            .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        params.remove("stream_options");
        // `metadata` names the chat for the proxy (session identity); OpenAI refuses it upstream
        // unless `store` is set.
        params.remove("metadata");
        Self {
            messages: request.messages.clone(),
            params,
            tools,
            tool_names,
            model,
            replay: Default::default(),
        }
    }
}

/// One invocation: one request's run through the agents, over one session.
pub struct Invocation {
    pub id: String,
    pub session: tokio::sync::Mutex<Session>,
    /// Where complete events are persisted; `None` for an `AgentTool`'s private session.
    pub store: Option<Arc<dyn SessionService>>,
    pub agents: Arc<AgentSet>,
    pub registry: Arc<ProviderRegistry>,
    pub facts: RequestFacts,
    pub budget: Arc<Budget>,
    pub input: ClientInput,
    /// Set when an agent asks the client to run a tool; holds where a resumed turn restarts.
    pub pause: super::resume::Pause,
}

impl Invocation {
    /// Puts a complete event into the session (applying its state delta). The consumer of the
    /// root event stream calls this before it asks for the next event, so every agent sees the
    /// effects of the events before its own.
    pub async fn record(&self, emitted: &Emitted) -> Result<(), RunError> {
        if emitted.event.partial || !emitted.store {
            return Ok(());
        }
        let mut session = self.session.lock().await;
        match &self.store {
            Some(store) => {
                let mut event = emitted.event.clone();
                event.shown_as_answer = emitted.channel == crate::runner::render::Channel::Answer
                    && event.content.as_ref().is_some_and(|c| {
                        c.parts
                            .iter()
                            .any(|p| matches!(p, crate::event::Part::Text { .. }))
                    });
                store
                    .append_event(&mut session, event)
                    .await
                    .map_err(RunError::from)
            }
            None => {
                session.append(&emitted.event);
                Ok(())
            }
        }
    }
}

#[derive(Clone)]
pub struct InvocationContext {
    pub invocation: Arc<Invocation>,
    /// Dotted path of agent names that isolates the histories of `ParallelAgent` children.
    pub branch: Option<String>,
    /// Where the current agent's text goes.
    pub channel: Channel,
    /// Inside a loop or parallel block whose result is the answer: the result is shown once the
    /// block ends, so the work inside streams as reasoning.
    pub deferred: bool,
}

impl InvocationContext {
    pub fn new(invocation: Arc<Invocation>) -> Self {
        Self {
            invocation,
            branch: None,
            channel: Channel::Answer,
            deferred: false,
        }
    }

    pub fn agents(&self) -> &Arc<AgentSet> {
        &self.invocation.agents
    }

    pub fn callbacks(&self) -> Vec<Arc<dyn Callbacks>> {
        self.invocation.agents.callbacks().to_vec()
    }

    /// The session state as the running agents see it (all scopes, `temp:` included).
    pub async fn state(&self) -> Map<String, Value> {
        self.invocation.session.lock().await.state.clone()
    }

    /// This invocation's complete events visible from the current branch, oldest first.
    ///
    /// They are the tail of the session's events: the invocation's copy of the session holds
    /// the loaded history and, after it, only what this invocation appended (each request runs
    /// under a new invocation id). So the scan stops at the first older event instead of
    /// comparing ids through the whole loaded history on every model call.
    pub async fn visible_events(&self) -> Vec<Arc<Event>> {
        let session = self.invocation.session.lock().await;
        let own = session
            .events
            .iter()
            .rev()
            .take_while(|e| e.invocation_id == self.invocation.id)
            .count();
        session.events[session.events.len() - own..]
            .iter()
            .filter(|e| e.author != "user")
            .filter(|e| branch_visible(e.branch.as_deref(), self.branch.as_deref()))
            .cloned()
            .collect()
    }

    /// A new event by `author` on this context's branch.
    pub fn event(&self, author: &str) -> Event {
        let mut event = Event::new(&self.invocation.id, author);
        event.branch.clone_from(&self.branch);
        event
    }

    pub fn emit(&self, event: Event) -> Emitted {
        Emitted {
            event,
            channel: self.channel,
            store: true,
        }
    }

    pub async fn callback_context(&self, agent: &str) -> CallbackContext {
        CallbackContext {
            agent_name: agent.to_string(),
            invocation_id: self.invocation.id.clone(),
            state: self.state().await,
            actions: Default::default(),
        }
    }

    /// The event that carries a callback's content and state changes, if it produced any.
    pub fn callback_event(
        &self,
        agent: &str,
        cb: &mut CallbackContext,
        content: Option<Content>,
    ) -> Option<Event> {
        let actions = std::mem::take(&mut cb.actions);
        if content.is_none() && actions == Default::default() {
            return None;
        }
        let mut event = self.event(agent);
        event.content = content;
        event.actions = actions;
        Some(event)
    }
}

/// ADK's rule: an event is visible on its own branch and on every branch below it; an agent
/// outside any branch (e.g. the step after a `ParallelAgent`) sees every branch.
fn branch_visible(event_branch: Option<&str>, current: Option<&str>) -> bool {
    match (event_branch, current) {
        (None, _) | (_, None) => true,
        (Some(event), Some(current)) => {
            current == event
                || current
                    .strip_prefix(event)
                    .is_some_and(|rest| rest.starts_with('.'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::branch_visible;

    #[test]
    fn branches_see_their_ancestors_only() {
        assert!(branch_visible(None, Some("p.a")));
        assert!(branch_visible(Some("p"), Some("p.a")));
        assert!(branch_visible(Some("p.a"), Some("p.a")));
        assert!(!branch_visible(Some("p.a"), Some("p.b")));
        assert!(!branch_visible(Some("p.a"), Some("p.ab")));
        assert!(branch_visible(Some("p.a"), None));
    }
}
