//! Reading request bodies within the configured size limit.

use axum::body::Body;
use axum::http::HeaderMap;
use futures_util::StreamExt;

use super::body_budget::{BodyBudget, BodyMemory};
use crate::error::ApiError;

/// Reads the whole body, refusing with 413 as soon as it exceeds `limit` (without reading the
/// rest). The body's memory (for its parsed form too) is reserved from `budget` first; keep the
/// returned reservation until the body is parsed and validated.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    budget: &BodyBudget,
) -> Result<(Vec<u8>, BodyMemory), ApiError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::payload_too_large(limit));
    }
    let memory = budget.reserve(declared.unwrap_or(limit)).await?;
    let mut out = Vec::with_capacity(declared.unwrap_or(1024).min(limit));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::invalid_request(
                format!("Could not read the request body: {e}"),
                None,
                "invalid_body",
            )
        })?;
        if out.len() + chunk.len() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        out.extend_from_slice(&chunk);
    }
    Ok((out, memory))
}
