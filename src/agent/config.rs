//! `agents/*.yaml` → a validated agent tree.
//!
//! The format follows Google ADK's Agent Config YAML (docs/ARCHITECTURE.md, "Agent files"). Every problem — unknown field, unknown
//! tool or bad tool args, missing prompt file, unknown sub-agent, a cycle, a duplicate name, an
//! agent used as the sub-agent of two parents, a workflow agent with LLM settings — names the
//! file and the field, so start-up can refuse to run half-configured. The JSON Schema of the
//! format is generated from these types (`agents/schema.json`, kept fresh by a test).
//!
//! `AgentSet::load` (src/agent/build.rs) calls [`load_dir`] at start, in `check` and on SIGHUP.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::tool::{Tool, ToolRegistry};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum AgentClass {
    #[default]
    LlmAgent,
    SequentialAgent,
    ParallelAgent,
    LoopAgent,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncludeContents {
    /// The conversation so far is sent to the model.
    #[default]
    Default,
    /// Only this turn's instruction and input.
    None,
}

/// Where an agent's text goes in the client's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StreamMode {
    Content,
    Reasoning,
    Hidden,
}

/// One tool entry: `{name, args}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolConfig {
    pub name: String,
    #[serde(default)]
    pub args: Option<Value>,
}

/// A sub-agent: another file's agent by `name`, or a file by `config_path` (relative to the
/// file that references it, as in ADK).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubAgentRef {
    pub name: Option<String>,
    pub config_path: Option<String>,
}

/// One agent file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Unique; also the model id clients use for a top-level agent.
    pub name: String,
    #[serde(default)]
    pub agent_class: AgentClass,
    #[serde(default)]
    pub description: String,
    /// `provider/model`; omitted = the parent's, else the request's, else the default.
    pub model: Option<String>,
    /// Inline text or `file:prompts/<name>.md`; `{key}`, `{key?}`, `{user:key}` state templating.
    pub instruction: Option<String>,
    #[serde(default)]
    pub tools: Vec<ToolConfig>,
    #[serde(default)]
    pub sub_agents: Vec<SubAgentRef>,
    /// State key that receives this agent's final text.
    pub output_key: Option<String>,
    pub include_contents: Option<IncludeContents>,
    /// Sampling parameters laid over the client's (the agent wins for what it sets).
    pub generate_content_config: Option<Map<String, Value>>,
    /// LoopAgent only.
    pub max_iterations: Option<u32>,
    #[serde(default)]
    pub disallow_transfer_to_parent: bool,
    #[serde(default)]
    pub disallow_transfer_to_peers: bool,
    pub stream: Option<StreamMode>,
    /// Pre- and post-processing when this agent is the one requested (after the global and the
    /// model's stages).
    pub pipeline: Option<crate::pipeline::PipelineConfig>,
}

/// Tool names that mean "another agent, used as a tool" (ADK spells it `AgentTool`).
pub const AGENT_TOOL_NAMES: [&str; 2] = ["AgentTool", "agent_tool"];

/// ADK Agent Config fields this runtime does not implement, with what to do instead.
const UNSUPPORTED_ADK_FIELDS: &[(&str, &str)] = &[
    (
        "before_agent_callbacks",
        "callbacks are Python code in ADK; here they are Rust (AgentSet::with_callbacks) or YAML `pipeline:` stages",
    ),
    (
        "after_agent_callbacks",
        "callbacks are Python code in ADK; here they are Rust (AgentSet::with_callbacks) or YAML `pipeline:` stages",
    ),
    (
        "before_model_callbacks",
        "callbacks are Python code in ADK; here they are Rust (AgentSet::with_callbacks) or YAML `pipeline:` stages",
    ),
    (
        "after_model_callbacks",
        "callbacks are Python code in ADK; here they are Rust (AgentSet::with_callbacks) or YAML `pipeline:` stages",
    ),
    (
        "before_tool_callbacks",
        "callbacks are Python code in ADK; here they are Rust (AgentSet::with_callbacks)",
    ),
    (
        "after_tool_callbacks",
        "callbacks are Python code in ADK; here they are Rust (AgentSet::with_callbacks)",
    ),
    (
        "input_schema",
        "typed agent input is not supported; describe the input in the instruction",
    ),
    (
        "output_schema",
        "use generate_content_config.response_schema for structured output",
    ),
    (
        "planner",
        "ADK planners are not supported; a SequentialAgent with a planning step does the same",
    ),
    ("code_executor", "code execution is not supported"),
    (
        "global_instruction",
        "put the text in the root agent's instruction",
    ),
    ("static_instruction", "put the text in the instruction"),
    (
        "model_code",
        "models are named as '<provider>/<model>' in `model:`",
    ),
];

