//! One log line per request, written when the response body is finished — for a stream that is
//! when the last byte went out or the client left — so that it can carry time to first token,
//! token counts and how the stream ended.
//!
//! Handlers fill in what they learn through [`RequestFacts`], found in the request extensions.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;

use crate::wire::Usage;

#[derive(Debug, Default)]
pub struct Facts {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub stream: bool,
    pub time_to_first_token: Option<Duration>,
    pub usage: Option<Usage>,
    /// Set when a stream ended in an error event (the HTTP status was already 200).
    pub stream_error: Option<String>,
}

/// Shared, per-request record of what the handler found out.
#[derive(Clone)]
pub struct RequestFacts {
    started: Instant,
    facts: Arc<Mutex<Facts>>,
}

impl RequestFacts {
    /// Facts not attached to a logged request (e.g. a router used without the log layer).
    pub fn detached() -> Self {
        Self {
            started: Instant::now(),
            facts: Arc::new(Mutex::new(Facts::default())),
        }
    }

    pub fn update(&self, f: impl FnOnce(&mut Facts)) {
        let mut facts = self.facts.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut facts);
    }

    /// Marks the first token now, if not marked yet.
    pub fn first_token(&self) {
        let elapsed = self.started.elapsed();
        self.update(|f| {
            f.time_to_first_token.get_or_insert(elapsed);
        });
    }
}

/// Middleware: attaches [`RequestFacts`] and logs when the response body is done.
pub async fn log_requests(mut request: Request, next: Next) -> Response {
    let facts = RequestFacts::detached();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    request.extensions_mut().insert(facts.clone());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let mut guard = LogOnDrop {
        facts,
        method: method.to_string(),
        path,
        status,
        body_finished: false,
    };
    let mut inner = body.into_data_stream();
    let logged = async_stream::stream! {
        while let Some(item) = inner.next().await {
            yield item;
        }
        guard.body_finished = true;
        drop(guard);
    };
    Response::from_parts(parts, Body::from_stream(logged))
}

struct LogOnDrop {
    facts: RequestFacts,
    method: String,
    path: String,
    status: u16,
    body_finished: bool,
}

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        let latency = self.facts.started.elapsed();
        let facts = self.facts.facts.lock().unwrap_or_else(|p| p.into_inner());
        let outcome = match (&facts.stream_error, self.body_finished) {
            (Some(_), _) => "upstream_error",
            (None, true) => "completed",
            (None, false) => "client_closed",
        };
        tracing::info!(
            target: "adk_llm_proxy::access",
            method = %self.method,
            path = %self.path,
            status = self.status,
            provider = facts.provider.as_deref().unwrap_or("-"),
            model = facts.model.as_deref().unwrap_or("-"),
            stream = facts.stream,
            latency_ms = latency.as_secs_f64() * 1000.0,
            ttft_ms = facts.time_to_first_token.map(|d| d.as_secs_f64() * 1000.0),
            prompt_tokens = facts.usage.as_ref().map(|u| u.prompt_tokens),
            completion_tokens = facts.usage.as_ref().map(|u| u.completion_tokens),
            outcome,
            error = facts.stream_error.as_deref(),
            "request"
        );
    }
}
