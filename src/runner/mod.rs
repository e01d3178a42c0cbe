//! The Runner: one request → one invocation of an agent over a session, rendered as OpenAI
//! chunks.
//!
//! It loads (or creates) the session, picks the agent that answers this turn (ADK's rule: the
//! one that answered last, if it may), records the client's new input as a `user` event, runs the
//! agent, stores every complete event as it is produced (partial ones are only streamed), and
//! renders each event through the [`EventRenderer`] the moment it arrives.

pub mod open_webui;
pub mod render;

use std::pin::Pin;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use serde_json::{Map, Value};

use crate::agent::context::{Budget, ClientInput, Invocation};
use crate::agent::replay::Replay;
use crate::agent::resume::{Pause, ResumePoint};
use crate::agent::{AgentSet, InvocationContext, RunError, run_agent};
use crate::config::RuntimeSettings;
use crate::event::{Content, Event, Part};
use crate::llm::ProviderRegistry;
use crate::observe::RequestFacts;
use crate::session::identity::SessionKey;
use crate::session::{SessionError, SessionService};
use crate::wire::{ChatChunk, ChatRequest, Message};
use render::{Channel, EventRenderer, ReasoningMode};

/// Chunks of one run; an `Err` ends it (before the first chunk it is still an HTTP error).
pub type RunChunks = Pin<Box<dyn Stream<Item = Result<ChatChunk, RunError>> + Send>>;

/// Events of a session a turn loads to find the agent that answered last.
const RECENT_EVENTS: usize = 100;
/// With the history replay on, also this many per assistant message the client sent (a turn
/// with a tool round is four events), so the turns the client holds can be matched; at most
/// [`MAX_REPLAY_EVENTS`]: the SQLite and Redis stores parse every loaded event, and the replay's
/// token budget drops the oldest steps first anyway.
const REPLAY_EVENTS_PER_TURN: usize = 6;
const MAX_REPLAY_EVENTS: usize = 400;

fn events_to_load(request: &ChatRequest, limits: &RuntimeSettings) -> usize {
    if limits.replay == crate::config::ReplayMode::None {
        return RECENT_EVENTS;
    }
    let turns = request
        .messages
        .iter()
        .filter(|m| m.role() == "assistant")
        .count();
    (RECENT_EVENTS + turns * REPLAY_EVENTS_PER_TURN).min(MAX_REPLAY_EVENTS)
}

pub struct Runner {
    pub sessions: Arc<dyn SessionService>,
    pub registry: Arc<ProviderRegistry>,
    pub limits: RuntimeSettings,
}

pub struct RunRequest<'a> {
    pub agents: Arc<AgentSet>,
    /// The top-level agent (also the session's app name).
    pub root: String,
    pub request: &'a ChatRequest,
    /// The model the client asked for, when it is not an agent's name.
    pub model: Option<String>,
    pub session: SessionKey,
    pub mode: ReasoningMode,
    pub facts: RequestFacts,
}

