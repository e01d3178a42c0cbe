//! Sessions in Redis, shared by several proxy replicas behind a load balancer (a chat's next turn
//! may land on another replica). Per session: `…:meta` (update time; its existence is the
//! session's), `…:state` (a hash of session-scoped keys, JSON values) and `…:events` (a list of
//! event JSON, trimmed to the newest [`super::memory::EVENTS_KEPT`]). `user:` and `app:` state are
//! hashes shared by every session of the user / app. One append is one MULTI/EXEC, so replicas
//! never see half an event; a session untouched for `sessions.redis_ttl_secs` expires.

use redis::aio::ConnectionManager;
use serde_json::{Map, Value};

use super::memory::EVENTS_KEPT;
use super::{Session, SessionError, SessionFuture, SessionService, SessionSummary, state};
use crate::event::Event;

pub struct RedisSessionService {
    connection: ConnectionManager,
    prefix: String,
    ttl_secs: u64,
}

fn redis_error(e: redis::RedisError) -> SessionError {
    SessionError::Store(format!("redis: {e}"))
}

impl RedisSessionService {
    pub async fn connect(url: &str, prefix: &str, ttl_secs: u64) -> Result<Self, String> {
        Ok(Self {
            connection: crate::redis_connection::connect(url).await?,
            prefix: prefix.to_string(),
            ttl_secs: ttl_secs.max(60),
        })
    }

    fn session_key(&self, app: &str, user: &str, id: &str, part: &str) -> String {
        // Lengths first, so that ':' inside a name cannot make two sessions share a key.
        format!(
            "{}:session:{}:{app}:{}:{user}:{id}:{part}",
            self.prefix,
            app.len(),
            user.len()
        )
    }

    /// The listing index: a sorted set of sessions by last update, and a hash of their turn
    /// counts, both keyed by [`Self::index_member`]. Entries of sessions that expired are dropped
    /// when the index is read.
    fn index_keys(&self) -> (String, String) {
        (
            format!("{}:sessions_by_time", self.prefix),
            format!("{}:session_turns", self.prefix),
        )
    }

    fn index_member(app: &str, user: &str, id: &str) -> String {
        serde_json::json!([app, user, id]).to_string()
    }

    fn user_key(&self, app: &str, user: &str) -> String {
        format!("{}:user_state:{}:{app}:{user}", self.prefix, app.len())
    }

    fn app_key(&self, app: &str) -> String {
        format!("{}:app_state:{app}", self.prefix)
    }

    /// Adds the commands that apply `delta` to the hash `key` (`null` deletes a field).
    fn apply_delta(pipe: &mut redis::Pipeline, key: &str, delta: &Map<String, Value>) {
        for (field, value) in delta {
            if value.is_null() {
                pipe.cmd("HDEL").arg(key).arg(field).ignore();
            } else {
                pipe.cmd("HSET")
                    .arg(key)
                    .arg(field)
                    .arg(value.to_string())
                    .ignore();
            }
        }
    }

    async fn read_hash(&self, key: &str) -> Result<Map<String, Value>, SessionError> {
        let mut con = self.connection.clone();
        let fields: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(key)
            .query_async(&mut con)
            .await
            .map_err(redis_error)?;
        Ok(fields
            .into_iter()
            .filter_map(|(k, v)| serde_json::from_str(&v).ok().map(|v| (k, v)))
            .collect())
    }

    async fn load(
        &self,
        app: &str,
        user: &str,
        id: &str,
        max_events: usize,
    ) -> Result<Option<Session>, SessionError> {
        let mut con = self.connection.clone();
        let meta: Option<f64> = redis::cmd("GET")
            .arg(self.session_key(app, user, id, "meta"))
            .query_async(&mut con)
            .await
            .map_err(redis_error)?;
        let Some(update_time) = meta else {
            return Ok(None);
        };
        let start = -(max_events.min(i64::MAX as usize) as i64);
        let raw_events: Vec<String> = redis::cmd("LRANGE")
            .arg(self.session_key(app, user, id, "events"))
            .arg(start)
            .arg(-1)
            .query_async(&mut con)
            .await
            .map_err(redis_error)?;
        let mut session = Session::new(app, user, id);
        session.last_update_time = update_time;
        session.state = self
            .read_hash(&self.session_key(app, user, id, "state"))
            .await?;
        state::apply(
            &mut session.state,
            &self.read_hash(&self.app_key(app)).await?,
        );
        state::apply(
            &mut session.state,
            &self.read_hash(&self.user_key(app, user)).await?,
        );
        for raw in raw_events {
            let event: Event = serde_json::from_str(&raw)
                .map_err(|e| SessionError::Store(format!("stored event is not valid: {e}")))?;
            session.events.push(std::sync::Arc::new(event));
        }
        Ok(Some(session))
    }
}

