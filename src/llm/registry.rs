//! The configured providers and the routing rule from a request's `model` to one of them.
//!
//! `provider/model` reaches that provider with `model`; any other name goes to the default
//! provider unchanged (so OpenRouter-style `vendor/model` names still work when `vendor` is not a
//! configured provider); no model at all means the default model.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::Llm;
use super::anthropic::Anthropic;
use super::http::UpstreamClient;
use super::mock::MockLlm;
use super::ollama::Ollama;
use super::openai_compat::OpenAiCompat;
use crate::config::{Config, ProviderKind, ResolvedProvider};
use crate::error::ApiError;
use crate::llm::resilience::CircuitBreaker;

/// One configured upstream: its settings and the adapter that talks to it.
pub struct Provider {
    pub config: ResolvedProvider,
    pub llm: Arc<dyn Llm>,
    /// The pooled HTTP client the adapter uses too, for endpoints passed through unchanged.
    pub http: UpstreamClient,
    /// Base of the provider's OpenAI-compatible API (Ollama serves one under `/v1`).
    pub openai_base: String,
    pub breaker: CircuitBreaker,
}

impl Provider {
    pub fn new(config: ResolvedProvider) -> Result<Self, String> {
        let http = UpstreamClient::new(&config)?;
        let (llm, openai_base): (Arc<dyn Llm>, String) = match config.settings.kind {
            ProviderKind::Openai => (
                Arc::new(OpenAiCompat::new(&config, http.clone())?),
                config.base_url.clone(),
            ),
            ProviderKind::Ollama => (
                Arc::new(Ollama::new(&config, http.clone())?),
                format!("{}/v1", config.base_url),
            ),
            ProviderKind::Anthropic => (
                Arc::new(Anthropic::new(&config, http.clone())?),
                String::new(),
            ),
            ProviderKind::Mock => (Arc::new(MockLlm::conversational()), String::new()),
        };
        Ok(Self::assemble(config, llm, http, openai_base))
    }

    /// A provider around a ready [`Llm`] (tests, embedding): no HTTP API of its own, so
    /// pass-through endpoints (embeddings, legacy completions) are not available on it.
    pub fn with_llm(config: ResolvedProvider, llm: Arc<dyn Llm>) -> Self {
        let http = UpstreamClient::new(&config)
            .unwrap_or_else(|e| panic!("a provider without headers or key always builds: {e}"));
        Self::assemble(config, llm, http, String::new())
    }

    fn assemble(
        config: ResolvedProvider,
        llm: Arc<dyn Llm>,
        http: UpstreamClient,
        openai_base: String,
    ) -> Self {
        let breaker = CircuitBreaker::new(
            config.settings.circuit_breaker_failures,
            Duration::from_secs_f64(config.settings.circuit_breaker_cooldown_secs.max(0.0)),
        );
        Self {
            config,
            llm,
            http,
            openai_base,
            breaker,
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }
}

/// Where a request goes: the provider and the model name the upstream knows.
#[derive(Clone)]
pub struct Route {
    pub provider: Arc<Provider>,
    pub model: String,
}

pub struct ProviderRegistry {
    providers: BTreeMap<String, Arc<Provider>>,
    default_provider: String,
    default_model: String,
}

impl ProviderRegistry {
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let mut providers = BTreeMap::new();
        for (name, resolved) in &config.providers {
            providers.insert(name.clone(), Arc::new(Provider::new(resolved.clone())?));
        }
        Ok(Self {
            providers,
            default_provider: config.default_provider.clone(),
            default_model: config.default_model.clone(),
        })
    }

    /// A registry of ready providers (tests, embedding); `default_provider` must be among them.
    pub fn new(
        providers: impl IntoIterator<Item = Provider>,
        default_provider: &str,
        default_model: &str,
    ) -> Self {
        Self {
            providers: providers
                .into_iter()
                .map(|p| (p.name().to_string(), Arc::new(p)))
                .collect(),
            default_provider: default_provider.to_string(),
            default_model: default_model.to_string(),
        }
    }

    pub fn default_provider(&self) -> &Arc<Provider> {
        // `Config` validation guarantees the default provider exists.
        &self.providers[&self.default_provider]
    }

    pub fn default_model(&self) -> &str {
        &self.default_model
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Provider>> {
        self.providers.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }

    /// Resolves a request's `model` to a provider and upstream model name.
    pub fn resolve(&self, model: Option<&str>) -> Result<Route, ApiError> {
        let model = model.map(str::trim).filter(|m| !m.is_empty());
        let (provider, model) = match model {
            None => (self.default_provider().clone(), self.default_model.clone()),
            Some(model) => match model.split_once('/') {
                Some((prefix, rest)) if self.providers.contains_key(prefix) => {
                    let provider = self.providers[prefix].clone();
                    let rest = rest.trim();
                    let model = if rest.is_empty() {
                        provider
                            .config
                            .settings
                            .default_model
                            .clone()
                            .unwrap_or_default()
                    } else {
                        rest.to_string()
                    };
                    (provider, model)
                }
                _ => (self.default_provider().clone(), model.to_string()),
            },
        };
        if model.is_empty() {
            return Err(ApiError::invalid_request(
                format!(
                    "Provider '{}' has no default model; name one as '{}/<model>'.",
                    provider.name(),
                    provider.name()
                ),
                Some("model"),
                "model_not_found",
            ));
        }
        if let Err(var) = &provider.config.api_key {
            return Err(ApiError::invalid_request(
                format!(
                    "Provider '{}' is not available: the proxy's environment variable {var} is not set.",
                    provider.name()
                ),
                Some("model"),
                "provider_unavailable",
            ));
        }
        Ok(Route { provider, model })
    }
}
