//! A scripted model: the `mock` provider kind (`--provider mock`) and the fake [`Llm`] of the
//! in-process tests. No network, no key, fully deterministic.
//!
//! Two ways to drive it:
//!
//! - **A script** (tests): [`MockLlm::scripted`] takes a queue of [`MockReply`]s; each call takes
//!   the next one (the last one repeats). Every request the model received is kept, so a test can
//!   assert what an agent sent, how often a retry called, which fallback answered.
//! - **The conversation** (the provider kind users run): the answer is derived from the last user
//!   message (context lines other agents' work adds are skipped). Plain text is echoed back
//!   (`Mock answer: …`), streamed word by word. Directives in
//!   square brackets script the call, so a client can be tested against every shape a real
//!   provider sends:
//!
//!   | directive | effect |
//!   | --- | --- |
//!   | `[mock:reasoning TEXT]` | reasoning (`reasoning_content`) before the answer |
//!   | `[mock:tool NAME {json}]` | a tool call instead of an answer (once: a call after the tool's result answers) |
//!   | `[mock:delay_ms N]` | wait N ms before every chunk |
//!   | `[mock:error STATUS]` | the call fails with that HTTP status before streaming |
//!   | `[mock:cut]` | the stream breaks off after the first chunk |
//!   | `[mock:say TEXT]` | answer exactly TEXT (directives removed) |
//!
//! Usage is counted in words (an honest estimate; the mock has no tokenizer).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::{ChunkStream, Llm, LlmError, LlmFuture, LlmRequest};
use crate::assemble::Assembler;
use crate::wire::{ChatChunk, ChatCompletion, Delta, FunctionDelta, Message, ToolCallDelta, Usage};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum MockReply {
    /// Reasoning (may be empty) then the answer text.
    Text { reasoning: String, text: String },
    /// A call of one tool with JSON arguments.
    ToolCall { name: String, arguments: Value },
    /// The call fails before any chunk.
    Fail(LlmError),
    /// The first chunk arrives, then the stream breaks with this error.
    Cut(LlmError),
}

impl MockReply {
    pub fn text(text: impl Into<String>) -> Self {
        MockReply::Text {
            reasoning: String::new(),
            text: text.into(),
        }
    }

    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        MockReply::ToolCall {
            name: name.into(),
            arguments,
        }
    }

    /// An upstream HTTP error with this status (e.g. 429, 503).
    pub fn status(status: u16) -> Self {
        MockReply::Fail(LlmError::from_upstream_body(
            status,
            format!(r#"{{"error":{{"message":"mock error {status}","type":"api_error"}}}}"#)
                .as_bytes(),
            None,
        ))
    }
}

/// The scripted model. Cheap to share (`Arc`); the script and the log are behind one lock each.
#[derive(Default)]
pub struct MockLlm {
    script: Mutex<VecDeque<MockReply>>,
    received: Mutex<Vec<LlmRequest>>,
    delay: Duration,
}

impl MockLlm {
    /// Answers derived from each request's last user message (the provider kind).
    pub fn conversational() -> Self {
        Self::default()
    }

    /// Answers from `replies`, in order; the last one repeats once the others are used.
    pub fn scripted(replies: impl IntoIterator<Item = MockReply>) -> Self {
        Self {
            script: Mutex::new(replies.into_iter().collect()),
            ..Self::default()
        }
    }

    /// Waits `delay` before every chunk.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<LlmRequest> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many calls were made.
    pub fn calls(&self) -> usize {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    fn next_reply(&self, request: &LlmRequest) -> (MockReply, Duration) {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(request.clone());
        let mut script = self.script.lock().unwrap_or_else(|p| p.into_inner());
        match script.len() {
            0 => conversational_reply(&request.body.messages, self.delay),
            1 => (script[0].clone(), self.delay),
            _ => (
                script.pop_front().unwrap_or_else(|| MockReply::text("")),
                self.delay,
            ),
        }
    }
}

impl Llm for MockLlm {
    fn stream(&self, request: LlmRequest) -> LlmFuture<'_, ChunkStream> {
        let (reply, delay) = self.next_reply(&request);
        let model = request.body.model.clone().unwrap_or_default();
        let prompt_words = prompt_words(&request.body.messages);
        Box::pin(async move {
            let (chunks, cut) = match reply {
                MockReply::Fail(error) => return Err(error),
                MockReply::Cut(error) => {
                    let mut chunks = render(&MockReply::text("partial"), &model, prompt_words);
                    chunks.truncate(1);
                    (chunks, Some(error))
                }
                other => (render(&other, &model, prompt_words), None),
            };
            let chunks = futures_util::stream::iter(chunks.into_iter().map(Ok))
                .chain(futures_util::stream::iter(cut.map(Err)))
                .then(move |item| async move {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    item
                });
            Ok(Box::pin(chunks) as ChunkStream)
        })
    }

