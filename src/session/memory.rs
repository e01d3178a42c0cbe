//! In-memory sessions: the default store, lost on restart.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value};

use super::{Session, SessionError, SessionFuture, SessionService, SessionSummary, state};
use crate::event::Event;

pub struct InMemorySessionService {
    inner: Mutex<Stores>,
    /// Sessions kept; when full, the least recently updated one is dropped to make room.
    capacity: usize,
    /// Approximate bytes of stored events kept; beyond it the least recently updated sessions
    /// are dropped (a count alone does not bound memory: one event can carry megabytes).
    max_bytes: usize,
}

/// Default bound of the memory store's event bytes.
pub const DEFAULT_MAX_BYTES: usize = 256 * 1024 * 1024;

impl Default for InMemorySessionService {
    fn default() -> Self {
        Self::with_capacity(usize::MAX)
    }
}

type SessionKey = (String, String, String);

#[derive(Default)]
struct Stores {
    /// (app, user, id) → session with session-scoped state only.
    sessions: HashMap<SessionKey, Session>,
    /// Approximate bytes of each session's stored events, and their sum.
    sizes: HashMap<SessionKey, usize>,
    bytes: usize,
    users: HashMap<(String, String), Map<String, Value>>,
    apps: HashMap<String, Map<String, Value>>,
}

/// Events kept per session in memory; older ones are dropped (the state stays). Bounds the memory
/// of long chats; the SQLite store keeps everything.
pub const EVENTS_KEPT: usize = 1000;

impl Stores {
    fn merged(&self, session: &Session) -> Session {
        self.merged_recent(session, usize::MAX)
    }

    /// A copy with the newest `max_events` events and the user and app scopes merged in.
    fn merged_recent(&self, session: &Session, max_events: usize) -> Session {
        let skip = session.events.len().saturating_sub(max_events);
        let mut out = Session {
            id: session.id.clone(),
            app_name: session.app_name.clone(),
            user_id: session.user_id.clone(),
            state: session.state.clone(),
            events: session.events[skip..].to_vec(),
            last_update_time: session.last_update_time,
        };
        if let Some(app) = self.apps.get(&session.app_name) {
            state::apply(&mut out.state, app);
        }
        if let Some(user) = self
            .users
            .get(&(session.app_name.clone(), session.user_id.clone()))
        {
            state::apply(&mut out.state, user);
        }
        out
    }
}

impl Stores {
    fn remove(&mut self, key: &SessionKey) {
        self.sessions.remove(key);
        if let Some(size) = self.sizes.remove(key) {
            self.bytes -= size;
        }
    }

    /// Drops least recently updated sessions (never `keep`) until the events fit in `max_bytes`.
    fn evict_to(&mut self, max_bytes: usize, keep: &SessionKey) {
        while self.bytes > max_bytes {
            let oldest = self
                .sessions
                .iter()
                .filter(|(k, _)| *k != keep)
                .min_by(|a, b| a.1.last_update_time.total_cmp(&b.1.last_update_time))
                .map(|(k, _)| k.clone());
            match oldest {
                Some(oldest) => self.remove(&oldest),
                None => return,
            }
        }
    }
}

/// An event's approximate size in memory: its texts and JSON values plus a fixed overhead.
fn approximate_size(event: &Event) -> usize {
    use crate::event::Part;
    let parts: usize = event
        .content
        .iter()
        .flat_map(|c| &c.parts)
        .map(|part| match part {
            Part::Text { text } | Part::Reasoning { text } => text.len(),
            Part::ToolCall {
                name, arguments, ..
            } => name.len() + arguments.to_string().len(),
            Part::ToolResult { name, response, .. } => name.len() + response.to_string().len(),
        })
        .sum();
    let state: usize = event
        .actions
        .state_delta
        .iter()
        .map(|(k, v)| k.len() + v.to_string().len())
        .sum();
    256 + parts + state
}

