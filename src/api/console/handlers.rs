//! The console's JSON API under `/console/api/…`: what the page shows, and what scripts may read
//! with a console key as `Authorization: Bearer` (README, "Console").

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::access::{self, Viewer};
use crate::api::AppState;
use crate::api::caller::Caller;
use crate::api::chat_completions::serve;
use crate::api::respond::Dialect;
use crate::error::ApiError;
use crate::event::Event;
use crate::session::Session;
use crate::wire::ChatRequest;

/// Sessions listed at most per request.
const MAX_LISTED: usize = 500;
/// Stores keep other things as sessions (stored Responses): not conversations of an agent.
const INTERNAL_APP_PREFIX: &str = "adk-proxy:";
/// A comment line on an idle live stream, so proxies and browsers keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub async fn whoami(viewer: Viewer, State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "viewer": viewer.label(),
        "keys": !state.keys().is_empty(),
    }))
}

#[derive(Deserialize)]
pub struct Login {
    key: String,
}

/// Exchanges a console key for a login cookie.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(login): Json<Login>,
) -> Result<Response, ApiError> {
    access::same_origin(&axum::http::Method::POST, &headers)?;
    let keys = state.keys();
    let Some(key) = keys.authenticate(login.key.trim()).filter(|k| k.console) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            crate::error::ErrorObject::new(
                "That is not a client key marked `console: true`.",
                "authentication_error",
            )
            .with_code("invalid_console_key"),
        ));
    };
    let ttl = Duration::from_secs_f64(state.config.console.login_hours.max(0.01) * 3600.0);
    let token = state.console_logins.start(&key.name, ttl);
    let mut response = Json(json!({"viewer": key.name})).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, access::set_cookie(Some(&token), ttl));
    Ok(response)
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    access::same_origin(&axum::http::Method::POST, &headers)?;
    if let Some(token) = access::cookie(&headers) {
        state.console_logins.end(&token);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, access::set_cookie(None, Duration::ZERO));
    Ok(response)
}

