//! Pre- and post-processing: the original tool's heart. Request stages enrich or filter a
//! request before any model sees it; stream stages rewrite the answer chunk by chunk as it
//! streams, holding back only what a pattern still needs.
//!
//! Configured as `pipeline: {request: [...], stream: [...]}` in settings.yaml, under a model in
//! `models:` (by name or glob), and in an agent's YAML; they run in that order (global, model,
//! agent), each stage in the order listed, skipping those with `enabled: false`. Every stage is
//! parsed into a typed stage at start-up, so a typo stops start-up with the file and field.
//!
//! Where they run: request stages on the client's request before the proxy or the root agent
//! handles it; stream stages on the chunk stream the client receives (both paths). A stage's
//! effect is reported as a reasoning line ("redacted 2 e-mail addresses") and its time in the
//! log.

pub mod apply;
pub mod holdback;
pub mod patterns;
pub mod request_stages;
pub mod stream_stages;
pub mod webhook;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

pub use apply::{AnswerFor, Prepared, refusal_chunks};
pub use request_stages::{RequestOutcome, RequestStage};
pub use stream_stages::{StreamContext, StreamStage};

/// The YAML shape, the same in settings.yaml, under a model and in an agent file.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    #[serde(default)]
    pub request: Vec<StageConfig>,
    #[serde(default)]
    pub stream: Vec<StageConfig>,
}

/// One stage: `stage` names it, the other keys are its settings.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct StageConfig {
    /// request: system_prompt, inject_context, redact, guard, trim_history, webhook;
    /// stream: link, redact_output, append, stats, log, webhook.
    pub stage: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(flatten)]
    #[schemars(skip)]
    pub args: Map<String, Value>,
}

fn enabled_by_default() -> bool {
    true
}

/// Compiled stages, ready to run.
#[derive(Clone, Default)]
pub struct Pipeline {
    pub request: Vec<Arc<RequestStage>>,
    pub stream: Vec<Arc<StreamStage>>,
}

impl Pipeline {
    /// This pipeline's stages followed by `more`'s.
    pub fn then(&self, more: &Pipeline) -> Pipeline {
        Pipeline {
            request: self.request.iter().chain(&more.request).cloned().collect(),
            stream: self.stream.iter().chain(&more.stream).cloned().collect(),
        }
    }
}

/// Where stage files (`file:` prompts, context files, logs) are resolved and what errors say.
pub struct CompileContext<'a> {
    /// e.g. "settings.yaml: pipeline" or "agents/x.yaml: pipeline".
    pub origin: String,
    pub prompts_dir: &'a std::path::Path,
    pub http: reqwest::Client,
}

pub fn compile(config: &PipelineConfig, cx: &CompileContext) -> Result<Pipeline, String> {
    let mut pipeline = Pipeline::default();
    for (i, stage) in config.request.iter().enumerate() {
        let at = format!("{}.request[{i}]", cx.origin);
        if !stage.enabled {
            continue;
        }
        pipeline.request.push(Arc::new(RequestStage::compile(
            stage,
            &Args::new(&at, &stage.args),
            cx,
        )?));
    }
    for (i, stage) in config.stream.iter().enumerate() {
        let at = format!("{}.stream[{i}]", cx.origin);
        if !stage.enabled {
            continue;
        }
        pipeline.stream.push(Arc::new(StreamStage::compile(
            stage,
            &Args::new(&at, &stage.args),
            cx,
        )?));
    }
    Ok(pipeline)
}

/// The global pipeline and the per-model ones (`models:` in settings.yaml), compiled.
#[derive(Clone, Default)]
pub struct Pipelines {
    pub global: Pipeline,
    /// (model name or glob, its pipeline), in settings order.
    pub models: Vec<(String, Pipeline)>,
}

impl Pipelines {
    /// Global, then every model entry whose name or glob matches `model`.
    pub fn for_model(&self, model: &str) -> Pipeline {
        let mut out = self.global.clone();
        for (pattern, pipeline) in &self.models {
            if crate::glob::matches(pattern, model) {
                out = out.then(pipeline);
            }
        }
        out
    }
}

