//! Adapter for every OpenAI-compatible `/chat/completions` API: OpenAI, DeepSeek, vLLM,
//! llama.cpp, LM Studio, Groq, OpenRouter, Ollama's `/v1`.
//!
//! The client's body goes up as it came (model renamed, DeepSeek quirks applied when the
//! provider is configured for them); chunks come back parsed into tolerant wire types, so
//! unknown fields survive, and `reasoning` is renamed to `reasoning_content`.

use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::Value;

use super::http::UpstreamClient;
use super::reasoning_memory::ReasoningMemory;
use super::sse::SseParser;
use super::{ChunkStream, Llm, LlmError, LlmFuture, LlmRequest};
use crate::config::ResolvedProvider;
use crate::wire::{ChatChunk, ChatCompletion, ChatRequest, join_text_parts};

/// How many tool-call ids the DeepSeek reasoning memory keeps.
const REASONING_MEMORY_CAPACITY: usize = 10_000;

pub struct OpenAiCompat {
    http: UpstreamClient,
    chat_url: reqwest::Url,
    models_url: reqwest::Url,
    flatten_content: bool,
    reasoning_memory: Option<Arc<ReasoningMemory>>,
}

impl OpenAiCompat {
    pub fn new(provider: &ResolvedProvider, http: UpstreamClient) -> Result<Self, String> {
        Ok(Self {
            chat_url: http.endpoint("/chat/completions")?,
            models_url: http.endpoint("/models")?,
            http,
            flatten_content: provider.settings.flatten_content,
            reasoning_memory: provider
                .settings
                .replay_reasoning
                .then(|| Arc::new(ReasoningMemory::new(REASONING_MEMORY_CAPACITY))),
        })
    }

    /// Applies the provider's quirks to the outgoing body.
    fn prepare(&self, mut body: Arc<ChatRequest>) -> Arc<ChatRequest> {
        let flattens = self.flatten_content
            && body
                .messages
                .iter()
                .any(|m| matches!(m.fields().get("content"), Some(Value::Array(_))));
        if flattens {
            for message in &mut Arc::make_mut(&mut body).messages {
                if let Some(Value::Array(parts)) = message.fields().get("content") {
                    let text = join_text_parts(parts);
                    message
                        .fields_mut()
                        .insert("content".to_string(), Value::String(text));
                }
            }
        }
        if let Some(memory) = &self.reasoning_memory {
            memory.restore_shared(&mut body);
        }
        body
    }

    /// Reads a whole `chat.completion` body: reasoning renamed, DeepSeek reasoning remembered, an
    /// `{"error": …}` body turned into an error.
    ///
    /// Some servers stream whatever was asked (gateways with streaming forced, some self-hosted
    /// servers): a body of SSE events is assembled into the one completion the client asked
    /// for, under the stream's own rules — one that breaks off is an error, not an answer. The
    /// body decides, not its content type, which such servers get wrong both ways.
    async fn read_completion(
        &self,
        response: reqwest::Response,
    ) -> Result<ChatCompletion, LlmError> {
        let bytes = response
            .bytes()
            .await
            .map_err(|e| super::http::transport_error(&self.http.provider, &e))?;
        let mut completion = match serde_json::from_slice::<ChatCompletion>(&bytes) {
            Ok(completion) => completion,
            Err(_) if looks_like_sse(&bytes) => self.assemble_sse(&bytes)?,
            Err(e) => {
                let preview: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
                return Err(LlmError::Protocol(format!(
                    "response is not a chat.completion ({e}): {preview}"
                )));
            }
        };
        if let Some(error) = completion.extra.get("error").filter(|e| !e.is_null()) {
            return Err(LlmError::from_upstream_body(
                502,
                error_envelope(error).as_bytes(),
                None,
            ));
        }
        for choice in &mut completion.choices {
            choice.message.normalize_reasoning();
            if let (Some(memory), Some(reasoning), Some(calls)) = (
                &self.reasoning_memory,
                &choice.message.reasoning_content,
                &choice.message.tool_calls,
            ) {
                let ids: Vec<String> = calls.iter().map(|c| c.id.clone()).collect();
                memory.remember(&ids, reasoning);
            }
        }
        Ok(completion)
    }

    /// A whole SSE body as one completion (see [`Self::read_completion`]).
    fn assemble_sse(&self, body: &[u8]) -> Result<ChatCompletion, LlmError> {
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        parser.feed(body, &mut events);
        parser.finish(&mut events);
        let mut assembler = crate::assemble::Assembler::default();
        let mut finished = false;
        for data in &events {
            let Some(chunk) = stream_event(data) else {
                finished = true;
                break;
            };
            let chunk = chunk?;
            finished |= chunk.choices.iter().any(|c| c.finish_reason.is_some());
            assembler.push(&chunk);
        }
        if !finished {
            return Err(LlmError::Protocol(format!(
                "provider '{}' closed the stream before it finished",
                self.http.provider
            )));
        }
        Ok(assembler.finish())
    }

    fn post(&self, body: &ChatRequest) -> reqwest::RequestBuilder {
        self.http.client.post(self.chat_url.clone()).json(body)
    }
}

