//! A scripted fake LLM provider on loopback, speaking OpenAI/DeepSeek SSE and Ollama NDJSON.
//!
//! Each test passes a closure that sees the recorded request and returns a [`Reply`]: a JSON
//! answer, an SSE or NDJSON stream built from [`Step`]s (data, pauses, a cut connection, a hang),
//! or no answer at all. Every request is recorded for assertions, and the fake counts stream
//! bodies that ended early (the proxy closed the connection).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    pub at: Instant,
}

#[derive(Debug, Clone)]
pub enum Step {
    /// SSE: `data: <text>\n\n`; NDJSON: `<text>\n`.
    Data(String),
    /// Bytes written as they are.
    Raw(String),
    Sleep(Duration),
    /// Abort the connection mid-body (the client sees a transport error).
    Cut,
    /// Stop sending but keep the connection open forever.
    Hang,
}

#[derive(Debug, Clone)]
pub enum Reply {
    Json {
        status: u16,
        body: Value,
        headers: Vec<(String, String)>,
    },
    Sse(Vec<Step>),
    Ndjson(Vec<Step>),
    /// Accept the request and never answer.
    Hang,
}

impl Reply {
    pub fn json(body: Value) -> Self {
        Reply::Json {
            status: 200,
            body,
            headers: vec![],
        }
    }
    pub fn error(status: u16, body: Value) -> Self {
        Reply::Json {
            status,
            body,
            headers: vec![],
        }
    }
}

type Script = dyn Fn(&Recorded) -> Reply + Send + Sync;

#[derive(Clone)]
struct Shared {
    script: Arc<Script>,
    record: bool,
    requests: Arc<Mutex<Vec<Recorded>>>,
    streams_dropped_early: Arc<AtomicUsize>,
    hangs_abandoned: Arc<AtomicUsize>,
    streams_sent: Arc<Mutex<Vec<(Instant, usize)>>>,
}

pub struct FakeUpstream {
    pub addr: SocketAddr,
    shared: Shared,
}

impl FakeUpstream {
    pub async fn start(script: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_with(script, true).await
    }

    /// Without recording requests, and reading only a [`sketch`] of each body: for benchmarks,
    /// where the record and a full parse would only cost time.
    pub async fn start_unrecorded(
        script: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Self {
        Self::start_with(script, false).await
    }

    async fn start_with(
        script: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
        record: bool,
    ) -> Self {
        let shared = Shared {
            script: Arc::new(script),
            record,
            requests: Arc::new(Mutex::new(Vec::new())),
            streams_dropped_early: Arc::new(AtomicUsize::new(0)),
            hangs_abandoned: Arc::new(AtomicUsize::new(0)),
            streams_sent: Arc::new(Mutex::new(Vec::new())),
        };
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        // A backlog as deep as the kernel allows (`somaxconn`), as the proxy's: with tokio's
        // default of 1,024, a load bench's burst of 2,000 connections overflowed the baseline's
        // own queue and measured SYN retries instead of the upstream.
        let listener = {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket
                .bind("127.0.0.1:0".parse().expect("address"))
                .expect("bind fake upstream");
            socket.listen(65_535).expect("listen")
        };
        let addr = listener.local_addr().expect("addr");
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared }
    }

    /// Base URL for an OpenAI-kind provider entry.
    pub fn openai_base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Base URL for an Ollama-kind provider entry.
    pub fn ollama_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("lock").clone()
    }

    pub fn last_request(&self) -> Recorded {
        self.requests()
            .pop()
            .expect("the fake upstream received a request")
    }

    /// Stream bodies the other side stopped reading before the script finished.
    pub fn streams_dropped_early(&self) -> usize {
        self.shared.streams_dropped_early.load(Ordering::SeqCst)
    }

    /// Requests answered with `Reply::Hang` whose connection the other side closed.
    pub fn hangs_abandoned(&self) -> usize {
        self.shared.hangs_abandoned.load(Ordering::SeqCst)
    }

    /// When each data step left the fake, with its index in the script.
    pub fn sent_at(&self) -> Vec<(Instant, usize)> {
        self.shared.streams_sent.lock().expect("lock").clone()
    }
}

