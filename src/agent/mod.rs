//! The agent runtime (Google ADK's model, in Rust): agents produce [`Event`]s; the runner stores
//! the complete ones in the session and the runner's renderer turns all of them as OpenAI chunks.
//!
//! Every agent — the root, a sub-agent, a transfer target, an agent behind an `AgentTool` — is
//! started through [`run_agent`], so the agent callbacks and the `stream:` override apply the
//! same way wherever an agent runs.

pub mod agent_tool;
pub mod build;
pub mod callbacks;
pub mod config;
pub mod context;
pub mod generate_config;
pub mod history;
pub mod instruction;
pub mod llm_agent;
pub mod outline;
pub mod replay;
pub mod resume;
pub mod set;
pub mod tool_round;
pub mod workflow;

use std::pin::Pin;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};

use axum::http::StatusCode;

use self::config::{AgentClass, StreamMode};
use crate::error::{ApiError, ErrorObject};
use crate::event::{Content, Event};
use crate::llm::LlmError;
use crate::runner::render::Channel;
use crate::session::SessionError;

pub use callbacks::{CallbackContext, Callbacks};
pub use context::InvocationContext;
pub use set::AgentSet;

/// One event on its way out, with where the client should see it.
#[derive(Debug, Clone)]
pub struct Emitted {
    pub event: Event,
    pub channel: Channel,
    /// `false` for events that exist only for the client (an `AgentTool`'s inner work, a loop's
    /// result repeated as the answer): shown, never put into the session.
    pub store: bool,
}

pub type EventStream = Pin<Box<dyn Stream<Item = Result<Emitted, RunError>> + Send>>;

/// Why a run ended early.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RunError {
    /// A model call failed: before its answer began (the client gets the upstream's status) or
    /// midway (an error event ends the stream).
    #[error("{0}")]
    Llm(LlmError),
    /// One of the agent's own request stages refused the call (a fail-closed webhook).
    #[error("{}", .error.message)]
    Stage {
        status: StatusCode,
        error: Box<ErrorObject>,
    },
    /// The agent setup cannot run this turn (e.g. a required state key is missing).
    #[error("{0}")]
    Agent(String),
    /// A per-request limit (`runtime.*` in settings.yaml) was reached.
    #[error("{0}")]
    Limit(String),
    #[error("{0}")]
    Session(#[from] SessionError),
}

impl RunError {
    /// The error a client gets when nothing has been streamed yet.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            RunError::Llm(error) => error.to_api_error(),
            RunError::Stage { status, error } => ApiError::new(*status, (**error).clone()),
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.error_object()),
        }
    }

    /// The in-stream error event, once the answer has begun.
    pub fn to_llm_error(&self) -> LlmError {
        match self {
            RunError::Llm(error) => error.clone(),
            other => LlmError::InStream(Box::new(other.error_object())),
        }
    }

    fn error_object(&self) -> ErrorObject {
        match self {
            RunError::Llm(error) => error.to_error_object(),
            RunError::Stage { error, .. } => (**error).clone(),
            RunError::Agent(message) => {
                ErrorObject::new(message.clone(), "agent_error").with_code("agent_error")
            }
            RunError::Limit(message) => {
                ErrorObject::new(message.clone(), "agent_error").with_code("agent_limit")
            }
            RunError::Session(error) => {
                ErrorObject::new(format!("Session store failed: {error}"), "api_error")
                    .with_code("session_store_error")
            }
        }
    }
}

impl From<ApiError> for RunError {
    /// A pipeline stage's refusal keeps its status and error object.
    fn from(error: ApiError) -> Self {
        RunError::Stage {
            status: error.status,
            error: error.error,
        }
    }
}

/// What every agent kind provides. Agents are built once (from `agents/*.yaml` or in code) and
/// shared by all requests; per-request data lives in the [`InvocationContext`].
pub trait Agent: Send + Sync {
    fn name(&self) -> &str;
    fn description(&self) -> &str;
    fn class(&self) -> AgentClass;
    /// Names of the sub-agents, in order (resolved through the [`AgentSet`]).
    fn sub_agents(&self) -> &[String];
    /// The YAML `stream:` override of where this agent's text goes.
    fn stream_mode(&self) -> Option<StreamMode> {
        None
    }
    /// The model an LlmAgent names (its own or inherited), `provider/model`.
    fn model(&self) -> Option<&str> {
        None
    }
    /// Whether this agent forbids handing the conversation back to its parent (LlmAgent only).
    fn disallows_transfer_to_parent(&self) -> bool {
        false
    }
    /// The agent's own work. Call [`run_agent`] instead, which adds the callbacks.
    fn run(self: Arc<Self>, ctx: InvocationContext) -> EventStream;
}

/// Runs `agent` with the before/after-agent callbacks and its `stream:` override applied.
pub fn run_agent(agent: Arc<dyn Agent>, ctx: InvocationContext) -> EventStream {
    let mut ctx = ctx;
    ctx.channel = effective_channel(agent.stream_mode(), &ctx);
    Box::pin(async_stream::try_stream! {
        let name = agent.name().to_string();
        let callbacks = ctx.callbacks();
        if !callbacks.is_empty() {
            let mut cb = ctx.callback_context(&name).await;
            let mut skipped = None;
            for callback in &callbacks {
                if let Some(content) = callback.before_agent(&mut cb).await {
                    skipped = Some(content);
                    break;
                }
            }
            if let Some(event) = ctx.callback_event(&name, &mut cb, skipped.clone()) {
                yield ctx.emit(event);
            }
            if skipped.is_some() {
                return;
            }
        }
        let mut inner = agent.clone().run(ctx.clone());
        while let Some(item) = inner.next().await {
            yield item?;
        }
        // A paused agent has not finished: its after-agent callbacks run when it does.
        if !callbacks.is_empty() && !ctx.invocation.pause.is_paused() {
            let mut cb = ctx.callback_context(&name).await;
            let mut extra: Option<Content> = None;
            for callback in &callbacks {
                if let Some(content) = callback.after_agent(&mut cb).await {
                    extra = Some(content);
                    break;
                }
            }
            if let Some(event) = ctx.callback_event(&name, &mut cb, extra) {
                yield ctx.emit(event);
            }
        }
    })
}

/// An agent's `stream:` setting wins over the position it runs in; inside a loop or a parallel
/// block (`ctx.deferred`) `content` only marks the agent whose text becomes the result.
fn effective_channel(mode: Option<StreamMode>, ctx: &InvocationContext) -> Channel {
    match mode {
        None => ctx.channel,
        Some(StreamMode::Hidden) => Channel::Hidden,
        Some(StreamMode::Reasoning) => Channel::Thought,
        Some(StreamMode::Content) if ctx.deferred => Channel::Thought,
        Some(StreamMode::Content) => Channel::Answer,
    }
}

/// The text of an event, if it is a complete one with text.
pub(crate) fn final_text(event: &Event) -> Option<String> {
    if event.partial {
        return None;
    }
    let text = event.content.as_ref()?.joined_text();
    (!text.trim().is_empty()).then_some(text)
}
