//! Metric label values from a bounded set. Every distinct label value is a new time series kept
//! for the life of the process, so a value a client chooses (a model name) must not become a
//! label as it is: 300 requests with random model names would otherwise add 300 series, and
//! rejected requests cost nothing to send.
//!
//! A model name is a label when it is configured (a provider's default model, `defaults.model`,
//! a `models:` entry, an agent's model or name, a fallback) or when an upstream answered it
//! successfully — the first [`MAX_LEARNED`] such names; every other name is `other`.

use std::collections::HashSet;
use std::sync::{LazyLock, RwLock};

/// Model names learned from successful answers, beyond the configured ones.
pub const MAX_LEARNED: usize = 200;

pub const OTHER: &str = "other";

struct Known {
    configured: HashSet<String>,
    learned: HashSet<String>,
}

static KNOWN: LazyLock<RwLock<Known>> = LazyLock::new(|| {
    RwLock::new(Known {
        configured: HashSet::new(),
        learned: HashSet::new(),
    })
});

/// Adds configured names (at start-up and on reload).
pub fn configure(names: impl IntoIterator<Item = String>) {
    let mut known = KNOWN.write().unwrap_or_else(|p| p.into_inner());
    known
        .configured
        .extend(names.into_iter().filter(|n| !n.contains(['*', '?'])));
}

/// The label for `model`; `served` says whether an upstream answered it (status < 400).
pub fn model(model: &str, served: bool) -> String {
    {
        let known = KNOWN.read().unwrap_or_else(|p| p.into_inner());
        if known.configured.contains(model) || known.learned.contains(model) {
            return model.to_string();
        }
        if !served || known.learned.len() >= MAX_LEARNED || model.len() > 128 {
            return OTHER.to_string();
        }
    }
    let mut known = KNOWN.write().unwrap_or_else(|p| p.into_inner());
    if known.learned.len() < MAX_LEARNED {
        known.learned.insert(model.to_string());
        return model.to_string();
    }
    OTHER.to_string()
}
