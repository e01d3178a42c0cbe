//! `server:`: the listening socket, body limits, keep-alives, shutdown grace, CORS, log format.

use serde::Deserialize;

use super::{ConfigError, Overrides};

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
    /// Host names (besides loopback ones and `host`) a keyless proxy answers to; guards against
    /// DNS rebinding (see `api::browser_guard`).
    pub allowed_hosts: Vec<String>,
    /// Memory for request bodies being read and parsed at once (each reserves 32× its size).
    pub max_body_memory_bytes: usize,
    /// Open client connections served normally; beyond it a small reserve answers only health
    /// probes and metrics, and further connections are closed at once (see `server.rs`).
    pub max_connections: usize,
    /// A client must send a request's headers within this time (slowloris), also on an idle
    /// kept-alive connection.
    pub header_read_timeout_secs: f64,
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
            allowed_hosts: Vec::new(),
            max_body_memory_bytes: 512 * 1024 * 1024,
            max_connections: 8192,
            header_read_timeout_secs: 10.0,
            log_format: LogFormat::Text,
        }
    }
}

settings_enum!(LogFormat { "text" => Text, "json" => Json });

/// The server section with `--host` / `--port` applied, checked.
pub fn validate(
    file: &str,
    settings: &ServerSettings,
    overrides: &Overrides,
) -> Result<ServerSettings, ConfigError> {
    let mut server = settings.clone();
    if let Some(host) = &overrides.host {
        server.host = host.clone();
    }
    if let Some(port) = overrides.port {
        server.port = port;
    }
    if server.max_body_bytes == 0 {
        return Err(ConfigError::field(
            file,
            "server.max_body_bytes",
            "must be greater than 0",
        ));
    }
    positive_secs(file, "server.keepalive_secs", server.keepalive_secs)?;
    positive_secs(
        file,
        "server.header_read_timeout_secs",
        server.header_read_timeout_secs,
    )?;
    for (i, origin) in server.cors_allow_origins.iter().enumerate() {
        if origin != "*" && axum::http::HeaderValue::from_str(origin).is_err() {
            return Err(ConfigError::field(
                file,
                format!("server.cors_allow_origins[{i}]"),
                format!("'{origin}' is not a valid origin"),
            ));
        }
    }
    if server.max_connections == 0 {
        return Err(ConfigError::field(
            file,
            "server.max_connections",
            "must be at least 1",
        ));
    }
    if !(server.shutdown_grace_secs.is_finite() && server.shutdown_grace_secs >= 0.0) {
        return Err(ConfigError::field(
            file,
            "server.shutdown_grace_secs",
            "must be a number of seconds ≥ 0",
        ));
    }
    Ok(server)
}

fn positive_secs(file: &str, field: &str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ConfigError::field(
            file,
            field,
            "must be a positive number of seconds",
        ))
    }
}