impl InMemorySessionService {
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_limits(capacity, DEFAULT_MAX_BYTES)
    }

    /// At most `capacity` sessions and about `max_bytes` of stored events.
    pub fn with_limits(capacity: usize, max_bytes: usize) -> Self {
        Self {
            inner: Mutex::default(),
            capacity: capacity.max(1),
            max_bytes: max_bytes.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Stores> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SessionService for InMemorySessionService {
    fn create_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: Option<&'a str>,
        initial_state: Map<String, Value>,
    ) -> SessionFuture<'a, Session> {
        let result = (|| {
            let id = id
                .map(str::to_string)
                .unwrap_or_else(|| crate::ids::random_hex(32));
            let mut stores = self.lock();
            let key = (app_name.to_string(), user_id.to_string(), id.clone());
            if stores.sessions.contains_key(&key) {
                return Err(SessionError::AlreadyExists(id.to_string()));
            }
            if stores.sessions.len() >= self.capacity {
                let oldest = stores
                    .sessions
                    .iter()
                    .min_by(|a, b| a.1.last_update_time.total_cmp(&b.1.last_update_time))
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    stores.remove(&oldest);
                }
            }
            let split = state::split(&initial_state);
            let mut session = Session::new(app_name, user_id, &id);
            session.state = split.session;
            state::apply(
                stores
                    .users
                    .entry((app_name.to_string(), user_id.to_string()))
                    .or_default(),
                &split.user,
            );
            state::apply(
                stores.apps.entry(app_name.to_string()).or_default(),
                &split.app,
            );
            stores.sessions.insert(key, session.clone());
            Ok(stores.merged(&session))
        })();
        Box::pin(std::future::ready(result))
    }

    fn get_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: &'a str,
    ) -> SessionFuture<'a, Option<Session>> {
        let stores = self.lock();
        let key = (app_name.to_string(), user_id.to_string(), id.to_string());
        let found = stores.sessions.get(&key).map(|s| stores.merged(s));
        Box::pin(std::future::ready(Ok(found)))
    }

    fn get_recent_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: &'a str,
        max_events: usize,
    ) -> SessionFuture<'a, Option<Session>> {
        let stores = self.lock();
        let key = (app_name.to_string(), user_id.to_string(), id.to_string());
        let found = stores
            .sessions
            .get(&key)
            .map(|s| stores.merged_recent(s, max_events));
        Box::pin(std::future::ready(Ok(found)))
    }

    fn append_event<'a>(&'a self, session: &'a mut Session, event: Event) -> SessionFuture<'a, ()> {
        let appended = session.append(&event);
        let result = match appended.stored {
            None => Ok(()),
            Some(stored) => {
                let mut stores = self.lock();
                let key = (
                    session.app_name.clone(),
                    session.user_id.clone(),
                    session.id.clone(),
                );
                let added = approximate_size(&stored);
                match stores.sessions.get_mut(&key) {
                    None => Err(SessionError::NotFound(session.id.clone())),
                    Some(kept) => {
                        kept.events.push(stored);
                        let mut removed = 0;
                        if kept.events.len() > EVENTS_KEPT {
                            let extra = kept.events.len() - EVENTS_KEPT;
                            removed = kept
                                .events
                                .drain(..extra)
                                .map(|e| approximate_size(&e))
                                .sum();
                        }
                        state::apply(&mut kept.state, &appended.session_delta);
                        kept.last_update_time = session.last_update_time;
                        state::apply(
                            stores
                                .users
                                .entry((session.app_name.clone(), session.user_id.clone()))
                                .or_default(),
                            &appended.user_delta,
                        );
                        state::apply(
                            stores.apps.entry(session.app_name.clone()).or_default(),
                            &appended.app_delta,
                        );
                        let size = stores.sizes.entry(key.clone()).or_default();
                        *size = (*size + added).saturating_sub(removed);
                        stores.bytes = (stores.bytes + added).saturating_sub(removed);
                        stores.evict_to(self.max_bytes, &key);
                        Ok(())
                    }
                }
            }
        };
        Box::pin(std::future::ready(result))
    }

    fn list_sessions(&self, limit: usize) -> SessionFuture<'_, Vec<SessionSummary>> {
        let stores = self.lock();
        let mut sessions: Vec<&Session> = stores.sessions.values().collect();
        sessions.sort_by(|a, b| b.last_update_time.total_cmp(&a.last_update_time));
        let listed = sessions
            .into_iter()
            .take(limit)
            .map(|s| SessionSummary {
                app_name: s.app_name.clone(),
                user_id: s.user_id.clone(),
                id: s.id.clone(),
                last_update_time: s.last_update_time,
                events: s.events.len(),
                turns: s.events.iter().filter(|e| super::is_user_turn(e)).count(),
            })
            .collect();
        Box::pin(std::future::ready(Ok(listed)))
    }

    fn delete_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: &'a str,
    ) -> SessionFuture<'a, ()> {
        self.lock()
            .remove(&(app_name.to_string(), user_id.to_string(), id.to_string()));
        Box::pin(std::future::ready(Ok(())))
    }
}
