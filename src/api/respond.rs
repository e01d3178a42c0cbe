//! The one place an answer becomes the client's response: a chunk stream or a whole completion,
//! through the stream stages, written in the client's dialect — chat completions as SSE or one
//! JSON `chat.completion`, the Responses API as its events or one `response` object — with the
//! response headers the earlier steps collected. Plain proxying, cached replays, agent runs and
//! refusals all end here, so a stage, a header or a timeout cannot differ between them or between
//! dialects.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::Value;

use super::AppState;
use super::sse::{SseOptions, sse_response};
use crate::assemble::{self, Assembler};
use crate::dialect::anthropic::MessagesOut;
use crate::dialect::chat::ChatSse;
use crate::dialect::ollama::OllamaOut;
use crate::dialect::responses::{ResponsesOut, ResponsesSse};
use crate::error::ApiError;
use crate::llm::ChunkStream;
use crate::observe::RequestFacts;
use crate::pipeline::{AnswerFor, Pipeline, StreamContext, refusal_chunks};
use crate::wire::{ChatChunk, ChatCompletion, ChatRequest};

/// What the answer is made of.
pub enum AnswerBody {
    /// A started stream (its first chunk already arrived, so the status is settled).
    Chunks { first: ChatChunk, rest: ChunkStream },
    /// A whole completion: an upstream's non-streaming answer or a cached one.
    Completion(ChatCompletion),
}

impl AnswerBody {
    /// Chunks the proxy built itself (a refusal), in order.
    pub fn from_chunks(chunks: Vec<ChatChunk>) -> Self {
        let (first, rest) = split_first(chunks);
        AnswerBody::Chunks { first, rest }
    }
}

fn split_first(chunks: Vec<ChatChunk>) -> (ChatChunk, ChunkStream) {
    let mut chunks = chunks.into_iter();
    let first = chunks.next().unwrap_or_default();
    let rest: ChunkStream = Box::pin(futures_util::stream::iter(chunks.map(Ok)));
    (first, rest)
}

/// The dialect the answer is written in.
pub enum Dialect {
    ChatCompletions,
    Responses(Box<ResponsesOut>),
    /// Anthropic Messages.
    Messages(Box<MessagesOut>),
    /// Ollama's `/api/chat` and `/api/generate`.
    Ollama(Box<OllamaOut>),
}

impl Dialect {
    /// The agent session a Responses answer continues from, once the agent path knows it.
    pub fn set_session(&mut self, id: &str) {
        if let Dialect::Responses(out) = self
            && let Some(store) = &mut out.store
        {
            store.session_id = Some(id.to_string());
        }
    }
}

/// How the answer goes out.
pub struct Respond<'a> {
    pub state: &'a AppState,
    pub facts: &'a RequestFacts,
    pub pipeline: &'a Pipeline,
    pub stage_context: Option<StreamContext>,
    /// The client asked for a stream.
    pub stream: bool,
    /// `stream_options.include_usage`: a replayed completion ends with a usage chunk.
    pub include_usage: bool,
    /// Longest silence inside a stream: the serving provider's `idle_timeout_secs`.
    pub idle_timeout: Duration,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub dialect: Dialect,
}

impl<'a> Respond<'a> {
    /// Runs the request stages on `request` and gets the answer's way out ready; the second
    /// value is a guard's or webhook's refusal to send (with [`Respond::refuse`]) instead of
    /// calling a model.
    pub async fn prepare(
        state: &'a AppState,
        pipeline: &'a Pipeline,
        request: &mut ChatRequest,
        answer: AnswerFor<'a>,
        headers: Vec<(HeaderName, HeaderValue)>,
        dialect: Dialect,
    ) -> Result<(Self, Option<String>), ApiError> {
        let prepared = pipeline.prepare(request, &answer).await?;
        let mut respond = Respond::new(
            state,
            answer.facts,
            pipeline,
            prepared.stage_context,
            request,
            headers,
        );
        respond.dialect = dialect;
        Ok((respond, prepared.refusal))
    }

    /// For `request`, with the default provider's idle timeout (the direct path sets the serving
    /// provider's once it is known).
    pub fn new(
        state: &'a AppState,
        facts: &'a RequestFacts,
        pipeline: &'a Pipeline,
        stage_context: Option<StreamContext>,
        request: &ChatRequest,
        headers: Vec<(HeaderName, HeaderValue)>,
    ) -> Self {
        Respond {
            state,
            facts,
            pipeline,
            stage_context,
            stream: request.is_stream(),
            include_usage: request.include_usage(),
            idle_timeout: state.registry.default_provider().config.idle_timeout(),
            headers,
            dialect: Dialect::ChatCompletions,
        }
    }

    /// A guard's or webhook's refusal as the answer (no model is called).
    pub async fn refuse(self, model: &str, text: &str) -> Result<Response, ApiError> {
        self.send(AnswerBody::from_chunks(refusal_chunks(model, text)))
            .await
    }