/// `text/event-stream` of `items`, with keep-alive comments while nothing happens; ends when the
/// items do or a shutdown begins (a watcher is no work to finish).
fn event_stream(
    state: &AppState,
    items: impl futures_util::Stream<Item = Bytes> + Send + 'static,
) -> Response {
    let items = Box::pin(items.take_until(state.lifecycle.draining()));
    let with_keep_alive = futures_util::stream::unfold(items, |mut items| async move {
        match tokio::time::timeout(KEEP_ALIVE, items.next()).await {
            Ok(Some(bytes)) => Some((Ok::<_, Infallible>(bytes), items)),
            Ok(None) => None,
            Err(_) => Some((Ok(Bytes::from_static(b": keep-alive\n\n")), items)),
        }
    });
    let mut response = Body::from_stream(with_keep_alive).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn sse_data(value: &impl serde::Serialize) -> Bytes {
    Bytes::from(format!(
        "data: {}\n\n",
        serde_json::to_string(value).unwrap_or_default()
    ))
}

/// Finished model requests as they happen (`data: <record>`); a slow page is told how many it
/// skipped (`data: {"skipped": n}`).
pub async fn live(_: Viewer, State(state): State<AppState>) -> Response {
    let watch = state.live.subscribe_requests();
    let records = futures_util::stream::unfold(watch, |mut watch| async move {
        let item = match watch.receiver.recv().await {
            Ok(record) => sse_data(&*record),
            Err(RecvError::Lagged(skipped)) => sse_data(&json!({"skipped": skipped})),
            Err(RecvError::Closed) => return None,
        };
        Some((item, watch))
    });
    event_stream(&state, records)
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    limit: Option<usize>,
}

/// The store's sessions, newest first; `q` keeps those whose agent, user or id contains it.
pub async fn sessions(
    _: Viewer,
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(100).min(MAX_LISTED);
    let needle = query.q.trim().to_lowercase();
    // Read more than shown when filtering, so a search reaches past the newest page.
    let read = if needle.is_empty() { limit } else { MAX_LISTED };
    let listed = state
        .runner
        .sessions
        .list_sessions(read + 16)
        .await
        .map_err(store_error)?;
    let sessions: Vec<Value> = listed
        .into_iter()
        .filter(|s| !s.app_name.starts_with(INTERNAL_APP_PREFIX))
        .filter(|s| {
            needle.is_empty()
                || [&s.app_name, &s.user_id, &s.id]
                    .iter()
                    .any(|field| field.to_lowercase().contains(&needle))
        })
        .take(limit)
        .map(|s| {
            json!({"agent": s.app_name, "user": s.user_id, "id": s.id,
                "last_update_time": s.last_update_time, "events": s.events, "turns": s.turns})
        })
        .collect();
    Ok(Json(json!({"sessions": sessions})))
}

#[derive(Deserialize)]
pub struct SessionQuery {
    agent: String,
    user: String,
    id: String,
}

/// One session: its events in order, the state by scope, which agent answered each turn and
/// which answers the next.
pub async fn session(
    _: Viewer,
    State(state): State<AppState>,
    Query(query): Query<SessionQuery>,
) -> Result<Json<Value>, ApiError> {
    let session = state
        .runner
        .sessions
        .get_session(&query.agent, &query.user, &query.id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found("No such session.", "session_not_found"))?;
    let agents = state.agents();
    let next_agent = agents
        .is_top_level(&session.app_name)
        .then(|| agents.agent_to_run(&session.app_name, &session.events));
    Ok(Json(json!({
        "agent": session.app_name,
        "user": session.user_id,
        "id": session.id,
        "last_update_time": session.last_update_time,
        "state": state_by_scope(&session),
        "turns": turns(&session.events),
        "next_agent": next_agent,
        "events": session.events.iter().map(|e| event_json(e)).collect::<Vec<_>>(),
    })))
}

/// Complete events of one session as they are stored (`data: <event>`).
pub async fn session_live(
    _: Viewer,
    State(state): State<AppState>,
    Query(query): Query<SessionQuery>,
) -> Response {
    let watch = state.live.subscribe_events();
    let events = futures_util::stream::unfold((watch, query), |(mut watch, query)| async move {
        loop {
            match watch.receiver.recv().await {
                Ok(item)
                    if item.app_name == query.agent
                        && item.user_id == query.user
                        && item.session_id == query.id =>
                {
                    return Some((sse_data(&item.event), (watch, query)));
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(skipped)) => {
                    return Some((sse_data(&json!({"skipped": skipped})), (watch, query)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    event_stream(&state, events)
}

/// Every agent as its file describes it, the top-level ones, and the last reload's error.
pub async fn agents(_: Viewer, State(state): State<AppState>) -> Json<Value> {
    let set = state.agents();
    let mut outlines = Map::new();
    let mut pending: Vec<String> = set.roots().to_vec();
    while let Some(name) = pending.pop() {
        if outlines.contains_key(&name) {
            continue;
        }
        if let Some(outline) = set.outline(&name) {
            let mut value = serde_json::to_value(outline).unwrap_or(Value::Null);
            value["effective_model"] = json!(set.model_of(&name));
            pending.extend(outline.sub_agents.iter().cloned());
            pending.extend(outline.agent_tools.iter().cloned());
            outlines.insert(name, value);
        }
    }
    Json(json!({
        "roots": set.roots(),
        "agents": outlines,
        "reload_error": state.last_reload_error(),
    }))
}

/// What the playground can talk to: the models and agents the viewer's key may use.
pub async fn models(viewer: Viewer, State(state): State<AppState>) -> Json<Value> {
    let ids: Vec<Value> = crate::api::models::visible(&state, viewer.key())
        .await
        .into_iter()
        .filter_map(|m| m.get("id").cloned())
        .collect();
    Json(json!({"models": ids}))
}

#[derive(Deserialize)]
pub struct Chat {
    model: String,
    messages: Vec<Value>,
    session_id: String,
}

/// The playground: one streamed chat turn as the viewer (its key's models and limits apply),
/// in the session the page names, with reasoning apart from the answer. It is an ordinary
/// request of the proxy: logged, metered, shown in Live.
pub async fn chat(
    viewer: Viewer,
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(chat): Json<Chat>,
) -> Result<Response, ApiError> {
    access::same_origin(&axum::http::Method::POST, &headers)?;
    let request: ChatRequest = serde_json::from_value(json!({
        "model": chat.model,
        "messages": chat.messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    }))
    .map_err(|e| ApiError::invalid_request(format!("Bad chat: {e}."), None, "invalid_request"))?;
    let mut forwarded = HeaderMap::new();
    let session = HeaderValue::from_str(&chat.session_id).map_err(|_| {
        ApiError::invalid_request(
            "session_id must be plain text.",
            Some("session_id"),
            "invalid_value",
        )
    })?;
    forwarded.insert(
        HeaderName::from_static(crate::session::identity::SESSION_HEADER),
        session,
    );
    forwarded.insert(
        HeaderName::from_static("x-reasoning-mode"),
        HeaderValue::from_static("reasoning_content"),
    );
    if let Some(key) = viewer.key() {
        caller.facts.update(|f| f.key_name = Some(key.name.clone()));
    }
    serve(
        &state,
        &caller.facts,
        viewer.key(),
        &forwarded,
        request,
        Dialect::ChatCompletions,
    )
    .await
}

fn store_error(error: crate::session::SessionError) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        crate::error::ErrorObject::new(format!("Session store: {error}"), "api_error")
            .with_code("session_store_error"),
    )
}

/// The merged state split back into its scopes (`temp:` is never stored).
fn state_by_scope(session: &Session) -> Value {
    let (mut own, mut user, mut app) = (Map::new(), Map::new(), Map::new());
    for (key, value) in &session.state {
        if let Some(rest) = key.strip_prefix("user:") {
            user.insert(rest.to_string(), value.clone());
        } else if let Some(rest) = key.strip_prefix("app:") {
            app.insert(rest.to_string(), value.clone());
        } else {
            own.insert(key.clone(), value.clone());
        }
    }
    json!({"session": own, "user": user, "app": app})
}

/// Per invocation: when it started and ended, and which agent gave the answer.
fn turns(events: &[std::sync::Arc<Event>]) -> Vec<Value> {
    let mut turns: Vec<(String, f64, f64, Option<String>)> = Vec::new();
    for event in events {
        match turns.last_mut() {
            Some(turn) if turn.0 == event.invocation_id => {
                turn.2 = event.timestamp;
                if event.author != "user" && event.shown_as_answer {
                    turn.3 = Some(event.author.clone());
                }
            }
            _ => turns.push((
                event.invocation_id.clone(),
                event.timestamp,
                event.timestamp,
                (event.author != "user" && event.shown_as_answer).then(|| event.author.clone()),
            )),
        }
    }
    turns
        .into_iter()
        .map(|(invocation, started, ended, answered_by)| {
            json!({"invocation_id": invocation, "started": started, "ended": ended, "answered_by": answered_by})
        })
        .collect()
}

fn event_json(event: &Event) -> Value {
    serde_json::to_value(event).unwrap_or(Value::Null)
}
