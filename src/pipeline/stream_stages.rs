//! Stream stages: rewrite the answer on its way to the client, chunk by chunk. Text filters
//! (`link`, `redact_output`) hold back only the shortest suffix that could still become a match;
//! everything else passes at once. At the end of the answer the held text is released, then
//! `append` and `stats` add their text, then the finish and usage chunks follow; `log` and
//! `webhook` get the finished answer after the client has it.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::holdback::{HoldBack, Replacer};
use super::patterns::count_phrase;
use super::webhook::Webhook;
use super::{Args, CompileContext, StageConfig, Vars, fill_vars};
use crate::llm::ChunkStream;
use crate::wire::{ChatChunk, Delta, Message, ReasoningMode, Usage};

pub enum StreamStage {
    Link(Box<Replacer>),
    RedactOutput(Vec<(Replacer, String, String)>),
    Append(String),
    Stats { footer: bool },
    Log(Arc<AnswerLog>),
    Webhook(Arc<Webhook>),
}

impl StreamStage {
    pub fn compile(config: &StageConfig, args: &Args, cx: &CompileContext) -> Result<Self, String> {
        match config.stage.as_str() {
            "link" => {
                args.only(&["pattern", "url", "text"])?;
                let pattern = args.required_string("pattern")?;
                let url = args.required_string("url")?;
                // The link text is the match itself unless `text` says otherwise.
                let text = args.string("text")?.unwrap_or_else(|| "$0".into());
                let template = format!("[{}]({})", braced(&text), braced(&url));
                Ok(StreamStage::Link(Box::new(
                    Replacer::new(&pattern, &template).map_err(|e| args.fail("pattern", e))?,
                )))
            }
            "redact_output" => {
                args.only(&["builtins", "patterns", "replacement"])?;
                let replacement = args
                    .string("replacement")?
                    .unwrap_or_else(|| "[REDACTED]".into())
                    .replace('$', "$$");
                let mut replacers = Vec::new();
                for rule in super::request_stages::redactions(args)? {
                    let (pattern, one, many) = rule.parts();
                    replacers.push((
                        Replacer::new(pattern, &replacement)
                            .map_err(|e| args.fail("patterns", e))?,
                        one.to_string(),
                        many.to_string(),
                    ));
                }
                Ok(StreamStage::RedactOutput(replacers))
            }
            "append" => {
                args.only(&["text"])?;
                Ok(StreamStage::Append(args.required_string("text")?))
            }
            "stats" => {
                args.only(&["as"])?;
                Ok(StreamStage::Stats {
                    footer: args.one_of("as", &["footer", "reasoning"], "footer")? == "footer",
                })
            }
            "log" => {
                args.only(&["path", "max_bytes", "keep"])?;
                Ok(StreamStage::Log(Arc::new(AnswerLog {
                    path: PathBuf::from(args.required_string("path")?),
                    max_bytes: args.count("max_bytes")?.unwrap_or(10 * 1024 * 1024) as u64,
                    keep: args.count("keep")?.unwrap_or(3).max(1),
                    redactions: super::request_stages::redactions(&Args::new(
                        args.at,
                        &Default::default(),
                    ))?,
                    lock: Mutex::new(()),
                })))
            }
            "webhook" => Ok(StreamStage::Webhook(Arc::new(Webhook::compile(
                args,
                cx.http.clone(),
            )?))),
            other => Err(format!(
                "{}.stage: unknown stream stage '{other}' (known: link, redact_output, append, stats, log, webhook)",
                args.at
            )),
        }
    }
}

