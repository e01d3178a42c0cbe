//! The HTTP surface. Routes answer with and without the `/v1` prefix, because clients disagree
//! on whether the base URL includes it.

pub mod admission;
pub mod agent_run;
pub mod background_task;
pub mod body;
pub mod body_budget;
pub mod browser_guard;
pub mod caller;
pub mod chat_completions;
pub mod console;
pub mod drain;
pub mod error_dialect;
pub mod health;
pub mod messages;
pub mod messages_passthrough;
pub mod models;
pub mod ollama_api;
pub mod passthrough;
pub mod request_log;
pub mod require_key;
pub mod respond;
pub mod responses;
pub mod sse;
pub mod tool_cards;
pub mod validate;

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::agent::AgentSet;
use crate::agent::config::LoadError;
use crate::auth::KeyStore;
use crate::cache::ResponseCache;
use crate::config::SessionStore;
use crate::config::{Backend, Config};
use crate::error::{ApiError, ErrorObject};
use crate::lifecycle::Lifecycle;
use crate::limits::RateLimiter;
use crate::llm::ProviderRegistry;
use crate::pipeline::Pipelines;
use crate::runner::Runner;
use crate::session::SessionService;
use crate::session::memory::InMemorySessionService;
use crate::session::sqlite::SqliteSessionService;

/// What every handler needs, cheap to clone: one `Arc`. Axum clones the state for every
/// extractor and middleware layer, several times a request; when this was a struct of fourteen
/// `Arc`s, cloning and dropping it took ~10 µs of a plain request's CPU at 8 connections
/// (atomic counts on cache lines both cores write).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The state itself, behind [`AppState`]'s one `Arc`.
pub struct Shared {
    pub config: Arc<Config>,
    pub registry: Arc<ProviderRegistry>,
    /// Swapped on SIGHUP; read per request.
    keys: Arc<RwLock<Arc<KeyStore>>>,
    pub limiter: Arc<dyn RateLimiter>,
    pub cache: Option<Arc<dyn ResponseCache>>,
    pub lifecycle: Arc<Lifecycle>,
    /// Memory for request bodies being read and parsed, across all requests.
    pub body_budget: body_budget::BodyBudget,
    /// Swapped on SIGHUP; a running agent keeps the set it started with.
    agents: Arc<RwLock<Arc<AgentSet>>>,
    pub runner: Arc<Runner>,
    /// The global and per-model pre/post-processing stages; swapped on SIGHUP.
    pipelines: Arc<RwLock<Arc<Pipelines>>>,
    /// The providers' model lists, reused briefly (`models::ProviderLists`).
    pub provider_lists: Arc<models::ProviderLists>,
    /// Finished requests and stored events, for the console while someone watches.
    pub live: Arc<crate::observe::live::LiveFeed>,
    /// The console's browser logins.
    pub console_logins: Arc<console::access::Logins>,
    /// Why the last SIGHUP reload failed (seconds since the epoch, message), shown in the console.
    reload_error: Arc<RwLock<Option<(f64, String)>>>,
}

