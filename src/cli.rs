//! Command-line flags. The original Python tool used single-dash long flags
//! (`-provider deepseek -model deepseek-chat`); [`normalize_args`] accepts that spelling so that
//! its users' scripts keep working.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{LogFormat, Overrides};

fn parse_log_format(value: &str) -> Result<LogFormat, String> {
    match value {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!(
            "unknown log format '{other}' (expected text or json)"
        )),
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "adk-llm-proxy",
    version,
    about = "OpenAI-compatible streaming LLM proxy"
)]
pub struct Cli {
    /// Provider that serves plain model names (a key of `providers` in settings.yaml,
    /// e.g. openai, deepseek, ollama). Overrides `defaults.provider`.
    #[arg(long, global = true)]
    pub provider: Option<String>,

    /// Model used when a request names none. Overrides `defaults.model` and the provider's
    /// `default_model`.
    #[arg(long, global = true)]
    pub model: Option<String>,

    /// Address to listen on (default from settings.yaml: 127.0.0.1).
    #[arg(long, global = true)]
    pub host: Option<String>,

    /// Port to listen on (default from settings.yaml: 8001).
    #[arg(long, global = true)]
    pub port: Option<u16>,

    /// Path of the settings file.
    #[arg(long, global = true, default_value = "settings.yaml")]
    pub config: PathBuf,

    /// Log filter: error, warn, info, debug, trace, or a tracing directive such as
    /// `adk_llm_proxy=debug`. RUST_LOG wins when set.
    #[arg(long, global = true, default_value = "info")]
    pub log_level: String,

    /// Log line format: text or json (overrides `server.log_format`).
    #[arg(long, global = true, value_parser = parse_log_format)]
    pub log_format: Option<LogFormat>,

    /// Directory of agent YAML files (overrides `agents.dir`).
    #[arg(long, global = true)]
    pub agents_dir: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate settings (and the provider keys they need) and the agents, then exit.
    Check,
}

impl Cli {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            provider: self.provider.clone(),
            model: self.model.clone(),
            host: self.host.clone(),
            port: self.port,
            agents_dir: self.agents_dir.clone(),
        }
    }
}

const LONG_FLAGS: &[&str] = &[
    "provider",
    "model",
    "host",
    "port",
    "config",
    "log-level",
    "log-format",
    "agents-dir",
    "help",
    "version",
];

/// Rewrites `-provider x` / `-provider=x` to `--provider x` for the known long flags.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|arg| {
            let Some(text) = arg.to_str() else { return arg };
            let Some(rest) = text.strip_prefix('-').filter(|r| !r.starts_with('-')) else {
                return arg;
            };
            let name = rest.split('=').next().unwrap_or(rest);
            if LONG_FLAGS.contains(&name) {
                OsString::from(format!("-{text}"))
            } else {
                arg
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_dash_long_flags_parse() {
        let args = [
            "adk-llm-proxy",
            "-provider",
            "deepseek",
            "-model=deepseek-chat",
            "-port",
            "9000",
        ]
        .map(OsString::from);
        let cli = Cli::parse_from(normalize_args(args));
        assert_eq!(cli.provider.as_deref(), Some("deepseek"));
        assert_eq!(cli.model.as_deref(), Some("deepseek-chat"));
        assert_eq!(cli.port, Some(9000));
    }
}