/// `$1x` would read group "1x": write groups as `${1}` so templates behave as users expect.
fn braced(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            let mut digits = String::new();
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                digits.push(d);
                chars.next();
            }
            out.push_str(&format!("${{{digits}}}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// What the stream stages need to know about the request.
pub struct StreamContext {
    pub model: String,
    pub agent: String,
    pub request_id: String,
    pub messages: Vec<Message>,
    /// Lines from the request stages, shown first in the reasoning channel.
    pub notes: Vec<String>,
    pub started: Instant,
    /// Where usage is found when the stream itself carries none (the client did not ask).
    pub facts: Option<crate::observe::RequestFacts>,
    /// How the stages' own reasoning lines (notes, `stats: {as: reasoning}`) are sent.
    pub reasoning: ReasoningMode,
}

fn replacers_of(stage: &StreamStage) -> Vec<&Replacer> {
    match stage {
        StreamStage::Link(r) => vec![r.as_ref()],
        StreamStage::RedactOutput(rs) => rs.iter().map(|(r, ..)| r).collect(),
        _ => Vec::new(),
    }
}

/// A text filter's state for one stream: one hold-back per replacer and channel (links only
/// touch the answer; redaction also the reasoning).
struct Filter {
    stage: Arc<StreamStage>,
    content: Vec<HoldBack>,
    reasoning: Vec<HoldBack>,
}

impl Filter {
    fn new(stage: &Arc<StreamStage>) -> Option<Self> {
        let replacers = replacers_of(stage);
        if replacers.is_empty() {
            return None;
        }
        let reasoning = match stage.as_ref() {
            StreamStage::RedactOutput(_) => replacers.iter().map(|r| r.stream()).collect(),
            _ => Vec::new(),
        };
        Some(Self {
            stage: stage.clone(),
            content: replacers.iter().map(|r| r.stream()).collect(),
            reasoning,
        })
    }

    fn push(&mut self, text: &str, reasoning: bool) -> String {
        let states = if reasoning {
            &mut self.reasoning
        } else {
            &mut self.content
        };
        let mut text = text.to_string();
        for (replacer, state) in replacers_of(&self.stage).into_iter().zip(states.iter_mut()) {
            text = state.push(replacer, &text);
        }
        text
    }

    /// End of the answer: `carried` (released by the filters before this one) goes through,
    /// and everything still held is released.
    fn finish(&mut self, carried: &str, reasoning: bool) -> String {
        let states = if reasoning {
            &mut self.reasoning
        } else {
            &mut self.content
        };
        let mut text = carried.to_string();
        for (replacer, state) in replacers_of(&self.stage).into_iter().zip(states.iter_mut()) {
            let mut out = state.push(replacer, &text);
            out.push_str(&state.finish(replacer));
            text = out;
        }
        text
    }
}

/// Runs the stream stages over a chunk stream (and the request stages' notes before it).
pub fn wrap(stages: &[Arc<StreamStage>], cx: StreamContext, upstream: ChunkStream) -> ChunkStream {
    let stages = stages.to_vec();
    Box::pin(async_stream::stream! {
        let mut upstream = upstream;
        let mut filters: Vec<Filter> = stages.iter().filter_map(Filter::new).collect();
        let mut template: Option<ChatChunk> = None;
        let mut held_finish: Option<ChatChunk> = None;
        let mut held_usage: Option<ChatChunk> = None;
        // Only `log` and `webhook` need the whole answer; do not copy every chunk otherwise.
        let keep_answer = stages
            .iter()
            .any(|s| matches!(s.as_ref(), StreamStage::Log(_) | StreamStage::Webhook(_)));
        let mut answer = String::new();
        let mut first_token: Option<Instant> = None;
        let mut notes_pending = !cx.notes.is_empty();
        // Time spent in the stages themselves (not waiting for the upstream), for the log.
        let mut spent = std::time::Duration::ZERO;
        while let Some(item) = upstream.next().await {
            let began = Instant::now();
            let mut chunk = match item {
                Ok(chunk) => chunk,
                Err(error) => {
                    yield Err(error);
                    return;
                }
            };
            if template.is_none() {
                template = Some(ChatChunk::built(&chunk.id, chunk.created, &chunk.model, None, None));
            }
            if notes_pending {
                notes_pending = false;
                let text = cx.notes.iter().map(|n| format!("[pipeline] {n}\n")).collect::<String>();
                if let Some(notes) = reasoning_chunk(&chunk, cx.reasoning, text, true) {
                    yield Ok(notes);
                }
            }
            if chunk.choices.is_empty() {
                if chunk.usage.is_some() {
                    held_usage = Some(chunk);
                    continue;
                }
                yield Ok(chunk);
                continue;
            }
            let mut finished = false;
            for choice in chunk.choices.iter_mut().filter(|c| c.index == 0) {
                if let Some(text) = choice.delta.content.take() {
                    first_token.get_or_insert_with(Instant::now);
                    let mut text = text;
                    for filter in &mut filters {
                        text = filter.push(&text, false);
                    }
                    if keep_answer {
                        answer.push_str(&text);
                    }
                    choice.delta.content = (!text.is_empty()).then_some(text);
                }
                if let Some(text) = choice.delta.reasoning_content.take() {
                    let mut text = text;
                    for filter in &mut filters {
                        text = filter.push(&text, true);
                    }
                    choice.delta.reasoning_content = (!text.is_empty()).then_some(text);
                }
                finished |= choice.finish_reason.is_some();
            }
            spent += began.elapsed();
            if finished {
                held_finish = Some(chunk);
                continue;
            }
            if chunk.usage.is_some() {
                held_usage = Some(chunk.clone());
            }
            if !is_empty(&chunk) {
                yield Ok(chunk);
            }
        }
        let began = Instant::now();
        // The answer is complete: release held text, then add footers, then finish and usage.
        let Some(template) = template else { return; };
        let mut tail = String::new();
        let mut reasoning_tail = String::new();
        for filter in &mut filters {
            tail = filter.finish(&tail, false);
            reasoning_tail = filter.finish(&reasoning_tail, true);
        }
        let usage = held_usage
            .as_ref()
            .and_then(|c| c.usage.clone())
            .or_else(|| held_finish.as_ref().and_then(|c| c.usage.clone()))
            .or_else(|| cx.facts.as_ref().and_then(|f| f.usage()));
        let vars = Vars { model: &cx.model, agent: &cx.agent };
        let mut notes = Vec::new();
        for stage in &stages {
            match stage.as_ref() {
                StreamStage::Append(text) => {
                    tail.push_str("\n\n");
                    tail.push_str(&fill_vars(text, &vars));
                }
                StreamStage::Stats { footer } => {
                    let line = stats_line(&cx, first_token, usage.as_ref());
                    if *footer {
                        tail.push_str(&format!("\n\n---\n{line}"));
                    } else {
                        reasoning_tail.push_str(&format!("\n[stats] {line}\n"));
                    }
                }
                StreamStage::RedactOutput(rules) => {
                    let filter = filters.iter().find(|f| Arc::ptr_eq(&f.stage, stage));
                    if let Some(filter) = filter {
                        let said: Vec<String> = rules
                            .iter()
                            .zip(&filter.content)
                            .zip(&filter.reasoning)
                            .filter(|((_, c), r)| c.replaced + r.replaced > 0)
                            .map(|(((_, one, many), c), r)| count_phrase(c.replaced + r.replaced, one, many))
                            .collect();
                        if !said.is_empty() {
                            notes.push(format!("redacted {} in the answer", said.join(", ")));
                        }
                    }
                }
                _ => {}
            }
        }
        spent += began.elapsed();
        tracing::info!(
            stages = stages.len(),
            spent_ms = spent.as_secs_f64() * 1000.0,
            notes = %notes.join("; "),
            "stream stages"
        );
        if !reasoning_tail.is_empty() {
            if let Some(line) = reasoning_chunk(&template, cx.reasoning, reasoning_tail, false) {
                yield Ok(line);
            }
        }
        if !tail.is_empty() {
            answer.push_str(&tail);
            yield Ok(text_chunk(&template, Delta { content: Some(tail), ..Delta::default() }, false));
        }
        if let Some(finish) = held_finish {
            yield Ok(finish);
        }
        if let Some(usage) = held_usage {
            yield Ok(usage);
        }
        for stage in &stages {
            match stage.as_ref() {
                StreamStage::Log(log) => log.write(&cx, &answer),
                StreamStage::Webhook(hook) => {
                    let hook = hook.clone();
                    let body = json!({"phase": "answer", "model": cx.model, "agent": cx.agent,
                        "request_id": cx.request_id, "messages": cx.messages, "answer": answer});
                    tokio::spawn(async move {
                        if let Err(error) = hook.call(&body).await {
                            tracing::warn!(url = hook.url(), %error, "answer webhook failed");
                        }
                    });
                }
                _ => {}
            }
        }
    })
}

fn is_empty(chunk: &ChatChunk) -> bool {
    chunk.usage.is_none()
        && chunk.step.is_none()
        && chunk.choices.iter().all(|c| {
            c.finish_reason.is_none()
                && c.delta.role.is_none()
                && c.delta.content.is_none()
                && c.delta.reasoning_content.is_none()
                && c.delta.tool_calls.is_none()
                && c.delta.extra.is_empty()
        })
}

fn text_chunk(like: &ChatChunk, mut delta: Delta, role: bool) -> ChatChunk {
    if role {
        delta.role = Some("assistant".into());
    }
    ChatChunk::built(&like.id, like.created, &like.model, Some(delta), None)
}

/// A reasoning line in the client's reasoning mode (none when it wants no reasoning).
fn reasoning_chunk(
    like: &ChatChunk,
    mode: ReasoningMode,
    text: String,
    role: bool,
) -> Option<ChatChunk> {
    let delta = mode.delta(text, true, true)?;
    Some(text_chunk(like, delta, role))
}

fn stats_line(cx: &StreamContext, first_token: Option<Instant>, usage: Option<&Usage>) -> String {
    let tokens = match usage {
        Some(u) => format!(
            "{} in / {} out tokens",
            u.prompt_tokens, u.completion_tokens
        ),
        None => "tokens n/a".to_string(),
    };
    let ttft = first_token
        .map(|t| {
            format!(
                "first token {} ms",
                t.duration_since(cx.started).as_millis()
            )
        })
        .unwrap_or_else(|| "no text".to_string());
    format!(
        "📊 {tokens} · {ttft} · {:.1} s · {}",
        cx.started.elapsed().as_secs_f64(),
        cx.model
    )
}

/// The `log` stage: one JSON line per answered request, redacted with the built-in patterns,
/// rotated by size (`path` → `path.1` → … → `path.<keep>`).
pub struct AnswerLog {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    redactions: Vec<super::request_stages::Redaction>,
    lock: Mutex<()>,
}

impl AnswerLog {
    fn write(self: &Arc<Self>, cx: &StreamContext, answer: &str) {
        let redact = |text: &str| {
            let mut text = text.to_string();
            for rule in &self.redactions {
                text = rule.replace(&text);
            }
            text
        };
        let messages: Vec<Value> = cx
            .messages
            .iter()
            .map(|m| json!({"role": m.role(), "content": m.text().map(|t| redact(&t))}))
            .collect();
        let line = json!({
            "time": jiff::Timestamp::now().to_string(),
            "request_id": cx.request_id,
            "model": cx.model,
            "agent": cx.agent,
            "messages": messages,
            "answer": redact(answer),
            "duration_ms": cx.started.elapsed().as_millis() as u64,
        })
        .to_string();
        let log = self.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(error) = log.append(&line) {
                tracing::warn!(path = %log.path.display(), %error, "answer log write failed");
            }
        });
    }

    fn append(&self, line: &str) -> std::io::Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let size = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        if size > 0 && size + line.len() as u64 + 1 > self.max_bytes {
            for n in (1..self.keep).rev() {
                let from = rotated(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, rotated(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, rotated(&self.path, 1))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        writeln!(file, "{line}")
    }
}

fn rotated(path: &std::path::Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}
