//! Settings: `settings.yaml`, then `ADK_PROXY__…` environment overrides, then the provider
//! variables users already have (`OPENAI_API_KEY`, `OLLAMA_HOST`, …), then CLI flags.
//!
//! Everything is validated before the server binds a port: a proxy that starts half-configured
//! fails later, in front of a user, with a worse message. Every error names the file and field.

#[macro_use]
mod names;
pub mod agents;
pub mod backends;
pub mod console;
pub mod error;
pub mod providers;
pub mod server;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use crate::auth::{AuthSettings, KeySettings};
pub use agents::{
    AgentSettings, BackgroundTaskSettings, ReasoningSettings, ReplayMode, RuntimeSettings,
    SessionSettings, SessionStore, TaskMode,
};
pub use backends::{Backend, CacheSettings, CacheWhen, LimitSettings, RedisSettings};
pub use console::ConsoleSettings;
pub use error::ConfigError;
pub use providers::{Defaults, ProviderKind, ProviderSettings, ResolvedProvider};
pub use server::{LogFormat, ServerSettings};

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
    #[serde(default)]
    pub console: ConsoleSettings,
    /// Pre- and post-processing for every request.
    #[serde(default)]
    pub pipeline: crate::pipeline::PipelineConfig,
    /// Per-model settings, by model name or glob (`gpt-4o*`).
    #[serde(default)]
    pub models: BTreeMap<String, crate::pipeline::ModelSettings>,
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
    pub console: ConsoleSettings,
    pub pipeline: crate::pipeline::PipelineConfig,
    pub models: BTreeMap<String, crate::pipeline::ModelSettings>,
    /// The `models:` entries with a `route:`.
    pub aliases: std::sync::Arc<crate::llm::aliases::Aliases>,
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

pub(crate) fn secs(value: f64) -> Duration {
    Duration::from_secs_f64(value.max(0.001))
}

/// Reads `path` (YAML) and the `ADK_PROXY__` environment into [`Settings`].
pub fn load_settings(path: &Path) -> Result<Settings, ConfigError> {
    if !path.exists() {
        return Err(ConfigError::File {
            file: path.display().to_string(),
            message: "settings file not found (pass --config <path>)".into(),
        });
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
        .map_err(|e| ConfigError::parse(&path.display().to_string(), &e))?;
    built
        .try_deserialize::<Settings>()
        .map_err(|e| ConfigError::parse(&path.display().to_string(), &e))
}

/// Parses settings from YAML text (no environment): for tests and embedding.
pub fn parse_settings(yaml: &str, name: &str) -> Result<Settings, ConfigError> {
    config::Config::builder()
        .add_source(config::File::from_str(yaml, config::FileFormat::Yaml))
        .build()
        .and_then(|c| c.try_deserialize::<Settings>())
        .map_err(|e| ConfigError::parse(name, &e))
}

/// Loads, applies environment and CLI overrides, and validates.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
    let settings = load_settings(path)?;
    Config::from_settings(path, settings, overrides, &|name| std::env::var(name).ok())
}

impl Config {
    /// Validation and resolution, section by section, with the environment passed in so tests
    /// need not mutate the process environment.
    pub fn from_settings(
        path: &Path,
        settings: Settings,
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let providers = providers::resolve(&file, &settings.providers, env)?;
        let (default_provider, default_model) =
            providers::defaults(&file, &settings.defaults, &providers, overrides)?;
        let server = server::validate(&file, &settings.server, overrides)?;
        let redis_url = backends::redis_url(&file, &settings, env)?;
        let keys = crate::auth::KeyStore::from_settings(&settings.auth, env)
            .map_err(|e| ConfigError::field(&file, e.field, e.message))?;
        if keys.is_empty()
            && !settings.auth.allow_unauthenticated
            && !crate::auth::is_loopback_host(&server.host)
        {
            return Err(ConfigError::field(
                &file,
                "auth.keys",
                format!(
                    "refusing to serve {} without client keys: anyone who can reach it could spend \
                     your provider keys. Add auth.keys, listen on 127.0.0.1, or set auth.allow_unauthenticated: true",
                    server.host
                ),
            ));
        }
        let agents = agents::validate(&file, &settings, overrides)?;
        let aliases = crate::llm::aliases::Aliases::from_settings(&file, &settings.models)?;
        Ok(Config {
            aliases: std::sync::Arc::new(aliases),
            keys: std::sync::Arc::new(keys),
            source: path.to_path_buf(),
            server,
            default_provider,
            default_model,
            providers,
            auth: settings.auth,
            limits: settings.limits,
            cache: settings.cache,
            redis_url,
            redis_prefix: settings
                .redis
                .prefix
                .unwrap_or_else(|| "adk-llm-proxy".to_string()),
            agents,
            runtime: settings.runtime,
            sessions: settings.sessions,
            reasoning: settings.reasoning,
            console: settings.console,
            pipeline: settings.pipeline,
            models: settings.models,
        })
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
        assert!(err.to_string().contains("OPENAI_API_KEY"), "{err}");
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
            err.to_string().contains("nope") && err.to_string().contains("ollama, openai"),
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
