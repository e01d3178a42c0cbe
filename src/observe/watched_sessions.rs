//! The session store as the runner uses it, plus one duty: every complete event stored is
//! offered to the console's live feed, so an open session page shows a running invocation's
//! events as they happen. Offering costs one atomic load while no page is open.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::live::LiveFeed;
use crate::event::Event;
use crate::session::{Session, SessionFuture, SessionService, SessionSummary};

pub struct WatchedSessions {
    inner: Arc<dyn SessionService>,
    live: Arc<LiveFeed>,
}

impl WatchedSessions {
    pub fn new(inner: Arc<dyn SessionService>, live: Arc<LiveFeed>) -> Self {
        Self { inner, live }
    }
}

impl SessionService for WatchedSessions {
    fn create_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: Option<&'a str>,
        initial_state: Map<String, Value>,
    ) -> SessionFuture<'a, Session> {
        self.inner
            .create_session(app_name, user_id, id, initial_state)
    }

    fn get_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: &'a str,
    ) -> SessionFuture<'a, Option<Session>> {
        self.inner.get_session(app_name, user_id, id)
    }

    fn get_recent_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: &'a str,
        max_events: usize,
    ) -> SessionFuture<'a, Option<Session>> {
        self.inner
            .get_recent_session(app_name, user_id, id, max_events)
    }

    fn append_event<'a>(&'a self, session: &'a mut Session, event: Event) -> SessionFuture<'a, ()> {
        Box::pin(async move {
            let partial = event.partial;
            self.inner.append_event(session, event).await?;
            if !partial && let Some(stored) = session.events.last() {
                self.live
                    .offer_event(&session.app_name, &session.user_id, &session.id, stored);
            }
            Ok(())
        })
    }

    fn delete_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: &'a str,
    ) -> SessionFuture<'a, ()> {
        self.inner.delete_session(app_name, user_id, id)
    }

    fn list_sessions(&self, limit: usize) -> SessionFuture<'_, Vec<SessionSummary>> {
        self.inner.list_sessions(limit)
    }
}
