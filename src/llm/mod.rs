//! The LLM layer: one trait over every upstream, and the adapters behind it.
//!
//! Everything above this layer (the API today, the agent runtime next) speaks one dialect:
//! OpenAI chat chunks with `reasoning_content`. Provider quirks — Ollama's NDJSON and object
//! arguments, DeepSeek's string-only content and reasoning replay, `reasoning` vs
//! `reasoning_content` — are handled inside the adapters and never leak upward.

pub mod aliases;
pub mod anthropic;
pub mod call;
pub mod error;
pub mod http;
pub mod mock;
pub mod normalize;
pub mod ollama;
pub mod openai_compat;
pub mod reasoning_memory;
pub mod registry;
pub mod resilience;
pub mod sse;
pub mod tool_call_fragments;
pub mod turn_memory;
pub mod usage_estimate;

use std::future::Future;
use std::pin::Pin;

use futures_util::Stream;
use serde_json::Value;

pub use error::LlmError;
pub use registry::{Provider, ProviderRegistry, Route};

use crate::wire::{ChatChunk, ChatCompletion, ChatRequest};

/// A stream of chunks in OpenAI form. An `Err` item ends the stream: the upstream failed after
/// it had started answering.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<ChatChunk, LlmError>> + Send>>;

/// Boxed future so that `Llm` stays object-safe (`Arc<dyn Llm>` in the registry, fakes in tests).
pub type LlmFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, LlmError>> + Send + 'a>>;

/// One call to a model. `body.model` already holds the upstream's own model name (any
/// `provider/` prefix removed); all other fields are the client's, untouched. Shared, so retries
/// and fallbacks resend it without copying every message; an adapter that must change it
/// (provider quirks) copies it then (`Arc::make_mut`).
#[derive(Debug, Clone)]
pub struct LlmRequest {
    pub body: std::sync::Arc<ChatRequest>,
}

/// A chat model behind some HTTP API.
pub trait Llm: Send + Sync {
    /// Starts a streaming call. Resolves once the upstream accepted the request (2xx); an
    /// upstream refusal is an `Err` here, before any byte reaches the client.
    fn stream(&self, request: LlmRequest) -> LlmFuture<'_, ChunkStream>;

    /// A whole non-streaming answer.
    fn complete(&self, request: LlmRequest) -> LlmFuture<'_, ChatCompletion>;

    /// The upstream's model list as OpenAI `model` objects.
    fn list_models(&self) -> LlmFuture<'_, Vec<Value>>;
}