impl SessionService for RedisSessionService {
    fn create_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: Option<&'a str>,
        initial_state: Map<String, Value>,
    ) -> SessionFuture<'a, Session> {
        Box::pin(async move {
            let id = id
                .map(str::to_string)
                .unwrap_or_else(|| crate::ids::random_hex(32));
            let mut con = self.connection.clone();
            let now = crate::event::now_secs();
            let created: Option<String> = redis::cmd("SET")
                .arg(self.session_key(app_name, user_id, &id, "meta"))
                .arg(now)
                .arg("NX")
                .arg("EX")
                .arg(self.ttl_secs)
                .query_async(&mut con)
                .await
                .map_err(redis_error)?;
            if created.is_none() {
                return Err(SessionError::AlreadyExists(id.to_string()));
            }
            let split = state::split(&initial_state);
            let mut pipe = redis::pipe();
            pipe.atomic();
            let state_key = self.session_key(app_name, user_id, &id, "state");
            Self::apply_delta(&mut pipe, &state_key, &split.session);
            pipe.cmd("EXPIRE")
                .arg(&state_key)
                .arg(self.ttl_secs)
                .ignore();
            Self::apply_delta(&mut pipe, &self.user_key(app_name, user_id), &split.user);
            Self::apply_delta(&mut pipe, &self.app_key(app_name), &split.app);
            let (by_time, _) = self.index_keys();
            pipe.cmd("ZADD")
                .arg(&by_time)
                .arg(now)
                .arg(Self::index_member(app_name, user_id, &id))
                .ignore();
            let () = pipe.query_async(&mut con).await.map_err(redis_error)?;
            self.load(app_name, user_id, &id, usize::MAX)
                .await?
                .ok_or_else(|| SessionError::Store("session vanished".into()))
        })
    }

    fn get_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: &'a str,
    ) -> SessionFuture<'a, Option<Session>> {
        Box::pin(self.load(app_name, user_id, id, usize::MAX))
    }

    fn get_recent_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: &'a str,
        max_events: usize,
    ) -> SessionFuture<'a, Option<Session>> {
        Box::pin(self.load(app_name, user_id, id, max_events))
    }

    fn append_event<'a>(&'a self, session: &'a mut Session, event: Event) -> SessionFuture<'a, ()> {
        Box::pin(async move {
            let appended = session.append(&event);
            let Some(stored) = appended.stored else {
                return Ok(());
            };
            let json = serde_json::to_string(&stored)
                .map_err(|e| SessionError::Store(format!("event cannot be stored: {e}")))?;
            let (app, user, id) = (&session.app_name, &session.user_id, &session.id);
            let meta = self.session_key(app, user, id, "meta");
            let mut con = self.connection.clone();
            let exists: bool = redis::cmd("EXISTS")
                .arg(&meta)
                .query_async(&mut con)
                .await
                .map_err(redis_error)?;
            if !exists {
                return Err(SessionError::NotFound(id.to_string()));
            }
            let events = self.session_key(app, user, id, "events");
            let state_key = self.session_key(app, user, id, "state");
            let split = state::split(&stored.actions.state_delta);
            let mut pipe = redis::pipe();
            pipe.atomic();
            pipe.cmd("RPUSH").arg(&events).arg(json).ignore();
            pipe.cmd("LTRIM")
                .arg(&events)
                .arg(-(EVENTS_KEPT as i64))
                .arg(-1)
                .ignore();
            Self::apply_delta(&mut pipe, &state_key, &split.session);
            Self::apply_delta(&mut pipe, &self.user_key(app, user), &appended.user_delta);
            Self::apply_delta(&mut pipe, &self.app_key(app), &appended.app_delta);
            pipe.cmd("SET")
                .arg(&meta)
                .arg(session.last_update_time)
                .arg("EX")
                .arg(self.ttl_secs)
                .ignore();
            for key in [&events, &state_key] {
                pipe.cmd("EXPIRE").arg(key).arg(self.ttl_secs).ignore();
            }
            let (by_time, turns) = self.index_keys();
            let member = Self::index_member(app, user, id);
            pipe.cmd("ZADD")
                .arg(&by_time)
                .arg(session.last_update_time)
                .arg(&member)
                .ignore();
            if super::is_user_turn(&stored) {
                pipe.cmd("HINCRBY").arg(&turns).arg(&member).arg(1).ignore();
            }
            let () = pipe.query_async(&mut con).await.map_err(redis_error)?;
            Ok(())
        })
    }

    fn delete_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: &'a str,
    ) -> SessionFuture<'a, ()> {
        Box::pin(async move {
            let mut con = self.connection.clone();
            let (by_time, turns) = self.index_keys();
            let member = Self::index_member(app_name, user_id, id);
            let mut pipe = redis::pipe();
            pipe.atomic();
            pipe.cmd("DEL")
                .arg(self.session_key(app_name, user_id, id, "meta"))
                .arg(self.session_key(app_name, user_id, id, "state"))
                .arg(self.session_key(app_name, user_id, id, "events"))
                .ignore();
            pipe.cmd("ZREM").arg(&by_time).arg(&member).ignore();
            pipe.cmd("HDEL").arg(&turns).arg(&member).ignore();
            let () = pipe.query_async(&mut con).await.map_err(redis_error)?;
            Ok(())
        })
    }

    fn list_sessions(&self, limit: usize) -> SessionFuture<'_, Vec<SessionSummary>> {
        Box::pin(async move {
            let mut con = self.connection.clone();
            let (by_time, turns) = self.index_keys();
            // Sessions not updated within the TTL have expired: their index entries go.
            let cutoff = crate::event::now_secs() - self.ttl_secs as f64;
            let expired: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                .arg(&by_time)
                .arg("-inf")
                .arg(cutoff)
                .query_async(&mut con)
                .await
                .map_err(redis_error)?;
            if !expired.is_empty() {
                let mut pipe = redis::pipe();
                pipe.cmd("ZREM").arg(&by_time).arg(&expired).ignore();
                pipe.cmd("HDEL").arg(&turns).arg(&expired).ignore();
                let () = pipe.query_async(&mut con).await.map_err(redis_error)?;
            }
            if limit == 0 {
                return Ok(Vec::new());
            }
            let newest: Vec<(String, f64)> = redis::cmd("ZREVRANGE")
                .arg(&by_time)
                .arg(0)
                .arg(limit.saturating_sub(1))
                .arg("WITHSCORES")
                .query_async(&mut con)
                .await
                .map_err(redis_error)?;
            let mut listed = Vec::with_capacity(newest.len());
            let mut pipe = redis::pipe();
            let mut names = Vec::with_capacity(newest.len());
            for (member, time) in newest {
                let Ok((app, user, id)) = serde_json::from_str::<(String, String, String)>(&member)
                else {
                    continue;
                };
                pipe.cmd("LLEN")
                    .arg(self.session_key(&app, &user, &id, "events"));
                pipe.cmd("HGET").arg(&turns).arg(&member);
                names.push((app, user, id, time));
            }
            if names.is_empty() {
                return Ok(listed);
            }
            let counts: Vec<Option<usize>> =
                pipe.query_async(&mut con).await.map_err(redis_error)?;
            for (i, (app_name, user_id, id, last_update_time)) in names.into_iter().enumerate() {
                listed.push(SessionSummary {
                    app_name,
                    user_id,
                    id,
                    last_update_time,
                    events: counts.get(2 * i).copied().flatten().unwrap_or(0),
                    turns: counts.get(2 * i + 1).copied().flatten().unwrap_or(0),
                });
            }
            Ok(listed)
        })
    }
}
