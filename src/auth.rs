//! Client authentication: the proxy holds the owner's provider keys, so it must not be an open
//! relay. Keys are compared by SHA-256 digest, so the settings file may hold only digests and the
//! process never needs to keep a client key in clear text.

use std::collections::HashMap;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

use serde::Deserialize;

use crate::glob;

/// Client API keys. With none configured the proxy serves loopback only (see `Config`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Serve a non-loopback address without keys. Only for a trusted network.
    pub allow_unauthenticated: bool,
    pub keys: Vec<KeySettings>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    pub name: String,
    /// Environment variable holding the key (preferred).
    pub key_env: Option<String>,
    /// Hex SHA-256 of the key: the settings file never holds the secret.
    pub key_sha256: Option<String>,
    /// The key in clear text: accepted, warned about.
    pub key: Option<String>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub max_concurrent: Option<u64>,
    /// Allowed models/agents as globs (`*`, `?`); default all.
    pub models: Option<Vec<String>>,
    /// May open the console (`/console`), which shows every session's conversation.
    pub console: bool,
}

/// A problem in `auth.keys`, with the field it is in; the config module adds the file.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{field}: {message}")]
pub struct KeyError {
    pub field: String,
    pub message: String,
}

/// One client key with its limits and allowed models.
#[derive(Debug, Clone)]
pub struct ClientKey {
    pub name: String,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub max_concurrent: Option<u64>,
    pub models: Vec<String>,
    /// May open the console.
    pub console: bool,
}

impl ClientKey {
    /// Whether the key may call `model` on `provider`, the routed identity (after
    /// `provider/model` routing). A glob with a `/` is matched against `provider/model`
    /// (`deepseek/*`, `ollama/llama3*`); a glob without one against the model name, and only on
    /// the default provider (`gpt-4o*` allows `gpt-4o-mini` and `openai/gpt-4o-mini` when openai
    /// is the default, never `deepseek/gpt-4o-mini`). So a provider prefix cannot widen what a
    /// key may reach.
    pub fn may_call(&self, provider: &str, model: &str, default_provider: bool) -> bool {
        let routed = format!("{provider}/{model}");
        self.models.iter().any(|pattern| {
            glob::matches(pattern, &routed) || (default_provider && glob::matches(pattern, model))
        })
    }

    /// Whether a name (an agent's, or a model as listed) matches one of the key's globs.
    pub fn may_use(&self, model: &str) -> bool {
        self.models
            .iter()
            .any(|pattern| glob::matches(pattern, model))
    }
}

/// The configured keys, by digest.
#[derive(Debug, Default)]
pub struct KeyStore {
    by_digest: HashMap<[u8; 32], ClientKey>,
}

pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl KeyStore {
    /// Builds the store; every problem names the file and the `auth.keys[i]` field.
    pub fn from_settings(
        settings: &AuthSettings,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, KeyError> {
        let mut by_digest = HashMap::new();
        for (i, key) in settings.keys.iter().enumerate() {
            let field = |f: &str| format!("auth.keys[{i}].{f}");
            if key.name.trim().is_empty() {
                return Err(KeyError {
                    field: field("name"),
                    message: "every key needs a name".to_string(),
                });
            }
            if key.name.contains('|') || key.name.chars().any(char::is_control) {
                return Err(KeyError {
                    field: field("name"),
                    message: "a key name cannot contain '|' or control characters (it names the key's sessions)".to_string(),
                });
            }
            let digest = key_digest(key, &field, env)?;
            let client = ClientKey {
                name: key.name.clone(),
                rpm: key.rpm,
                tpm: key.tpm,
                max_concurrent: key.max_concurrent,
                models: key.models.clone().unwrap_or_else(|| vec!["*".to_string()]),
                console: key.console,
            };
            if by_digest.insert(digest, client).is_some() {
                return Err(KeyError {
                    field: field("name"),
                    message: "the same key is configured twice".to_string(),
                });
            }
        }
        Ok(Self { by_digest })
    }

    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    /// The key named `name` (a console login remembers the name, never the key).
    pub fn by_name(&self, name: &str) -> Option<&ClientKey> {
        self.by_digest.values().find(|k| k.name == name)
    }

    /// The key presented as `Authorization: Bearer <key>`, if it is one of ours.
    pub fn authenticate(&self, presented: &str) -> Option<&ClientKey> {
        self.by_digest.get(&digest(presented))
    }
}

fn key_digest(
    key: &KeySettings,
    field: &dyn Fn(&str) -> String,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<[u8; 32], KeyError> {
    let set = [
        key.key_env.is_some(),
        key.key_sha256.is_some(),
        key.key.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        return Err(KeyError {
            field: field("key_env"),
            message: "set exactly one of key_env, key_sha256 or key".to_string(),
        });
    }
    if let Some(var) = &key.key_env {
        let value = env(var)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| KeyError {
                field: field("key_env"),
                message: format!("environment variable {var} is not set"),
            })?;
        return Ok(digest(value.trim()));
    }
    if let Some(hex) = &key.key_sha256 {
        return parse_hex32(hex.trim()).ok_or_else(|| KeyError {
            field: field("key_sha256"),
            message: "expected 64 hex characters".to_string(),
        });
    }
    let plain = key.key.as_deref().unwrap_or_default();
    tracing::warn!(
        key = %key.name,
        "auth key '{}' is written in clear text in the settings file; prefer key_env or key_sha256",
        key.name
    );
    Ok(digest(plain))
}

fn parse_hex32(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Whether `host` only accepts connections from this machine.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_and_env_keys_authenticate() {
        let settings = AuthSettings {
            allow_unauthenticated: false,
            keys: vec![
                KeySettings {
                    name: "a".into(),
                    key_env: Some("K".into()),
                    models: Some(vec!["gpt-*".into()]),
                    ..Default::default()
                },
                KeySettings {
                    name: "b".into(),
                    // sha256("hello")
                    key_sha256: Some(
                        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824".into(),
                    ),
                    ..Default::default()
                },
            ],
        };
        let store = KeyStore::from_settings(&settings, &|k| (k == "K").then(|| "sk-a".to_string()))
            .expect("valid");
        assert_eq!(
            store.authenticate("sk-a").map(|k| k.name.as_str()),
            Some("a")
        );
        assert_eq!(
            store.authenticate("hello").map(|k| k.name.as_str()),
            Some("b")
        );
        assert!(store.authenticate("nope").is_none());
        assert!(
            store
                .authenticate("sk-a")
                .is_some_and(|k| k.may_use("gpt-4o") && !k.may_use("llama"))
        );
    }

    #[test]
    fn missing_env_names_field_and_variable() {
        let settings = AuthSettings {
            allow_unauthenticated: false,
            keys: vec![KeySettings {
                name: "a".into(),
                key_env: Some("NOPE".into()),
                ..Default::default()
            }],
        };
        let err = KeyStore::from_settings(&settings, &|_| None).expect_err("fails");
        assert!(
            err.to_string().contains("auth.keys[0].key_env") && err.to_string().contains("NOPE"),
            "{err}"
        );
    }

    #[test]
    fn loopback_hosts() {
        assert!(
            is_loopback_host("127.0.0.1")
                && is_loopback_host("localhost")
                && is_loopback_host("::1")
        );
        assert!(!is_loopback_host("0.0.0.0") && !is_loopback_host("192.168.1.5"));
    }
}