    fn complete(&self, request: LlmRequest) -> LlmFuture<'_, ChatCompletion> {
        let (reply, delay) = self.next_reply(&request);
        let model = request.body.model.clone().unwrap_or_default();
        let prompt_words = prompt_words(&request.body.messages);
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            match reply {
                MockReply::Fail(error) | MockReply::Cut(error) => Err(error),
                other => {
                    let mut assembler = Assembler::default();
                    for chunk in render(&other, &model, prompt_words) {
                        assembler.push(&chunk);
                    }
                    Ok(assembler.finish())
                }
            }
        })
    }

    fn list_models(&self) -> LlmFuture<'_, Vec<Value>> {
        Box::pin(async {
            Ok(vec![json!({
                "id": "mock",
                "object": "model",
                "created": 0,
                "owned_by": "adk-llm-proxy"
            })])
        })
    }
}

/// The provider kind's answer: directives from the last user message, else an echo.
fn conversational_reply(messages: &[Message], default_delay: Duration) -> (MockReply, Duration) {
    // The user's own last words: agents add other agents' work as user messages that begin
    // "For context:" (agent::history), which an echo should not repeat.
    let last_user = messages
        .iter()
        .rev()
        .filter(|m| m.role() == "user")
        .filter_map(Message::text)
        .find(|t| !t.starts_with("For context:"))
        .unwrap_or_default();
    let after_tool = messages.last().is_some_and(|m| m.role() == "tool");
    let directives = Directives::parse(&last_user);
    let delay = directives
        .delay_ms
        .map(Duration::from_millis)
        .unwrap_or(default_delay);
    if let Some(status) = directives.error {
        return (MockReply::status(status), delay);
    }
    if directives.cut {
        let cut = LlmError::Protocol("mock: stream cut".into());
        return (MockReply::Cut(cut), delay);
    }
    if let Some((name, arguments)) = directives.tool.filter(|_| !after_tool) {
        return (MockReply::ToolCall { name, arguments }, delay);
    }
    let text = if after_tool {
        let result = messages.last().and_then(Message::text).unwrap_or_default();
        format!("Mock answer from the tool result: {}", clip(&result, 200))
    } else if let Some(say) = directives.say {
        say
    } else {
        format!("Mock answer: {}", clip(directives.rest.trim(), 400))
    };
    let reply = MockReply::Text {
        reasoning: directives.reasoning.unwrap_or_default(),
        text,
    };
    (reply, delay)
}

#[derive(Default)]
struct Directives {
    reasoning: Option<String>,
    tool: Option<(String, Value)>,
    delay_ms: Option<u64>,
    error: Option<u16>,
    cut: bool,
    say: Option<String>,
    /// The message without its directives.
    rest: String,
}

impl Directives {
    fn parse(text: &str) -> Self {
        let mut out = Directives::default();
        let mut rest = text;
        while let Some(start) = rest.find("[mock:") {
            out.rest.push_str(&rest[..start]);
            let body = &rest[start + "[mock:".len()..];
            let Some(end) = body.find(']') else {
                out.rest.push_str(&rest[start..]);
                rest = "";
                break;
            };
            // A tool's JSON arguments may hold brackets: take up to the last `}` before `]`.
            let end = match body.find('{') {
                Some(open) if open < end => body[open..]
                    .rfind('}')
                    .and_then(|close| body[open + close..].find(']').map(|e| open + close + e))
                    .unwrap_or(end),
                _ => end,
            };
            let (name, arg) = body[..end]
                .trim()
                .split_once(' ')
                .unwrap_or((&body[..end], ""));
            let arg = arg.trim();
            match name.trim() {
                "reasoning" => out.reasoning = Some(arg.to_string()),
                "tool" => {
                    let (tool, json) = arg.split_once(' ').unwrap_or((arg, "{}"));
                    let arguments = serde_json::from_str(json.trim()).unwrap_or(json!({}));
                    out.tool = Some((tool.to_string(), arguments));
                }
                "delay_ms" => out.delay_ms = arg.parse().ok(),
                "error" => out.error = arg.parse().ok().filter(|s| (400..600).contains(s)),
                "cut" => out.cut = true,
                "say" => out.say = Some(arg.to_string()),
                _ => {}
            }
            rest = &body[(end + 1).min(body.len())..];
        }
        out.rest.push_str(rest);
        out
    }
}

