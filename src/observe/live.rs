//! What the console's Live view and a session page's running invocation are fed from.
//!
//! The proxy serves chat users first: a request must cost nothing extra while nobody watches.
//! Each feed is a broadcast channel, and a record is only built when the channel has a receiver
//! (an open Live page or session page) — `receiver_count` is one atomic load. A slow page that
//! falls behind the channel's buffer skips records (it is told how many) instead of holding
//! anything up.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::event::Event;

/// Records buffered per watcher before a slow one starts skipping.
const BUFFER: usize = 256;

/// One finished request, as the Live view lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    /// Seconds since the Unix epoch when the request arrived.
    pub time: f64,
    pub request_id: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub key: Option<String>,
    pub model: Option<String>,
    pub agent: Option<String>,
    pub provider: Option<String>,
    pub session_id: Option<String>,
    pub session_user: Option<String>,
    pub stream: bool,
    pub ttft_ms: Option<f64>,
    pub duration_ms: f64,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub cache: Option<&'static str>,
    pub outcome: &'static str,
    pub error: Option<String>,
}

/// One complete event stored in a session.
#[derive(Debug, Clone, Serialize)]
pub struct SessionEvent {
    pub app_name: String,
    pub user_id: String,
    pub session_id: String,
    pub event: Value,
}

pub struct LiveFeed {
    requests: broadcast::Sender<Arc<RequestRecord>>,
    events: broadcast::Sender<Arc<SessionEvent>>,
}

impl Default for LiveFeed {
    fn default() -> Self {
        Self {
            requests: broadcast::channel(BUFFER).0,
            events: broadcast::channel(BUFFER).0,
        }
    }
}

impl LiveFeed {
    /// Whether anyone watches requests: build a record only then.
    pub fn watching_requests(&self) -> bool {
        self.requests.receiver_count() > 0
    }

    pub fn publish_request(&self, record: RequestRecord) {
        let _ = self.requests.send(Arc::new(record));
    }

    pub fn subscribe_requests(&self) -> broadcast::Receiver<Arc<RequestRecord>> {
        self.requests.subscribe()
    }

    /// Offers a stored event; serialized only while a session page is open.
    pub fn offer_event(&self, app_name: &str, user_id: &str, session_id: &str, event: &Event) {
        if self.events.receiver_count() == 0 {
            return;
        }
        let Ok(event) = serde_json::to_value(event) else {
            return;
        };
        let _ = self.events.send(Arc::new(SessionEvent {
            app_name: app_name.to_string(),
            user_id: user_id.to_string(),
            session_id: session_id.to_string(),
            event,
        }));
    }

    pub fn subscribe_events(&self) -> broadcast::Receiver<Arc<SessionEvent>> {
        self.events.subscribe()
    }
}