fn unsupported_adk_field(fields: &Map<String, Value>) -> Option<(String, String)> {
    fields.keys().find_map(|key| {
        let (_, why) = UNSUPPORTED_ADK_FIELDS
            .iter()
            .find(|(name, _)| name == key)?;
        Some((
            key.clone(),
            format!("an ADK field this runtime does not support: {why}"),
        ))
    })
}

/// An `AgentTool` entry's arguments.
#[derive(Debug, Clone)]
pub struct AgentToolRef {
    pub agent: SubAgentRef,
    /// ADK's `skip_summarization`: the agent's answer is the caller's answer, with no further
    /// model call of the caller.
    pub skip_summarization: bool,
}

/// `args: {agent: name}`, `{agent: {name: x}}` or `{agent: {config_path: x.yaml}}`, with an
/// optional `skip_summarization: true`.
fn agent_tool_ref(args: &Value) -> Result<AgentToolRef, String> {
    let Some(map) = args.as_object() else {
        return Err("expected {agent: <agent name>}".into());
    };
    if let Some(other) = map
        .keys()
        .find(|k| *k != "agent" && *k != "skip_summarization")
    {
        return Err(format!(
            "unknown field '{other}' (expected: agent, skip_summarization)"
        ));
    }
    let skip_summarization = match map.get("skip_summarization") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(format!(
                "skip_summarization: expected true or false, got {other}"
            ));
        }
    };
    let agent = match map.get("agent") {
        Some(Value::String(name)) => SubAgentRef {
            name: Some(name.clone()),
            config_path: None,
        },
        Some(value @ Value::Object(_)) => serde_json::from_value::<SubAgentRef>(value.clone())
            .map_err(|e| format!("agent: {e}"))?,
        _ => return Err("agent: expected an agent name or {name}/{config_path}".into()),
    };
    Ok(AgentToolRef {
        agent,
        skip_summarization,
    })
}

/// A validated agent.
pub struct LoadedAgent {
    pub config: AgentConfig,
    pub file: PathBuf,
    /// The instruction with any `file:` reference read.
    pub instruction: Option<String>,
    pub tools: Vec<Arc<dyn Tool>>,
    /// Agents used as tools (`- name: AgentTool, args: {agent: x}`): (index in `tools:`, agent
    /// name once linked).
    pub agent_tools: Vec<(usize, AgentToolRef)>,
    pub children: Vec<String>,
    pub parent: Option<String>,
}

/// All agents by name, and the top-level ones (no parent) in name order.
pub struct AgentTree {
    pub agents: BTreeMap<String, LoadedAgent>,
    pub roots: Vec<String>,
}

/// Why the agents on disk cannot be loaded; start-up stops (exit 2), a SIGHUP reload keeps the
/// running set.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// A field of an agent file (or of settings.yaml's `agents:`) is wrong, or a file cannot be
    /// read or parsed: the same shape as a settings error, naming file and field.
    #[error("{0}")]
    Invalid(#[from] crate::config::ConfigError),
    /// Something the agents need could not be set up (providers, settings' stages).
    #[error("{0}")]
    Setup(String),
}

impl LoadError {
    pub fn field(file: &Path, field: impl Into<String>, message: impl Into<String>) -> Self {
        crate::config::ConfigError::field(&file.display().to_string(), field, message).into()
    }

    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        crate::config::ConfigError::File {
            file: file.display().to_string(),
            message: message.into(),
        }
        .into()
    }
}

/// The JSON Schema of the agent file format.
pub fn schema() -> Value {
    serde_json::to_value(schemars::schema_for!(AgentConfig)).unwrap_or(Value::Null)
}

/// Loads every `*.yaml` / `*.yml` in `dir` (and files they reference by `config_path`).
pub fn load_dir(
    dir: &Path,
    prompts_dir: &Path,
    tools: &ToolRegistry,
) -> Result<AgentTree, LoadError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| LoadError::file(dir, format!("cannot read the agents directory: {e}")))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut loader = Loader {
        dir,
        prompts_dir,
        tools,
        agents: BTreeMap::new(),
        by_file: BTreeMap::new(),
    };
    for file in &files {
        loader.load_file(file)?;
    }
    loader.link()
}

struct Loader<'a> {
    dir: &'a Path,
    prompts_dir: &'a Path,
    tools: &'a ToolRegistry,
    agents: BTreeMap<String, LoadedAgent>,
    by_file: BTreeMap<PathBuf, String>,
}

