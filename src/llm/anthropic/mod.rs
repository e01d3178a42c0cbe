//! Adapter for Anthropic's Messages API (`kind: anthropic`): Claude models behind the proxy.
//!
//! Anthropic's API is not OpenAI-compatible, so both directions are translated here:
//! [`request`] turns the internal chat request into a Messages body, [`stream`] turns the event
//! stream (or one message) back into chat chunks (or one completion). Authentication is
//! `x-api-key` with an `anthropic-version` header (set in `llm::http`).
//!
//! Extended thinking comes back as `reasoning_content`. Anthropic signs each thinking block and,
//! with thinking on, rejects a tool-use turn resent without it; chat clients never keep it. The
//! signed blocks are therefore kept server-side in a [`ThinkingMemory`] under the turn's tool-call
//! ids and put back in front of that turn's `tool_use` blocks when it comes back — the same rule
//! as DeepSeek's reasoning replay.
//!
//! Errors: Anthropic's `{"type":"error","error":{type,message}}` bodies and `error` events become
//! OpenAI error objects of the matching type; its 529 "overloaded" becomes a 503 (a status every
//! client and the retry logic know), `Retry-After` kept.

pub mod request;
pub mod stream;

use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::http::{UpstreamClient, error_chain, transport_error};
use super::sse::SseParser;
use super::turn_memory::TurnMemory;
use super::{ChunkStream, Llm, LlmError, LlmFuture, LlmRequest};
use crate::config::ResolvedProvider;
use crate::wire::ChatCompletion;
use stream::EventMapper;

/// Signed thinking blocks of assistant turns, by tool-call id.
pub type ThinkingMemory = TurnMemory<Arc<Vec<Value>>>;

/// How many tool-call ids the thinking memory keeps.
const THINKING_MEMORY_CAPACITY: usize = 10_000;

/// The API version sent unless the provider's `headers` name another.
pub const API_VERSION: &str = "2023-06-01";

pub struct Anthropic {
    http: UpstreamClient,
    messages_url: reqwest::Url,
    models_url: reqwest::Url,
    default_max_tokens: u64,
    thinking: Arc<ThinkingMemory>,
}

impl Anthropic {
    pub fn new(provider: &ResolvedProvider, http: UpstreamClient) -> Result<Self, String> {
        Ok(Self {
            messages_url: http.endpoint("/messages")?,
            models_url: http.endpoint("/models?limit=1000")?,
            http,
            default_max_tokens: provider.settings.default_max_tokens,
            thinking: Arc::new(ThinkingMemory::new(THINKING_MEMORY_CAPACITY)),
        })
    }

    /// Sends a Messages body; a refusal comes back as an OpenAI-shaped error.
    async fn send(&self, body: &Value) -> Result<reqwest::Response, LlmError> {
        let request = self.http.client.post(self.messages_url.clone()).json(body);
        self.http.send(request).await.map_err(openai_shaped)
    }
}

impl Llm for Anthropic {
    fn stream(&self, request: LlmRequest) -> LlmFuture<'_, ChunkStream> {
        Box::pin(async move {
            let body = request::to_messages_body(
                &request.body,
                true,
                self.default_max_tokens,
                &self.thinking,
            )?;
            let model = request.body.model.clone().unwrap_or_default();
            let response = self.send(&body).await?;
            Ok(event_stream(
                self.http.provider.clone(),
                model,
                response,
                self.thinking.clone(),
            ))
        })
    }

    fn complete(&self, request: LlmRequest) -> LlmFuture<'_, ChatCompletion> {
        Box::pin(async move {
            let body = request::to_messages_body(
                &request.body,
                false,
                self.default_max_tokens,
                &self.thinking,
            )?;
            let response = self.send(&body).await?;
            let bytes = response
                .bytes()
                .await
                .map_err(|e| transport_error(&self.http.provider, &e))?;
            let message: Value = serde_json::from_slice(&bytes)
                .map_err(|e| LlmError::Protocol(format!("Anthropic response is not JSON: {e}")))?;
            if message["type"] == "error" {
                return Err(LlmError::InStream(Box::new(stream::error_object(
                    &message["error"],
                ))));
            }
            Ok(stream::to_completion(&message, &self.thinking))
        })
    }

    fn list_models(&self) -> LlmFuture<'_, Vec<Value>> {
        Box::pin(async move {
            let response = self
                .http
                .send(self.http.client.get(self.models_url.clone()))
                .await
                .map_err(openai_shaped)?;
            let value: Value = response.json().await.map_err(|e| {
                LlmError::Protocol(format!("Anthropic model list is not JSON: {e}"))
            })?;
            let models = value["data"].as_array().cloned().unwrap_or_default();
            Ok(models
                .iter()
                .filter_map(|m| {
                    let id = m.get("id").and_then(Value::as_str)?;
                    let created = m
                        .get("created_at")
                        .and_then(Value::as_str)
                        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                        .map_or(0, |t| t.as_second());
                    Some(json!({"id": id, "object": "model", "created": created, "owned_by": "anthropic"}))
                })
                .collect())
        })
    }
}

/// An Anthropic error answer as the OpenAI-shaped error the rest of the proxy speaks.
fn openai_shaped(error: LlmError) -> LlmError {
    match error {
        LlmError::Upstream {
            status,
            error,
            retry_after,
        } => {
            // `from_upstream_body` kept Anthropic's `{type, message}` as the error object.
            let mapped =
                stream::error_object(&json!({"type": error.kind, "message": error.message}));
            LlmError::Upstream {
                status: if status == 529 { 503 } else { status },
                error: Box::new(mapped),
                retry_after,
            }
        }
        other => other,
    }
}

/// Reads the upstream's event stream as chunks. Ends cleanly on `message_stop`; a cut before it
/// is an error item, never a silent truncation.
fn event_stream(
    provider: String,
    model: String,
    response: reqwest::Response,
    memory: Arc<ThinkingMemory>,
) -> ChunkStream {
    Box::pin(async_stream::stream! {
        let mut body = response.bytes_stream();
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        let mut mapper = EventMapper::new(&model);
        let mut upstream_done = false;
        loop {
            match body.next().await {
                Some(Ok(bytes)) => parser.feed(&bytes, &mut events),
                Some(Err(e)) => {
                    yield Err(LlmError::Protocol(format!(
                        "provider '{provider}' connection failed mid-stream: {}",
                        error_chain(&e)
                    )));
                    return;
                }
                None => {
                    parser.finish(&mut events);
                    upstream_done = true;
                }
            }
            for data in events.drain(..) {
                let event: Value = match serde_json::from_str(&data) {
                    Ok(event) => event,
                    Err(e) => {
                        let preview: String = data.chars().take(200).collect();
                        yield Err(LlmError::Protocol(format!("invalid event ({e}): {preview}")));
                        return;
                    }
                };
                match mapper.event(&event) {
                    Ok(Some(chunk)) => yield Ok(chunk),
                    Ok(None) => {}
                    Err(error) => {
                        yield Err(error);
                        return;
                    }
                }
                if mapper.finished {
                    mapper.remember_thinking(&memory);
                    return;
                }
            }
            if upstream_done {
                yield Err(LlmError::Protocol(format!(
                    "provider '{provider}' closed the stream before message_stop"
                )));
                return;
            }
        }
    })
}
