//! An agent as a person reading the console sees it: kind, model, tools, agents used as tools,
//! sub-agents and where the instruction comes from. Taken from the loaded files when the set is
//! built, since the running agents keep only what they need to run.

use serde::Serialize;

use super::config::{AgentClass, LoadedAgent};

#[derive(Debug, Clone, Serialize)]
pub struct AgentOutline {
    pub name: String,
    pub kind: &'static str,
    pub description: String,
    /// The model named in the file; `None` inherits (the parent's, else the request's).
    pub model: Option<String>,
    /// `file:prompts/x.md`, `inline`, or `none`.
    pub instruction_source: String,
    pub file: String,
    pub tools: Vec<String>,
    pub agent_tools: Vec<String>,
    pub sub_agents: Vec<String>,
    pub output_key: Option<String>,
    pub max_iterations: Option<u32>,
}

impl AgentOutline {
    pub fn of(loaded: &LoadedAgent) -> Self {
        let config = &loaded.config;
        let instruction_source = match config.instruction.as_deref().map(str::trim) {
            None | Some("") => "none".to_string(),
            Some(text) if text.starts_with("file:") => text.to_string(),
            Some(_) => "inline".to_string(),
        };
        Self {
            name: config.name.clone(),
            kind: match config.agent_class {
                AgentClass::LlmAgent => "LlmAgent",
                AgentClass::SequentialAgent => "SequentialAgent",
                AgentClass::ParallelAgent => "ParallelAgent",
                AgentClass::LoopAgent => "LoopAgent",
            },
            description: config.description.clone(),
            model: config.model.clone(),
            instruction_source,
            file: loaded.file.display().to_string(),
            tools: loaded.tools.iter().map(|t| t.name().to_string()).collect(),
            agent_tools: loaded
                .agent_tools
                .iter()
                .filter_map(|(_, r)| r.agent.name.clone().or_else(|| r.agent.config_path.clone()))
                .collect(),
            sub_agents: loaded.children.clone(),
            output_key: config.output_key.clone(),
            max_iterations: config.max_iterations,
        }
    }
}
