//! Settings: `settings.yaml`, then `ADK_PROXY__…` environment overrides, then the provider
//! variables users already have (`OPENAI_API_KEY`, `OLLAMA_HOST`, …), then CLI flags.
//!
//! Everything is validated before the server binds a port: a proxy that starts half-configured
//! fails later, in front of a user, with a worse message. Every error names the file and field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Environment prefix for overriding any setting: `ADK_PROXY__SERVER__PORT=9000`,
/// `ADK_PROXY__PROVIDERS__OPENAI__BASE_URL=http://…`.
pub const ENV_PREFIX: &str = "ADK_PROXY";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderSettings>,
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default)]
    pub limits: LimitSettings,
    #[serde(default)]
    pub cache: CacheSettings,
    #[serde(default)]
    pub redis: RedisSettings,
    #[serde(default)]
    pub agents: AgentSettings,
    #[serde(default)]
    pub runtime: RuntimeSettings,
    #[serde(default)]
    pub sessions: SessionSettings,
    #[serde(default)]
    pub reasoning: ReasoningSettings,
    /// Pre- and post-processing for every request.
    #[serde(default)]
    pub pipeline: crate::pipeline::PipelineConfig,
    /// Per-model settings, by model name or glob (`gpt-4o*`).
    #[serde(default)]
    pub models: BTreeMap<String, crate::pipeline::ModelSettings>,
}

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
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            dir: "agents".into(),
            prompts_dir: "prompts".into(),
            default_agent: None,
        }
    }
}

/// Per-request limits of an agent run: no runaway loops.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSettings {
    /// Model calls one request may make, across all agents of the run.
    pub max_llm_calls: u32,
    /// Rounds of server-side tool calls one request may make.
    pub max_tool_rounds: u32,
    pub tool_timeout_secs: f64,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self {
            max_llm_calls: 25,
            max_tool_rounds: 10,
            tool_timeout_secs: 30.0,
        }
    }
}

