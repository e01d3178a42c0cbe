//! Pausing an invocation on a client tool call, and resuming it where it stopped.
//!
//! When an agent asks the client to run one of the client's own tools, the whole invocation
//! pauses (ADK): the LlmAgent ends its turn, and every workflow agent around it stops before its
//! next step and records where it was as a checkpoint event (`actions.agent_state`: the step
//! index, and the iteration for a loop). The client runs the tool and sends the result in its
//! next request. That turn goes to the agent that made the call: when the call was made inside
//! workflows, the root runs again and each workflow skips to its checkpoint — sequence position,
//! loop iteration and session state intact — so the calling agent gets its result and the
//! workflow goes on from there; otherwise the caller simply runs again.
//!
//! Trade-off: a `ParallelAgent` resumes only the branch that paused (the other branches ran to
//! their end in the paused turn and their events are in the session).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::Emitted;
use super::context::InvocationContext;
use crate::event::{Event, Part};
use crate::runner::render::Channel;

/// Where a paused invocation resumes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResumePoint {
    /// The agent that made the client tool call: it gets the result.
    pub caller: String,
    /// Each workflow agent's checkpoint from the paused invocation.
    pub checkpoints: HashMap<String, Value>,
}

impl ResumePoint {
    /// The resume point of a turn that brings the results of client tool calls: the event that
    /// made the first of those calls, and the checkpoints its invocation recorded. `None` when
    /// the results match no call of this session (a client that made its own calls).
    pub fn find(events: &[Arc<Event>], result_ids: &[String]) -> Option<Self> {
        let call = events.iter().rev().find(|event| {
            event
                .client_call_ids
                .iter()
                .any(|id| result_ids.contains(id))
        })?;
        let checkpoints = events
            .iter()
            .filter(|e| e.invocation_id == call.invocation_id)
            .filter_map(|e| Some((e.author.clone(), e.actions.agent_state.clone()?)))
            .collect();
        Some(Self {
            caller: call.author.clone(),
            checkpoints,
        })
    }

    /// The ids of the tool results in a turn's new input.
    pub fn result_ids(input: &crate::event::Content) -> Vec<String> {
        input
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::ToolResult { id, .. } => Some(id.clone()),
                _ => None,
            })
            .collect()
    }
}

/// One invocation's pause flag and the resume point it started from.
#[derive(Debug, Default)]
pub struct Pause {
    paused: AtomicBool,
    resume: Mutex<Option<ResumePoint>>,
}

impl Pause {
    pub fn resuming(point: Option<ResumePoint>) -> Self {
        Self {
            paused: AtomicBool::new(false),
            resume: Mutex::new(point),
        }
    }

    /// An agent asked the client to run a tool: every agent around it stops.
    pub fn pause(&self) {
        self.paused.store(true, Ordering::Relaxed);
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// A workflow's checkpoint, once: the first run of that workflow in this invocation resumes
    /// there; a later run (the next loop iteration of an outer loop) starts from the beginning.
    pub fn take_checkpoint(&self, agent: &str) -> Option<Value> {
        let mut resume = self.resume.lock().unwrap_or_else(|p| p.into_inner());
        resume.as_mut()?.checkpoints.remove(agent)
    }

    /// The agent that made the call, while the invocation is still resuming: a workflow
    /// resuming a step that handed over to another agent runs that agent instead.
    pub fn caller(&self) -> Option<String> {
        let resume = self.resume.lock().unwrap_or_else(|p| p.into_inner());
        resume.as_ref().map(|r| r.caller.clone())
    }
}

/// Index (and iteration) in a checkpoint.
pub fn position(checkpoint: &Value) -> (usize, u32) {
    let index = checkpoint["index"].as_u64().unwrap_or(0) as usize;
    let iteration = checkpoint["iteration"].as_u64().unwrap_or(1) as u32;
    (index, iteration)
}

/// The checkpoint event a workflow records when the invocation pauses inside it: stored, never
/// shown.
pub fn checkpoint(
    ctx: &InvocationContext,
    agent: &str,
    index: usize,
    iteration: Option<u32>,
) -> Emitted {
    let mut event = ctx.event(agent);
    let mut state = json!({"index": index});
    if let Some(iteration) = iteration {
        state["iteration"] = json!(iteration);
    }
    event.actions.agent_state = Some(state);
    Emitted {
        event,
        channel: Channel::Hidden,
        store: true,
    }
}