    pub async fn send(mut self, body: AnswerBody) -> Result<Response, ApiError> {
        let cx = self.stage_context.take();
        let dialect = std::mem::replace(&mut self.dialect, Dialect::ChatCompletions);
        if !matches!(dialect, Dialect::ChatCompletions) {
            let response = self.structured(cx, body, dialect).await?;
            return Ok(with_headers(response, std::mem::take(&mut self.headers)));
        }
        let response = match (self.stream, body) {
            (true, AnswerBody::Chunks { first, rest }) => self.sse(cx, first, rest).await?,
            (true, AnswerBody::Completion(completion)) => {
                let (first, rest) =
                    split_first(assemble::to_chunks(&completion, self.include_usage));
                self.sse(cx, first, rest).await?
            }
            (false, AnswerBody::Chunks { first, mut rest }) => {
                let mut assembler = Assembler::default();
                assembler.push(&first);
                while let Some(item) = rest.next().await {
                    assembler.push(&item.map_err(|e| e.to_api_error())?);
                }
                self.json(cx, assembler.finish()).await
            }
            (false, AnswerBody::Completion(completion)) => self.json(cx, completion).await,
        };
        Ok(with_headers(response, std::mem::take(&mut self.headers)))
    }

    async fn sse(
        &self,
        cx: Option<StreamContext>,
        first: ChatChunk,
        rest: ChunkStream,
    ) -> Result<Response, ApiError> {
        let (first, rest) = self.pipeline.wrap_stream(cx, first, rest).await?;
        Ok(sse_response(
            first,
            rest,
            self.sse_options(),
            self.facts.clone(),
            ChatSse,
        ))
    }

    fn sse_options(&self) -> SseOptions {
        SseOptions {
            keepalive: self.state.config.keepalive(),
            idle_timeout: self.idle_timeout,
            shutdown: Some(self.state.lifecycle.clone()),
        }
    }

    /// An answer in a dialect with its own events and object (Responses, Anthropic Messages):
    /// always through the stream stages as chunks (a whole completion is replayed as chunks),
    /// then the dialect's events or, for a non-streaming request, its object.
    async fn structured(
        &self,
        cx: Option<StreamContext>,
        body: AnswerBody,
        dialect: Dialect,
    ) -> Result<Response, ApiError> {
        let (first, rest) = match body {
            AnswerBody::Chunks { first, rest } => (first, rest),
            AnswerBody::Completion(completion) => {
                split_first(assemble::to_chunks(&completion, true))
            }
        };
        let (first, mut rest) = self.pipeline.wrap_stream(cx, first, rest).await?;
        if self.stream {
            let (options, facts) = (self.sse_options(), self.facts.clone());
            return Ok(match dialect {
                Dialect::Messages(out) => sse_response(first, rest, options, facts, out.into_sse()),
                Dialect::Ollama(out) => {
                    sse_response(first, rest, options, facts, out.into_stream())
                }
                Dialect::Responses(out) => {
                    sse_response(first, rest, options, facts, ResponsesSse::new(*out))
                }
                Dialect::ChatCompletions => sse_response(first, rest, options, facts, ChatSse),
            });
        }
        let mut chunks = vec![first];
        while let Some(item) = rest.next().await {
            chunks.push(item.map_err(|e| e.to_api_error())?);
        }
        self.facts.first_token();
        let response = match dialect {
            Dialect::Messages(out) => out.collect(chunks),
            Dialect::Ollama(out) => out.collect(chunks),
            Dialect::Responses(out) => out.collect(chunks).await,
            Dialect::ChatCompletions => Value::Null,
        };
        if let Some(usage) = usage_of(&response) {
            self.facts.update(|f| f.usage = Some(usage));
        }
        Ok(Json(response).into_response())
    }

    async fn json(&self, cx: Option<StreamContext>, completion: ChatCompletion) -> Response {
        self.facts.first_token();
        let completion = self.pipeline.wrap_completion(cx, completion).await;
        let usage = completion.usage.clone();
        self.facts.update(|f| f.usage = usage);
        Json(completion).into_response()
    }
}

/// The request log's usage from a finished response or message object (both name the counts
/// `input_tokens` and `output_tokens`).
fn usage_of(response: &Value) -> Option<crate::wire::Usage> {
    let usage = response.get("usage")?;
    let input = usage.get("input_tokens")?.as_u64()?;
    let output = usage.get("output_tokens")?.as_u64()?;
    Some(crate::wire::Usage {
        prompt_tokens: input,
        completion_tokens: output,
        total_tokens: input + output,
        extra: Default::default(),
    })
}

fn with_headers(mut response: Response, headers: Vec<(HeaderName, HeaderValue)>) -> Response {
    for (name, value) in headers {
        response.headers_mut().insert(name, value);
    }
    response
}
