//! The HTTP surface. Routes answer with and without the `/v1` prefix, because clients disagree
//! on whether the base URL includes it.

pub mod chat_completions;
pub mod health;
pub mod models;
pub mod request_log;
pub mod sse;
pub mod validate;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::config::Config;
use crate::error::{ApiError, ErrorObject};
use crate::llm::ProviderRegistry;

/// What every handler needs, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub registry: Arc<ProviderRegistry>,
}

impl AppState {
    pub fn new(config: Config) -> Result<Self, String> {
        let registry = ProviderRegistry::from_config(&config)?;
        Ok(Self {
            config: Arc::new(config),
            registry: Arc::new(registry),
        })
    }
}

/// The full application router, with request logging.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/chat/completions",
            post(chat_completions::chat_completions),
        )
        .route("/models", get(models::list_models))
        .route("/models/{*id}", get(models::get_model));
    Router::new()
        .nest("/v1", api.clone())
        .merge(api)
        .route("/health", get(health::health))
        .route("/v1/health", get(health::health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(request_log::log_requests))
        .with_state(state)
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