impl RuntimeSettings {
    pub fn tool_timeout(&self) -> Duration {
        secs(self.tool_timeout_secs)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
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
    /// Redis store: a session untouched this long expires.
    pub redis_ttl_secs: u64,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            store: SessionStore::Memory,
            sqlite_path: "data/sessions.db".into(),
            max_sessions: 10_000,
            redis_ttl_secs: 30 * 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReasoningSettings {
    /// How agents' intermediate work reaches the client; the `X-Reasoning-Mode` header overrides.
    pub mode: crate::runner::render::ReasoningMode,
}

/// Client API keys. With none configured the proxy serves loopback only (see `Config`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Serve a non-loopback address without keys. Only for a trusted network.
    pub allow_unauthenticated: bool,
    pub keys: Vec<KeySettings>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    pub name: String,
    /// Environment variable holding the key (preferred).
    pub key_env: Option<String>,
    /// Hex SHA-256 of the key: the settings file never holds the secret.
    pub key_sha256: Option<String>,
    /// The key in clear text: accepted, warned about.
    pub key: Option<String>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub max_concurrent: Option<u64>,
    /// Allowed models/agents as globs (`*`, `?`); default all.
    pub models: Option<Vec<String>>,
}

/// Limits for all traffic together; per-key limits live on the keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub max_concurrent: Option<u64>,
    pub backend: Backend,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// In this process only.
    #[default]
    Memory,
    /// Shared through Redis (`redis.url`), so several replicas enforce one budget.
    Redis,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheWhen {
    /// Requests with `temperature: 0`, or that opt in with `Cache-Control: max-age=…`.
    #[default]
    Deterministic,
    /// Only requests that opt in with the header.
    Header,
    /// Every request that does not opt out (`Cache-Control: no-cache`/`no-store`).
    Always,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    pub enabled: bool,
    pub when: CacheWhen,
    pub ttl_secs: u64,
    /// Upper bound of cached answers (memory backend).
    pub max_entries: u64,
    pub backend: Backend,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            when: CacheWhen::Deterministic,
            ttl_secs: 300,
            max_entries: 10_000,
            backend: Backend::Memory,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    /// e.g. `redis://127.0.0.1:6379/0`; `url_env` wins when that variable is set.
    pub url: Option<String>,
    pub url_env: Option<String>,
    /// Key prefix, so several deployments can share one Redis.
    pub prefix: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// Request bodies above this many bytes are refused with 413.
    pub max_body_bytes: usize,
    /// How often an SSE comment is written while the upstream is silent, so that proxies and
    /// browsers between us and the client do not close an idle-looking connection.
    pub keepalive_secs: f64,
    /// On SIGTERM/SIGINT, how long open streams may run on before they are ended.
    pub shutdown_grace_secs: f64,
    /// Async worker threads; 0 = one per CPU core.
    pub worker_threads: usize,
    /// Browser origins allowed to call the proxy (CORS), e.g. `["https://chat.example.com"]` or
    /// `["*"]`. Empty (the default) sends no CORS headers: otherwise any web page the user opens
    /// could spend the provider keys of an unauthenticated local proxy.
    pub cors_allow_origins: Vec<String>,
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_string(),
            port: 8001,
            max_body_bytes: 20 * 1024 * 1024,
            keepalive_secs: 15.0,
            shutdown_grace_secs: 30.0,
            worker_threads: 0,
            cors_allow_origins: Vec::new(),
            log_format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Defaults {
    /// The provider that serves plain model names and requests without a model.
    pub provider: Option<String>,
    /// The model used when a request names none; falls back to the provider's `default_model`.
    pub model: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Any OpenAI-compatible `/chat/completions` API (OpenAI, DeepSeek, vLLM, llama.cpp, …).
    Openai,
    /// Ollama's native `/api/chat` (NDJSON).
    Ollama,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    pub kind: ProviderKind,
    pub base_url: String,
    /// Variables that, when set, replace `base_url` (first one set wins).
    #[serde(default)]
    pub base_url_env: Vec<String>,
    /// Variable holding the API key. When set, the key is required to use this provider.
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub default_model: Option<String>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: f64,
    /// Longest wait for the first streamed chunk; exceeded → 504.
    #[serde(default = "default_first_byte_timeout")]
    pub first_byte_timeout_secs: f64,
    /// Longest silence between two chunks of a healthy stream; exceeded → in-stream error.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: f64,
    /// Longest wait for a whole non-streaming answer; exceeded → 504.
    #[serde(default = "default_response_timeout")]
    pub response_timeout_secs: f64,
    /// Extra headers sent on every upstream request (e.g. OpenRouter's `HTTP-Referer`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// DeepSeek quirk: array content parts are flattened to one string.
    #[serde(default)]
    pub flatten_content: bool,
    /// DeepSeek quirk: reasoning that came with tool calls is put back into the assistant turn
    /// when the client sends it again (chat UIs drop it; DeepSeek then rejects the request).
    #[serde(default)]
    pub replay_reasoning: bool,
    /// Extra attempts on connect errors, timeouts, 429 and 5xx, while nothing reached the client.
    #[serde(default)]
    pub retries: u32,
    /// First retry delay; doubles each attempt, with jitter.
    #[serde(default = "default_retry_backoff_ms")]
    pub retry_backoff_ms: u64,
    /// `provider/model` routes tried in order when this provider fails.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// Consecutive failures that open the circuit (0 = never).
    #[serde(default = "default_breaker_failures")]
    pub circuit_breaker_failures: u32,
    /// How long an open circuit skips this provider.
    #[serde(default = "default_breaker_cooldown")]
    pub circuit_breaker_cooldown_secs: f64,
}

fn default_retry_backoff_ms() -> u64 {
    250
}
fn default_breaker_failures() -> u32 {
    5
}
fn default_breaker_cooldown() -> f64 {
    30.0
}

fn default_connect_timeout() -> f64 {
    10.0
}
fn default_first_byte_timeout() -> f64 {
    120.0
}
fn default_idle_timeout() -> f64 {
    300.0
}
fn default_response_timeout() -> f64 {
    600.0
}

/// CLI values that win over the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub agents_dir: Option<String>,
}

/// A configuration problem, phrased for the person who has to fix the file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A provider ready to use: settings with environment applied and the key resolved.
#[derive(Debug, Clone)]
pub struct ResolvedProvider {
    pub name: String,
    pub settings: ProviderSettings,
    pub base_url: String,
    /// `None` for providers without a key variable; `Err(var)` when the variable is unset.
    pub api_key: Result<Option<String>, String>,
}

impl ResolvedProvider {
    pub fn connect_timeout(&self) -> Duration {
        secs(self.settings.connect_timeout_secs)
    }
    pub fn first_byte_timeout(&self) -> Duration {
        secs(self.settings.first_byte_timeout_secs)
    }
    pub fn idle_timeout(&self) -> Duration {
        secs(self.settings.idle_timeout_secs)
    }
    pub fn response_timeout(&self) -> Duration {
        secs(self.settings.response_timeout_secs)
    }
}

/// Everything the server needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: PathBuf,
    pub server: ServerSettings,
    pub default_provider: String,
    pub default_model: String,
    pub providers: BTreeMap<String, ResolvedProvider>,
    pub auth: AuthSettings,
    pub limits: LimitSettings,
    pub cache: CacheSettings,
    /// Client keys, resolved (digests only).
    pub keys: std::sync::Arc<crate::auth::KeyStore>,
    /// Resolved Redis URL, when a backend needs it.
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    pub agents: AgentSettings,
    pub runtime: RuntimeSettings,
    pub sessions: SessionSettings,
    pub reasoning: ReasoningSettings,
    pub pipeline: crate::pipeline::PipelineConfig,
    pub models: BTreeMap<String, crate::pipeline::ModelSettings>,
}

