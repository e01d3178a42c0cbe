//! One round of tool calls, carved out of the LlmAgent loop (ADK keeps the same work in its
//! `functions` module): the before/after-tool callbacks, the agent's own tools run with their
//! timeout, an `AgentTool`'s inner agent run with its work shown, and the results gathered into
//! one `tool` event whose actions (state, transfer, escalate) the agent acts on next.

use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};

use super::context::InvocationContext;
use super::{Emitted, RunError, agent_tool};
use crate::event::{Content, Event, EventActions, Part};
use crate::runner::render::Channel;
use crate::tool::{Tool, ToolContext, run_tool};

/// What a round produces: the inner work of `AgentTool`s as it happens, then the results.
pub enum RoundOutput {
    Work(Emitted),
    /// The `tool` event with every call's result and the round's merged actions.
    Results(Event),
}

/// Runs the calls `(id, name, arguments)` in order with `tools` (the agent's tools this step).
pub fn run(
    ctx: InvocationContext,
    agent: String,
    calls: Vec<(String, String, Value)>,
    tools: Vec<Arc<dyn Tool>>,
) -> impl Stream<Item = Result<RoundOutput, RunError>> + Send + 'static {
    async_stream::try_stream! {
        let callbacks = ctx.callbacks();
        let find_tool = |name: &str| tools.iter().find(|t| t.name() == name).cloned();
        let step_tools = &tools;
        let mut actions = EventActions::default();
        let mut parts = Vec::new();
        for (id, name, mut args) in calls {
            let mut result = None;
            for callback in &callbacks {
                let mut cb = ctx.callback_context(&agent).await;
                let answer = callback.before_tool(&mut cb, &name, &mut args).await;
                merge_actions(&mut actions, std::mem::take(&mut cb.actions));
                if answer.is_some() {
                    result = answer;
                    break;
                }
            }
            let mut response = match (result, find_tool(&name)) {
                (Some(result), _) => result,
                (None, None) => json!({"error": format!(
                    "unknown tool '{name}'; available: {}",
                    step_tools.iter().map(|t| t.name().to_string()).collect::<Vec<_>>().join(", ")
                )}),
                (None, Some(tool)) => match tool.as_agent() {
                    Some(target) => {
                        let (inner, mut events) = agent_tool::start(&ctx, target, &args).await?;
                        while let Some(item) = events.next().await {
                            let mut item = item?;
                            inner.record(&item).await?;
                            // Shown, never acted on: the inner run's escalation ends its own
                            // loop, not the caller's; its state comes back once, through
                            // `finish` (ADK forwards only the state delta).
                            item.store = false;
                            let transfer = item.event.actions.transfer_to_agent.take();
                            item.event.actions = EventActions { transfer_to_agent: transfer, ..Default::default() };
                            if ctx.channel != Channel::Hidden {
                                item.channel = Channel::Thought;
                            } else {
                                item.channel = Channel::Hidden;
                            }
                            yield RoundOutput::Work(item);
                        }
                        let (response, delta) = agent_tool::finish(&inner).await;
                        crate::session::state::apply_keep_nulls(&mut actions.state_delta, &delta);
                        actions.skip_summarization |= tool.skips_summarization();
                        response
                    }
                    None => {
                        let mut state = ctx.state().await;
                        crate::session::state::apply(&mut state, &actions.state_delta);
                        let mut tool_actions = EventActions::default();
                        let mut tool_ctx = ToolContext {
                            state: &state,
                            actions: &mut tool_actions,
                            agent_name: &agent,
                            function_call_id: &id,
                        };
                        let timeout = ctx.invocation.budget.limits.tool_timeout();
                        let response = run_tool(tool.as_ref(), args.clone(), &mut tool_ctx, timeout).await;
                        merge_actions(&mut actions, tool_actions);
                        response
                    }
                },
            };
            for callback in &callbacks {
                let mut cb = ctx.callback_context(&agent).await;
                let replaced = callback.after_tool(&mut cb, &name, &args, &response).await;
                merge_actions(&mut actions, std::mem::take(&mut cb.actions));
                if let Some(replaced) = replaced {
                    response = replaced;
                    break;
                }
            }
            parts.push(Part::ToolResult { id, name, response });
        }
        let mut results = ctx.event(&agent);
        results.content = Some(Content { role: "tool".into(), parts });
        results.actions = actions;
        yield RoundOutput::Results(results);
    }
}

/// Merges one callback's or tool's actions into the round's (state key by key, the latest
/// transfer, any escalation).
pub(super) fn merge_actions(into: &mut EventActions, from: EventActions) {
    crate::session::state::apply_keep_nulls(&mut into.state_delta, &from.state_delta);
    if from.transfer_to_agent.is_some() {
        into.transfer_to_agent = from.transfer_to_agent;
    }
    into.escalate |= from.escalate;
    into.skip_summarization |= from.skip_summarization;
}