fn clip(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

fn prompt_words(messages: &[Message]) -> u64 {
    messages
        .iter()
        .filter_map(Message::text)
        .map(|t| t.split_whitespace().count() as u64)
        .sum()
}

/// A reply as the chunks an OpenAI-compatible upstream would send: role first, reasoning, the
/// text word by word (or one tool call), the finish reason, then usage.
fn render(reply: &MockReply, model: &str, prompt_words: u64) -> Vec<ChatChunk> {
    let id = crate::ids::completion_id();
    let created = crate::ids::unix_now();
    let chunk = |delta: Delta, finish: Option<&str>| {
        ChatChunk::built(&id, created, model, Some(delta), finish.map(str::to_string))
    };
    let mut chunks = vec![chunk(
        Delta {
            role: Some("assistant".into()),
            ..Delta::default()
        },
        None,
    )];
    let mut completion_words = 0;
    let finish = match reply {
        MockReply::Text { reasoning, text } => {
            let reasoning = words(reasoning).into_iter().map(|piece| Delta {
                reasoning_content: Some(piece),
                ..Delta::default()
            });
            let text = words(text).into_iter().map(|piece| Delta {
                content: Some(piece),
                ..Delta::default()
            });
            for delta in reasoning.chain(text) {
                completion_words += 1;
                chunks.push(chunk(delta, None));
            }
            "stop"
        }
        MockReply::ToolCall { name, arguments } => {
            completion_words += 1;
            chunks.push(chunk(
                Delta {
                    tool_calls: Some(vec![ToolCallDelta {
                        index: 0,
                        id: Some(format!("call_{}", crate::ids::random_hex(12))),
                        kind: Some("function".into()),
                        function: Some(FunctionDelta {
                            name: Some(name.clone()),
                            arguments: Some(arguments.to_string()),
                            ..FunctionDelta::default()
                        }),
                        ..ToolCallDelta::default()
                    }]),
                    ..Delta::default()
                },
                None,
            ));
            "tool_calls"
        }
        MockReply::Fail(_) | MockReply::Cut(_) => "stop",
    };
    chunks.push(chunk(Delta::default(), Some(finish)));
    let mut usage_chunk = ChatChunk::built(&id, created, model, None, None);
    usage_chunk.usage = Some(Usage {
        prompt_tokens: prompt_words,
        completion_tokens: completion_words,
        total_tokens: prompt_words + completion_words,
        ..Usage::default()
    });
    chunks.push(usage_chunk);
    chunks
}

/// Text in word-sized pieces, spaces kept, so it streams like tokens.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        current.push(c);
        if c == ' ' || c == '\n' {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A provider around any [`Llm`] (a [`MockLlm`] in tests), with default settings changed by
/// `tune` (retries, fallbacks, breaker): the seam for in-process tests of the upstream call and
/// the agents.
pub fn provider(
    name: &str,
    llm: Arc<dyn Llm>,
    tune: impl FnOnce(&mut crate::config::ProviderSettings),
) -> super::Provider {
    let mut settings: crate::config::ProviderSettings =
        serde_json::from_value(json!({"kind": "mock", "default_model": "mock"}))
            .expect("the mock provider's settings are valid");
    tune(&mut settings);
    super::Provider::with_llm(
        crate::config::ResolvedProvider {
            name: name.to_string(),
            settings,
            base_url: String::new(),
            api_key: Ok(None),
        },
        llm,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_are_parsed_and_removed() {
        let d = Directives::parse(
            r#"hello [mock:reasoning think first] [mock:tool lookup {"q":"a]b"}] [mock:delay_ms 5] world"#,
        );
        assert_eq!(d.reasoning.as_deref(), Some("think first"));
        let (name, args) = d.tool.expect("tool directive");
        assert_eq!(name, "lookup");
        assert_eq!(args, json!({"q": "a]b"}));
        assert_eq!(d.delay_ms, Some(5));
        assert_eq!(
            d.rest.split_whitespace().collect::<Vec<_>>(),
            ["hello", "world"]
        );
    }

    #[test]
    fn words_keep_every_character() {
        assert_eq!(words("a b\nc").concat(), "a b\nc");
        assert_eq!(words("a b").len(), 2);
    }
}
