//! Sessions in an embedded SQLite file, so conversations and `user:`/`app:` state survive a
//! restart. SQLite calls are blocking, so each runs on tokio's blocking pool; one connection
//! behind a mutex is plenty for a chat proxy's write rate (WAL mode keeps reads cheap).

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use super::{Session, SessionError, SessionFuture, SessionService, SessionSummary, state};
use crate::event::Event;

pub struct SqliteSessionService {
    connection: Arc<Mutex<Connection>>,
}

fn db_error(e: impl std::fmt::Display) -> SessionError {
    SessionError::Store(format!("sqlite: {e}"))
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS app_states (app_name TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS user_states (
    app_name TEXT NOT NULL, user_id TEXT NOT NULL, state TEXT NOT NULL,
    PRIMARY KEY (app_name, user_id));
CREATE TABLE IF NOT EXISTS sessions (
    app_name TEXT NOT NULL, user_id TEXT NOT NULL, id TEXT NOT NULL,
    state TEXT NOT NULL, update_time REAL NOT NULL,
    PRIMARY KEY (app_name, user_id, id));
CREATE INDEX IF NOT EXISTS sessions_by_time ON sessions (update_time);
CREATE TABLE IF NOT EXISTS events (
    app_name TEXT NOT NULL, user_id TEXT NOT NULL, session_id TEXT NOT NULL,
    seq INTEGER NOT NULL, event TEXT NOT NULL,
    PRIMARY KEY (app_name, user_id, session_id, seq));
";

impl SqliteSessionService {
    /// Opens (or creates) the database file and its tables.
    pub fn open(path: &Path) -> Result<Self, SessionError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| SessionError::Store(format!("{}: {e}", dir.display())))?;
        }
        let connection = Connection::open(path)
            .map_err(|e| SessionError::Store(format!("{}: {e}", path.display())))?;
        connection.execute_batch(SCHEMA).map_err(db_error)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    fn run<'a, T: Send + 'static>(
        &'a self,
        work: impl FnOnce(&mut Connection) -> Result<T, SessionError> + Send + 'static,
    ) -> SessionFuture<'a, T> {
        let connection = self.connection.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut connection = connection.lock().unwrap_or_else(|p| p.into_inner());
                work(&mut connection)
            })
            .await
            .map_err(|e| SessionError::Store(format!("session store task failed: {e}")))?
        })
    }
}