impl AppState {
    /// Builds providers, limits and cache from a validated config (connecting to Redis when a
    /// Redis backend is selected).
    pub async fn build(config: Config) -> Result<Self, String> {
        let registry = ProviderRegistry::from_config(&config)?;
        let limiter: Arc<dyn RateLimiter> = match config.limits.backend {
            Backend::Memory => Arc::new(crate::limits::memory::MemoryLimiter::default()),
            Backend::Redis => {
                let url = config.redis_url.as_deref().unwrap_or_default();
                Arc::new(
                    crate::limits::redis::RedisLimiter::connect(
                        url,
                        &config.redis_prefix,
                        std::time::Duration::from_secs_f64(config.limits.concurrency_lease_secs),
                    )
                    .await?,
                )
            }
        };
        let cache: Option<Arc<dyn ResponseCache>> = if !config.cache.enabled {
            None
        } else {
            let ttl = std::time::Duration::from_secs(config.cache.ttl_secs.max(1));
            Some(match config.cache.backend {
                Backend::Memory => Arc::new(crate::cache::memory::MemoryCache::new(
                    config.cache.max_entries,
                    ttl,
                )),
                Backend::Redis => {
                    let url = config.redis_url.as_deref().unwrap_or_default();
                    Arc::new(
                        crate::cache::redis::RedisCache::connect(url, &config.redis_prefix, ttl)
                            .await?,
                    )
                }
            })
        };
        let Reloadable {
            keys,
            pipelines,
            agents,
        } = Reloadable::build(&config, &registry).map_err(|e| e.to_string())?;
        let sessions: Arc<dyn SessionService> = match config.sessions.store {
            SessionStore::Memory => Arc::new(InMemorySessionService::with_limits(
                config.sessions.max_sessions,
                config.sessions.max_memory_bytes,
            )),
            SessionStore::Redis => Arc::new(
                crate::session::redis::RedisSessionService::connect(
                    config.redis_url.as_deref().unwrap_or_default(),
                    &config.redis_prefix,
                    config.sessions.redis_ttl_secs,
                )
                .await?,
            ),
            SessionStore::Sqlite => {
                let path = std::path::Path::new(&config.sessions.sqlite_path);
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        format!(
                            "{}: sessions.sqlite_path: cannot create {}: {e}",
                            config.source.display(),
                            dir.display()
                        )
                    })?;
                }
                Arc::new(SqliteSessionService::open(path).map_err(|e| {
                    format!(
                        "{}: sessions.sqlite_path: {}: {e}",
                        config.source.display(),
                        path.display()
                    )
                })?)
            }
        };
        let config_body_memory = config.server.max_body_memory_bytes;
        let registry = Arc::new(registry);
        let live = Arc::new(crate::observe::live::LiveFeed::default());
        let sessions: Arc<dyn SessionService> = Arc::new(
            crate::observe::watched_sessions::WatchedSessions::new(sessions, live.clone()),
        );
        let runner = Arc::new(Runner {
            sessions,
            registry: registry.clone(),
            limits: config.runtime.clone(),
        });
        crate::observe::metrics::install();
        crate::observe::labels::configure(configured_names(&config, &agents));
        Ok(Self(Arc::new(Shared {
            agents: Arc::new(RwLock::new(Arc::new(agents))),
            runner,
            pipelines: Arc::new(RwLock::new(Arc::new(pipelines))),
            provider_lists: Arc::default(),
            live,
            console_logins: Arc::default(),
            reload_error: Arc::default(),
            keys: Arc::new(RwLock::new(keys)),
            config: Arc::new(config),
            registry,
            limiter,
            cache,
            lifecycle: Arc::new(Lifecycle::default()),
            body_budget: body_budget::BodyBudget::new(config_body_memory),
        })))
    }

    /// SIGHUP: swaps in the keys, stages and agents of `fresh` (agents are re-read from the
    /// directories the server started with; providers need a restart). All or nothing: when any
    /// part fails to build, the running configuration stays whole. Running requests finish with
    /// what they started with.
    /// Records how the last reload went: its error, or none after a success.
    pub fn note_reload(&self, error: Option<String>) {
        let mut last = self.reload_error.write().unwrap_or_else(|p| p.into_inner());
        *last = error.map(|e| (crate::event::now_secs(), e));
    }

    /// The last reload's error, as `{time, error}`.
    pub fn last_reload_error(&self) -> Option<serde_json::Value> {
        let last = self.reload_error.read().unwrap_or_else(|p| p.into_inner());
        last.as_ref()
            .map(|(time, error)| serde_json::json!({"time": time, "error": error}))
    }

    pub fn reload(&self, mut fresh: Config) -> Result<Reloaded, LoadError> {
        fresh.agents = self.config.agents.clone();
        let next = Reloadable::build(&fresh, &self.registry)?;
        let reloaded = Reloaded {
            keys: fresh.auth.keys.len(),
            agents: next.agents.len(),
        };
        crate::observe::labels::configure(configured_names(&fresh, &next.agents));
        self.replace_keys(next.keys);
        self.replace_pipelines(next.pipelines);
        self.replace_agents(next.agents.with_callbacks_of(&self.agents()));
        Ok(reloaded)
    }

    pub fn keys(&self) -> Arc<KeyStore> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn pipelines(&self) -> Arc<Pipelines> {
        self.pipelines
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the global and per-model stages (SIGHUP); running requests keep theirs.
    pub fn replace_pipelines(&self, pipelines: Pipelines) {
        *self.pipelines.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(pipelines);
    }

    pub fn agents(&self) -> Arc<AgentSet> {
        self.agents
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the agents (SIGHUP, or callbacks added in code). Runs in progress finish with
    /// the set they started with.
    pub fn replace_agents(&self, agents: AgentSet) {
        *self.agents.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(agents);
    }

    /// Replaces the client keys (SIGHUP). Open requests keep the key they were admitted with.
    pub fn replace_keys(&self, keys: Arc<KeyStore>) {
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
    }
}

/// Model and agent names the configuration names: label values for the metrics.
fn configured_names(config: &Config, agents: &AgentSet) -> Vec<String> {
    let mut names = vec![config.default_model.clone()];
    for provider in config.providers.values() {
        names.extend(provider.settings.default_model.clone());
        names.extend(provider.settings.fallbacks.iter().flat_map(|f| {
            let model = f.split_once('/').map_or(f.as_str(), |(_, m)| m);
            [f.clone(), model.to_string()]
        }));
    }
    names.extend(config.models.keys().cloned());
    names.extend(agents.top_level().map(|(name, _)| name.to_string()));
    names
}

/// What SIGHUP can swap, built the same way at start-up, by `check` and on reload.
pub struct Reloadable {
    pub keys: Arc<KeyStore>,
    pub pipelines: Pipelines,
    pub agents: AgentSet,
}

/// Counts for the reload's log line.
#[derive(Debug, Clone, Copy)]
pub struct Reloaded {
    pub keys: usize,
    pub agents: usize,
}

impl Reloadable {
    pub fn build(config: &Config, registry: &ProviderRegistry) -> Result<Self, LoadError> {
        let pipelines = crate::pipeline::compile_settings(
            &config.pipeline,
            &config.models,
            &config.source,
            std::path::Path::new(&config.agents.prompts_dir),
            crate::pipeline::http_client(),
        )
        .map_err(LoadError::Setup)?;
        let agents = AgentSet::load(config, registry)?;
        Ok(Self {
            keys: config.keys.clone(),
            pipelines,
            agents,
        })
    }
}

/// The OpenAI-style API routes under `prefix` (`/v1`, and the bare paths some clients use).
/// Each prefix gets its own routes rather than a nested router: nesting strips the prefix from
/// every request's URI, a cost paid on the hot path for nothing.
fn api_routes(prefix: &str) -> Router<AppState> {
    let at = |path: &str| format!("{prefix}{path}");
    Router::new()
        .route(
            &at("/chat/completions"),
            post(chat_completions::chat_completions),
        )
        .route(&at("/responses"), post(responses::create))
        .route(&at("/messages"), post(messages::create))
        .route(&at("/messages/count_tokens"), post(messages::count_tokens))
        .route(
            &at("/responses/{id}"),
            get(responses::get).delete(responses::delete),
        )
        .route(
            &at("/responses/{id}/input_items"),
            get(responses::input_items),
        )
        .route(&at("/embeddings"), post(passthrough::forward))
        .route(&at("/completions"), post(passthrough::forward))
        .route(&at("/models"), get(models::list_models))
        .route(&at("/models/{*id}"), get(models::get_model))
}

/// The full application router, with request logging and authentication.
pub fn router(state: AppState) -> Router {
    let app = Router::new()
        .merge(api_routes("/v1"))
        .merge(api_routes(""))
        .route("/api/chat", post(ollama_api::chat))
        .route("/api/generate", post(ollama_api::generate))
        .route("/api/tags", get(ollama_api::tags))
        .route("/api/show", post(ollama_api::show))
        .route("/api/version", get(ollama_api::version))
        .route("/health", get(health::health))
        .route("/v1/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_key::require_key,
        ));
    let app = guarded(app, &state)
        .layer(axum::middleware::from_fn(error_dialect::in_client_dialect))
        .layer(axum::middleware::from_fn_with_state(
            state.live.clone(),
            request_log::log_requests,
        ));
    let origins = &state.config.server.cors_allow_origins;
    let app = if origins.is_empty() {
        app
    } else {
        app.layer(cors(origins))
    };
    // The console has its own access rules and no CORS; requests it makes are logged like any.
    let console = guarded(console::routes(&state), &state).layer(
        axum::middleware::from_fn_with_state(state.live.clone(), request_log::log_requests),
    );
    console.merge(app).with_state(state)
}

/// The layers every route shares inside the log: the browser guard (content type, foreign
/// origins and hosts without keys) and draining on shutdown.
fn guarded(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    routes
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            browser_guard::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            drain::drain,
        ))
}

/// What connections beyond `server.max_connections` get: health, readiness and metrics, and a
/// 503 for everything else (see `server::serve_until`).
pub fn reserve_router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/v1/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .fallback(too_many_connections)
        .with_state(state)
}

async fn too_many_connections() -> impl IntoResponse {
    let mut response = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorObject::new(
            "The server has too many open connections; retry shortly.",
            "api_error",
        )
        .with_code("too_many_connections"),
    )
    .into_response();
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

async fn not_found(uri: axum::http::Uri) -> impl IntoResponse {
    ApiError::not_found(format!("Unknown path: {}", uri.path()), "not_found")
}

async fn method_not_allowed() -> impl IntoResponse {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorObject::new("Method not allowed on this path.", "invalid_request_error")
            .with_code("method_not_allowed"),
    )
}

/// CORS for browser-based chat clients, only for the configured origins (not applied at all when
/// none are). Preflight requests are answered here, before authentication: browsers send them
/// without credentials.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| o.parse().ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers(Any)
        .max_age(std::time::Duration::from_secs(3600))
}
