//! `console:`: the browser console at `/console` (see `crate::console`).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// Off: `/console` answers 404, and nothing of it runs.
    pub enabled: bool,
    /// How long a browser login lasts (the cookie's lifetime).
    pub login_hours: f64,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            login_hours: 12.0,
        }
    }
}
