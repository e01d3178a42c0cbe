//! `agents:`, `runtime:`, `sessions:` and `reasoning:`: where agents come from, the per-request
//! limits of a run, where sessions live, and how agent work is shown.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Overrides, Settings, secs};

/// Where agents come from and which one serves models that are not agent names.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSettings {
    /// Directory of `*.yaml` agent files (also `--agents-dir`); "" = no YAML agents. A missing
    /// directory is only warned about, so an installed binary runs from any directory.
    pub dir: String,
    /// Directory that `instruction: file:` paths must stay under.
    pub prompts_dir: String,
    /// Agent that answers requests for any model that is not an agent's name; unset = the
    /// built-in transparent agent (plain proxying).
    pub default_agent: Option<String>,
    /// Chat UIs' background tasks (titles, tags, follow-ups…) sent to an agent.
    pub background_tasks: BackgroundTaskSettings,
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            dir: "agents".into(),
            prompts_dir: "prompts".into(),
            default_agent: None,
            background_tasks: BackgroundTaskSettings::default(),
        }
    }
}

/// `agents.background_tasks`: how a chat UI's housekeeping requests to an agent are served
/// (`api::background_task` recognises them).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackgroundTaskSettings {
    pub mode: TaskMode,
    /// The model that serves them; unset = the agent's own model if it names one, else the
    /// default model.
    pub model: Option<String>,
    /// More prompts to recognise: regexes matched against the start of the last user message.
    pub patterns: Vec<String>,
    /// `patterns`, compiled when the settings are validated.
    #[serde(skip)]
    pub compiled: Vec<regex::Regex>,
}

/// Whether background tasks skip the agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TaskMode {
    /// One plain model call.
    #[default]
    Direct,
    /// Through the agent like any other message.
    Agent,
}

settings_enum!(TaskMode { "direct" => Direct, "agent" => Agent });

/// Per-request limits of an agent run: no runaway loops.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSettings {
    /// Model calls one request may make, across all agents of the run.
    pub max_llm_calls: u32,
    /// Rounds of server-side tool calls one request may make.
    pub max_tool_rounds: u32,
    pub tool_timeout_secs: f64,
    /// What of earlier turns' server-side work goes back into the model's history.
    pub replay: ReplayMode,
    /// Estimated tokens (bytes / 4) the replayed steps of one model call may take; the oldest
    /// steps are dropped first.
    pub replay_max_tokens: usize,
    /// A replayed tool result longer than this (bytes of its JSON) is cut, with a marker.
    pub replay_max_result_bytes: usize,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self {
            max_llm_calls: 25,
            max_tool_rounds: 10,
            tool_timeout_secs: 30.0,
            replay: ReplayMode::All,
            replay_max_tokens: 8000,
            replay_max_result_bytes: 4000,
        }
    }
}

/// `runtime.replay`: the steps of earlier turns that the client never saw (its messages hold
/// only the answers) and that are put back into the model's history where they happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReplayMode {
    /// Server-side tool calls with their results, other agents' turns, transfers.
    #[default]
    All,
    /// Only server-side tool calls with their results.
    Tools,
    /// Nothing: the client's messages are the whole history.
    None,
}

settings_enum!(ReplayMode { "all" => All, "tools" => Tools, "none" => None });

impl RuntimeSettings {
    pub fn tool_timeout(&self) -> Duration {
        secs(self.tool_timeout_secs)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SessionStore {
    /// Lost on restart.
    #[default]
    Memory,
    /// A SQLite file at `sqlite_path`: state survives restarts.
    Sqlite,
    /// Redis (`redis.url`): shared by several replicas behind a load balancer.
    Redis,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    pub store: SessionStore,
    pub sqlite_path: String,
    /// Memory store: sessions kept; the least recently updated go first.
    pub max_sessions: usize,
    /// Memory store: approximate bytes of stored events kept across all sessions.
    pub max_memory_bytes: usize,
    /// Redis store: a session untouched this long expires.
    pub redis_ttl_secs: u64,
    /// Stored Responses API responses (`store: true`) older than this are gone, in every store.
    pub responses_ttl_secs: u64,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            store: SessionStore::Memory,
            sqlite_path: "data/sessions.db".into(),
            max_sessions: 10_000,
            max_memory_bytes: 256 * 1024 * 1024,
            redis_ttl_secs: 30 * 24 * 3600,
            responses_ttl_secs: 30 * 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReasoningSettings {
    /// How agents' intermediate work reaches the client; the `X-Reasoning-Mode` header overrides.
    pub mode: crate::wire::ReasoningMode,
}

settings_enum!(SessionStore { "memory" => Memory, "sqlite" => Sqlite, "redis" => Redis });

/// The agents section with `--agents-dir` applied, and the runtime and session limits checked.
pub fn validate(
    file: &str,
    settings: &Settings,
    overrides: &Overrides,
) -> Result<AgentSettings, ConfigError> {
    let mut agents = settings.agents.clone();
    if let Some(dir) = &overrides.agents_dir {
        agents.dir.clone_from(dir);
    }
    let tasks = &mut agents.background_tasks;
    tasks.compiled = tasks
        .patterns
        .iter()
        .enumerate()
        .map(|(i, pattern)| {
            regex::Regex::new(pattern).map_err(|e| {
                ConfigError::field(
                    file,
                    format!("agents.background_tasks.patterns[{i}]"),
                    format!("not a valid regex: {e}"),
                )
            })
        })
        .collect::<Result<_, _>>()?;
    if settings.runtime.max_llm_calls == 0 {
        return Err(ConfigError::field(
            file,
            "runtime.max_llm_calls",
            "must be at least 1",
        ));
    }
    let timeout = settings.runtime.tool_timeout_secs;
    if timeout.is_nan() || timeout <= 0.0 {
        return Err(ConfigError::field(
            file,
            "runtime.tool_timeout_secs",
            "must be a positive number of seconds",
        ));
    }
    if settings.sessions.store == SessionStore::Sqlite
        && settings.sessions.sqlite_path.trim().is_empty()
    {
        return Err(ConfigError::field(
            file,
            "sessions.sqlite_path",
            "the sqlite store needs a file path",
        ));
    }
    Ok(agents)
}
