//! State scopes, as in ADK: a plain key belongs to the session; `user:` keys are shared by all
//! sessions of one user of one app; `app:` keys by every session of the app; `temp:` keys live for
//! one invocation and are never stored.

use serde_json::{Map, Value};

pub const APP_PREFIX: &str = "app:";
pub const USER_PREFIX: &str = "user:";
pub const TEMP_PREFIX: &str = "temp:";

/// Where a key is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Session,
    User,
    App,
    Temp,
}

pub fn scope_of(key: &str) -> Scope {
    if key.starts_with(APP_PREFIX) {
        Scope::App
    } else if key.starts_with(USER_PREFIX) {
        Scope::User
    } else if key.starts_with(TEMP_PREFIX) {
        Scope::Temp
    } else {
        Scope::Session
    }
}

/// A state delta split by where each part is stored. `temp:` keys are dropped: they never outlive
/// the invocation that set them.
#[derive(Debug, Default, PartialEq)]
pub struct SplitDelta {
    pub session: Map<String, Value>,
    pub user: Map<String, Value>,
    pub app: Map<String, Value>,
}

pub fn split(delta: &Map<String, Value>) -> SplitDelta {
    let mut out = SplitDelta::default();
    for (key, value) in delta {
        match scope_of(key) {
            Scope::Session => out.session.insert(key.clone(), value.clone()),
            Scope::User => out.user.insert(key.clone(), value.clone()),
            Scope::App => out.app.insert(key.clone(), value.clone()),
            Scope::Temp => None,
        };
    }
    out
}

/// Removes `temp:` keys (from an event's delta before it is stored).
pub fn without_temp(delta: &Map<String, Value>) -> Map<String, Value> {
    delta
        .iter()
        .filter(|(k, _)| scope_of(k) != Scope::Temp)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Applies a delta to a map: `null` removes the key.
pub fn apply(target: &mut Map<String, Value>, delta: &Map<String, Value>) {
    for (key, value) in delta {
        if value.is_null() {
            target.remove(key);
        } else {
            target.insert(key.clone(), value.clone());
        }
    }
}

/// Merges one delta into another: later writes win, `null` (a deletion) is kept as a value.
pub fn apply_keep_nulls(target: &mut Map<String, Value>, delta: &Map<String, Value>) {
    for (key, value) in delta {
        target.insert(key.clone(), value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn delta_is_split_by_prefix_and_temp_is_dropped() {
        let delta = json!({"a": 1, "user:name": "Ann", "app:motd": "hi", "temp:scratch": true});
        let split = split(delta.as_object().expect("object"));
        assert_eq!(Value::Object(split.session), json!({"a": 1}));
        assert_eq!(Value::Object(split.user), json!({"user:name": "Ann"}));
        assert_eq!(Value::Object(split.app), json!({"app:motd": "hi"}));
        assert!(!without_temp(delta.as_object().expect("object")).contains_key("temp:scratch"));
    }
}
