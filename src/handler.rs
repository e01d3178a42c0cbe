//! What answers a validated chat request. Today: route to a provider and call its model.
//! The agent runtime replaces the body of [`answer`] with "run the root agent" and keeps the
//! signature, so the API above and the providers below stay as they are.

use futures_util::StreamExt;

use crate::bridge;
use crate::error::ApiError;
use crate::llm::{ChunkStream, LlmError, LlmRequest, Route};
use crate::wire::{ChatChunk, ChatCompletion, ChatRequest};

/// A started answer. A stream is only handed out once its first chunk arrived, so every failure
/// before that point can still be a proper HTTP status.
pub enum Answer {
    Stream {
        first: ChatChunk,
        rest: ChunkStream,
        route: Route,
    },
    Complete {
        completion: ChatCompletion,
        route: Route,
    },
}

pub async fn answer(mut request: ChatRequest, route: Route) -> Result<Answer, ApiError> {
    request.model = Some(route.model.clone());
    let provider = &route.provider;
    let llm = provider.llm.clone();
    if request.is_stream() {
        let include_usage = request.include_usage();
        let timeout = provider.config.first_byte_timeout();
        let started = tokio::time::timeout(timeout, async move {
            let stream = llm.stream(LlmRequest { body: request }).await?;
            let mut stream = bridge::normalize(stream, include_usage);
            match stream.next().await {
                Some(Ok(first)) => Ok((first, stream)),
                Some(Err(error)) => Err(error),
                None => Err(LlmError::Protocol(
                    "the upstream sent an empty stream".to_string(),
                )),
            }
        })
        .await;
        match started {
            Ok(Ok((first, rest))) => Ok(Answer::Stream { first, rest, route }),
            Ok(Err(error)) => Err(error.to_api_error()),
            Err(_) => Err(LlmError::Timeout(format!(
                "no first byte from provider '{}' within {:.0} s (first_byte_timeout_secs)",
                provider.name(),
                timeout.as_secs_f64()
            ))
            .to_api_error()),
        }
    } else {
        let timeout = provider.config.response_timeout();
        match tokio::time::timeout(timeout, llm.complete(LlmRequest { body: request })).await {
            Ok(Ok(completion)) => Ok(Answer::Complete { completion, route }),
            Ok(Err(error)) => Err(error.to_api_error()),
            Err(_) => Err(LlmError::Timeout(format!(
                "no answer from provider '{}' within {:.0} s (response_timeout_secs)",
                provider.name(),
                timeout.as_secs_f64()
            ))
            .to_api_error()),
        }
    }
}