impl Config {
    pub fn keepalive(&self) -> Duration {
        secs(self.server.keepalive_secs)
    }

    pub fn default_provider(&self) -> &ResolvedProvider {
        // Validated in `Config::from_settings`: the default provider always exists.
        &self.providers[&self.default_provider]
    }
}

fn secs(value: f64) -> Duration {
    Duration::from_secs_f64(value.max(0.001))
}

/// Reads `path` (YAML) and the `ADK_PROXY__` environment into [`Settings`].
pub fn load_settings(path: &Path) -> Result<Settings, ConfigError> {
    if !path.exists() {
        return Err(ConfigError(format!(
            "{}: settings file not found (pass --config <path>)",
            path.display()
        )));
    }
    let built = config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Yaml))
        .add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        )
        .build()
        .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    built
        .try_deserialize::<Settings>()
        .map_err(|e| ConfigError(format!("{}: {e}", path.display())))
}

/// Parses settings from YAML text (no environment): for tests and embedding.
pub fn parse_settings(yaml: &str, name: &str) -> Result<Settings, ConfigError> {
    config::Config::builder()
        .add_source(config::File::from_str(yaml, config::FileFormat::Yaml))
        .build()
        .and_then(|c| c.try_deserialize::<Settings>())
        .map_err(|e| ConfigError(format!("{name}: {e}")))
}

/// Loads, applies environment and CLI overrides, and validates.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
    let settings = load_settings(path)?;
    Config::from_settings(path, settings, overrides, &|name| std::env::var(name).ok())
}

