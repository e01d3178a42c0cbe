//! Which session a request continues. Chat clients are stateless: they resend the conversation
//! and rarely name it. In order: the `X-Session-Id` header; a chat id the client already sends
//! (Open WebUI's `X-OpenWebUI-Chat-Id` header, `metadata.session_id` / `chat_id` /
//! `conversation_id` in the body); else a hash of the conversation's opening messages (everything
//! up to the first user message), which stays the same on every turn of one chat.
//!
//! The hash covers the caller (client key and user) and the agent, so two callers never share a
//! session by accident. One caller's chats that open with the same words do share one: clients
//! that care send `X-Session-Id`.
//!
//! Whose session it is ([`SessionKey::user`], also the scope of `user:` state) comes from the
//! authenticated key first: with client keys on, the owner is always `key:<name>`, and a user id
//! the client sends (`user`, `X-User-Id`, `X-OpenWebUI-User-Id`) only subdivides within that key
//! (`key:<name>|user:<id>`). A session id names a session only within its owner, so no key can
//! reach another key's session or `user:` state, whatever ids it sends. Key names cannot contain
//! `|` (checked at start-up), so no key's owner string can spell another's. Without keys (a
//! loopback proxy, one trusted machine) the client's user id is the owner as sent.

use axum::http::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::wire::ChatRequest;

pub const SESSION_HEADER: &str = "x-session-id";
const CHAT_ID_HEADERS: [&str; 2] = ["x-openwebui-chat-id", "x-chat-id"];
const USER_HEADERS: [&str; 2] = ["x-user-id", "x-openwebui-user-id"];
const METADATA_KEYS: [&str; 3] = ["session_id", "chat_id", "conversation_id"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKey {
    pub user: String,
    pub id: String,
}

pub fn identify(
    headers: &HeaderMap,
    request: &ChatRequest,
    agent: &str,
    client_key: Option<&str>,
) -> Result<SessionKey, ApiError> {
    let client_user: Option<String> = request
        .extra
        .get("user")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| USER_HEADERS.iter().find_map(|h| header(headers, h)))
        .filter(|u| !u.trim().is_empty())
        .map(|u| u.chars().take(256).collect());
    let user = owner(client_key, client_user);

    if let Some(id) = header(headers, SESSION_HEADER) {
        return valid(&id, "X-Session-Id").map(|id| SessionKey { user, id });
    }
    let chat_id = CHAT_ID_HEADERS
        .iter()
        .find_map(|h| header(headers, h))
        .or_else(|| {
            let metadata = request.extra.get("metadata")?;
            METADATA_KEYS
                .iter()
                .find_map(|k| metadata.get(k).and_then(Value::as_str).map(str::to_string))
        });
    if let Some(id) = chat_id {
        return valid(&id, "chat id").map(|id| SessionKey { user, id });
    }

    let mut hash = Sha256::new();
    for part in [agent, client_key.unwrap_or(""), &user] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let opening = request
        .messages
        .iter()
        .position(|m| m.role() == "user")
        .map_or(request.messages.len(), |i| i + 1);
    for message in &request.messages[..opening] {
        hash.update(message.role().as_bytes());
        hash.update([0]);
        match message.content() {
            Some(Value::String(text)) => hash.update(text.as_bytes()),
            Some(other) => hash.update(other.to_string().as_bytes()),
            None => {}
        }
        hash.update([0]);
    }
    let digest = hash.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    Ok(SessionKey {
        user,
        id: format!("auto-{hex}"),
    })
}

/// The session's owner: the key, subdivided by the client's user id (see the module docs).
fn owner(client_key: Option<&str>, client_user: Option<String>) -> String {
    match (client_key, client_user) {
        (Some(key), Some(user)) => format!("key:{key}|user:{user}"),
        (Some(key), None) => format!("key:{key}"),
        (None, Some(user)) => user,
        (None, None) => "anonymous".to_string(),
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Session ids end up in logs, metrics-free labels and store keys: keep them short and plain.
fn valid(id: &str, what: &str) -> Result<String, ApiError> {
    let ok = id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(id.to_string())
    } else {
        Err(ApiError::invalid_request(
            format!(
                "The {what} must be at most 128 characters of letters, digits, '-', '_', '.' or ':'."
            ),
            Some("X-Session-Id"),
            "invalid_session_id",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(messages: Value) -> ChatRequest {
        serde_json::from_value(json!({"messages": messages})).expect("request")
    }

    #[test]
    fn hash_is_stable_across_turns_and_differs_per_caller() {
        let turn1 =
            request(json!([{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]));
        let turn2 = request(
            json!([{"role": "system", "content": "s"}, {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"}, {"role": "user", "content": "more"}]),
        );
        let headers = HeaderMap::new();
        let a = identify(&headers, &turn1, "planner", Some("team-a")).expect("id");
        let b = identify(&headers, &turn2, "planner", Some("team-a")).expect("id");
        let other = identify(&headers, &turn2, "planner", Some("team-b")).expect("id");
        assert_eq!(a, b);
        assert_ne!(a.id, other.id);
        assert!(a.id.starts_with("auto-"));
    }

    #[test]
    fn explicit_ids_win_and_bad_ones_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert("x-openwebui-chat-id", "chat-1".parse().expect("header"));
        let with_metadata: ChatRequest = serde_json::from_value(
            json!({"messages": [], "user": "ann", "metadata": {"chat_id": "m-1"}}),
        )
        .expect("request");
        let key = identify(&headers, &with_metadata, "a", None).expect("id");
        assert_eq!((key.user.as_str(), key.id.as_str()), ("ann", "chat-1"));
        let key = identify(&headers, &with_metadata, "a", Some("team")).expect("id");
        assert_eq!(
            key.user, "key:team|user:ann",
            "a client user only subdivides its key"
        );
        let key = identify(&HeaderMap::new(), &with_metadata, "a", None).expect("id");
        assert_eq!(key.id, "m-1");
        headers.insert(SESSION_HEADER, "bad id!".parse().expect("header"));
        let error = identify(&headers, &with_metadata, "a", None).expect_err("refused");
        assert_eq!(error.status, 400);
    }
}
