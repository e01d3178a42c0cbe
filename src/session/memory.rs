//! In-memory sessions: the default store, lost on restart.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value};

use super::{Session, SessionError, SessionFuture, SessionService, state};
use crate::event::Event;

pub struct InMemorySessionService {
    inner: Mutex<Stores>,
    /// Sessions kept; when full, the least recently updated one is dropped to make room.
    capacity: usize,
}

impl Default for InMemorySessionService {
    fn default() -> Self {
        Self::with_capacity(usize::MAX)
    }
}

#[derive(Default)]
struct Stores {
    /// (app, user, id) → session with session-scoped state only.
    sessions: HashMap<(String, String, String), Session>,
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

impl InMemorySessionService {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: Mutex::default(),
            capacity: capacity.max(1),
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
                    stores.sessions.remove(&oldest);
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
                match stores.sessions.get_mut(&key) {
                    None => Err(SessionError::NotFound(session.id.clone())),
                    Some(kept) => {
                        kept.events.push(stored);
                        if kept.events.len() > EVENTS_KEPT {
                            let extra = kept.events.len() - EVENTS_KEPT;
                            kept.events.drain(..extra);
                        }
                        kept.state = session.session_scoped_state();
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
                        Ok(())
                    }
                }
            }
        };
        Box::pin(std::future::ready(result))
    }

    fn delete_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: &'a str,
    ) -> SessionFuture<'a, ()> {
        self.lock()
            .sessions
            .remove(&(app_name.to_string(), user_id.to_string(), id.to_string()));
        Box::pin(std::future::ready(Ok(())))
    }
}