impl Loader<'_> {
    fn load_file(&mut self, file: &Path) -> Result<String, LoadError> {
        let key = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
        if let Some(name) = self.by_file.get(&key) {
            return Ok(name.clone());
        }
        let fail = |field: &str, msg: String| LoadError::field(file, field, msg);
        let raw = config::Config::builder()
            .add_source(config::File::from(file).format(config::FileFormat::Yaml))
            .build()
            .map_err(|e| LoadError::file(file, e.to_string()))?;
        let config: AgentConfig = match raw.clone().try_deserialize() {
            Ok(config) => config,
            Err(error) => {
                // An ADK field this runtime does not have gets its reason, not serde's list.
                let fields: Map<String, Value> = raw.try_deserialize().unwrap_or_default();
                if let Some((field, why)) = unsupported_adk_field(&fields) {
                    return Err(fail(&field, why));
                }
                return Err(LoadError::file(file, error.to_string()));
            }
        };
        let valid_name = !config.name.is_empty()
            && config
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && !config.name.starts_with('-');
        if !valid_name {
            return Err(fail(
                "name",
                format!("'{}' must be letters, digits, '_' or '-'", config.name),
            ));
        }
        if config.name == "user" {
            // ADK's rule: events authored `user` are the human's, so an agent of that name
            // would never see its own steps as its own.
            return Err(fail(
                "name",
                "'user' is reserved for the human's turns; choose another name".into(),
            ));
        }
        if let Some(existing) = self.agents.get(&config.name) {
            return Err(fail(
                "name",
                format!(
                    "'{}' is already defined in {}",
                    config.name,
                    existing.file.display()
                ),
            ));
        }
        let is_workflow = config.agent_class != AgentClass::LlmAgent;
        if is_workflow {
            for (field, set) in [
                ("model", config.model.is_some()),
                ("instruction", config.instruction.is_some()),
                ("tools", !config.tools.is_empty()),
                ("output_key", config.output_key.is_some()),
                (
                    "generate_content_config",
                    config.generate_content_config.is_some(),
                ),
            ] {
                if set {
                    return Err(fail(
                        field,
                        format!(
                            "{:?} runs its sub_agents and takes no {field}",
                            config.agent_class
                        ),
                    ));
                }
            }
            if config.sub_agents.is_empty() {
                return Err(fail(
                    "sub_agents",
                    format!("a {:?} needs at least one sub-agent", config.agent_class),
                ));
            }
        }
        if config.max_iterations.is_some() && config.agent_class != AgentClass::LoopAgent {
            return Err(fail(
                "max_iterations",
                "only a LoopAgent has max_iterations".into(),
            ));
        }
        if config.max_iterations == Some(0) {
            return Err(fail("max_iterations", "must be at least 1".into()));
        }
        let instruction = match config.instruction.as_deref() {
            Some(text) => match text.trim().strip_prefix("file:") {
                Some(path) => Some(self.read_prompt(path.trim(), &fail)?),
                None => Some(text.to_string()),
            },
            None => None,
        };
        if let Some(text) = &instruction {
            super::instruction::check(text).map_err(|e| fail("instruction", e))?;
        }
        let mut built_tools = Vec::new();
        let mut agent_tools = Vec::new();
        for (i, tool) in config.tools.iter().enumerate() {
            let args = tool.args.clone().unwrap_or(Value::Null);
            if AGENT_TOOL_NAMES.contains(&tool.name.as_str()) {
                agent_tools.push((
                    i,
                    agent_tool_ref(&args).map_err(|e| fail(&format!("tools[{i}].args"), e))?,
                ));
                continue;
            }
            built_tools.push(
                self.tools
                    .build(&tool.name, &args)
                    .map_err(|e| fail(&format!("tools[{i}]"), e))?,
            );
        }
        let name = config.name.clone();
        self.by_file.insert(key, name.clone());
        self.agents.insert(
            name.clone(),
            LoadedAgent {
                config,
                file: file.to_path_buf(),
                instruction,
                tools: built_tools,
                agent_tools,
                children: Vec::new(),
                parent: None,
            },
        );
        Ok(name)
    }

    fn read_prompt(
        &self,
        path: &str,
        fail: &dyn Fn(&str, String) -> LoadError,
    ) -> Result<String, LoadError> {
        // `file:prompts/x.md` is relative to the directory that holds `prompts/` (the project
        // root), `file:x.md` to the prompts directory itself; absolute paths are taken as they are.
        let candidate = PathBuf::from(path);
        let resolved = if candidate.is_absolute() {
            candidate
        } else {
            let base = self.prompts_dir.parent().unwrap_or(Path::new(""));
            [base.join(&candidate), self.prompts_dir.join(&candidate)]
                .into_iter()
                .find(|p| p.exists())
                .unwrap_or_else(|| base.join(&candidate))
        };
        let prompts = self
            .prompts_dir
            .canonicalize()
            .unwrap_or_else(|_| self.prompts_dir.to_path_buf());
        let real = resolved.canonicalize().map_err(|e| {
            fail(
                "instruction",
                format!("prompt file '{path}' cannot be read: {e}"),
            )
        })?;
        if !real.starts_with(&prompts) {
            return Err(fail(
                "instruction",
                format!(
                    "prompt file '{path}' is not under {}",
                    self.prompts_dir.display()
                ),
            ));
        }
        std::fs::read_to_string(&real)
            .map_err(|e| fail("instruction", format!("prompt file '{path}': {e}")))
    }

    /// The agent a `{name}` or `{config_path}` reference names (loading the file if needed).
    /// A `config_path` is relative to the file that holds the reference (ADK's rule); a path
    /// that only exists relative to the agents directory (this proxy's earlier rule) still loads.
    fn resolve(
        &mut self,
        reference: &SubAgentRef,
        from: &Path,
        fail: &dyn Fn(String) -> LoadError,
    ) -> Result<String, LoadError> {
        match (&reference.name, &reference.config_path) {
            (Some(name), None) => {
                if !self.agents.contains_key(name) {
                    let known: Vec<&str> = self.agents.keys().map(String::as_str).collect();
                    return Err(fail(format!(
                        "unknown agent '{name}' (known: {})",
                        known.join(", ")
                    )));
                }
                Ok(name.clone())
            }
            (None, Some(path)) => {
                let beside = from.parent().unwrap_or(self.dir).join(path);
                let path = if beside.exists() {
                    beside
                } else {
                    let legacy = self.dir.join(path);
                    if !legacy.exists() {
                        return Err(fail(format!(
                            "config_path '{}' does not exist (relative to {})",
                            beside.display(),
                            from.display()
                        )));
                    }
                    legacy
                };
                self.load_file(&path)
            }
            _ => Err(fail("set exactly one of name or config_path".into())),
        }
    }

    /// Resolves sub-agent references, then checks parents and cycles.
    fn link(mut self) -> Result<AgentTree, LoadError> {
        // A worklist, not one pass: resolving a `config_path` loads a file whose own references
        // (sub-agents, AgentTools) need resolving too, however deep the tree goes.
        let mut pending: Vec<String> = self.agents.keys().rev().cloned().collect();
        let mut linked: std::collections::HashSet<String> = Default::default();
        let mut edges: Vec<(String, String)> = Vec::new();
        while let Some(name) = pending.pop() {
            if !linked.insert(name.clone()) {
                continue;
            }
            let (file, subs, tools) = {
                let agent = &self.agents[&name];
                (
                    agent.file.clone(),
                    agent.config.sub_agents.clone(),
                    agent.agent_tools.clone(),
                )
            };
            for (i, sub) in subs.iter().enumerate() {
                let fail = |msg: String| LoadError::field(&file, format!("sub_agents[{i}]"), msg);
                let child = self.resolve(sub, &file, &fail)?;
                if child == name {
                    return Err(fail(format!("'{name}' cannot be its own sub-agent")));
                }
                pending.push(child.clone());
                edges.push((name.clone(), child));
            }
            let mut resolved = Vec::new();
            for (i, reference) in tools {
                let fail =
                    |msg: String| LoadError::field(&file, format!("tools[{i}].args.agent"), msg);
                let target = self.resolve(&reference.agent, &file, &fail)?;
                if target == name {
                    return Err(fail(format!("'{name}' cannot use itself as a tool")));
                }
                pending.push(target.clone());
                resolved.push((
                    i,
                    AgentToolRef {
                        agent: SubAgentRef {
                            name: Some(target),
                            config_path: None,
                        },
                        skip_summarization: reference.skip_summarization,
                    },
                ));
            }
            if let Some(agent) = self.agents.get_mut(&name) {
                agent.agent_tools = resolved;
            }
        }
        for (parent, child) in &edges {
            let agent = self
                .agents
                .get_mut(child)
                .ok_or_else(|| LoadError::Setup(format!("agent '{child}' vanished")))?;
            if let Some(first) = &agent.parent {
                return Err(LoadError::file(
                    &agent.file,
                    format!(
                        "agent '{child}' is a sub-agent of both '{first}' and '{parent}'; an agent has one parent"
                    ),
                ));
            }
            agent.parent = Some(parent.clone());
            if let Some(p) = self.agents.get_mut(parent) {
                p.children.push(child.clone());
            }
        }
        // With one parent each, a cycle is a chain of parents that comes back to its start.
        for name in self.agents.keys() {
            let mut seen = BTreeSet::new();
            let mut current = Some(name.clone());
            while let Some(agent) = current {
                if !seen.insert(agent.clone()) {
                    let file = self.agents[name].file.display().to_string();
                    return Err(LoadError::field(
                        Path::new(&file),
                        "sub_agents",
                        format!("cycle through '{agent}'"),
                    ));
                }
                current = self.agents.get(&agent).and_then(|a| a.parent.clone());
            }
        }
        let roots = self
            .agents
            .iter()
            .filter(|(_, a)| a.parent.is_none())
            .map(|(n, _)| n.clone())
            .collect();
        Ok(AgentTree {
            agents: self.agents,
            roots,
        })
    }
}
