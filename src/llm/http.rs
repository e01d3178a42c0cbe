//! The HTTP plumbing every adapter shares: one pooled client per provider, authentication and
//! extra headers, and turning transport failures into [`LlmError`]s.
//!
//! The API key header is marked *sensitive* so that hyper and reqwest never print it, at any log
//! level, `trace` included.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use super::LlmError;
use crate::config::{ProviderKind, ResolvedProvider};

/// Upstream error bodies are read up to this size; the rest is not worth a client's screen.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A provider's HTTP client with its base URL and default headers.
#[derive(Clone)]
pub struct UpstreamClient {
    pub client: reqwest::Client,
    pub base_url: String,
    pub provider: String,
}

impl UpstreamClient {
    pub fn new(provider: &ResolvedProvider) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        for (name, value) in &provider.settings.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| format!("header {name}: {e}"))?;
            let value = HeaderValue::from_str(value).map_err(|e| format!("header {name}: {e}"))?;
            headers.insert(name, value);
        }
        let anthropic = provider.settings.kind == ProviderKind::Anthropic;
        if anthropic && !headers.contains_key("anthropic-version") {
            headers.insert(
                "anthropic-version",
                HeaderValue::from_static(super::anthropic::API_VERSION),
            );
        }
        if let Ok(Some(key)) = &provider.api_key {
            // Anthropic takes the bare key in `x-api-key`; everyone else a bearer token.
            let (name, value) = if anthropic {
                (HeaderName::from_static("x-api-key"), key.clone())
            } else {
                (AUTHORIZATION, format!("Bearer {key}"))
            };
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                format!(
                    "the API key of provider '{}' contains invalid characters",
                    provider.name
                )
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(provider.connect_timeout())
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("adk-llm-proxy/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                format!(
                    "cannot build HTTP client for provider '{}': {e}",
                    provider.name
                )
            })?;
        Ok(Self {
            client,
            base_url: provider.base_url.clone(),
            provider: provider.name.clone(),
        })
    }

    /// Parses `base_url + path` once, at start-up: parsing per request (IDNA and all) showed up
    /// in the benchmark profile.
    pub fn endpoint(&self, path: &str) -> Result<reqwest::Url, String> {
        let url = format!("{}{}", self.base_url, path);
        reqwest::Url::parse(&url).map_err(|e| {
            let shown = crate::config::providers::redact_url(&url);
            format!("provider '{}': bad URL {shown}: {e}", self.provider)
        })
    }

    /// Sends the request; a non-2xx answer becomes `LlmError::Upstream` with the provider's own
    /// message and `Retry-After`.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, LlmError> {
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(&self.provider, &e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let (body, _) = read_bounded(response, MAX_ERROR_BODY).await;
        Err(LlmError::from_upstream_body(status, &body, retry_after))
    }
}

/// Reads at most `limit` bytes of a body, chunk by chunk, and drops the connection after that:
/// for every body whose size the proxy does not control (upstream errors, tool and webhook
/// answers). Returns the bytes and whether the body was longer. A read error ends the body.
pub async fn read_bounded(mut response: reqwest::Response, limit: usize) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > limit {
            body.truncate(limit);
            return (body, true);
        }
    }
    (body, false)
}

/// Classifies a reqwest failure. Connection problems are 502s; timeouts 504s.
pub fn transport_error(provider: &str, error: &reqwest::Error) -> LlmError {
    // reqwest's Display of a URL-carrying error never includes headers, so no key can leak here;
    // credentials in the URL itself (a base_url with user-info) are removed.
    let mut detail = error_chain(error);
    if let Some(url) = error.url() {
        detail = detail.replace(
            url.as_str(),
            &crate::config::providers::redact_url(url.as_str()),
        );
    }
    if error.is_timeout() {
        LlmError::Timeout(format!("provider '{provider}': {detail}"))
    } else if error.is_connect() || error.is_request() {
        LlmError::Unreachable(format!("provider '{provider}': {detail}"))
    } else {
        LlmError::Protocol(format!("provider '{provider}': {detail}"))
    }
}

/// reqwest's top-level message is often just "error sending request"; the cause says why.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
