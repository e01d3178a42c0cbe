//! Building the [`AgentSet`] from a loaded agent tree: the only file that knows every agent kind
//! (LlmAgent, the workflow agents, AgentTool), so the lookup table and the agents themselves do
//! not depend on each other's construction.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Map;

use super::Agent;
use super::agent_tool::AgentTool;
use super::config::{AgentClass, AgentTree, LoadError, LoadedAgent};
use super::generate_config::{Destination, translate};
use super::llm_agent::LlmAgent;
use super::set::{AgentSet, BUILTIN_DEFAULT, Node};
use super::workflow::{LoopAgent, ParallelAgent, SequentialAgent, Steps};
use crate::config::Config;
use crate::llm::ProviderRegistry;
use crate::tool::builtins::TransferToAgent;
use crate::tool::{Tool, ToolRegistry};

impl Default for AgentSet {
    /// No agents from files: only the built-in transparent default.
    fn default() -> Self {
        Self {
            nodes: HashMap::new(),
            roots: Vec::new(),
            default_agent: None,
            callbacks: Vec::new(),
            pipelines: HashMap::new(),
            outlines: HashMap::new(),
            builtin_default: Arc::new(LlmAgent::transparent(BUILTIN_DEFAULT)),
        }
    }
}

impl AgentSet {
    /// Loads `agents.dir` (none when it is "" or missing) and checks models and `default_agent`.
    pub fn load(config: &Config, registry: &ProviderRegistry) -> Result<Self, LoadError> {
        let dir = config.agents.dir.trim();
        let tree = if dir.is_empty() {
            None
        } else if !std::path::Path::new(dir).is_dir() {
            tracing::warn!(
                dir,
                "no agents directory: only the default agent serves (set agents.dir or --agents-dir)"
            );
            None
        } else {
            Some(crate::agent::config::load_dir(
                std::path::Path::new(dir),
                std::path::Path::new(&config.agents.prompts_dir),
                &ToolRegistry::with_builtins(),
            )?)
        };
        let mut set = match tree {
            Some(tree) => Self::from_tree(
                tree,
                registry,
                std::path::Path::new(&config.agents.prompts_dir),
            )?,
            None => Self::default(),
        };
        if let Some(name) = &config.agents.default_agent {
            if !set.roots.contains(name) {
                return Err(LoadError::field(
                    &config.source,
                    "agents.default_agent",
                    format!(
                        "'{name}' is not a top-level agent in '{dir}' (known: {})",
                        set.roots.join(", ")
                    ),
                ));
            }
            set.default_agent = Some(name.clone());
        }
        Ok(set)
    }

    pub fn from_tree(
        tree: AgentTree,
        registry: &ProviderRegistry,
        prompts_dir: &std::path::Path,
    ) -> Result<Self, LoadError> {
        let mut nodes = HashMap::new();
        let mut pipelines = HashMap::new();
        for (name, loaded) in &tree.agents {
            let fail = |field: &str, msg: String| LoadError::field(&loaded.file, field, msg);
            if let Some(model) = &loaded.config.model {
                refuse_unserved_gemini(model, registry).map_err(|why| fail("model", why))?;
                registry
                    .resolve(Some(model))
                    .map_err(|e| fail("model", e.error.message.clone()))?;
            }
            let agent: Arc<dyn Agent> = match loaded.config.agent_class {
                AgentClass::LlmAgent => {
                    let generate = provider_parameters(&tree, loaded, registry)?;
                    Arc::new(llm_agent(&tree, name, loaded, generate))
                }
                AgentClass::SequentialAgent => Arc::new(SequentialAgent(Steps::new(
                    &loaded.config,
                    loaded.children.clone(),
                ))),
                AgentClass::ParallelAgent => Arc::new(ParallelAgent(Steps::new(
                    &loaded.config,
                    loaded.children.clone(),
                ))),
                AgentClass::LoopAgent => Arc::new(LoopAgent {
                    steps: Steps::new(&loaded.config, loaded.children.clone()),
                    max_iterations: loaded.config.max_iterations,
                }),
            };
            if let Some(pipeline) = &loaded.config.pipeline {
                let compiled = crate::pipeline::compile(
                    pipeline,
                    &crate::pipeline::CompileContext {
                        origin: format!("{}: pipeline", loaded.file.display()),
                        prompts_dir,
                        http: crate::pipeline::http_client(),
                    },
                )
                .map_err(LoadError::Setup)?;
                if !compiled.stream.is_empty() && loaded.parent.is_some() {
                    return Err(LoadError::field(
                        &loaded.file,
                        "pipeline.stream",
                        format!(
                            "stream stages act on the answer the client receives, so only a top-level agent can have them ('{name}' is a sub-agent of '{}')",
                            loaded.parent.as_deref().unwrap_or_default()
                        ),
                    ));
                }
                if !compiled.request.is_empty() && loaded.config.agent_class != AgentClass::LlmAgent
                {
                    return Err(LoadError::field(
                        &loaded.file,
                        "pipeline.request",
                        format!(
                            "request stages run before each of an LlmAgent's model calls; a {:?} makes none",
                            loaded.config.agent_class
                        ),
                    ));
                }
                pipelines.insert(name.clone(), compiled);
            }
            let c = &loaded.config;
            let transparent = c.agent_class == AgentClass::LlmAgent
                && c.model.is_none()
                && loaded
                    .instruction
                    .as_deref()
                    .is_none_or(|i| i.trim().is_empty())
                && loaded.tools.is_empty()
                && loaded.agent_tools.is_empty()
                && loaded.children.is_empty()
                && loaded.parent.is_none()
                && c.output_key.is_none()
                && c.generate_content_config.as_ref().is_none_or(Map::is_empty)
                && c.include_contents.is_none()
                && c.stream.is_none()
                && c.pipeline.is_none();
            nodes.insert(
                name.clone(),
                Node {
                    agent,
                    parent: loaded.parent.clone(),
                    transparent,
                },
            );
        }
        let outlines = tree
            .agents
            .iter()
            .map(|(name, loaded)| (name.clone(), super::outline::AgentOutline::of(loaded)))
            .collect();
        Ok(Self {
            nodes,
            roots: tree.roots,
            pipelines,
            outlines,
            ..Self::default()
        })
    }
}

