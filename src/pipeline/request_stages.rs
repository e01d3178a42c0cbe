//! Request stages: run on the client's request, in order, before any model sees it.

use std::time::Instant;

use regex::Regex;
use serde_json::{Value, json};

use super::patterns::{self, count_phrase};
use super::webhook::Webhook;
use super::{Args, CompileContext, StageConfig, Vars, fill_vars};
use crate::error::{ApiError, ErrorObject};
use crate::wire::{ChatRequest, Message};

pub enum RequestStage {
    SystemPrompt {
        text: String,
        append: bool,
    },
    InjectContext {
        text: String,
        sources: usize,
    },
    Redact {
        rules: Vec<Redaction>,
        replacement: String,
    },
    Guard {
        rules: Vec<GuardRule>,
    },
    TrimHistory {
        max_messages: Option<usize>,
        max_tokens: Option<usize>,
    },
    Webhook(Webhook),
}

pub struct Redaction {
    regex: Regex,
    one: String,
    many: String,
}

impl Redaction {
    /// (pattern, what one match is called, what several are called)
    pub fn parts(&self) -> (&str, &str, &str) {
        (self.regex.as_str(), &self.one, &self.many)
    }

    pub fn replace(&self, text: &str) -> String {
        self.regex.replace_all(text, "[REDACTED]").into_owned()
    }
}

pub struct GuardRule {
    name: String,
    regex: Regex,
    action: GuardAction,
}

enum GuardAction {
    Block(String),
    Rewrite(String),
}

/// What the request stages decided.
#[derive(Debug, Default)]
pub struct RequestOutcome {
    /// Lines for the reasoning channel ("redacted 2 e-mail addresses").
    pub notes: Vec<String>,
    /// Set by a blocking guard or webhook: answer with this instead of calling a model.
    pub refusal: Option<String>,
}

const DEFAULT_REFUSAL: &str = "Sorry, I can't help with that request.";
const DEFAULT_CONTEXT_CHARS: usize = 20_000;