/// What a benchmark's script reads of a request body (`model`, `stream`, `tools`, the last
/// message), parsed without building the other messages' JSON trees. The benches' fake stands for
/// an instant provider: parsing a long history into `Value`s would bill the proxy's figures for
/// the fake's own work, and more so the longer the history the proxy sends (the replay's bench).
fn sketch(bytes: &[u8]) -> Value {
    #[derive(serde::Deserialize)]
    struct Sketch<'a> {
        #[serde(default)]
        model: Value,
        #[serde(default)]
        stream: Value,
        #[serde(default)]
        tools: Value,
        #[serde(borrow, default)]
        messages: Vec<&'a serde_json::value::RawValue>,
    }
    let Ok(sketch) = serde_json::from_slice::<Sketch>(bytes) else {
        return Value::Null;
    };
    let last = sketch
        .messages
        .last()
        .and_then(|m| serde_json::from_str::<Value>(m.get()).ok());
    let mut messages = vec![Value::Null; sketch.messages.len().saturating_sub(1)];
    messages.extend(last);
    json!({"model": sketch.model, "stream": sketch.stream, "tools": sketch.tools,
        "messages": messages})
}

async fn handle(State(shared): State<Shared>, request: Request) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let headers = request.headers().clone();
    let bytes = axum::body::to_bytes(request.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let body = if shared.record {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    } else {
        sketch(&bytes)
    };
    let recorded = Recorded {
        method,
        path,
        headers,
        body,
        at: Instant::now(),
    };
    if shared.record {
        shared.requests.lock().expect("lock").push(recorded.clone());
    }
    match (shared.script)(&recorded) {
        Reply::Json {
            status,
            body,
            headers,
        } => {
            let mut builder = Response::builder()
                .status(status)
                .header("content-type", "application/json");
            for (k, v) in headers {
                builder = builder.header(k, v);
            }
            builder
                .body(Body::from(body.to_string()))
                .expect("response")
        }
        Reply::Sse(steps) => stream_response(shared, steps, true),
        Reply::Ndjson(steps) => stream_response(shared, steps, false),
        Reply::Hang => {
            // Counted when the other side gives up and hyper drops this handler.
            let _watch = DropWatch {
                finished: false,
                counter: shared.hangs_abandoned.clone(),
            };
            std::future::pending::<()>().await;
            Response::new(Body::empty())
        }
    }
}

struct DropWatch {
    finished: bool,
    counter: Arc<AtomicUsize>,
}