/// ADK's transfer targets: the sub-agents; the parent and the peers when the parent is an
/// LlmAgent and they are not disallowed.
fn transfer_targets(tree: &AgentTree, agent: &LoadedAgent) -> Vec<(String, String)> {
    let describe = |name: &String| {
        let description = tree
            .agents
            .get(name)
            .map(|a| a.config.description.clone())
            .unwrap_or_default();
        (name.clone(), description)
    };
    let mut targets: Vec<(String, String)> = agent.children.iter().map(describe).collect();
    if let Some(parent) = agent.parent.as_ref().and_then(|p| tree.agents.get(p))
        && parent.config.agent_class == AgentClass::LlmAgent
    {
        if !agent.config.disallow_transfer_to_parent {
            targets.push(describe(&parent.config.name));
        }
        if !agent.config.disallow_transfer_to_peers {
            targets.extend(
                parent
                    .children
                    .iter()
                    .filter(|peer| **peer != agent.config.name)
                    .map(describe),
            );
        }
    }
    targets
}

/// The model an LlmAgent uses: its own, else the nearest ancestor's.
fn inherited_model(tree: &AgentTree, agent: &LoadedAgent) -> Option<String> {
    let mut current = Some(agent);
    while let Some(a) = current {
        if let Some(model) = &a.config.model {
            return Some(model.clone());
        }
        current = a.parent.as_ref().and_then(|p| tree.agents.get(p));
    }
    None
}

/// The agent's `generate_content_config` as its provider's parameters (`generate_config`),
/// refused here, naming the field, when the provider cannot take one.
fn provider_parameters(
    tree: &AgentTree,
    loaded: &LoadedAgent,
    registry: &ProviderRegistry,
) -> Result<Map<String, serde_json::Value>, LoadError> {
    let Some(config) = loaded.config.generate_content_config.as_ref() else {
        return Ok(Map::new());
    };
    let model = inherited_model(tree, loaded);
    let provider = registry
        .resolve(model.as_deref())
        .map(|route| route.provider)
        .unwrap_or_else(|_| registry.default_provider().clone());
    let to = Destination {
        kind: provider.config.settings.kind,
        base_url: &provider.config.base_url,
    };
    translate(config, &to).map_err(|(field, why)| LoadError::field(&loaded.file, field, why))
}

/// Hosts of Gemini's OpenAI-compatible API: a provider there serves `gemini-…` names.
const GEMINI_HOSTS: [&str; 2] = [
    "generativelanguage.googleapis.com",
    "aiplatform.googleapis.com",
];

/// An ADK agent file names Gemini models bare (`gemini-2.5-flash`); without a provider that
/// serves them, such a name would go to the default provider and fail on every request.
fn refuse_unserved_gemini(model: &str, registry: &ProviderRegistry) -> Result<(), String> {
    let bare = model
        .split_once('/')
        .is_none_or(|(prefix, _)| registry.get(prefix).is_none());
    let serves_gemini = |base: &str| GEMINI_HOSTS.iter().any(|h| base.contains(h));
    if !bare
        || !model.trim().to_ascii_lowercase().starts_with("gemini")
        || serves_gemini(&registry.default_provider().config.base_url)
    {
        return Ok(());
    }
    Err(format!(
        "'{model}' is a Gemini model and the default provider '{}' does not serve Gemini: name a configured provider and model as '<provider>/<model>', or add a provider with base_url https://generativelanguage.googleapis.com/v1beta/openai and write '<that provider>/{model}'",
        registry.default_provider().name()
    ))
}

fn llm_agent(
    tree: &AgentTree,
    name: &str,
    loaded: &LoadedAgent,
    generate_config: Map<String, serde_json::Value>,
) -> LlmAgent {
    let targets = transfer_targets(tree, loaded);
    let mut tools: Vec<Arc<dyn Tool>> = loaded.tools.clone();
    for (_, reference) in &loaded.agent_tools {
        if let Some(target) = reference
            .agent
            .name
            .as_ref()
            .and_then(|n| tree.agents.get(n))
        {
            tools.push(Arc::new(
                AgentTool::new(&target.config.name, &target.config.description)
                    .skipping_summarization(reference.skip_summarization),
            ));
        }
    }
    let transfer = (!targets.is_empty()).then(|| {
        Arc::new(TransferToAgent {
            targets: targets.clone(),
        }) as Arc<dyn Tool>
    });
    let c = &loaded.config;
    LlmAgent {
        name: name.to_string(),
        description: c.description.clone(),
        model: inherited_model(tree, loaded),
        instruction: loaded.instruction.clone(),
        tools,
        transfer,
        targets,
        sub_agents: loaded.children.clone(),
        output_key: c.output_key.clone(),
        include_contents: c.include_contents.unwrap_or_default(),
        generate_config,
        disallow_transfer_to_parent: c.disallow_transfer_to_parent,
        stream: c.stream,
    }
}
