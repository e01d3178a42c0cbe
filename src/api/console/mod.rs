//! The console: a page served by the binary at `/console` for the people who write and run the
//! agents — requests live, every session's timeline step by step, the agent trees, and a
//! playground. HTML, CSS and JavaScript are embedded (`assets/`, no build step, no network), and
//! the data comes from a small JSON API ([`handlers`]) that scripts can use too.
//!
//! It costs a request nothing while nobody watches (`observe::live`); who may open it is decided in
//! [`access`]. Its routes sit outside the API's CORS layer, and every answer forbids framing and
//! caching.

pub mod access;
pub mod handlers;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::api::AppState;

const PAGE: &str = include_str!("assets/console.html");
const SCRIPT: &str = include_str!("assets/console.js");
const STYLE: &str = include_str!("assets/console.css");

/// The console's routes (none when `console.enabled` is off).
pub fn routes(state: &AppState) -> Router<AppState> {
    if !state.config.console.enabled {
        return Router::new();
    }
    Router::new()
        .route("/console", get(page))
        .route("/console/", get(page))
        .route("/console/console.js", get(script))
        .route("/console/console.css", get(style))
        .route("/console/api/whoami", get(handlers::whoami))
        .route("/console/api/login", post(handlers::login))
        .route("/console/api/logout", post(handlers::logout))
        .route("/console/api/live", get(handlers::live))
        .route("/console/api/sessions", get(handlers::sessions))
        .route("/console/api/session", get(handlers::session))
        .route("/console/api/session/live", get(handlers::session_live))
        .route("/console/api/agents", get(handlers::agents))
        .route("/console/api/models", get(handlers::models))
        .route("/console/api/chat", post(handlers::chat))
        .layer(axum::middleware::map_response(locked_down))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// Headers on every console answer: only its own scripts run, no page may frame it, nothing is
/// cached or sent on as a referrer.
async fn locked_down(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
