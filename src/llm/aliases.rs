//! Model aliases: a `models:` entry with `route:` sends requests for its name (or for every name
//! its glob matches, `claude-*`) to other targets. Clients that hard-code model names — Claude
//! Code asks for `claude-sonnet-4-5`, editor plugins for `gpt-4o` — can then be pointed at any
//! provider or agent without changing them.
//!
//! A target is `provider/model`, a model of the default provider, or an agent's name. With
//! several targets the first is the route and the others are tried in order when it fails as a
//! provider fallback would (a retryable error or an open circuit), before the provider's own
//! fallbacks; an agent can only be the first target (an agent run is not retried). An exact name
//! wins over a glob; among globs the first in the file wins. A target is never looked up as an
//! alias again, so aliases cannot loop.

use serde::Deserialize;

use crate::config::ConfigError;
use crate::pipeline::ModelSettings;

/// `route:` — one target or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Targets {
    One(String),
    Many(Vec<String>),
}

impl Targets {
    fn list(&self) -> Vec<String> {
        match self {
            Targets::One(target) => vec![target.clone()],
            Targets::Many(targets) => targets.clone(),
        }
    }
}

/// An alias that matched a requested name.
#[derive(Debug, Clone)]
pub struct Alias {
    /// The name the client asked for.
    pub name: String,
    /// Where it goes, in the order tried (never empty).
    pub targets: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Aliases {
    /// (name or glob, targets), exact names first.
    entries: Vec<(String, Vec<String>)>,
}

impl Aliases {
    /// From the `models:` entries that have a `route:`; `file` names the settings file in errors.
    pub fn from_settings<'a>(
        file: &str,
        models: impl IntoIterator<Item = (&'a String, &'a ModelSettings)>,
    ) -> Result<Self, ConfigError> {
        let mut exact = Vec::new();
        let mut globs = Vec::new();
        for (name, settings) in models {
            let Some(route) = &settings.route else {
                continue;
            };
            let targets = route.list();
            let field = format!("models.{name}.route");
            if targets.is_empty() {
                return Err(ConfigError::field(file, field, "names no target"));
            }
            if let Some(blank) = targets.iter().position(|t| t.trim().is_empty()) {
                return Err(ConfigError::field(
                    file,
                    format!("{field}[{blank}]"),
                    "is empty",
                ));
            }
            if !settings.pipeline.request.is_empty() || !settings.pipeline.stream.is_empty() {
                return Err(ConfigError::field(
                    file,
                    format!("models.{name}.pipeline"),
                    "an alias's own stages would never run (stages follow the model a request is routed to); put them under the target's name",
                ));
            }
            if name.contains('*') {
                globs.push((name.clone(), targets));
            } else {
                exact.push((name.clone(), targets));
            }
        }
        exact.extend(globs);
        Ok(Self { entries: exact })
    }

    /// The alias `model` names, if any.
    pub fn resolve(&self, model: &str) -> Option<Alias> {
        self.entries
            .iter()
            .find(|(pattern, _)| pattern == model || crate::glob::matches(pattern, model))
            .map(|(_, targets)| Alias {
                name: model.to_string(),
                targets: targets.clone(),
            })
    }

    /// Aliases with a fixed name (globs cannot be listed), with their first target.
    pub fn listed(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .filter(|(name, _)| !name.contains('*'))
            .map(|(name, targets)| (name.as_str(), targets[0].as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `models:` entries, one per line.
    fn aliases(entries: &str) -> Result<Aliases, ConfigError> {
        let indented: String = entries.lines().map(|l| format!("  {l}\n")).collect();
        let settings =
            crate::config::parse_settings(&format!("models:\n{indented}"), "settings.yaml")
                .expect("settings parse");
        Aliases::from_settings("settings.yaml", &settings.models)
    }

    #[test]
    fn exact_names_win_over_globs_and_lists_keep_their_order() {
        let aliases = aliases(
            "\"claude-*\": { route: deepseek/deepseek-chat }\nclaude-opus-4: { route: [openai/gpt-4o, ollama/llama3.2] }\nplain: { pipeline: {} }\n",
        )
        .expect("valid");
        let opus = aliases.resolve("claude-opus-4").expect("alias");
        assert_eq!(opus.targets, ["openai/gpt-4o", "ollama/llama3.2"]);
        let sonnet = aliases.resolve("claude-sonnet-4-5").expect("glob");
        assert_eq!(sonnet.targets, ["deepseek/deepseek-chat"]);
        assert_eq!(sonnet.name, "claude-sonnet-4-5");
        assert!(aliases.resolve("plain").is_none());
        assert!(aliases.resolve("gpt-4o").is_none());
        let listed: Vec<_> = aliases.listed().collect();
        assert_eq!(listed, [("claude-opus-4", "openai/gpt-4o")]);
    }

    #[test]
    fn an_empty_route_is_refused_naming_the_field() {
        let error = aliases("x: { route: [] }\n")
            .expect_err("refused")
            .to_string();
        assert!(error.contains("models.x.route"), "{error}");
        let error = aliases("x: { route: [a, \" \"] }\n")
            .expect_err("refused")
            .to_string();
        assert!(error.contains("models.x.route[1]"), "{error}");
        let stages = "x: { route: a, pipeline: { stream: [{ stage: stats }] } }\n";
        let error = aliases(stages).expect_err("refused").to_string();
        assert!(error.contains("models.x.pipeline"), "{error}");
    }
}