fn read_state(
    conn: &Connection,
    sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Map<String, Value>, SessionError> {
    let text: Option<String> = conn
        .query_row(sql, args, |row| row.get(0))
        .optional()
        .map_err(db_error)?;
    Ok(text
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default())
}

fn merge_scope(
    conn: &Connection,
    select: &str,
    upsert: &str,
    args: &[&dyn rusqlite::ToSql],
    delta: &Map<String, Value>,
) -> Result<(), SessionError> {
    if delta.is_empty() {
        return Ok(());
    }
    let mut current = read_state(conn, select, args)?;
    state::apply(&mut current, delta);
    let json = Value::Object(current).to_string();
    let mut all: Vec<&dyn rusqlite::ToSql> = args.to_vec();
    all.push(&json);
    conn.execute(upsert, all.as_slice()).map_err(db_error)?;
    Ok(())
}

fn save_scopes(
    conn: &Connection,
    app: &str,
    user: &str,
    user_delta: &Map<String, Value>,
    app_delta: &Map<String, Value>,
) -> Result<(), SessionError> {
    merge_scope(
        conn,
        "SELECT state FROM user_states WHERE app_name = ?1 AND user_id = ?2",
        "INSERT INTO user_states (app_name, user_id, state) VALUES (?1, ?2, ?3)
         ON CONFLICT (app_name, user_id) DO UPDATE SET state = excluded.state",
        &[&app, &user],
        user_delta,
    )?;
    merge_scope(
        conn,
        "SELECT state FROM app_states WHERE app_name = ?1",
        "INSERT INTO app_states (app_name, state) VALUES (?1, ?2)
         ON CONFLICT (app_name) DO UPDATE SET state = excluded.state",
        &[&app],
        app_delta,
    )
}

fn load(
    conn: &Connection,
    app: &str,
    user: &str,
    id: &str,
) -> Result<Option<Session>, SessionError> {
    load_recent(conn, app, user, id, None)
}

/// The session with its newest `limit` events (all when `None`), oldest first.
fn load_recent(
    conn: &Connection,
    app: &str,
    user: &str,
    id: &str,
    limit: Option<usize>,
) -> Result<Option<Session>, SessionError> {
    let row: Option<(String, f64)> = conn
        .query_row(
            "SELECT state, update_time FROM sessions WHERE app_name = ?1 AND user_id = ?2 AND id = ?3",
            params![app, user, id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(db_error)?;
    let Some((state_text, update_time)) = row else {
        return Ok(None);
    };
    let mut session = Session::new(app, user, id);
    session.last_update_time = update_time;
    session.state = serde_json::from_str::<Value>(&state_text)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    let limit = limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
    let mut statement = conn
        .prepare(
            "SELECT event FROM (SELECT seq, event FROM events
               WHERE app_name = ?1 AND user_id = ?2 AND session_id = ?3
               ORDER BY seq DESC LIMIT ?4) ORDER BY seq",
        )
        .map_err(db_error)?;
    let events = statement
        .query_map(params![app, user, id, limit], |row| row.get::<_, String>(0))
        .map_err(db_error)?;
    for event in events {
        let text = event.map_err(db_error)?;
        let event: Event = serde_json::from_str(&text)
            .map_err(|e| SessionError::Store(format!("stored event is not valid: {e}")))?;
        session.events.push(std::sync::Arc::new(event));
    }
    let app_state = read_state(
        conn,
        "SELECT state FROM app_states WHERE app_name = ?1",
        &[&app],
    )?;
    let user_state = read_state(
        conn,
        "SELECT state FROM user_states WHERE app_name = ?1 AND user_id = ?2",
        &[&app, &user],
    )?;
    state::apply(&mut session.state, &app_state);
    state::apply(&mut session.state, &user_state);
    Ok(Some(session))
}

impl SessionService for SqliteSessionService {
    fn create_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: Option<&'a str>,
        initial_state: Map<String, Value>,
    ) -> SessionFuture<'a, Session> {
        let (app, user) = (app_name.to_string(), user_id.to_string());
        let id = id
            .map(str::to_string)
            .unwrap_or_else(|| crate::ids::random_hex(32));
        self.run(move |conn| {
            let tx = conn.transaction().map_err(db_error)?;
            let split = state::split(&initial_state);
            let inserted = tx
                .execute(
                    "INSERT OR IGNORE INTO sessions (app_name, user_id, id, state, update_time) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![app, user, id, Value::Object(split.session.clone()).to_string(), crate::event::now_secs()],
                )
                .map_err(db_error)?;
            if inserted == 0 {
                return Err(SessionError::AlreadyExists(id.to_string()));
            }
            save_scopes(&tx, &app, &user, &split.user, &split.app)?;
            let session = load(&tx, &app, &user, &id)?.ok_or_else(|| SessionError::Store("session vanished".into()))?;
            tx.commit().map_err(db_error)?;
            Ok(session)
        })
    }

    fn get_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: &'a str,
    ) -> SessionFuture<'a, Option<Session>> {
        let (app, user, id) = (app_name.to_string(), user_id.to_string(), id.to_string());
        self.run(move |conn| load(conn, &app, &user, &id))
    }

    fn get_recent_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: &'a str,
        max_events: usize,
    ) -> SessionFuture<'a, Option<Session>> {
        let (app, user, id) = (app_name.to_string(), user_id.to_string(), id.to_string());
        self.run(move |conn| load_recent(conn, &app, &user, &id, Some(max_events)))
    }

    fn append_event<'a>(&'a self, session: &'a mut Session, event: Event) -> SessionFuture<'a, ()> {
        let appended = session.append(&event);
        let Some(stored) = appended.stored else {
            return Box::pin(std::future::ready(Ok(())));
        };
        let (app, user, id) = (
            session.app_name.clone(),
            session.user_id.clone(),
            session.id.clone(),
        );
        let update_time = session.last_update_time;
        let (session_delta, user_delta, app_delta) = (
            appended.session_delta,
            appended.user_delta,
            appended.app_delta,
        );
        self.run(move |conn| {
            let event_json = serde_json::to_string(&stored).map_err(|e| SessionError::Store(e.to_string()))?;
            let tx = conn.transaction().map_err(db_error)?;
            // The delta is applied to the stored state inside the transaction: a concurrent
            // request's keys stay (writing this request's snapshot back would erase them).
            let current: Option<String> = tx
                .query_row(
                    "SELECT state FROM sessions WHERE app_name = ?1 AND user_id = ?2 AND id = ?3",
                    params![app, user, id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(db_error)?;
            let Some(current) = current else {
                return Err(SessionError::NotFound(id.to_string()));
            };
            let mut session_state = serde_json::from_str::<Value>(&current)
                .ok()
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default();
            state::apply(&mut session_state, &session_delta);
            tx.execute(
                "UPDATE sessions SET state = ?4, update_time = ?5 WHERE app_name = ?1 AND user_id = ?2 AND id = ?3",
                params![app, user, id, Value::Object(session_state).to_string(), update_time],
            )
            .map_err(db_error)?;
            tx.execute(
                "INSERT INTO events (app_name, user_id, session_id, seq, event)
                 VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events
                                      WHERE app_name = ?1 AND user_id = ?2 AND session_id = ?3), ?4)",
                params![app, user, id, event_json],
            )
            .map_err(db_error)?;
            save_scopes(&tx, &app, &user, &user_delta, &app_delta)?;
            tx.commit().map_err(db_error)
        })
    }

    fn list_sessions(&self, limit: usize) -> SessionFuture<'_, Vec<SessionSummary>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |conn| {
            let mut statement = conn
                .prepare(
                    "SELECT s.app_name, s.user_id, s.id, s.update_time,
                            (SELECT COUNT(*) FROM events e
                              WHERE e.app_name = s.app_name AND e.user_id = s.user_id AND e.session_id = s.id),
                            (SELECT COUNT(*) FROM events e
                              WHERE e.app_name = s.app_name AND e.user_id = s.user_id AND e.session_id = s.id
                                AND json_extract(e.event, '$.author') = 'user')
                       FROM sessions s ORDER BY s.update_time DESC LIMIT ?1",
                )
                .map_err(db_error)?;
            let rows = statement
                .query_map(params![limit], |row| {
                    Ok(SessionSummary {
                        app_name: row.get(0)?,
                        user_id: row.get(1)?,
                        id: row.get(2)?,
                        last_update_time: row.get(3)?,
                        events: row.get::<_, i64>(4)? as usize,
                        turns: row.get::<_, i64>(5)? as usize,
                    })
                })
                .map_err(db_error)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_error)
        })
    }

    fn delete_session<'a>(
        &'a self,
        app_name: &'a str,
        user_id: &'a str,
        id: &'a str,
    ) -> SessionFuture<'a, ()> {
        let (app, user, id) = (app_name.to_string(), user_id.to_string(), id.to_string());
        self.run(move |conn| {
            let tx = conn.transaction().map_err(db_error)?;
            tx.execute(
                "DELETE FROM events WHERE app_name = ?1 AND user_id = ?2 AND session_id = ?3",
                params![app, user, id],
            )
            .map_err(db_error)?;
            tx.execute(
                "DELETE FROM sessions WHERE app_name = ?1 AND user_id = ?2 AND id = ?3",
                params![app, user, id],
            )
            .map_err(db_error)?;
            tx.commit().map_err(db_error)
        })
    }
}
