//! The six ADK callbacks — before/after agent, model and tool — as one Rust trait. A callback
//! that returns `Some` short-circuits exactly as in ADK: `before_agent` skips the agent (its
//! content is the agent's answer), `before_model` skips the model call, `before_tool` skips the
//! tool; the `after_*` ones replace what was produced. Callbacks run in the order they were
//! registered; the first `Some` wins. They are registered in Rust (`AgentSet::with_callbacks`);
//! the YAML pipeline stages are a separate mechanism (`src/pipeline/`), not built on this trait.

use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};

use crate::event::{Content, EventActions};
use crate::wire::ChatRequest;

pub type CallbackFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a callback sees: the agent, the state, and actions (state changes) it may set; those are
/// recorded in an event of the agent's.
pub struct CallbackContext {
    pub agent_name: String,
    pub invocation_id: String,
    pub state: Map<String, Value>,
    pub actions: EventActions,
}

fn none<'a, T: Send + 'a>() -> CallbackFuture<'a, Option<T>> {
    Box::pin(std::future::ready(None))
}

pub trait Callbacks: Send + Sync {
    fn before_agent<'a>(
        &'a self,
        _ctx: &'a mut CallbackContext,
    ) -> CallbackFuture<'a, Option<Content>> {
        none()
    }
    fn after_agent<'a>(
        &'a self,
        _ctx: &'a mut CallbackContext,
    ) -> CallbackFuture<'a, Option<Content>> {
        none()
    }
    /// May change the request before it goes upstream, or answer instead of the model.
    fn before_model<'a>(
        &'a self,
        _ctx: &'a mut CallbackContext,
        _request: &'a mut ChatRequest,
    ) -> CallbackFuture<'a, Option<Content>> {
        none()
    }
    /// May replace the model's complete response. Text a client already received cannot be
    /// taken back: a streaming client gets the replacement after it as a correction.
    fn after_model<'a>(
        &'a self,
        _ctx: &'a mut CallbackContext,
        _response: &'a Content,
    ) -> CallbackFuture<'a, Option<Content>> {
        none()
    }
    /// May change the arguments, or return a result instead of running the tool.
    fn before_tool<'a>(
        &'a self,
        _ctx: &'a mut CallbackContext,
        _tool: &'a str,
        _args: &'a mut Value,
    ) -> CallbackFuture<'a, Option<Value>> {
        none()
    }
    /// May replace the tool's result.
    fn after_tool<'a>(
        &'a self,
        _ctx: &'a mut CallbackContext,
        _tool: &'a str,
        _args: &'a Value,
        _result: &'a Value,
    ) -> CallbackFuture<'a, Option<Value>> {
        none()
    }
}