impl Config {
    /// Validation and resolution, with the environment passed in so tests need not mutate the
    /// process environment.
    pub fn from_settings(
        path: &Path,
        settings: Settings,
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let fail = |field: &str, msg: String| ConfigError(format!("{file}: {field}: {msg}"));

        if settings.providers.is_empty() {
            return Err(fail(
                "providers",
                "at least one provider must be configured".into(),
            ));
        }
        let mut providers = BTreeMap::new();
        for (name, p) in &settings.providers {
            let field = |f: &str| format!("providers.{name}.{f}");
            let base_url = p
                .base_url_env
                .iter()
                .find_map(|var| env(var).filter(|v| !v.trim().is_empty()))
                .map(|v| normalize_base_url(&v))
                .unwrap_or_else(|| p.base_url.clone());
            let parsed = reqwest::Url::parse(&base_url).map_err(|e| {
                fail(
                    &field("base_url"),
                    format!("'{base_url}' is not a URL: {e}"),
                )
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(fail(
                    &field("base_url"),
                    format!("'{base_url}' must be http or https"),
                ));
            }
            for (f, v) in [
                ("connect_timeout_secs", p.connect_timeout_secs),
                ("first_byte_timeout_secs", p.first_byte_timeout_secs),
                ("idle_timeout_secs", p.idle_timeout_secs),
                ("response_timeout_secs", p.response_timeout_secs),
            ] {
                if !(v.is_finite() && v > 0.0) {
                    return Err(fail(
                        &field(f),
                        format!("must be a positive number of seconds, got {v}"),
                    ));
                }
            }
            for header in p.headers.keys() {
                if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
                    return Err(fail(
                        &field("headers"),
                        format!("'{header}' is not a valid header name"),
                    ));
                }
            }
            let api_key = match &p.api_key_env {
                None => Ok(None),
                Some(var) => match env(var).filter(|v| !v.trim().is_empty()) {
                    Some(key) => Ok(Some(key.trim().to_string())),
                    None => Err(var.clone()),
                },
            };
            providers.insert(
                name.clone(),
                ResolvedProvider {
                    name: name.clone(),
                    settings: p.clone(),
                    base_url: base_url.trim_end_matches('/').to_string(),
                    api_key,
                },
            );
        }

        let known = || providers.keys().cloned().collect::<Vec<_>>().join(", ");
        let default_provider = overrides
            .provider
            .clone()
            .or(settings.defaults.provider.clone())
            .ok_or_else(|| {
                fail(
                    "defaults.provider",
                    format!(
                        "no default provider: set it here or pass --provider (known: {})",
                        known()
                    ),
                )
            })?;
        let Some(provider) = providers.get(&default_provider) else {
            let source = if overrides.provider.is_some() {
                "--provider"
            } else {
                "defaults.provider"
            };
            return Err(ConfigError(format!(
                "{file}: {source}: unknown provider '{default_provider}' (known providers: {})",
                known()
            )));
        };
        if let Err(var) = &provider.api_key {
            return Err(ConfigError(format!(
                "provider '{default_provider}' needs an API key: set the environment variable {var} \
                 (configured as providers.{default_provider}.api_key_env in {file})"
            )));
        }
        let default_model = overrides
            .model
            .clone()
            .or(settings.defaults.model.clone())
            .or(provider.settings.default_model.clone())
            .ok_or_else(|| {
                fail(
                    &format!("providers.{default_provider}.default_model"),
                    "no model: set it, set defaults.model, or pass --model".into(),
                )
            })?;

        let mut server = settings.server.clone();
        if let Some(host) = &overrides.host {
            server.host = host.clone();
        }
        if let Some(port) = overrides.port {
            server.port = port;
        }
        if server.max_body_bytes == 0 {
            return Err(fail(
                "server.max_body_bytes",
                "must be greater than 0".into(),
            ));
        }
        if !(server.keepalive_secs.is_finite() && server.keepalive_secs > 0.0) {
            return Err(fail(
                "server.keepalive_secs",
                "must be a positive number of seconds".into(),
            ));
        }

        for (name, p) in &providers {
            for (i, fallback) in p.settings.fallbacks.iter().enumerate() {
                let target = fallback
                    .split_once('/')
                    .map(|(prov, _)| prov)
                    .unwrap_or(fallback);
                if !providers.contains_key(target) {
                    return Err(fail(
                        &format!("providers.{name}.fallbacks[{i}]"),
                        format!(
                            "'{fallback}' does not name a configured provider as 'provider/model' (known: {})",
                            known()
                        ),
                    ));
                }
            }
        }
        for (i, origin) in server.cors_allow_origins.iter().enumerate() {
            if origin != "*" && axum::http::HeaderValue::from_str(origin).is_err() {
                return Err(fail(
                    &format!("server.cors_allow_origins[{i}]"),
                    format!("'{origin}' is not a valid origin"),
                ));
            }
        }
        if !(server.shutdown_grace_secs.is_finite() && server.shutdown_grace_secs >= 0.0) {
            return Err(fail(
                "server.shutdown_grace_secs",
                "must be a number of seconds ≥ 0".into(),
            ));
        }

        let redis_url = settings
            .redis
            .url_env
            .as_deref()
            .and_then(env)
            .or(settings.redis.url.clone());
        let needs_redis = settings.limits.backend == Backend::Redis
            || (settings.cache.enabled && settings.cache.backend == Backend::Redis)
            || settings.sessions.store == SessionStore::Redis;
        if needs_redis && redis_url.is_none() {
            return Err(fail(
                "redis.url",
                "a Redis backend is selected (limits.backend, cache.backend or sessions.store) but no URL is set"
                    .into(),
            ));
        }

        let keys = crate::auth::KeyStore::from_settings(&settings.auth, &file, env)?;
        if keys.is_empty()
            && !settings.auth.allow_unauthenticated
            && !crate::auth::is_loopback_host(&server.host)
        {
            return Err(ConfigError(format!(
                "{file}: auth.keys: refusing to serve {} without client keys: anyone who can reach it could spend \
                 your provider keys. Add auth.keys, listen on 127.0.0.1, or set auth.allow_unauthenticated: true",
                server.host
            )));
        }

        let mut agents = settings.agents.clone();
        if let Some(dir) = &overrides.agents_dir {
            agents.dir.clone_from(dir);
        }
        if settings.runtime.max_llm_calls == 0 {
            return Err(fail("runtime.max_llm_calls", "must be at least 1".into()));
        }
        let timeout = settings.runtime.tool_timeout_secs;
        if timeout.is_nan() || timeout <= 0.0 {
            return Err(fail(
                "runtime.tool_timeout_secs",
                "must be a positive number of seconds".into(),
            ));
        }
        if settings.sessions.store == SessionStore::Sqlite
            && settings.sessions.sqlite_path.trim().is_empty()
        {
            return Err(fail(
                "sessions.sqlite_path",
                "the sqlite store needs a file path".into(),
            ));
        }
        Ok(Config {
            keys: std::sync::Arc::new(keys),
            source: path.to_path_buf(),
            server,
            default_provider,
            default_model,
            providers,
            auth: settings.auth.clone(),
            limits: settings.limits.clone(),
            cache: settings.cache.clone(),
            redis_url,
            redis_prefix: settings
                .redis
                .prefix
                .clone()
                .unwrap_or_else(|| "adk-llm-proxy".to_string()),
            agents,
            runtime: settings.runtime.clone(),
            sessions: settings.sessions.clone(),
            reasoning: settings.reasoning.clone(),
            pipeline: settings.pipeline.clone(),
            models: settings.models.clone(),
        })
    }
}

