//! Workflow agents: they call no model themselves, they run their sub-agents.
//!
//! Where the text goes: in a `SequentialAgent` every step but the last is intermediate work
//! (reasoning) and the last step is the answer. A `LoopAgent` or `ParallelAgent` in the answer's
//! place cannot know while it runs which text will be the result, so everything inside streams as
//! reasoning and the result is shown as the answer when the block ends: for a loop, the latest
//! text of its sub-agent marked `stream: content` (else of its first sub-agent, the one that
//! produces the work in a draft/critique loop); for a parallel block, each branch's last text.

use std::sync::Arc;

use futures_util::StreamExt;

use super::config::{AgentClass, AgentConfig, StreamMode};
use super::context::InvocationContext;
use super::resume::{checkpoint, position};
use super::{Agent, Emitted, EventStream, RunError, final_text, run_agent};
use crate::event::Content;
use crate::runner::render::Channel;

fn child(ctx: &InvocationContext, name: &str) -> Result<Arc<dyn Agent>, RunError> {
    ctx.agents()
        .get(name)
        .ok_or_else(|| RunError::Agent(format!("sub-agent '{name}' is not loaded")))
}

/// The agent to run at a step. At the step a paused invocation resumes, an LlmAgent step that
/// had handed the conversation over gives way to the agent that made the client tool call.
fn step(ctx: &InvocationContext, name: &str, resuming: bool) -> Result<Arc<dyn Agent>, RunError> {
    let agent = child(ctx, name)?;
    if resuming
        && agent.class() == AgentClass::LlmAgent
        && let Some(caller) = ctx.invocation.pause.caller().filter(|c| c != name)
        && let Some(caller) = ctx.agents().get(&caller)
    {
        return Ok(caller);
    }
    Ok(agent)
}

/// The block's result, shown as the answer once it ends (never stored: the steps are).
fn result_event(ctx: &InvocationContext, author: &str, text: String) -> Emitted {
    let mut event = ctx.event(author);
    event.content = Some(Content::text("model", text));
    Emitted {
        event,
        channel: Channel::Answer,
        store: false,
    }
}

/// What every workflow agent is made of.
pub struct Steps {
    name: String,
    description: String,
    children: Vec<String>,
    stream: Option<StreamMode>,
}

impl Steps {
    pub fn new(config: &AgentConfig, children: Vec<String>) -> Self {
        Self {
            name: config.name.clone(),
            description: config.description.clone(),
            children,
            stream: config.stream,
        }
    }
}

pub struct SequentialAgent(pub Steps);
pub struct ParallelAgent(pub Steps);
pub struct LoopAgent {
    pub steps: Steps,
    /// `None`: until a sub-agent escalates (bounded by `runtime.max_llm_calls`).
    pub max_iterations: Option<u32>,
}

/// The `Agent` methods every workflow agent answers from its `Steps`.
macro_rules! steps_accessors {
    ($class:expr) => {
        fn name(&self) -> &str {
            &self.steps().name
        }
        fn description(&self) -> &str {
            &self.steps().description
        }
        fn class(&self) -> AgentClass {
            $class
        }
        fn sub_agents(&self) -> &[String] {
            &self.steps().children
        }
        fn stream_mode(&self) -> Option<StreamMode> {
            self.steps().stream
        }
    };
}

impl SequentialAgent {
    fn steps(&self) -> &Steps {
        &self.0
    }
}
impl ParallelAgent {
    fn steps(&self) -> &Steps {
        &self.0
    }
}
impl LoopAgent {
    fn steps(&self) -> &Steps {
        &self.steps
    }
}

impl Agent for SequentialAgent {
    steps_accessors!(AgentClass::SequentialAgent);
    fn run(self: Arc<Self>, ctx: InvocationContext) -> EventStream {
        Box::pin(async_stream::try_stream! {
            let me = &self.steps().name;
            let resume_at = ctx.invocation.pause.take_checkpoint(me).map(|c| position(&c).0);
            let start = resume_at.unwrap_or(0);
            let last = self.steps().children.len().saturating_sub(1);
            for (i, name) in self.steps().children.iter().enumerate().skip(start) {
                let agent = step(&ctx, name, resume_at == Some(i))?;
                let mut step_ctx = ctx.clone();
                if i < last && step_ctx.channel == Channel::Answer {
                    step_ctx.channel = Channel::Thought;
                }
                let mut events = run_agent(agent, step_ctx);
                while let Some(item) = events.next().await {
                    yield item?;
                }
                if ctx.invocation.pause.is_paused() {
                    yield checkpoint(&ctx, me, i, None);
                    return;
                }
            }
        })
    }
}

