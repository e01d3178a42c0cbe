//! One log line and one set of metrics per request, written when the response body is finished —
//! for a stream that is when the last byte went out or the client left — so that they can carry
//! time to first token, token counts and how the stream ended. Also assigns `x-request-id`.
//! Handlers and the layers below record what they learn through [`RequestFacts`], found in the
//! request extensions.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use crate::observe::facts::{Facts, RequestFacts};
use crate::observe::live::{LiveFeed, RequestRecord};
use crate::observe::{labels, metrics};

const REQUEST_ID: &str = "x-request-id";

/// Middleware: request id, [`RequestFacts`], and the log line + metrics when the body is done
/// (and a record for the console's Live view while someone watches it).
pub async fn log_requests(
    State(live): State<Arc<LiveFeed>>,
    mut request: Request,
    next: Next,
) -> Response {
    let facts = RequestFacts::detached();
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_plain_request_id(v))
        .map(str::to_string)
        .unwrap_or_else(|| format!("req_{}", crate::ids::random_hex(24)));
    let trace_parent = traceparent(&request);
    facts.update(|f| {
        f.request_id = request_id.clone();
        f.trace_parent = trace_parent;
    });
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    request.extensions_mut().insert(facts.clone());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let (mut parts, body) = response.into_parts();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        parts.headers.insert(REQUEST_ID, value);
    }
    let guard = LogOnDrop {
        facts,
        live,
        method,
        path,
        status,
        body_finished: false,
    };
    Response::from_parts(
        parts,
        Body::new(LoggedBody {
            inner: body,
            guard: Some(guard),
        }),
    )
}

/// A client's `X-Request-Id` is kept only when it is short and plain (letters, digits, `-`,
/// `_`, `.`, `:`); anything else is replaced by a generated id, so an id cannot carry log
/// syntax, newlines or a megabyte of text into every log line.
fn is_plain_request_id(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The response body, passed through frame by frame (keeping its size hint, so non-streaming
/// answers keep their Content-Length); the log guard fires when it ends or is dropped.
struct LoggedBody {
    inner: Body,
    guard: Option<LogOnDrop>,
}

impl http_body::Body for LoggedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = std::pin::Pin::new(&mut this.inner).poll_frame(cx);
        let ended = match &polled {
            std::task::Poll::Ready(None) => true,
            std::task::Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            _ => false,
        };
        if ended && let Some(mut guard) = this.guard.take() {
            guard.body_finished = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

struct LogOnDrop {
    facts: RequestFacts,
    live: Arc<LiveFeed>,
    method: String,
    path: String,
    status: u16,
    body_finished: bool,
}

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        let latency = self.facts.elapsed();
        let started_at = self.facts.started_at();
        self.facts
            .finish(|facts| self.write(facts, latency, started_at));
    }
}

impl LogOnDrop {
    fn write(&self, facts: &Facts, latency: Duration, started_at: std::time::SystemTime) {
        let outcome = match (&facts.stream_error, self.body_finished) {
            (Some(_), _) => "upstream_error",
            (None, true) => "completed",
            (None, false) => "client_closed",
        };
        tracing::info!(
            target: "adk_llm_proxy::access",
            // Every value a client influences is written as a quoted string field, so none can
            // forge `key=value` pairs in the text log.
            request_id = facts.request_id.as_str(),
            method = self.method.as_str(),
            path = self.path.as_str(),
            status = self.status,
            key = facts.key_name.as_deref().unwrap_or("-"),
            provider = facts.provider.as_deref().unwrap_or("-"),
            model = facts.model.as_deref().unwrap_or("-"),
            agent = facts.agent.as_deref().unwrap_or("-"),
            task = facts.task.unwrap_or("-"),
            session = facts.session_id.as_deref().unwrap_or("-"),
            llm_calls = facts.llm_calls,
            stream = facts.stream,
            cache = facts.cache.unwrap_or("-"),
            latency_ms = latency.as_secs_f64() * 1000.0,
            ttft_ms = facts.time_to_first_token.map(|d| d.as_secs_f64() * 1000.0),
            prompt_tokens = facts.usage.as_ref().map(|u| u.prompt_tokens),
            completion_tokens = facts.usage.as_ref().map(|u| u.completion_tokens),
            outcome,
            error = facts.stream_error.as_deref(),
            "request"
        );
        record_metrics(facts, &self.path, self.status, latency, outcome);
        // Model calls only: the console's own requests would drown them.
        if self.live.watching_requests() && (facts.model.is_some() || facts.agent.is_some()) {
            self.live.publish_request(RequestRecord {
                time: started_at
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
                request_id: facts.request_id.clone(),
                method: self.method.clone(),
                path: self.path.clone(),
                status: self.status,
                key: facts.key_name.clone(),
                model: facts.model.clone(),
                agent: facts.agent.clone(),
                provider: facts.provider.clone(),
                session_id: facts.session_id.clone(),
                session_user: facts.session_user.clone(),
                stream: facts.stream,
                ttft_ms: facts.time_to_first_token.map(|d| d.as_secs_f64() * 1000.0),
                duration_ms: latency.as_secs_f64() * 1000.0,
                prompt_tokens: facts.usage.as_ref().map(|u| u.prompt_tokens),
                completion_tokens: facts.usage.as_ref().map(|u| u.completion_tokens),
                cache: facts.cache,
                outcome,
                error: facts.stream_error.clone(),
            });
        }
        #[cfg(feature = "otel")]
        export_span(facts, started_at, self.status);
        #[cfg(not(feature = "otel"))]
        let _ = started_at;
    }
}

#[cfg(feature = "otel")]
fn traceparent(request: &Request) -> Option<(String, String)> {
    request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::observe::otel::parse_traceparent)
}

