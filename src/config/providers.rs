//! `providers:` and `defaults:`: which upstreams exist, how to reach them, and which one serves
//! plain model names.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Overrides, secs};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Defaults {
    /// The provider that serves plain model names and requests without a model.
    pub provider: Option<String>,
    /// The model used when a request names none; falls back to the provider's `default_model`.
    pub model: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// Any OpenAI-compatible API (OpenAI, DeepSeek, vLLM, llama.cpp, LM Studio, …).
    Openai,
    /// Ollama's native `/api/chat`.
    Ollama,
    /// Anthropic's Messages API (`/v1/messages`, `x-api-key`, `anthropic-version`).
    Anthropic,
    /// The built-in scripted model: no network, no key (see `llm::mock`).
    Mock,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    pub kind: ProviderKind,
    /// Required for every kind but `mock`.
    #[serde(default)]
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
    /// `kind: anthropic`: the answer's `max_tokens` when the client sets none (Anthropic requires
    /// one; OpenAI-style clients usually leave it out).
    #[serde(default = "default_max_tokens")]
    pub default_max_tokens: u64,
    /// Consecutive failures that open the circuit (0 = never).
    #[serde(default = "default_breaker_failures")]
    pub circuit_breaker_failures: u32,
    /// How long an open circuit skips this provider.
    #[serde(default = "default_breaker_cooldown")]
    pub circuit_breaker_cooldown_secs: f64,
}

fn default_max_tokens() -> u64 {
    8192
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

settings_enum!(ProviderKind { "openai" => Openai, "ollama" => Ollama, "anthropic" => Anthropic, "mock" => Mock });

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

/// Resolves every provider: environment applied to `base_url`, timeouts and headers checked,
/// the key looked up (a missing key only matters for the default provider, checked later).
pub fn resolve(
    file: &str,
    settings: &BTreeMap<String, ProviderSettings>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, ResolvedProvider>, ConfigError> {
    if settings.is_empty() {
        return Err(ConfigError::field(
            file,
            "providers",
            "at least one provider must be configured",
        ));
    }
    let mut providers = BTreeMap::new();
    for (name, p) in settings {
        let field = |f: &str| format!("providers.{name}.{f}");
        let base_url = p
            .base_url_env
            .iter()
            .find_map(|var| env(var).filter(|v| !v.trim().is_empty()))
            .map(|v| normalize_base_url(&v))
            .unwrap_or_else(|| p.base_url.clone());
        if p.kind != ProviderKind::Mock {
            check_base_url(file, &field("base_url"), &base_url)?;
        }
        for (f, v) in [
            ("connect_timeout_secs", p.connect_timeout_secs),
            ("first_byte_timeout_secs", p.first_byte_timeout_secs),
            ("idle_timeout_secs", p.idle_timeout_secs),
            ("response_timeout_secs", p.response_timeout_secs),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(ConfigError::field(
                    file,
                    field(f),
                    format!("must be a positive number of seconds, got {v}"),
                ));
            }
        }
        for header in p.headers.keys() {
            if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
                return Err(ConfigError::field(
                    file,
                    field("headers"),
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
    check_fallbacks(file, &providers)?;
    Ok(providers)
}

fn check_base_url(file: &str, field: &str, base_url: &str) -> Result<(), ConfigError> {
    let shown = redact_url(base_url);
    let parsed = reqwest::Url::parse(base_url)
        .map_err(|e| ConfigError::field(file, field, format!("'{shown}' is not a URL: {e}")))?;
    // Endpoint paths are appended to base_url, which a query or fragment would end up behind.
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(ConfigError::field(
            file,
            field,
            format!(
                "'{shown}' has a query or fragment; base_url cannot carry one (put a key in api_key_env or headers)"
            ),
        ));
    }
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::field(
            file,
            field,
            format!("'{shown}' must be http or https"),
        ));
    }
    Ok(())
}

fn known(providers: &BTreeMap<String, ResolvedProvider>) -> String {
    providers.keys().cloned().collect::<Vec<_>>().join(", ")
}

fn check_fallbacks(
    file: &str,
    providers: &BTreeMap<String, ResolvedProvider>,
) -> Result<(), ConfigError> {
    for (name, p) in providers {
        for (i, fallback) in p.settings.fallbacks.iter().enumerate() {
            let target = fallback
                .split_once('/')
                .map(|(prov, _)| prov)
                .unwrap_or(fallback);
            if !providers.contains_key(target) {
                return Err(ConfigError::field(
                    file,
                    format!("providers.{name}.fallbacks[{i}]"),
                    format!(
                        "'{fallback}' does not name a configured provider as 'provider/model' (known: {})",
                        known(providers)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The default provider (`--provider`, else `defaults.provider`) and model (`--model`, else
/// `defaults.model`, else the provider's `default_model`); the default provider needs its key.
pub fn defaults(
    file: &str,
    defaults: &Defaults,
    providers: &BTreeMap<String, ResolvedProvider>,
    overrides: &Overrides,
) -> Result<(String, String), ConfigError> {
    let default_provider = overrides
        .provider
        .clone()
        .or(defaults.provider.clone())
        .ok_or_else(|| {
            ConfigError::field(
                file,
                "defaults.provider",
                format!(
                    "no default provider: set it here or pass --provider (known: {})",
                    known(providers)
                ),
            )
        })?;
    let Some(provider) = providers.get(&default_provider) else {
        let source = if overrides.provider.is_some() {
            "--provider"
        } else {
            "defaults.provider"
        };
        return Err(ConfigError::field(
            file,
            source,
            format!(
                "unknown provider '{default_provider}' (known providers: {})",
                known(providers)
            ),
        ));
    };
    if let Err(var) = &provider.api_key {
        return Err(ConfigError::MissingApiKey {
            file: file.to_string(),
            provider: default_provider,
            var: var.clone(),
        });
    }
    let default_model = overrides
        .model
        .clone()
        .or(defaults.model.clone())
        .or(provider.settings.default_model.clone())
        .ok_or_else(|| {
            ConfigError::field(
                file,
                format!("providers.{default_provider}.default_model"),
                "no model: set it, set defaults.model, or pass --model",
            )
        })?;
    Ok((default_provider, default_model))
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

/// A URL as it may be logged or shown to a client: user name and password removed. Text that
/// does not parse as a URL is returned as it is (it carries no credentials a parser would find).
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string().replacen("://", "://***@", 1)
        }
        _ => url.to_string(),
    }
}