impl Runner {
    pub async fn start(&self, run: RunRequest<'_>) -> Result<RunChunks, RunError> {
        let (root, key) = (&run.root, &run.session);
        let recent = events_to_load(run.request, &self.limits);
        let mut session = match self
            .sessions
            .get_recent_session(root, &key.user, &key.id, recent)
            .await?
        {
            Some(session) => session,
            None => match self
                .sessions
                .create_session(root, &key.user, Some(&key.id), Map::new())
                .await
            {
                Ok(session) => session,
                // Another request of the same new chat created it a moment ago.
                Err(error @ SessionError::AlreadyExists(_)) => self
                    .sessions
                    .get_recent_session(root, &key.user, &key.id, recent)
                    .await?
                    .ok_or(error)?,
                Err(error) => return Err(error.into()),
            },
        };
        let input_content = new_input(&run.request.messages);
        // A turn that brings client tool results resumes the invocation that asked for them,
        // at the agent that made the call (ADK); any other turn goes to the agent that answered
        // last, if it may.
        let resume = input_content
            .as_ref()
            .map(ResumePoint::result_ids)
            .filter(|ids| !ids.is_empty())
            .and_then(|ids| ResumePoint::find(&session.events, &ids))
            .filter(|point| run.agents.get(&point.caller).is_some());
        let agent_name = match &resume {
            Some(point) if point.checkpoints.is_empty() => point.caller.clone(),
            Some(_) => root.clone(),
            None => run.agents.agent_to_run(root, &session.events),
        };
        let agent = run
            .agents
            .get(&agent_name)
            .ok_or_else(|| RunError::Agent(format!("agent '{agent_name}' is not loaded")))?;
        let invocation_id = format!("inv_{}", crate::ids::random_hex(16));
        if let Some(content) = input_content {
            let event = Event::new(&invocation_id, "user").with_content(content);
            self.sessions.append_event(&mut session, event).await?;
        }
        tracing::debug!(agent = %agent_name, session = %key.id, "agent run starts");
        let mut input = ClientInput::from_request(run.request, run.model.clone());
        input.replay = Replay::plan(
            &input.messages,
            &session.events,
            &invocation_id,
            &self.limits,
        );
        let include_usage = run.request.include_usage() || !run.request.is_stream();
        let invocation = Arc::new(Invocation {
            id: invocation_id,
            session: tokio::sync::Mutex::new(session),
            store: Some(self.sessions.clone()),
            agents: run.agents.clone(),
            registry: self.registry.clone(),
            facts: run.facts.clone(),
            budget: Arc::new(Budget::new(self.limits.clone())),
            input,
            pause: Pause::resuming(resume),
        });
        let mut events = run_agent(agent, InvocationContext::new(invocation.clone()));
        let mut bridge = EventRenderer::new(
            run.mode,
            &crate::ids::completion_id(),
            crate::ids::unix_now(),
            run.model.as_deref().unwrap_or(root),
        );
        let facts = run.facts.clone();
        Ok(Box::pin(async_stream::stream! {
            while let Some(item) = events.next().await {
                match item {
                    Ok(emitted) => {
                        if let Err(error) = invocation.record(&emitted).await {
                            yield Err(error);
                            return;
                        }
                        for chunk in bridge.render(&emitted.event, emitted.channel) {
                            yield Ok(chunk);
                        }
                    }
                    Err(RunError::Limit(message)) => {
                        tracing::warn!(%message, "agent run stopped at a limit");
                        let notice = Event::new(&invocation.id, "runtime")
                            .with_content(Content::text("model", format!("\n\n⚠️ {message}")));
                        for chunk in bridge.render(&notice, Channel::Answer) {
                            yield Ok(chunk);
                        }
                        bridge.mark_truncated();
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "agent run failed");
                        yield Err(error);
                        return;
                    }
                }
            }
            let calls = invocation.budget.llm_calls();
            let usage = bridge.usage().cloned();
            facts.update(|f| {
                f.llm_calls = Some(calls);
                // The log and the token metrics count every model call of the run.
                if usage.is_some() {
                    f.usage = usage;
                }
            });
            for chunk in bridge.finish(include_usage) {
                yield Ok(chunk);
            }
        }))
    }
}

/// What the client added since the last assistant message: its new words, or the results of the
/// client-side tools the agent asked for.
fn new_input(messages: &[Message]) -> Option<Content> {
    let start = messages
        .iter()
        .rposition(|m| m.role() == "assistant")
        .map_or(0, |i| i + 1);
    let tool_names: Map<String, Value> = messages[..start]
        .iter()
        .rev()
        .find(|m| m.role() == "assistant")
        .and_then(|m| m.tool_calls())
        .into_iter()
        .flatten()
        .filter_map(|call| {
            let id = call.get("id")?.as_str()?.to_string();
            let name = call.pointer("/function/name")?.clone();
            Some((id, name))
        })
        .collect();
    let mut parts = Vec::new();
    for message in &messages[start..] {
        match message.role() {
            "user" => {
                if let Some(text) = message.text() {
                    parts.push(Part::Text { text });
                }
            }
            "tool" => {
                let id = message
                    .fields()
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let text = message.text().unwrap_or_default();
                let response = serde_json::from_str(&text).unwrap_or(Value::String(text));
                let name = tool_names
                    .get(&id)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                parts.push(Part::ToolResult { id, name, response });
            }
            _ => {}
        }
    }
    (!parts.is_empty()).then(|| Content {
        role: "user".into(),
        parts,
    })
}