#[cfg(not(feature = "otel"))]
fn traceparent(_: &Request) -> Option<(String, String)> {
    None
}

#[cfg(feature = "otel")]
fn export_span(facts: &Facts, started: std::time::SystemTime, status: u16) {
    if !crate::observe::otel::enabled() {
        return;
    }
    let (Some(provider), Some(model)) = (&facts.provider, &facts.model) else {
        return;
    };
    let (trace_id, parent) = match &facts.trace_parent {
        Some((trace, parent)) => (trace.clone(), Some(parent.clone())),
        None => (crate::ids::random_hex(32), None),
    };
    crate::observe::otel::record(crate::observe::otel::RequestSpan {
        trace_id,
        parent_span_id: parent,
        start: started,
        end: std::time::SystemTime::now(),
        provider: provider.clone(),
        model: model.clone(),
        status,
        stream: facts.stream,
        request_id: facts.request_id.clone(),
        input_tokens: facts.usage.as_ref().map(|u| u.prompt_tokens),
        output_tokens: facts.usage.as_ref().map(|u| u.completion_tokens),
        time_to_first_token: facts.time_to_first_token,
        error: facts.stream_error.clone(),
        agent: facts.agent.clone(),
        session_id: facts.session_id.clone(),
        llm_calls: facts.llm_calls,
    });
}

fn record_metrics(
    facts: &Facts,
    path: &str,
    status: u16,
    latency: Duration,
    outcome: &'static str,
) {
    if path.ends_with("/metrics") {
        return;
    }
    let provider = facts.provider.clone().unwrap_or_else(|| "-".to_string());
    // A client-chosen name becomes a label only from a bounded set (observe::labels).
    let model = match &facts.model {
        Some(model) => labels::model(model, status < 400),
        None => "-".to_string(),
    };
    let labels = [
        ("status", status.to_string()),
        ("provider", provider.clone()),
        ("model", model.clone()),
        (
            "agent",
            facts.agent.clone().unwrap_or_else(|| "-".to_string()),
        ),
        ("task", facts.task.unwrap_or("-").to_string()),
        ("outcome", outcome.to_string()),
    ];
    ::metrics::counter!(metrics::REQUESTS, &labels).increment(1);
    if facts.provider.is_none() {
        return;
    }
    let route = [("provider", provider), ("model", model)];
    ::metrics::histogram!(metrics::REQUEST_DURATION, &route).record(metrics::seconds(latency));
    if let Some(ttft) = facts.time_to_first_token {
        ::metrics::histogram!(metrics::TIME_TO_FIRST_TOKEN, &route).record(metrics::seconds(ttft));
    }
    if let Some(added) = facts.upstream_started {
        ::metrics::histogram!(metrics::ADDED_LATENCY).record(metrics::seconds(added));
    }
    if let Some(usage) = &facts.usage {
        let (provider, model) = (route[0].1.clone(), route[1].1.clone());
        ::metrics::counter!(metrics::TOKENS, "direction" => "in", "provider" => provider.clone(), "model" => model.clone())
            .increment(usage.prompt_tokens);
        ::metrics::counter!(metrics::TOKENS, "direction" => "out", "provider" => provider, "model" => model)
            .increment(usage.completion_tokens);
    }
}
