//! Running a compiled [`Pipeline`] around one answer, the same for plain proxying and agent
//! runs: request stages before anything else, stream stages on the chunks the client receives. A
//! non-streaming answer goes through the same stream stages as one replayed stream, so both
//! shapes get identical results.

use std::time::Instant;

use futures_util::StreamExt;

use super::request_stages;
use super::stream_stages::{self, StreamContext, StreamStage};
use super::{Pipeline, RequestOutcome, Vars};
use crate::assemble::{self, Assembler};
use crate::error::{ApiError, ErrorObject};
use crate::llm::ChunkStream;
use crate::observe::RequestFacts;
use crate::wire::{ChatChunk, ChatCompletion, ChatRequest, Delta, ReasoningMode};

/// Who the answer is for, as the stream stages and their notes need it.
pub struct AnswerFor<'a> {
    pub facts: &'a RequestFacts,
    pub model: &'a str,
    /// The agent's name; empty for plain proxying.
    pub agent: &'a str,
    pub reasoning: ReasoningMode,
}

/// The request after the request stages: what the stream stages will need, and the refusal
/// to answer with instead of calling a model, if a guard or webhook refused.
pub struct Prepared {
    pub stage_context: Option<StreamContext>,
    pub refusal: Option<String>,
}

impl Pipeline {
    /// Runs the request stages on `request` and builds the stream stages' context.
    pub async fn prepare(
        &self,
        request: &mut ChatRequest,
        answer: &AnswerFor<'_>,
    ) -> Result<Prepared, ApiError> {
        let outcome = self.before(request, answer.model, answer.agent).await?;
        Ok(Prepared {
            stage_context: self.stream_context(answer, request, outcome.notes),
            refusal: outcome.refusal,
        })
    }

    /// Runs the request stages; the outcome's notes go to [`Pipeline::stream_context`].
    pub async fn before(
        &self,
        request: &mut ChatRequest,
        model: &str,
        agent: &str,
    ) -> Result<RequestOutcome, ApiError> {
        if self.request.is_empty() {
            return Ok(RequestOutcome::default());
        }
        request_stages::run(&self.request, request, &Vars { model, agent }).await
    }

    /// What the stream stages need to know about this answer; `None` when they have nothing to
    /// do (the common, unconfigured case), so no per-request context is built.
    pub fn stream_context(
        &self,
        answer: &AnswerFor<'_>,
        request: &ChatRequest,
        notes: Vec<String>,
    ) -> Option<StreamContext> {
        if self.stream.is_empty() && notes.is_empty() {
            return None;
        }
        // Only `log` and `webhook` read the request again; do not copy the conversation otherwise.
        let needs_messages = self
            .stream
            .iter()
            .any(|s| matches!(s.as_ref(), StreamStage::Log(_) | StreamStage::Webhook(_)));
        Some(StreamContext {
            model: answer.model.to_string(),
            agent: answer.agent.to_string(),
            request_id: answer.facts.request_id(),
            messages: if needs_messages {
                request.messages.clone()
            } else {
                Vec::new()
            },
            notes,
            started: Instant::now(),
            facts: Some(answer.facts.clone()),
            reasoning: answer.reasoning,
        })
    }

    /// Wraps a started stream in the stream stages; returns the new first chunk and the rest.
    pub async fn wrap_stream(
        &self,
        cx: Option<StreamContext>,
        first: ChatChunk,
        rest: ChunkStream,
    ) -> Result<(ChatChunk, ChunkStream), ApiError> {
        let Some(cx) = cx else {
            return Ok((first, rest));
        };
        let joined: ChunkStream =
            Box::pin(futures_util::stream::once(async move { Ok(first) }).chain(rest));
        let mut wrapped = stream_stages::wrap(&self.stream, cx, joined);
        match wrapped.next().await {
            Some(Ok(first)) => Ok((first, wrapped)),
            Some(Err(error)) => Err(error.to_api_error()),
            None => Err(ApiError::new(
                axum::http::StatusCode::BAD_GATEWAY,
                ErrorObject::new("The answer was empty.", "api_error").with_code("empty_answer"),
            )),
        }
    }

    /// A whole completion through the stream stages.
    pub async fn wrap_completion(
        &self,
        cx: Option<StreamContext>,
        completion: ChatCompletion,
    ) -> ChatCompletion {
        let Some(cx) = cx else {
            return completion;
        };
        let chunks = assemble::to_chunks(&completion, completion.usage.is_some());
        let replay: ChunkStream = Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok)));
        let mut wrapped = stream_stages::wrap(&self.stream, cx, replay);
        let mut assembler = Assembler::default();
        while let Some(Ok(chunk)) = wrapped.next().await {
            assembler.push(&chunk);
        }
        let mut out = assembler.finish();
        out.extra = completion.extra;
        out
    }
}

/// A refusal from a guard or webhook, as the answer (no model was called).
pub fn refusal_chunks(model: &str, text: &str) -> Vec<ChatChunk> {
    let id = crate::ids::completion_id();
    let created = crate::ids::unix_now();
    vec![
        ChatChunk::built(
            &id,
            created,
            model,
            Some(Delta {
                role: Some("assistant".into()),
                content: Some(text.to_string()),
                ..Delta::default()
            }),
            None,
        ),
        ChatChunk::built(
            &id,
            created,
            model,
            Some(Delta::default()),
            Some("stop".into()),
        ),
    ]
}
