//! A Messages request for a Claude model goes to Anthropic as it came.
//!
//! Translating Messages → chat → Messages would lose what only Anthropic's dialect carries:
//! `cache_control` marks (prompt caching, which decides what a Claude Code session costs),
//! server tools, documents and citations, `thinking` blocks with their signatures, beta features
//! named in `anthropic-beta`. So when the client speaks Messages and the model routes to a
//! `kind: anthropic` provider, the body goes up with only `model` renamed, and the answer — status,
//! content type, every event byte — comes back untouched.
//!
//! The proxy's own duties still hold: the key's model globs, rate limits, retries with backoff
//! and the circuit breaker (before the first byte), first-byte and idle timeouts, metrics and the
//! log line with token usage (read from `message_start` / `message_delta` as the bytes pass).
//! What needs the internal form takes the translated path instead: agents, pipeline stages for
//! the model, and routes with fallbacks or alias targets (a fallback may be another kind of
//! provider). Passed-through answers are not cached.

use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::{Map, Value};

use super::AppState;
use super::admission::{admit, check_model_allowed};
use super::passthrough::relay;
use crate::agent::set::Target;
use crate::auth::ClientKey;
use crate::config::ProviderKind;
use crate::error::ApiError;
use crate::llm::anthropic::stream::usage_of;
use crate::llm::resilience::{self, Next};
use crate::llm::sse::SseParser;
use crate::llm::{LlmError, Route};
use crate::observe::RequestFacts;

/// Client headers that go up with the request: they switch Anthropic features on.
const FORWARDED_HEADERS: &[&str] = &["anthropic-beta"];

/// The route a Messages request can take as it is, if it can.
pub fn direct_route(state: &AppState, model: Option<&str>) -> Option<Route> {
    let mut model = model?.to_string();
    if let Some(alias) = state.config.aliases.resolve(&model) {
        if alias.targets.len() > 1 {
            return None;
        }
        model = alias.targets[0].clone();
    }
    if matches!(state.agents().target_for(Some(&model)), Target::Agent(_)) {
        return None;
    }
    let route = state.registry.resolve(Some(&model)).ok()?;
    let settings = &route.provider.config.settings;
    if settings.kind != ProviderKind::Anthropic || !settings.fallbacks.is_empty() {
        return None;
    }
    let pipeline = state.pipelines().for_model(&model);
    if !pipeline.request.is_empty() || !pipeline.stream.is_empty() {
        return None;
    }
    Some(route)
}

/// Sends `body` (the client's, parsed) to the route's provider and streams its answer back.
pub async fn forward(
    state: &AppState,
    facts: &RequestFacts,
    client_key: Option<&ClientKey>,
    headers: &HeaderMap,
    mut body: Map<String, Value>,
    route: Route,
) -> Result<Response, ApiError> {
    let requested = body
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_string);
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    facts.record_route(route.provider.name(), &route.model);
    facts.update(|f| f.stream = stream);
    if let Some(key) = client_key {
        check_model_allowed(state, key, requested.as_deref(), &route)?;
    }
    let limit_headers = admit(state, facts, client_key).await?;
    body.insert("model".to_string(), Value::String(route.model.clone()));
    let body: bytes::Bytes = serde_json::to_vec(&body).map(Into::into).map_err(|e| {
        ApiError::invalid_request(
            format!("The body cannot be re-encoded: {e}."),
            None,
            "invalid_json",
        )
    })?;

    let provider = &route.provider;
    let url = format!("{}/messages", provider.config.base_url);
    let mut attempt = 0;
    let upstream = loop {
        if provider.breaker.is_open() {
            return Err(LlmError::NoProvider.to_api_error());
        }
        facts.upstream_starting();
        let mut request = provider
            .http
            .client
            .post(&url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.clone());
        for name in FORWARDED_HEADERS {
            for value in headers.get_all(*name) {
                request = request.header(*name, value);
            }
        }
        let timeout = provider.config.first_byte_timeout();
        let error = match tokio::time::timeout(timeout, provider.http.send(request)).await {
            Ok(Ok(response)) => {
                provider.breaker.record_success();
                break response;
            }
            Ok(Err(error)) => error,
            Err(_) => LlmError::Timeout(format!(
                "no answer from provider '{}' within {:.1} s (first_byte_timeout_secs)",
                provider.name(),
                timeout.as_secs_f64()
            )),
        };
        match resilience::after_failure(provider, attempt, &error) {
            Next::RetryAfter(wait) => tokio::time::sleep(wait).await,
            Next::GiveUp | Next::NextCandidate => return Err(error.to_api_error()),
        }
        attempt += 1;
    };
    facts.first_token();
    let mut scan = Some(UsageScan::new(stream));
    let facts_at_end = facts.clone();
    let observe = move |piece: Option<&[u8]>| match piece {
        Some(bytes) => {
            if let Some(scan) = scan.as_mut() {
                scan.feed(bytes);
            }
        }
        None => {
            if let Some(usage) = scan.take().and_then(UsageScan::finish) {
                facts_at_end.update(|f| f.usage = Some(usage));
            }
        }
    };
    Ok(relay(upstream, provider, limit_headers, facts, observe))
}

/// Reads token usage from a passing Messages answer without holding it up: `message_start` and
/// `message_delta` events of a stream, or the `usage` of a whole message.
enum UsageScan {
    Events {
        parser: SseParser,
        events: Vec<String>,
        input: Map<String, Value>,
        usage: Option<crate::wire::Usage>,
    },
    /// A whole message, kept up to this many bytes (a message is small; the rest is not read).
    Message(Vec<u8>),
}

const MAX_SCANNED_MESSAGE: usize = 4 * 1024 * 1024;

impl UsageScan {
    fn new(stream: bool) -> Self {
        if stream {
            UsageScan::Events {
                parser: SseParser::default(),
                events: Vec::new(),
                input: Map::new(),
                usage: None,
            }
        } else {
            UsageScan::Message(Vec::new())
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        match self {
            UsageScan::Events {
                parser,
                events,
                input,
                usage,
            } => {
                parser.feed(bytes, events);
                for data in events.drain(..) {
                    // Only the two events that carry usage are parsed.
                    if !data.contains("\"usage\"") {
                        continue;
                    }
                    let Ok(event) = serde_json::from_str::<Value>(&data) else {
                        continue;
                    };
                    match event["type"].as_str() {
                        Some("message_start") => {
                            if let Some(start) = event["message"]["usage"].as_object() {
                                *input = start.clone();
                            }
                        }
                        Some("message_delta") => {
                            if let Some(delta) = event["usage"].as_object() {
                                *usage = Some(usage_of(input, delta));
                            }
                        }
                        _ => {}
                    }
                }
            }
            UsageScan::Message(kept) => {
                if kept.len() + bytes.len() <= MAX_SCANNED_MESSAGE {
                    kept.extend_from_slice(bytes);
                }
            }
        }
    }

    fn finish(self) -> Option<crate::wire::Usage> {
        match self {
            UsageScan::Events { usage, .. } => usage,
            UsageScan::Message(kept) => {
                let message: Value = serde_json::from_slice(&kept).ok()?;
                let usage = message["usage"].as_object()?;
                Some(usage_of(usage, &Map::new()))
            }
        }
    }
}