/// `OLLAMA_HOST` is often `0.0.0.0:11434` or `localhost:11434`: add the scheme it implies.
fn normalize_base_url(value: &str) -> String {
    let value = value.trim();
    if value.contains("://") {
        value.to_string()
    } else {
        let host = value.replace("0.0.0.0", "127.0.0.1");
        format!("http://{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Settings {
        parse_settings(yaml, "s.yaml").expect("settings deserialize")
    }

    const BASE: &str = r#"
defaults: { provider: openai }
providers:
  openai: { kind: openai, base_url: "https://api.openai.com/v1", base_url_env: [OPENAI_BASE_URL], api_key_env: OPENAI_API_KEY, default_model: gpt-4o-mini }
  ollama: { kind: ollama, base_url: "http://localhost:11434", base_url_env: [OLLAMA_HOST, OLLAMA_BASE_URL], default_model: llama3.2 }
"#;

    #[test]
    fn missing_key_names_the_variable() {
        let err = Config::from_settings(
            Path::new("s.yaml"),
            settings(BASE),
            &Overrides::default(),
            &|_| None,
        )
        .expect_err("must fail without key");
        assert!(err.0.contains("OPENAI_API_KEY"), "{err}");
    }

    #[test]
    fn unknown_provider_lists_known_ones() {
        let o = Overrides {
            provider: Some("nope".into()),
            ..Default::default()
        };
        let err = Config::from_settings(Path::new("s.yaml"), settings(BASE), &o, &|_| None)
            .expect_err("unknown");
        assert!(
            err.0.contains("nope") && err.0.contains("ollama, openai"),
            "{err}"
        );
    }

    #[test]
    fn ollama_host_without_scheme_is_accepted() {
        let o = Overrides {
            provider: Some("ollama".into()),
            ..Default::default()
        };
        let env = |k: &str| (k == "OLLAMA_HOST").then(|| "0.0.0.0:11500".to_string());
        let cfg =
            Config::from_settings(Path::new("s.yaml"), settings(BASE), &o, &env).expect("valid");
        assert_eq!(cfg.default_provider().base_url, "http://127.0.0.1:11500");
        assert_eq!(cfg.default_model, "llama3.2");
    }
}
