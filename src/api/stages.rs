//! Running the pipeline's stages around a chat request, for both the direct path and agent runs:
//! request stages before anything else, stream stages on the chunks the client receives (a
//! non-streaming answer goes through the same stream stages as one replayed stream, so both
//! shapes get identical results).

use std::time::Instant;

use futures_util::StreamExt;

use super::request_log::RequestFacts;
use crate::assemble::{self, Assembler};
use crate::error::{ApiError, ErrorObject};
use crate::llm::ChunkStream;
use crate::pipeline::request_stages;
use crate::pipeline::stream_stages::{self, StreamContext};
use crate::pipeline::{Pipeline, RequestOutcome, Vars};
use crate::wire::{ChatChunk, ChatCompletion, ChatRequest, Delta};

/// Runs the request stages; the outcome's notes go to the stream stages' context.
pub async fn before(
    pipeline: &Pipeline,
    request: &mut ChatRequest,
    model: &str,
    agent: &str,
) -> Result<RequestOutcome, ApiError> {
    if pipeline.request.is_empty() {
        return Ok(RequestOutcome::default());
    }
    request_stages::run(&pipeline.request, request, &Vars { model, agent }).await
}

pub fn context(
    pipeline: &Pipeline,
    facts: &RequestFacts,
    request: &ChatRequest,
    model: &str,
    agent: &str,
    notes: Vec<String>,
    reasoning: crate::event_bridge::ReasoningMode,
) -> Option<StreamContext> {
    // Nothing to do for the answer: no context is built (the common, unconfigured case).
    if pipeline.stream.is_empty() && notes.is_empty() {
        return None;
    }
    // Only `log` and `webhook` read the request again; do not copy the conversation otherwise.
    let needs_messages = pipeline.stream.iter().any(|s| {
        matches!(
            s.as_ref(),
            stream_stages::StreamStage::Log(_) | stream_stages::StreamStage::Webhook(_)
        )
    });
    Some(StreamContext {
        model: model.to_string(),
        agent: agent.to_string(),
        request_id: facts.request_id(),
        messages: if needs_messages {
            request.messages.clone()
        } else {
            Vec::new()
        },
        notes,
        started: Instant::now(),
        facts: Some(facts.clone()),
        reasoning,
    })
}

/// Wraps a started stream; returns the new first chunk and the rest.
pub async fn stream(
    pipeline: &Pipeline,
    cx: Option<StreamContext>,
    first: ChatChunk,
    rest: ChunkStream,
) -> Result<(ChatChunk, ChunkStream), ApiError> {
    let Some(cx) = cx else {
        return Ok((first, rest));
    };
    let joined: ChunkStream =
        Box::pin(futures_util::stream::once(async move { Ok(first) }).chain(rest));
    let mut wrapped = stream_stages::wrap(&pipeline.stream, cx, joined);
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
pub async fn completion(
    pipeline: &Pipeline,
    cx: Option<StreamContext>,
    completion: ChatCompletion,
) -> ChatCompletion {
    let Some(cx) = cx else {
        return completion;
    };
    let chunks = assemble::to_chunks(&completion, completion.usage.is_some());
    let replay: ChunkStream = Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok)));
    let mut wrapped = stream_stages::wrap(&pipeline.stream, cx, replay);
    let mut assembler = Assembler::default();
    while let Some(Ok(chunk)) = wrapped.next().await {
        assembler.push(&chunk);
    }
    let mut out = assembler.finish();
    out.extra = completion.extra;
    out
}

/// A refusal from a guard or webhook as the answer (no model is called), through the stream
/// stages like any answer.
pub async fn refusal_response(
    state: &super::AppState,
    facts: &RequestFacts,
    pipeline: &Pipeline,
    cx: Option<StreamContext>,
    model: &str,
    text: &str,
    stream: bool,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut chunks = refusal_chunks(model, text).into_iter();
    if stream {
        let first = chunks.next().unwrap_or_default();
        let rest: ChunkStream = Box::pin(futures_util::stream::iter(chunks.map(Ok)));
        match self::stream(pipeline, cx, first, rest).await {
            Ok((first, rest)) => {
                let options = super::sse::SseOptions {
                    keepalive: state.config.keepalive(),
                    idle_timeout: std::time::Duration::from_secs(60),
                    shutdown: None,
                };
                super::sse::sse_response(first, rest, options, facts.clone())
            }
            Err(error) => error.into_response(),
        }
    } else {
        let mut assembler = Assembler::default();
        for chunk in chunks {
            assembler.push(&chunk);
        }
        facts.first_token();
        axum::Json(completion(pipeline, cx, assembler.finish()).await).into_response()
    }
}

/// A refusal from a guard or webhook, as the answer (no model was called).
pub fn refusal_chunks(model: &str, text: &str) -> Vec<ChatChunk> {
    let id = format!("chatcmpl-{}", crate::ids::random_hex(24));
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