pub fn compile_settings(
    global: &PipelineConfig,
    models: &BTreeMap<String, ModelSettings>,
    source: &std::path::Path,
    prompts_dir: &std::path::Path,
    http: reqwest::Client,
) -> Result<Pipelines, String> {
    let file = source.display();
    let global = compile(
        global,
        &CompileContext {
            origin: format!("{file}: pipeline"),
            prompts_dir,
            http: http.clone(),
        },
    )?;
    let mut compiled = Vec::new();
    for (model, settings) in models {
        let pipeline = compile(
            &settings.pipeline,
            &CompileContext {
                origin: format!("{file}: models.{model}.pipeline"),
                prompts_dir,
                http: http.clone(),
            },
        )?;
        compiled.push((model.clone(), pipeline));
    }
    Ok(Pipelines {
        global,
        models: compiled,
    })
}

/// The client webhooks use: short connect timeout, no proxy-wide state.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .build()
        .unwrap_or_default()
}

/// Per-model settings (`models:` in settings.yaml), keyed by model name or glob.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    #[serde(default)]
    pub pipeline: PipelineConfig,
    /// Makes the name an alias: where requests for it go (`provider/model`, a model of the
    /// default provider, or an agent), in the order tried (see `llm::aliases`).
    #[serde(default)]
    pub route: Option<crate::llm::aliases::Targets>,
}

/// A stage's settings with errors that name the field.
pub struct Args<'a> {
    pub at: &'a str,
    map: &'a Map<String, Value>,
}

impl<'a> Args<'a> {
    pub(crate) fn new(at: &'a str, map: &'a Map<String, Value>) -> Self {
        Self { at, map }
    }

    pub fn fail(&self, field: &str, message: impl std::fmt::Display) -> String {
        format!("{}.{field}: {message}", self.at)
    }

    /// Refuses keys the stage does not know (a typo must not silently do nothing).
    pub fn only(&self, known: &[&str]) -> Result<(), String> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(key) => Err(self.fail(
                key,
                format!(
                    "unknown setting (this stage knows: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            )),
            None => Ok(()),
        }
    }

    pub fn string(&self, field: &str) -> Result<Option<String>, String> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(self.fail(field, "expected a string")),
        }
    }

    pub fn required_string(&self, field: &str) -> Result<String, String> {
        self.string(field)?
            .ok_or_else(|| self.fail(field, "is required"))
    }

    pub fn strings(&self, field: &str) -> Result<Vec<String>, String> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(self.fail(field, "expected a list of strings")),
                })
                .collect(),
            Some(_) => Err(self.fail(field, "expected a list of strings")),
        }
    }

    pub fn number(&self, field: &str) -> Result<Option<f64>, String> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) => s
                .parse()
                .map(Some)
                .map_err(|_| self.fail(field, "expected a number")),
            Some(_) => Err(self.fail(field, "expected a number")),
        }
    }

    pub fn count(&self, field: &str) -> Result<Option<usize>, String> {
        match self.number(field)? {
            None => Ok(None),
            Some(n) if n >= 0.0 && n.fract() == 0.0 => Ok(Some(n as usize)),
            Some(_) => Err(self.fail(field, "expected a whole number")),
        }
    }

    pub fn duration_ms(&self, field: &str, default: u64) -> Result<Duration, String> {
        Ok(Duration::from_millis(
            self.count(field)?.map_or(default, |n| n as u64),
        ))
    }

    pub fn value(&self, field: &str) -> Option<&Value> {
        self.map.get(field)
    }

    pub fn regex(&self, field: &str, pattern: &str) -> Result<regex::Regex, String> {
        regex::Regex::new(pattern).map_err(|e| self.fail(field, format!("invalid regex: {e}")))
    }

    /// A string setting that must be one of `allowed` (`default` when unset).
    pub fn one_of(&self, field: &str, allowed: &[&str], default: &str) -> Result<String, String> {
        let value = self.string(field)?.unwrap_or_else(|| default.to_string());
        if allowed.contains(&value.as_str()) {
            Ok(value)
        } else {
            Err(self.fail(
                field,
                format!("'{value}' is not one of {}", allowed.join(", ")),
            ))
        }
    }
}

/// What request-time variables a stage text may use.
pub struct Vars<'a> {
    pub model: &'a str,
    pub agent: &'a str,
}

/// Fills `{date}`, `{time}`, `{datetime}`, `{model}`, `{agent}` (local time of the proxy).
pub fn fill_vars(text: &str, vars: &Vars) -> String {
    if !text.contains('{') {
        return text.to_string();
    }
    let now = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::system());
    text.replace("{date}", &now.strftime("%Y-%m-%d (%A)").to_string())
        .replace("{time}", &now.strftime("%H:%M %Z").to_string())
        .replace("{datetime}", &now.strftime("%Y-%m-%d %H:%M %Z").to_string())
        .replace("{model}", vars.model)
        .replace("{agent}", vars.agent)
}
