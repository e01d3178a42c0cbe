//! The agents a server runs, as a lookup table shared by every request: the tree (parents,
//! children), which agent serves a model name, and which agent answers a session's next turn.
//! Built by `agent::build` (at start and on SIGHUP); this file knows no agent kind.

use std::collections::HashMap;
use std::sync::Arc;

use super::Agent;
use super::callbacks::Callbacks;
use super::config::AgentClass;
use crate::event::Event;

/// Name of the built-in transparent agent, run through the runtime only when callbacks are
/// registered (otherwise its requests take the direct proxy path).
pub const BUILTIN_DEFAULT: &str = "default";

pub(super) struct Node {
    pub(super) agent: Arc<dyn Agent>,
    pub(super) parent: Option<String>,
    /// A transparent agent (an LlmAgent that sets nothing) is served by plain proxying.
    pub(super) transparent: bool,
}

/// Which agent serves a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Plain proxying: the built-in transparent default agent.
    Transparent,
    /// A run of this top-level agent.
    Agent(String),
}

pub struct AgentSet {
    pub(super) nodes: HashMap<String, Node>,
    /// Top-level agents (no parent), in name order: listed as models.
    pub(super) roots: Vec<String>,
    pub(super) default_agent: Option<String>,
    pub(super) callbacks: Vec<Arc<dyn Callbacks>>,
    /// Agents' own `pipeline:` stages, compiled.
    pub(super) pipelines: HashMap<String, crate::pipeline::Pipeline>,
    /// The built-in transparent agent, run through the runtime when callbacks must see it.
    pub(super) builtin_default: Arc<dyn Agent>,
    /// Each agent as its file describes it, for the console.
    pub(super) outlines: HashMap<String, super::outline::AgentOutline>,
}

impl AgentSet {
    /// Adds callbacks that run for every agent (in the order given). Kept across reloads by
    /// [`AgentSet::with_callbacks_of`].
    pub fn with_callbacks(mut self, callbacks: Vec<Arc<dyn Callbacks>>) -> Self {
        self.callbacks.extend(callbacks);
        self
    }

    /// Carries the callbacks registered in code over to a freshly loaded set.
    pub fn with_callbacks_of(self, previous: &AgentSet) -> Self {
        let callbacks = previous.callbacks.clone();
        self.with_callbacks(callbacks)
    }

    /// The agent's own stages, if it has any: request stages run before each of its model calls
    /// (wherever it runs), stream stages on the client's answer when it is the requested agent.
    pub fn pipeline_of(&self, name: &str) -> Option<&crate::pipeline::Pipeline> {
        self.pipelines.get(name)
    }

    pub fn callbacks(&self) -> &[Arc<dyn Callbacks>] {
        &self.callbacks
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Agent>> {
        match self.nodes.get(name) {
            Some(node) => Some(node.agent.clone()),
            None if name == BUILTIN_DEFAULT => Some(self.builtin_default.clone()),
            None => None,
        }
    }

    /// The model an agent names: its own (an LlmAgent's, inherited included), else the first
    /// one named in its sub-agents, depth first. A chat UI's background task for this agent is
    /// served by it.
    pub fn model_of(&self, name: &str) -> Option<String> {
        let agent = self.get(name)?;
        if let Some(model) = agent.model() {
            return Some(model.to_string());
        }
        agent
            .sub_agents()
            .iter()
            .find_map(|child| self.model_of(child))
    }

    pub fn parent_of(&self, name: &str) -> Option<&str> {
        self.nodes.get(name)?.parent.as_deref()
    }

    /// Top-level agents with their descriptions, for `GET /v1/models`.
    pub fn top_level(&self) -> impl Iterator<Item = (&str, &str)> {
        self.roots.iter().filter_map(|name| {
            let node = self.nodes.get(name)?;
            Some((name.as_str(), node.agent.description()))
        })
    }

    /// The agent as its file describes it (kind, model, tools, sub-agents, instruction source).
    pub fn outline(&self, name: &str) -> Option<&super::outline::AgentOutline> {
        self.outlines.get(name)
    }

    /// Top-level agents' names, in name order.
    pub fn roots(&self) -> &[String] {
        &self.roots
    }

    pub fn is_top_level(&self, name: &str) -> bool {
        self.roots.iter().any(|r| r == name)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// A top-level agent's name runs that agent; any other model goes to `default_agent`. An
    /// agent that sets nothing — the built-in default — is plain proxying, so it takes the
    /// proxy's direct path (no per-chunk event round trip) unless callbacks must see it.
    pub fn target_for(&self, model: Option<&str>) -> Target {
        let name = match model.filter(|m| self.is_top_level(m)) {
            Some(name) => Some(name),
            None => self.default_agent.as_deref(),
        };
        match name {
            Some(name)
                if !self.callbacks.is_empty()
                    || !self.nodes.get(name).is_some_and(|n| n.transparent) =>
            {
                Target::Agent(name.to_string())
            }
            _ if !self.callbacks.is_empty() => Target::Agent(BUILTIN_DEFAULT.to_string()),
            _ => Target::Transparent,
        }
    }

    /// ADK's rule for a session's next turn: from the newest event back, the first agent of
    /// this tree that is the root or can hand the conversation back up the tree (it and its
    /// ancestors are LlmAgents that allow transfer to their parent) answers; an agent that
    /// cannot is passed over, not a reason to stop looking. No such agent: the root.
    /// (A turn that brings client tool results goes to the caller instead: `agent::resume`.)
    pub fn agent_to_run(&self, root: &str, events: &[Arc<Event>]) -> String {
        if !self.nodes.contains_key(root) {
            return root.to_string();
        }
        events
            .iter()
            .rev()
            .filter(|e| e.author != "user")
            .filter(|e| self.nodes.contains_key(&e.author) && self.root_of(&e.author) == root)
            .find(|e| e.author == root || self.transferable(&e.author))
            .map_or_else(|| root.to_string(), |e| e.author.clone())
    }

    fn root_of<'a>(&'a self, mut name: &'a str) -> &'a str {
        while let Some(parent) = self.parent_of(name) {
            name = parent;
        }
        name
    }

    fn transferable(&self, name: &str) -> bool {
        let mut current = Some(name);
        while let Some(agent) = current {
            let Some(node) = self.nodes.get(agent) else {
                return false;
            };
            if node.agent.class() != AgentClass::LlmAgent
                || node.agent.disallows_transfer_to_parent()
            {
                return false;
            }
            current = node.parent.as_deref();
        }
        true
    }
}
