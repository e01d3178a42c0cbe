//! Sessions: one conversation's events and state, kept by a [`SessionService`].
//!
//! Stores: [`memory::InMemorySessionService`] (default; bounded, lost on restart),
//! [`sqlite::SqliteSessionService`] (an embedded file, so state survives a restart) and
//! [`redis::RedisSessionService`] (shared by replicas behind a load balancer). All follow
//! ADK's rules, implemented once in [`Session::append`]: partial events are never stored; a
//! state delta updates the session, user or app scope by prefix; `temp:` keys are never stored.

pub mod identity;
pub mod memory;
pub mod redis;
pub mod sqlite;
pub mod state;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event::Event;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub app_name: String,
    pub user_id: String,
    /// Session-scoped keys, plus the `user:` and `app:` keys merged in when the session is read.
    pub state: Map<String, Value>,
    /// Shared, not copied: loading a session for a turn clones pointers, not every event's
    /// texts and tool results.
    pub events: Vec<Arc<Event>>,
    pub last_update_time: f64,
}

/// What appending one event changed, for a store to persist.
#[derive(Debug, Default, PartialEq)]
pub struct Appended {
    /// The event as stored (`temp:` keys removed from its delta), or `None` for a partial event.
    pub stored: Option<Arc<Event>>,
    /// The session-scoped part of the delta: stores apply it key by key to what they hold, never
    /// write back this copy's whole state (another request may have changed other keys meanwhile).
    pub session_delta: Map<String, Value>,
    pub user_delta: Map<String, Value>,
    pub app_delta: Map<String, Value>,
}

impl Session {
    pub fn new(app_name: &str, user_id: &str, id: &str) -> Self {
        Self {
            id: id.to_string(),
            app_name: app_name.to_string(),
            user_id: user_id.to_string(),
            state: Map::new(),
            events: Vec::new(),
            last_update_time: crate::event::now_secs(),
        }
    }

    /// ADK's append: applies the event's state delta to this session (all scopes, so the running
    /// invocation sees them, `temp:` included) and records the event unless it is partial.
    pub fn append(&mut self, event: &Event) -> Appended {
        if event.partial {
            return Appended::default();
        }
        let delta = &event.actions.state_delta;
        state::apply(&mut self.state, delta);
        let split = state::split(delta);
        let mut stored = event.clone();
        stored.actions.state_delta = state::without_temp(delta);
        let stored = Arc::new(stored);
        self.events.push(stored.clone());
        self.last_update_time = event.timestamp;
        Appended {
            stored: Some(stored),
            session_delta: split.session,
            user_delta: split.user,
            app_delta: split.app,
        }
    }
}

/// One session in a listing: whose, when last updated, how many events and user turns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionSummary {
    pub app_name: String,
    pub user_id: String,
    pub id: String,
    pub last_update_time: f64,
    /// Events the store holds (the memory and Redis stores keep the newest `EVENTS_KEPT`).
    pub events: usize,
    /// The user's messages recorded (one per turn that brought new input).
    pub turns: usize,
}

/// A session store failure, by what a caller may do about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SessionError {
    /// `create_session` with an id that is taken (two requests of a new chat raced): read it.
    #[error("session '{0}' already exists")]
    AlreadyExists(String),
    /// `append_event` to a session that is gone (evicted, deleted).
    #[error("session '{0}' not found")]
    NotFound(String),
    /// The backend failed (I/O, connection, a stored record that no longer parses).
    #[error("session store: {0}")]
    Store(String),
}

pub type SessionFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, SessionError>> + Send + 'a>>;

/// Where sessions live. Object-safe so the runner can hold any store.
pub trait SessionService: Send + Sync {
    /// Creates a session (a new id when `id` is `None`) with an initial state delta.
    fn create_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: Option<&'a str>,
        initial_state: Map<String, Value>,
    ) -> SessionFuture<'a, Session>;

    /// The session with its events and its state merged with the `user:` and `app:` scopes.
    fn get_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: &'a str,
    ) -> SessionFuture<'a, Option<Session>>;

    /// Like [`SessionService::get_session`] with only the newest `max_events` events: a turn
    /// needs the state and the recent past, not a long chat's whole history.
    fn get_recent_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: &'a str,
        max_events: usize,
    ) -> SessionFuture<'a, Option<Session>> {
        Box::pin(async move {
            let mut session = self.get_session(app_name, user_id, id).await?;
            if let Some(session) = &mut session {
                let extra = session.events.len().saturating_sub(max_events);
                session.events.drain(..extra);
            }
            Ok(session)
        })
    }

    /// Applies and stores one event (partial events: applied to nothing, stored nowhere).
    fn append_event<'a>(&'a self, session: &'a mut Session, event: Event) -> SessionFuture<'a, ()>;

    fn delete_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: &'a str,
    ) -> SessionFuture<'a, ()>;

    /// The most recently updated sessions of every app and user, newest first, at most `limit`:
    /// for people looking at what the agents did (the console), never for serving a turn.
    fn list_sessions(&self, limit: usize) -> SessionFuture<'_, Vec<SessionSummary>>;
}

/// Whether an event is a user's turn (what [`SessionSummary::turns`] counts).
pub fn is_user_turn(event: &Event) -> bool {
    event.author == "user"
}