impl Drop for DropWatch {
    fn drop(&mut self) {
        if !self.finished {
            self.counter.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn stream_response(shared: Shared, steps: Vec<Step>, sse: bool) -> Response {
    let content_type = if sse {
        "text/event-stream"
    } else {
        "application/x-ndjson"
    };
    let sent = shared.streams_sent.clone();
    let record = shared.record;
    let watch = DropWatch {
        finished: false,
        counter: shared.streams_dropped_early.clone(),
    };
    let body = async_stream::stream! {
        // Move the whole guard in (not just the field), so it drops with the body.
        let mut watch = watch;
        for (i, step) in steps.into_iter().enumerate() {
            match step {
                Step::Data(text) => {
                    if record {
                        sent.lock().expect("lock").push((Instant::now(), i));
                    }
                    let framed = if sse { format!("data: {text}\n\n") } else { format!("{text}\n") };
                    yield Ok::<Bytes, std::io::Error>(Bytes::from(framed));
                }
                Step::Raw(text) => yield Ok(Bytes::from(text)),
                Step::Sleep(d) => tokio::time::sleep(d).await,
                Step::Cut => {
                    watch.finished = true;
                    yield Err(std::io::Error::other("cut"));
                    return;
                }
                Step::Hang => std::future::pending::<()>().await,
            }
        }
        watch.finished = true;
    };
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", content_type)
        .body(Body::from_stream(body))
        .expect("response")
}

// ---- OpenAI / DeepSeek chunk builders -------------------------------------------------------

pub fn chunk(delta: Value, finish: Option<&str>) -> String {
    json!({
        "id": "chatcmpl-up1", "object": "chat.completion.chunk", "created": 1700000000,
        "model": "up-model", "system_fingerprint": "fp_test",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
    })
    .to_string()
}

pub fn usage_chunk(prompt: u64, completion: u64) -> String {
    json!({
        "id": "chatcmpl-up1", "object": "chat.completion.chunk", "created": 1700000000,
        "model": "up-model", "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    })
    .to_string()
}

/// A complete OpenAI text stream: role chunk, one chunk per piece, stop, [DONE].
pub fn openai_text(pieces: &[&str]) -> Vec<Step> {
    let mut steps = vec![Step::Data(chunk(
        json!({"role": "assistant", "content": ""}),
        None,
    ))];
    for piece in pieces {
        steps.push(Step::Data(chunk(json!({"content": piece}), None)));
    }
    steps.push(Step::Data(chunk(json!({}), Some("stop"))));
    steps.push(Step::Data("[DONE]".into()));
    steps
}

pub fn completion(message: Value, finish: &str) -> Value {
    json!({
        "id": "chatcmpl-up1", "object": "chat.completion", "created": 1700000000, "model": "up-model",
        "system_fingerprint": "fp_test",
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
    })
}

// ---- Ollama line builders --------------------------------------------------------------------

pub fn ollama_line(message: Value) -> String {
    json!({"model": "llama3.2", "created_at": "2026-11-29T00:00:00Z", "message": message, "done": false}).to_string()
}

pub fn ollama_done(reason: &str, prompt: u64, eval: u64) -> String {
    json!({
        "model": "llama3.2", "created_at": "2026-11-29T00:00:00Z",
        "message": {"role": "assistant", "content": ""},
        "done": true, "done_reason": reason, "total_duration": 1000, "prompt_eval_count": prompt, "eval_count": eval
    })
    .to_string()
}

/// Reads all of an SSE response: `data:` payloads in order, plus whether comments appeared.
pub async fn read_sse(response: reqwest::Response) -> SseTranscript {
    let mut raw = String::new();
    let mut body = response.bytes_stream();
    while let Some(Ok(bytes)) = body.next().await {
        raw.push_str(&String::from_utf8_lossy(&bytes));
    }
    SseTranscript::parse(raw)
}

#[derive(Debug)]
pub struct SseTranscript {
    pub raw: String,
    pub data: Vec<String>,
}

impl SseTranscript {
    pub fn parse(raw: String) -> Self {
        let data = raw
            .split("\n\n")
            .filter_map(|event| event.strip_prefix("data: ").map(str::to_string))
            .collect();
        Self { raw, data }
    }

    /// Every payload but `[DONE]`, as JSON.
    pub fn json(&self) -> Vec<Value> {
        self.data
            .iter()
            .filter(|d| d.as_str() != "[DONE]")
            .map(|d| serde_json::from_str(d).expect("data payload is JSON"))
            .collect()
    }

    pub fn ends_with_done(&self) -> bool {
        self.data.last().map(String::as_str) == Some("[DONE]")
    }

    pub fn content(&self) -> String {
        self.delta_text("content")
    }

    pub fn reasoning(&self) -> String {
        self.delta_text("reasoning_content")
    }

    fn delta_text(&self, key: &str) -> String {
        self.json()
            .iter()
            .filter_map(|c| {
                c["choices"]
                    .get(0)
                    .and_then(|ch| ch["delta"][key].as_str())
                    .map(str::to_string)
            })
            .collect()
    }
}

// ---- Scripted multi-call upstreams (agent runs) ----------------------------------------------

/// Answers requests with `replies` in order; a request past the end gets a 500 saying so.
pub fn script(replies: Vec<Reply>) -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    let queue = std::sync::Mutex::new(std::collections::VecDeque::from(replies));
    move |_| {
        queue
            .lock()
            .expect("script lock")
            .pop_front()
            .unwrap_or_else(|| {
                Reply::error(
                    500,
                    json!({"error": {"message": "fake upstream: script exhausted", "type": "server_error"}}),
                )
            })
    }
}

/// A streamed text answer with a usage chunk (what an agent's model call asks for).
pub fn text_reply(text: &str, prompt: u64, completion: u64) -> Reply {
    let mut steps = openai_text(&[text]);
    steps.insert(steps.len() - 1, Step::Data(usage_chunk(prompt, completion)));
    Reply::Sse(steps)
}

/// A streamed answer that calls tools `(id, name, arguments)`; each call's arguments arrive in two
/// fragments, as real providers send them.
pub fn tool_call_reply(calls: &[(&str, &str, Value)], prompt: u64, completion: u64) -> Reply {
    let mut steps = vec![Step::Data(chunk(
        json!({"role": "assistant", "content": null}),
        None,
    ))];
    for (index, (id, name, arguments)) in calls.iter().enumerate() {
        let text = arguments.to_string();
        let (a, b) = text.split_at(text.len() / 2);
        steps.push(Step::Data(chunk(
            json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                "function": {"name": name, "arguments": a}}]}),
            None,
        )));
        steps.push(Step::Data(chunk(
            json!({"tool_calls": [{"index": index, "function": {"arguments": b}}]}),
            None,
        )));
    }
    steps.push(Step::Data(chunk(json!({}), Some("tool_calls"))));
    steps.push(Step::Data(usage_chunk(prompt, completion)));
    steps.push(Step::Data("[DONE]".into()));
    Reply::Sse(steps)
}

impl Recorded {
    /// The system message the model got (the agent's instruction), or "".
    pub fn system(&self) -> String {
        self.body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["role"] == "system")
            .filter_map(|m| m["content"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Names of the tools offered.
    pub fn tool_names(&self) -> Vec<String> {
        self.body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["function"]["name"].as_str().map(str::to_string))
            .collect()
    }

    /// All message texts, one string (for "did the model see X" checks).
    pub fn messages_text(&self) -> String {
        self.body["messages"].to_string()
    }
}