impl RequestStage {
    pub fn name(&self) -> &'static str {
        match self {
            RequestStage::SystemPrompt { .. } => "system_prompt",
            RequestStage::InjectContext { .. } => "inject_context",
            RequestStage::Redact { .. } => "redact",
            RequestStage::Guard { .. } => "guard",
            RequestStage::TrimHistory { .. } => "trim_history",
            RequestStage::Webhook(_) => "webhook",
        }
    }

    pub fn compile(config: &StageConfig, args: &Args, cx: &CompileContext) -> Result<Self, String> {
        match config.stage.as_str() {
            "system_prompt" => {
                args.only(&["text", "file", "position"])?;
                let text = text_or_file(args, cx)?;
                let append =
                    args.one_of("position", &["prepend", "append"], "prepend")? == "append";
                Ok(RequestStage::SystemPrompt { text, append })
            }
            "inject_context" => {
                args.only(&["text", "files", "max_chars", "title"])?;
                let max = args.count("max_chars")?.unwrap_or(DEFAULT_CONTEXT_CHARS);
                let title = args
                    .string("title")?
                    .unwrap_or_else(|| "Use this context where it helps to answer:".into());
                let mut sources = Vec::new();
                for (i, snippet) in args.strings("text")?.into_iter().enumerate() {
                    sources.push((format!("snippet {}", i + 1), snippet));
                }
                for file in args.strings("files")? {
                    let text = std::fs::read_to_string(&file)
                        .map_err(|e| args.fail("files", format!("cannot read '{file}': {e}")))?;
                    sources.push((file, text));
                }
                if sources.is_empty() {
                    return Err(args.fail("text", "give text snippets or files"));
                }
                let mut text = title;
                for (name, body) in &sources {
                    text.push_str(&format!("\n\n### {name}\n{}", body.trim()));
                }
                if text.chars().count() > max {
                    text = text.chars().take(max).collect::<String>() + "\n[context truncated]";
                }
                Ok(RequestStage::InjectContext {
                    text,
                    sources: sources.len(),
                })
            }
            "redact" => {
                args.only(&["builtins", "patterns", "replacement"])?;
                Ok(RequestStage::Redact {
                    rules: redactions(args)?,
                    replacement: args
                        .string("replacement")?
                        .unwrap_or_else(|| "[REDACTED]".into()),
                })
            }
            "guard" => {
                args.only(&["rules"])?;
                Ok(RequestStage::Guard {
                    rules: guard_rules(args)?,
                })
            }
            "trim_history" => {
                args.only(&["max_messages", "max_tokens"])?;
                let max_messages = args.count("max_messages")?;
                let max_tokens = args.count("max_tokens")?;
                if max_messages.is_none() && max_tokens.is_none() {
                    return Err(args.fail("max_messages", "set max_messages and/or max_tokens"));
                }
                Ok(RequestStage::TrimHistory {
                    max_messages,
                    max_tokens,
                })
            }
            "webhook" => Ok(RequestStage::Webhook(Webhook::compile(
                args,
                cx.http.clone(),
            )?)),
            other => Err(format!(
                "{}.stage: unknown request stage '{other}' (known: system_prompt, inject_context, redact, guard, trim_history, webhook)",
                args.at
            )),
        }
    }

    async fn apply(
        &self,
        request: &mut ChatRequest,
        vars: &Vars<'_>,
        outcome: &mut RequestOutcome,
    ) -> Result<(), ApiError> {
        match self {
            RequestStage::SystemPrompt { text, append } => {
                let message = system(fill_vars(text, vars));
                let at = if *append {
                    request
                        .messages
                        .iter()
                        .rposition(|m| m.role() == "system")
                        .map_or(0, |i| i + 1)
                } else {
                    0
                };
                request.messages.insert(at, message);
            }
            RequestStage::InjectContext { text, sources } => {
                let at = request
                    .messages
                    .iter()
                    .take_while(|m| m.role() == "system")
                    .count();
                request.messages.insert(at, system(text.clone()));
                outcome.notes.push(format!(
                    "added context from {sources} source{} ({} characters)",
                    if *sources == 1 { "" } else { "s" },
                    text.chars().count()
                ));
            }
            RequestStage::Redact { rules, replacement } => {
                let mut counts = vec![0usize; rules.len()];
                for message in &mut request.messages {
                    map_texts(message, |text| {
                        let mut text = text.to_string();
                        for (rule, count) in rules.iter().zip(counts.iter_mut()) {
                            let found = rule.regex.find_iter(&text).count();
                            if found > 0 {
                                *count += found;
                                text = rule
                                    .regex
                                    .replace_all(&text, replacement.as_str())
                                    .into_owned();
                            }
                        }
                        text
                    });
                }
                let said: Vec<String> = rules
                    .iter()
                    .zip(counts)
                    .filter(|(_, n)| *n > 0)
                    .map(|(rule, n)| count_phrase(n, &rule.one, &rule.many))
                    .collect();
                if !said.is_empty() {
                    outcome.notes.push(format!("redacted {}", said.join(", ")));
                }
            }
            RequestStage::Guard { rules } => {
                let turn = current_turn(&request.messages);
                let text = turn
                    .clone()
                    .filter_map(|i| request.messages[i].text())
                    .collect::<Vec<_>>()
                    .join("\n");
                for rule in rules {
                    if !rule.regex.is_match(&text) {
                        continue;
                    }
                    match &rule.action {
                        GuardAction::Block(message) => {
                            tracing::info!(rule = %rule.name, "guard blocked a request");
                            outcome
                                .notes
                                .push(format!("guard: request blocked by rule '{}'", rule.name));
                            outcome.refusal = Some(message.clone());
                            return Ok(());
                        }
                        GuardAction::Rewrite(replacement) => {
                            tracing::info!(rule = %rule.name, "guard rewrote a request");
                            let regex = &rule.regex;
                            for i in turn.clone() {
                                map_texts(&mut request.messages[i], |t| {
                                    regex.replace_all(t, replacement.as_str()).into_owned()
                                });
                            }
                            outcome
                                .notes
                                .push(format!("guard: request rewritten by rule '{}'", rule.name));
                        }
                    }
                }
            }
            RequestStage::TrimHistory {
                max_messages,
                max_tokens,
            } => {
                let dropped = trim(&mut request.messages, *max_messages, *max_tokens);
                if dropped > 0 {
                    outcome.notes.push(format!(
                        "trimmed the history: {dropped} older message{} left out",
                        if dropped == 1 { "" } else { "s" }
                    ));
                }
            }
            RequestStage::Webhook(hook) => {
                let body = json!({"phase": "request", "model": vars.model, "agent": vars.agent,
                    "messages": request.messages});
                match hook.call(&body).await {
                    Ok(answer) => apply_webhook_answer(request, &answer, outcome),
                    Err(error) if hook.fail_open => {
                        tracing::warn!(url = hook.url(), %error, "request webhook failed; continuing (on_failure: open)");
                        outcome.notes.push(format!("webhook skipped: {error}"));
                    }
                    Err(error) => {
                        tracing::warn!(url = hook.url(), %error, "request webhook failed; refusing (on_failure: closed)");
                        return Err(ApiError::new(
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            ErrorObject::new(
                                format!("A required pre-processing webhook failed: {error}"),
                                "api_error",
                            )
                            .with_code("pipeline_webhook_failed"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The messages of the current user turn: the trailing run of user messages (inside an agent
/// run that includes the "For context" lines other agents added), else the last user message.
fn current_turn(messages: &[Message]) -> std::ops::Range<usize> {
    let end = messages.len();
    let start = messages
        .iter()
        .rposition(|m| m.role() != "user")
        .map_or(0, |i| i + 1);
    if start < end {
        return start..end;
    }
    match messages.iter().rposition(|m| m.role() == "user") {
        Some(i) => i..i + 1,
        None => 0..0,
    }
}

/// Runs the stages in order; stops at a refusal. Each stage's time goes to the log.
pub async fn run(
    stages: &[std::sync::Arc<RequestStage>],
    request: &mut ChatRequest,
    vars: &Vars<'_>,
) -> Result<RequestOutcome, ApiError> {
    let mut outcome = RequestOutcome::default();
    let mut timings = Vec::with_capacity(stages.len());
    for stage in stages {
        let started = Instant::now();
        let result = stage.apply(request, vars, &mut outcome).await;
        timings.push(format!(
            "{}={:.2}ms",
            stage.name(),
            started.elapsed().as_secs_f64() * 1000.0
        ));
        result?;
        if outcome.refusal.is_some() {
            break;
        }
    }
    tracing::info!(
        stages = %timings.join(" "),
        notes = %outcome.notes.join("; "),
        blocked = outcome.refusal.is_some(),
        "request stages"
    );
    Ok(outcome)
}

fn apply_webhook_answer(request: &mut ChatRequest, answer: &Value, outcome: &mut RequestOutcome) {
    if let Some(note) = answer.get("note").and_then(Value::as_str) {
        outcome.notes.push(note.to_string());
    }
    let blocked = answer.get("block").and_then(Value::as_bool) == Some(true)
        || answer.get("action").and_then(Value::as_str) == Some("block");
    if blocked {
        let message = answer
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_REFUSAL);
        outcome.notes.push("webhook: request blocked".into());
        outcome.refusal = Some(message.to_string());
        return;
    }
    if let Some(Value::Array(messages)) = answer.get("messages") {
        let parsed: Vec<Message> = messages
            .iter()
            .filter_map(|m| m.as_object().cloned().map(Message::new))
            .filter(|m| !m.role().is_empty())
            .collect();
        if !parsed.is_empty() {
            request.messages = parsed;
            outcome.notes.push("webhook: request changed".into());
        }
    }
}

fn system(text: String) -> Message {
    Message::new(
        json!({"role": "system", "content": text})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    )
}

/// Rewrites every text of a message: string content, and `text` parts of array content.
pub fn map_texts(message: &mut Message, mut f: impl FnMut(&str) -> String) {
    match message.fields_mut().get_mut("content") {
        Some(Value::String(text)) => *text = f(text),
        Some(Value::Array(parts)) => {
            for part in parts {
                if let Some(Value::String(text)) = part.get_mut("text") {
                    *text = f(text);
                }
            }
        }
        _ => {}
    }
}

fn text_or_file(args: &Args, cx: &CompileContext) -> Result<String, String> {
    match (args.string("text")?, args.string("file")?) {
        (Some(text), None) => Ok(text),
        (None, Some(file)) => {
            let path = file.strip_prefix("file:").unwrap_or(&file);
            let base = cx.prompts_dir.parent().unwrap_or(std::path::Path::new(""));
            let candidates = [base.join(path), cx.prompts_dir.join(path)];
            let found = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
                args.fail(
                    "file",
                    format!("'{file}' not found (under {})", cx.prompts_dir.display()),
                )
            })?;
            std::fs::read_to_string(found).map_err(|e| args.fail("file", e))
        }
        _ => Err(args.fail("text", "set exactly one of text or file")),
    }
}

/// `builtins: [email, phone, card, api_key]` (default: all) and `patterns: [regex, …]`.
pub fn redactions(args: &Args) -> Result<Vec<Redaction>, String> {
    let builtins = match args.value("builtins") {
        None => patterns::names().into_iter().map(str::to_string).collect(),
        Some(_) => args.strings("builtins")?,
    };
    let mut rules = Vec::new();
    // Most specific first, so a key or a card number is not half-taken by the phone pattern.
    for name in ["api_key", "email", "card", "phone"] {
        if builtins.iter().any(|b| b == name) {
            let (one, many, pattern) = patterns::builtin(name).unwrap_or(("", "", ""));
            rules.push(Redaction {
                regex: args.regex("builtins", pattern)?,
                one: one.into(),
                many: many.into(),
            });
        }
    }
    if let Some(unknown) = builtins.iter().find(|b| patterns::builtin(b).is_none()) {
        return Err(args.fail(
            "builtins",
            format!(
                "unknown pattern '{unknown}' (known: {})",
                patterns::names().join(", ")
            ),
        ));
    }
    for pattern in args.strings("patterns")? {
        rules.push(Redaction {
            regex: args.regex("patterns", &pattern)?,
            one: "match".into(),
            many: "matches".into(),
        });
    }
    Ok(rules)
}

fn guard_rules(args: &Args) -> Result<Vec<GuardRule>, String> {
    let Some(Value::Array(items)) = args.value("rules") else {
        return Err(args.fail("rules", "expected a list of rules"));
    };
    let mut rules = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{}.rules[{i}]", args.at);
        let Some(map) = item.as_object() else {
            return Err(format!("{at}: expected {{keywords|pattern, action, …}}"));
        };
        let rule = Args::new(&at, map);
        rule.only(&[
            "name",
            "keywords",
            "pattern",
            "action",
            "message",
            "replacement",
        ])?;
        let keywords = rule.strings("keywords")?;
        let pattern = rule.string("pattern")?;
        let source = match (keywords.is_empty(), pattern) {
            (false, None) => format!(
                r"(?i)\b(?:{})\b",
                keywords
                    .iter()
                    .map(|k| regex::escape(k))
                    .collect::<Vec<_>>()
                    .join("|")
            ),
            (true, Some(pattern)) => pattern,
            _ => return Err(rule.fail("keywords", "set exactly one of keywords or pattern")),
        };
        let action = match rule
            .one_of("action", &["block", "rewrite"], "block")?
            .as_str()
        {
            "block" => GuardAction::Block(
                rule.string("message")?
                    .unwrap_or_else(|| DEFAULT_REFUSAL.into()),
            ),
            _ => GuardAction::Rewrite(
                rule.string("replacement")?
                    .unwrap_or_else(|| "[removed]".into()),
            ),
        };
        rules.push(GuardRule {
            name: rule
                .string("name")?
                .unwrap_or_else(|| format!("rule {}", i + 1)),
            regex: rule.regex("pattern", &source)?,
            action,
        });
    }
    Ok(rules)
}

/// Keeps system messages, then the newest messages within the limits (the last one always);
/// never starts the kept history with tool results whose call was cut off. Returns how many
/// messages were dropped.
fn trim(
    messages: &mut Vec<Message>,
    max_messages: Option<usize>,
    max_tokens: Option<usize>,
) -> usize {
    let others: Vec<usize> = (0..messages.len())
        .filter(|&i| messages[i].role() != "system")
        .collect();
    let mut keep_from = others
        .len()
        .saturating_sub(max_messages.unwrap_or(usize::MAX).max(1));
    if let Some(budget) = max_tokens {
        let system_tokens: usize = messages
            .iter()
            .filter(|m| m.role() == "system")
            .map(estimate_tokens)
            .sum();
        let mut used = system_tokens;
        let mut start = others.len();
        while start > keep_from {
            let cost = estimate_tokens(&messages[others[start - 1]]);
            if used + cost > budget && start < others.len() {
                break;
            }
            used += cost;
            start -= 1;
        }
        keep_from = keep_from.max(start);
    }
    while keep_from < others.len().saturating_sub(1) && messages[others[keep_from]].role() == "tool"
    {
        keep_from += 1;
    }
    let dropped: std::collections::HashSet<usize> = others[..keep_from].iter().copied().collect();
    let before = messages.len();
    let mut index = 0;
    messages.retain(|_| {
        let keep = !dropped.contains(&index);
        index += 1;
        keep
    });
    before - messages.len()
}

/// About four characters per token, plus a few for the message frame: enough for a budget.
fn estimate_tokens(message: &Message) -> usize {
    message.text().map_or(0, |t| t.chars().count() / 4) + 4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(roles: &[&str]) -> Vec<Message> {
        roles
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Message::new(
                    json!({"role": r, "content": format!("m{i}")})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                )
            })
            .collect()
    }

    #[test]
    fn trim_keeps_system_and_the_newest_and_no_orphan_tool_results() {
        let mut m = messages(&[
            "system",
            "user",
            "assistant",
            "tool",
            "user",
            "assistant",
            "user",
        ]);
        assert_eq!(trim(&mut m, Some(4), None), 3);
        let roles: Vec<&str> = m.iter().map(Message::role).collect();
        assert_eq!(
            roles,
            ["system", "user", "assistant", "user"],
            "the orphan tool result went too"
        );
        let mut m = messages(&["user", "assistant", "user"]);
        assert_eq!(
            trim(&mut m, None, Some(9)),
            1,
            "a budget of two small messages"
        );
    }
}
