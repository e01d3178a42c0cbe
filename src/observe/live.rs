//! What the console's Live view and a session page's running invocation are fed from.
//!
//! The proxy serves chat users first: a request must cost nothing extra while nobody watches.
//! Each feed is a broadcast channel, and a record is only built while a page watches (an open
//! Live page or session page). Whether anyone watches is a counter of our own, one relaxed atomic
//! load per request: the channel's own `receiver_count` takes the channel's lock, which every
//! request on every core would then contend for. A slow page that falls behind the channel's
//! buffer skips records (it is told how many) instead of holding anything up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    requests: Feed<RequestRecord>,
    events: Feed<SessionEvent>,
}

/// One broadcast channel and how many watch it.
struct Feed<T> {
    sender: broadcast::Sender<Arc<T>>,
    watchers: Arc<AtomicUsize>,
}

impl<T> Feed<T> {
    fn new() -> Self {
        Self {
            sender: broadcast::channel(BUFFER).0,
            watchers: Arc::default(),
        }
    }

    fn watched(&self) -> bool {
        self.watchers.load(Ordering::Relaxed) > 0
    }

    fn watch(&self) -> Watch<T> {
        self.watchers.fetch_add(1, Ordering::Relaxed);
        Watch {
            receiver: self.sender.subscribe(),
            watchers: self.watchers.clone(),
        }
    }
}

/// A page's subscription: counted as a watcher until dropped (the page left).
pub struct Watch<T> {
    pub receiver: broadcast::Receiver<Arc<T>>,
    watchers: Arc<AtomicUsize>,
}

impl<T> Drop for Watch<T> {
    fn drop(&mut self) {
        self.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Default for LiveFeed {
    fn default() -> Self {
        Self {
            requests: Feed::new(),
            events: Feed::new(),
        }
    }
}

impl LiveFeed {
    /// Whether anyone watches requests: build a record only then.
    pub fn watching_requests(&self) -> bool {
        self.requests.watched()
    }

    pub fn publish_request(&self, record: RequestRecord) {
        let _ = self.requests.sender.send(Arc::new(record));
    }

    pub fn subscribe_requests(&self) -> Watch<RequestRecord> {
        self.requests.watch()
    }

    /// Offers a stored event; serialized only while a session page is open.
    pub fn offer_event(&self, app_name: &str, user_id: &str, session_id: &str, event: &Event) {
        if !self.events.watched() {
            return;
        }
        let Ok(event) = serde_json::to_value(event) else {
            return;
        };
        let _ = self.events.sender.send(Arc::new(SessionEvent {
            app_name: app_name.to_string(),
            user_id: user_id.to_string(),
            session_id: session_id.to_string(),
            event,
        }));
    }

    pub fn subscribe_events(&self) -> Watch<SessionEvent> {
        self.events.watch()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_is_watched_only_while_a_page_holds_a_subscription() {
        let feed = LiveFeed::default();
        assert!(!feed.watching_requests());
        let first = feed.subscribe_requests();
        let second = feed.subscribe_requests();
        assert!(feed.watching_requests());
        drop(first);
        assert!(feed.watching_requests());
        drop(second);
        assert!(!feed.watching_requests(), "the last page left");
    }
}
