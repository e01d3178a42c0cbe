//! The per-request record every layer writes what it learns into: which key, provider, model
//! and agent served, when the upstream started, the first token, usage, how the stream ended.
//! The HTTP layer creates it (with the request id) and writes the log line, metrics and span from
//! it when the response body is finished; layers below only record into it, so they need not
//! know about HTTP.
//!
//! It may also hold things until the body ends (a concurrency permit) or run work then
//! (charging tokens to a rate limit).

use std::any::Any;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::wire::Usage;

type FinishHook = Box<dyn FnOnce(&Facts) + Send>;

#[derive(Default)]
pub struct Facts {
    pub request_id: String,
    pub key_name: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// The agent that served the request (none for plain proxying).
    pub agent: Option<String>,
    /// A chat UI's background task served by a plain model call instead of the agent (`title`,
    /// `tags`, …; `api::background_task`).
    pub task: Option<&'static str>,
    /// The agent session the request continued.
    pub session_id: Option<String>,
    /// Whose session it is (the store's user id), so the console can open it.
    pub session_user: Option<String>,
    /// Model calls the agent run made.
    pub llm_calls: Option<u32>,
    pub stream: bool,
    pub cache: Option<&'static str>,
    /// When the proxy started calling the upstream: everything before is the proxy's own time.
    pub upstream_started: Option<Duration>,
    pub time_to_first_token: Option<Duration>,
    pub usage: Option<Usage>,
    /// Set when a stream ended in an error event (the HTTP status was already 200).
    pub stream_error: Option<String>,
    /// W3C trace context from the caller: `(trace id, parent span id)`.
    pub trace_parent: Option<(String, String)>,
    held: Vec<Box<dyn Any + Send>>,
    on_finish: Vec<FinishHook>,
}

/// Shared, per-request record of what the handler found out.
#[derive(Clone)]
pub struct RequestFacts {
    started: Instant,
    started_wall: std::time::SystemTime,
    facts: Arc<Mutex<Facts>>,
}

impl RequestFacts {
    /// Facts not attached to a logged request (e.g. a router used without the log layer).
    pub fn detached() -> Self {
        Self {
            started: Instant::now(),
            started_wall: std::time::SystemTime::now(),
            facts: Arc::new(Mutex::new(Facts::default())),
        }
    }

    pub fn update(&self, f: impl FnOnce(&mut Facts)) {
        let mut facts = self.facts.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut facts);
    }

    /// Token usage recorded so far (the agent runner records the run's sum before its last chunk).
    pub fn usage(&self) -> Option<crate::wire::Usage> {
        self.facts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .usage
            .clone()
    }

    pub fn request_id(&self) -> String {
        self.facts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .request_id
            .clone()
    }

    /// Records which provider and model serve the request (called again when a fallback serves).
    pub fn record_route(&self, provider: &str, model: &str) {
        self.update(|f| {
            f.provider = Some(provider.to_string());
            f.model = Some(model.to_string());
        });
    }

    /// Time since the request arrived.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Wall-clock time the request arrived (span start).
    pub fn started_at(&self) -> std::time::SystemTime {
        self.started_wall
    }

    /// Ends the record: drops what it held (permits), runs the finish hooks, and hands the final
    /// facts to `read` (the log line, metrics and span).
    pub fn finish<R>(&self, read: impl FnOnce(&Facts) -> R) -> R {
        let (hooks, held) = {
            let mut facts = self.facts.lock().unwrap_or_else(|p| p.into_inner());
            (
                std::mem::take(&mut facts.on_finish),
                std::mem::take(&mut facts.held),
            )
        };
        drop(held);
        let facts = self.facts.lock().unwrap_or_else(|p| p.into_inner());
        for hook in hooks {
            hook(&facts);
        }
        read(&facts)
    }

    /// Marks the first token now, if not marked yet.
    pub fn first_token(&self) {
        let elapsed = self.started.elapsed();
        self.update(|f| {
            f.time_to_first_token.get_or_insert(elapsed);
        });
    }

    pub fn upstream_starting(&self) {
        let elapsed = self.started.elapsed();
        self.update(|f| {
            f.upstream_started.get_or_insert(elapsed);
        });
    }

    /// Keeps `value` alive until the response body is finished.
    pub fn hold(&self, value: impl Any + Send) {
        self.update(|f| f.held.push(Box::new(value)));
    }

    /// Runs `hook` with the final facts when the response body is finished. The facts are locked
    /// while hooks run: a hook must not call back into this `RequestFacts`.
    pub fn on_finish(&self, hook: impl FnOnce(&Facts) + Send + 'static) {
        self.update(|f| f.on_finish.push(Box::new(hook)));
    }
}
