//! What a web page can make a proxy do. A page the user happens to open can POST to
//! `http://127.0.0.1:8001` without a CORS preflight (a `text/plain` or form body is a "simple"
//! request), and with DNS rebinding (its own name resolving to 127.0.0.1) even read the answer.
//! A proxy with client keys is safe from both: the page does not have a key. A keyless proxy
//! (loopback only) relies on this guard:
//!
//! - a request with an `Origin` that is neither a loopback origin nor in
//!   `server.cors_allow_origins` is refused (403): browsers send `Origin` on every cross-origin
//!   POST, tools like curl and the SDKs send none;
//! - on a loopback bind, a `Host` that is not a loopback name or address, the configured
//!   `server.host`, or one of `server.allowed_hosts` is refused (403): that is what a rebound name
//!   looks like. (A keyless proxy on a non-loopback address — `auth.allow_unauthenticated` on a
//!   trusted network — is reached by LAN names, so there only the origin check applies.)
//!
//! With or without keys, the JSON endpoints take only JSON: a body declared as anything but
//! `application/json` (or `…+json`) is refused with 415, so no form or `text/plain` post is ever
//! read as a request. A request without `Content-Type` is read as JSON (curl without `-H`).
//! Health probes are exempt: load balancers send their own `Host`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::auth::is_loopback_host;
use crate::error::{ApiError, ErrorObject};

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if matches!(path, "/health" | "/v1/health" | "/ready") {
        return next.run(request).await;
    }
    if request.method() == Method::POST
        && let Some(kind) = request.headers().get(header::CONTENT_TYPE)
        && !is_json(kind.to_str().unwrap_or(""))
    {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "This endpoint takes a JSON body: send Content-Type: application/json (got '{}').",
                kind.to_str().unwrap_or("?")
            ),
            "unsupported_media_type",
        );
    }
    if state.keys().is_empty() {
        let server = &state.config.server;
        if let Some(origin) = foreign_origin(request.headers(), &server.cors_allow_origins) {
            return refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "Requests from web pages at '{origin}' are refused by this keyless proxy; add the origin to server.cors_allow_origins or configure client keys."
                ),
                "origin_not_allowed",
            );
        }
        // On a non-loopback bind without keys (`auth.allow_unauthenticated`, a trusted network)
        // clients reach the proxy by LAN names and addresses: only the origin check applies.
        let loopback_bind = is_loopback_host(&server.host);
        if let Some(host) = foreign_host(request.headers(), &server.host, &server.allowed_hosts)
            .filter(|_| loopback_bind)
        {
            return refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "This keyless proxy does not answer to the host name '{host}'; add it to server.allowed_hosts or configure client keys."
                ),
                "host_not_allowed",
            );
        }
    }
    next.run(request).await
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The request's `Origin` when a browser page elsewhere sent it.
fn foreign_origin(headers: &HeaderMap, allowed: &[String]) -> Option<String> {
    let origin = headers.get(header::ORIGIN)?.to_str().unwrap_or("?").trim();
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return None;
    }
    let host = reqwest::Url::parse(origin)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string));
    match host {
        Some(host) if is_loopback_host(&host) => None,
        _ => Some(origin.to_string()),
    }
}

/// The request's `Host` name when it is not one this proxy is known by.
fn foreign_host(headers: &HeaderMap, bind_host: &str, allowed: &[String]) -> Option<String> {
    let value = headers.get(header::HOST)?.to_str().unwrap_or("?").trim();
    let name = match value.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => value.rsplit_once(':').map_or(value, |(name, _)| name),
    };
    let known = is_loopback_host(name)
        || name.eq_ignore_ascii_case(bind_host)
        || name.to_ascii_lowercase().ends_with(".localhost")
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(name));
    (!known).then(|| value.to_string())
}

fn refuse(status: StatusCode, message: String, code: &str) -> Response {
    let kind = if status == StatusCode::FORBIDDEN {
        "permission_error"
    } else {
        "invalid_request_error"
    };
    ApiError::new(status, ErrorObject::new(message, kind).with_code(code)).into_response()
}
