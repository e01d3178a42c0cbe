//! Who is calling: the request's [`RequestFacts`] (put there by the log middleware) and the
//! client key the auth middleware accepted, extracted together by every model endpoint.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::auth::ClientKey;
use crate::observe::RequestFacts;

pub struct Caller {
    pub facts: RequestFacts,
    /// `None` when the proxy runs without keys (loopback).
    pub key: Option<ClientKey>,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller {
            // A router used without the log layer (tests, embedding) still gets a record.
            facts: parts
                .extensions
                .get::<RequestFacts>()
                .cloned()
                .unwrap_or_else(RequestFacts::detached),
            key: parts.extensions.get::<ClientKey>().cloned(),
        })
    }
}