impl Agent for LoopAgent {
    steps_accessors!(AgentClass::LoopAgent);
    fn run(self: Arc<Self>, ctx: InvocationContext) -> EventStream {
        Box::pin(async_stream::try_stream! {
            let deferred = ctx.channel == Channel::Answer;
            let mut inner = ctx.clone();
            if deferred {
                inner.channel = Channel::Thought;
                inner.deferred = true;
            }
            let mut marked = None;
            for name in &self.steps().children {
                if child(&ctx, name)?.stream_mode() == Some(StreamMode::Content) {
                    marked = Some(name.clone());
                }
            }
            let source = marked.or_else(|| self.steps().children.first().cloned()).unwrap_or_default();
            let me = &self.steps().name;
            let resume_at = ctx.invocation.pause.take_checkpoint(me).map(|c| position(&c));
            let (mut skip, first_iteration) = resume_at.unwrap_or((0, 1));
            let mut result: Option<String> = None;
            let mut last_text: Option<String> = None;
            let mut iteration = first_iteration.saturating_sub(1);
            'iterations: while self.max_iterations.is_none_or(|max| iteration < max) {
                iteration += 1;
                for (i, name) in self.steps().children.iter().enumerate().skip(skip) {
                    let resuming = resume_at.is_some() && iteration == first_iteration && i == skip;
                    let agent = step(&ctx, name, resuming)?;
                    let mut escalated = false;
                    let mut events = run_agent(agent, inner.clone());
                    while let Some(item) = events.next().await {
                        let item = item?;
                        escalated |= item.event.actions.escalate;
                        // Only this invocation's stored steps count: an AgentTool's inner
                        // work (shown, not stored) never becomes the loop's result.
                        if let Some(text) = final_text(&item.event).filter(|_| item.store) {
                            if name == &source {
                                result = Some(text.clone());
                            }
                            last_text = Some(text);
                        }
                        yield item;
                    }
                    if ctx.invocation.pause.is_paused() {
                        yield checkpoint(&ctx, me, i, Some(iteration));
                        return;
                    }
                    if escalated {
                        break 'iterations;
                    }
                }
                skip = 0;
            }
            if deferred && let Some(text) = result.or(last_text) {
                yield result_event(&ctx, &self.steps().name, text);
            }
        })
    }
}

impl Agent for ParallelAgent {
    steps_accessors!(AgentClass::ParallelAgent);
    fn run(self: Arc<Self>, ctx: InvocationContext) -> EventStream {
        Box::pin(async_stream::try_stream! {
            let me = &self.steps().name;
            let deferred = ctx.channel == Channel::Answer;
            // Resuming: only the branch that paused runs again (the others finished then).
            let resume_at = ctx.invocation.pause.take_checkpoint(me).map(|c| position(&c).0);
            let mut branches = Vec::new();
            for (index, name) in self.steps().children.iter().enumerate() {
                if resume_at.is_some_and(|at| at != index) {
                    continue;
                }
                let agent = step(&ctx, name, resume_at == Some(index))?;
                let mut branch = ctx.clone();
                branch.branch = Some(match &ctx.branch {
                    Some(parent) => format!("{parent}.{name}"),
                    None => format!("{me}.{name}"),
                });
                if deferred {
                    branch.channel = Channel::Thought;
                    branch.deferred = true;
                }
                branches.push(run_agent(agent, branch).map(move |item| (index, item)).boxed());
            }
            let mut merged = futures_util::stream::select_all(branches);
            let mut results: Vec<Option<String>> = vec![None; self.steps().children.len()];
            let mut paused_branch = None;
            while let Some((index, item)) = merged.next().await {
                let item = item?;
                if !item.event.client_call_ids.is_empty() {
                    paused_branch = Some(index);
                }
                if let Some(text) = final_text(&item.event).filter(|_| item.store) {
                    results[index] = Some(text);
                }
                yield item;
            }
            if let Some(index) = paused_branch.filter(|_| ctx.invocation.pause.is_paused()) {
                yield checkpoint(&ctx, me, index, None);
                return;
            }
            if deferred {
                let sections: Vec<String> = self
                    .steps()
                    .children
                    .iter()
                    .zip(results)
                    .filter_map(|(name, text)| Some(format!("**{name}**\n\n{}", text?)))
                    .collect();
                if !sections.is_empty() {
                    yield result_event(&ctx, me, sections.join("\n\n"));
                }
            }
        })
    }
}
