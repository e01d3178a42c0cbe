//! Stored responses (`store: true`, OpenAI's default), kept in the configured session store so
//! `previous_response_id`, `GET /v1/responses/{id}` and its input items work on any replica that
//! shares the store (Redis), survive restarts (SQLite) or live in memory.
//!
//! A stored response is a session record of its own: app [`APP`], owned by the caller (the client
//! key's owner string, as for agent sessions, so no key can read or continue another key's
//! responses), id = the response id, with the record in its state. The store's own limits apply
//! (the memory store's session count and bytes, Redis's TTL); on top, a response older than
//! `sessions.responses_ttl_secs` is treated as gone and deleted when next asked for.
//!
//! Each record carries the conversation that led to it (`history`: the items of the responses it
//! continues, then its own input and output), so continuing needs one read however long the
//! chain is.

use serde_json::{Map, Value, json};

use crate::session::{SessionError, SessionService};

/// The session app under which responses are stored; not a valid agent name, so it cannot clash.
pub const APP: &str = "adk-proxy:responses";

/// One stored response.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    /// The response object as the client received it.
    pub response: Value,
    /// This request's input items.
    pub input: Vec<Value>,
    /// The items of the responses this one continued (their inputs and outputs, in order).
    pub history: Vec<Value>,
    /// The agent session the run used, so a continuation resumes it.
    pub session_id: Option<String>,
}

impl StoredResponse {
    /// Everything a continuation puts before its own input: history, input, output.
    pub fn conversation(&self) -> Vec<Value> {
        let mut items = self.history.clone();
        items.extend(self.input.iter().cloned());
        if let Some(Value::Array(output)) = self.response.get("output") {
            items.extend(output.iter().cloned());
        }
        items
    }

    fn created_at(&self) -> i64 {
        self.response
            .get("created_at")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }

    fn to_state(&self) -> Map<String, Value> {
        let mut state = Map::new();
        state.insert("response".into(), self.response.clone());
        state.insert("input".into(), Value::Array(self.input.clone()));
        state.insert("history".into(), Value::Array(self.history.clone()));
        state.insert("session_id".into(), json!(self.session_id));
        state
    }

    fn from_state(mut state: Map<String, Value>) -> Option<Self> {
        let items = |value: Option<Value>| match value {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        Some(Self {
            response: state.remove("response")?,
            input: items(state.remove("input")),
            history: items(state.remove("history")),
            session_id: state
                .remove("session_id")
                .and_then(|v| v.as_str().map(str::to_string)),
        })
    }
}

/// Stored responses of one owner, over a session store.
pub struct ResponseStore<'a> {
    pub sessions: &'a dyn SessionService,
    pub owner: &'a str,
    pub ttl_secs: u64,
}

impl ResponseStore<'_> {
    pub async fn put(&self, id: &str, stored: &StoredResponse) -> Result<(), SessionError> {
        self.sessions
            .create_session(APP, self.owner, Some(id), stored.to_state())
            .await
            .map(|_| ())
    }

    /// The response, if it exists, belongs to this owner and has not expired.
    pub async fn get(&self, id: &str) -> Result<Option<StoredResponse>, SessionError> {
        let Some(session) = self.sessions.get_session(APP, self.owner, id).await? else {
            return Ok(None);
        };
        let Some(stored) = StoredResponse::from_state(session.state) else {
            return Ok(None);
        };
        let age = crate::ids::unix_now() - stored.created_at();
        if age > self.ttl_secs as i64 {
            self.sessions.delete_session(APP, self.owner, id).await?;
            return Ok(None);
        }
        Ok(Some(stored))
    }

    /// Deletes the response; `false` when there was none for this owner.
    pub async fn delete(&self, id: &str) -> Result<bool, SessionError> {
        if self.get(id).await?.is_none() {
            return Ok(false);
        }
        self.sessions.delete_session(APP, self.owner, id).await?;
        Ok(true)
    }
}
