//! Who may open the console. It shows every conversation, so it is locked like the API and more:
//!
//! - `console.enabled: false`: not served at all (404).
//! - No client keys and a loopback bind: open to the machine (as the API is). The browser guard
//!   in front still refuses foreign `Origin`s and `Host` names, so a web page cannot read it.
//! - No client keys on another bind (`auth.allow_unauthenticated`): closed (403) — a trusted
//!   network is not a reason to show everyone's chats.
//! - With client keys: only keys marked `console: true`, as `Authorization: Bearer` (scripts) or
//!   through a browser login: the key is posted once to `/console/api/login` and exchanged for a
//!   random token in a cookie (`HttpOnly`, `SameSite=Strict`, `Path=/console`, expiring after
//!   `console.login_hours`). Tokens live in this process only; the key behind one is checked
//!   again on every request, so removing the key (SIGHUP) ends its logins.
//!
//! Nothing here answers other origins: no CORS headers, and every `POST` must come from the
//! console's own origin (`Origin` equal to `Host`, `Sec-Fetch-Site` same-origin when sent), on
//! top of the cookie's `SameSite=Strict`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use crate::api::AppState;
use crate::auth::{ClientKey, is_loopback_host};
use crate::error::{ApiError, ErrorObject};

pub const COOKIE: &str = "adk_console";

/// Logins kept at most; the oldest go first (a login is a few dozen bytes).
const MAX_LOGINS: usize = 10_000;

/// Who is looking.
#[derive(Debug, Clone)]
pub enum Viewer {
    /// A keyless proxy on loopback: whoever is on this machine.
    Machine,
    /// A client key marked `console: true`.
    Key(ClientKey),
}

impl Viewer {
    pub fn key(&self) -> Option<&ClientKey> {
        match self {
            Viewer::Machine => None,
            Viewer::Key(key) => Some(key),
        }
    }

    pub fn label(&self) -> &str {
        match self {
            Viewer::Machine => "this machine",
            Viewer::Key(key) => &key.name,
        }
    }
}

/// Browser logins: token → (key name, expiry).
#[derive(Default)]
pub struct Logins {
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl Logins {
    /// A new login for `key_name`, valid for `ttl`: the cookie's value.
    pub fn start(&self, key_name: &str, ttl: Duration) -> String {
        let token = crate::ids::random_hex(48);
        let now = Instant::now();
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.retain(|_, (_, expires)| *expires > now);
        if tokens.len() >= MAX_LOGINS
            && let Some(oldest) = tokens
                .iter()
                .min_by_key(|(_, (_, expires))| *expires)
                .map(|(t, _)| t.clone())
        {
            tokens.remove(&oldest);
        }
        tokens.insert(token.clone(), (key_name.to_string(), now + ttl));
        token
    }

    fn key_name(&self, token: &str) -> Option<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens
            .get(token)
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(name, _)| name.clone())
    }

    pub fn end(&self, token: &str) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.remove(token);
    }
}

/// The viewer of a request, or the answer that refuses it.
pub fn viewer(state: &AppState, headers: &HeaderMap) -> Result<Viewer, ApiError> {
    let keys = state.keys();
    if keys.is_empty() {
        if is_loopback_host(&state.config.server.host) {
            return Ok(Viewer::Machine);
        }
        return Err(denied(
            StatusCode::FORBIDDEN,
            "The console is closed on a keyless proxy that is not bound to loopback: configure client keys and mark one `console: true`.",
            "console_closed",
        ));
    }
    if let Some(presented) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return match keys.authenticate(presented.trim()) {
            Some(key) if key.console => Ok(Viewer::Key(key.clone())),
            Some(key) => Err(not_for_console(&key.name)),
            None => Err(login_required()),
        };
    }
    let Some(name) = cookie(headers).and_then(|token| state.console_logins.key_name(&token)) else {
        return Err(login_required());
    };
    match keys.by_name(&name) {
        Some(key) if key.console => Ok(Viewer::Key(key.clone())),
        _ => Err(login_required()),
    }
}

/// The login token the browser sent, if any.
pub fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// `Set-Cookie` for a login token (or, with `None`, one that removes it).
pub fn set_cookie(token: Option<&str>, ttl: Duration) -> HeaderValue {
    let value = match token {
        Some(token) => format!(
            "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}",
            ttl.as_secs()
        ),
        None => format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0"),
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A `POST` must come from the console's own page: a cross-site form or script cannot send one
/// that passes (the cookie is `SameSite=Strict` as well).
pub fn same_origin(method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    if method != Method::POST {
        return Ok(());
    }
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| s != "same-origin" && s != "none") {
        return Err(cross_site());
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .unwrap_or("");
        if origin_host != host {
            return Err(cross_site());
        }
    }
    Ok(())
}

fn cross_site() -> ApiError {
    denied(
        StatusCode::FORBIDDEN,
        "The console takes changes only from its own page.",
        "cross_site_request",
    )
}

fn login_required() -> ApiError {
    denied(
        StatusCode::UNAUTHORIZED,
        "Log in to the console with a client key marked `console: true`.",
        "console_login_required",
    )
}

fn not_for_console(name: &str) -> ApiError {
    denied(
        StatusCode::FORBIDDEN,
        &format!("The key '{name}' may not open the console (set `console: true` on it)."),
        "console_not_allowed",
    )
}

fn denied(status: StatusCode, message: &str, code: &str) -> ApiError {
    ApiError::new(
        status,
        ErrorObject::new(message, "permission_error").with_code(code),
    )
}

impl axum::extract::FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        same_origin(&parts.method, &parts.headers)?;
        viewer(state, &parts.headers)
    }
}