impl Llm for OpenAiCompat {
    fn stream(&self, request: LlmRequest) -> LlmFuture<'_, ChunkStream> {
        Box::pin(async move {
            let include_usage = request.body.include_usage();
            let body = self.prepare(request.body);
            let response = self.http.send(self.post(&body)).await?;
            if is_json(&response) {
                // Some servers ignore `stream: true` and answer with one JSON completion (or a JSON
                // error with status 200): give the client the stream it asked for anyway.
                let completion = self.read_completion(response).await?;
                let chunks = crate::assemble::to_chunks(&completion, include_usage);
                return Ok(
                    Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok))) as ChunkStream,
                );
            }
            let provider = self.http.provider.clone();
            let memory = self.reasoning_memory.clone();
            Ok(chunk_stream(provider, response, memory))
        })
    }

    fn complete(&self, request: LlmRequest) -> LlmFuture<'_, ChatCompletion> {
        Box::pin(async move {
            let body = self.prepare(request.body);
            let response = self.http.send(self.post(&body)).await?;
            self.read_completion(response).await
        })
    }

    fn list_models(&self) -> LlmFuture<'_, Vec<Value>> {
        Box::pin(async move {
            let response = self
                .http
                .send(self.http.client.get(self.models_url.clone()))
                .await?;
            let value: Value = response
                .json()
                .await
                .map_err(|e| LlmError::Protocol(format!("model list is not JSON: {e}")))?;
            Ok(value
                .get("data")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default())
        })
    }
}

fn is_json(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

fn error_envelope(error: &Value) -> String {
    serde_json::json!({ "error": error }).to_string()
}

/// Reads the upstream SSE body as chunks. Ends cleanly on `data: [DONE]` (or on close after a
/// `finish_reason`, for servers that omit `[DONE]`); anything else is an error item, never a
/// silent truncation.
fn chunk_stream(
    provider: String,
    response: reqwest::Response,
    memory: Option<Arc<ReasoningMemory>>,
) -> ChunkStream {
    Box::pin(async_stream::stream! {
        let mut body = response.bytes_stream();
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        let mut finished = false;
        let mut recorder = memory.as_ref().map(|_| ReasoningRecorder::default());
        let mut upstream_done = false;
        'read: loop {
            match body.next().await {
                Some(Ok(bytes)) => parser.feed(&bytes, &mut events),
                Some(Err(e)) => {
                    yield Err(LlmError::Protocol(format!(
                        "provider '{provider}' connection failed mid-stream: {}",
                        super::http::error_chain(&e)
                    )));
                    return;
                }
                None => {
                    parser.finish(&mut events);
                    upstream_done = true;
                }
            }
            for data in events.drain(..) {
                let Some(chunk) = stream_event(&data) else {
                    finished = true;
                    break 'read;
                };
                match chunk {
                    Ok(chunk) => {
                        finished |= chunk.choices.iter().any(|c| c.finish_reason.is_some());
                        if let Some(recorder) = &mut recorder {
                            recorder.observe(&chunk);
                        }
                        yield Ok(chunk);
                    }
                    Err(e) => {
                        yield Err(e);
                        return;
                    }
                }
            }
            if upstream_done {
                break;
            }
        }
        if let (Some(memory), Some(recorder)) = (&memory, &recorder) {
            memory.remember(&recorder.call_ids, &recorder.reasoning);
        }
        if !finished {
            yield Err(LlmError::Protocol(format!(
                "provider '{provider}' closed the stream before it finished"
            )));
        }
    })
}

/// One SSE `data:` payload of a chat stream: `None` at `[DONE]`, else the chunk with its
/// reasoning under the one name the proxy uses, or the upstream's in-stream error.
fn stream_event(data: &str) -> Option<Result<ChatChunk, LlmError>> {
    if data.trim() == "[DONE]" {
        return None;
    }
    Some(parse_chunk(data).map(|mut chunk| {
        for choice in &mut chunk.choices {
            choice.delta.normalize_reasoning();
        }
        chunk
    }))
}

/// Whether a body that is not JSON is an SSE stream: its first line is an SSE field or comment.
fn looks_like_sse(body: &[u8]) -> bool {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let body = &body[start..];
    [&b"data:"[..], b"event:", b":", b"id:", b"retry:"]
        .iter()
        .any(|field| body.starts_with(field))
}

/// One SSE `data:` payload → a chunk, or the upstream's in-stream error.
fn parse_chunk(data: &str) -> Result<ChatChunk, LlmError> {
    let chunk: ChatChunk = serde_json::from_str(data).map_err(|e| {
        let preview: String = data.chars().take(200).collect();
        LlmError::Protocol(format!("invalid chunk ({e}): {preview}"))
    })?;
    if let Some(error) = chunk.extra.get("error").filter(|e| !e.is_null()) {
        return Err(
            match LlmError::from_upstream_body(502, error_envelope(error).as_bytes(), None) {
                LlmError::Upstream { error, .. } => LlmError::InStream(error),
                other => other,
            },
        );
    }
    Ok(chunk)
}

/// Collects the first choice's reasoning and tool-call ids as they stream past.
#[derive(Default)]
struct ReasoningRecorder {
    reasoning: String,
    call_ids: Vec<String>,
}

impl ReasoningRecorder {
    fn observe(&mut self, chunk: &ChatChunk) {
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            if let Some(text) = &choice.delta.reasoning_content {
                self.reasoning.push_str(text);
            }
            for call in choice.delta.tool_calls.iter().flatten() {
                if let Some(id) = &call.id {
                    self.call_ids.push(id.clone());
                }
            }
        }
    }
}
