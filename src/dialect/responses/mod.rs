//! The OpenAI Responses API (`/v1/responses`): [`request`] translates a request onto the chat
//! request every provider and agent takes, [`stream`] renders the answer's chunks (with agent
//! steps) as Responses events and output items, [`store`] keeps finished responses for
//! `previous_response_id`.

mod event;
mod message_events;
pub mod request;
pub mod store;
pub mod stream;

use std::sync::Arc;

use serde_json::Value;

use super::SseDialect;
use crate::error::ErrorObject;
use crate::session::SessionService;
use crate::wire::ChatChunk;
use request::ResponsesRequest;
use store::{ResponseStore, StoredResponse};
use stream::{ResponseWriter, ToolItems};

/// How one request's answer goes out as a Responses answer, and where it is kept.
pub struct ResponsesOut {
    pub writer: ResponseWriter,
    /// `None` with `store: false`.
    pub store: Option<StoreOnFinish>,
}

/// What storing a finished response needs.
pub struct StoreOnFinish {
    pub sessions: Arc<dyn SessionService>,
    pub owner: String,
    pub ttl_secs: u64,
    pub input: Vec<Value>,
    pub history: Vec<Value>,
    /// Set by the agent path once it knows the session.
    pub session_id: Option<String>,
}

impl StoreOnFinish {
    async fn save(self, response: Value) {
        let Some(id) = response
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return;
        };
        let stored = StoredResponse {
            response,
            input: self.input,
            history: self.history,
            session_id: self.session_id,
        };
        let store = ResponseStore {
            sessions: self.sessions.as_ref(),
            owner: &self.owner,
            ttl_secs: self.ttl_secs,
        };
        if let Err(error) = store.put(&id, &stored).await {
            // The answer itself is complete; only continuing from it will fail, with a 404.
            tracing::warn!(%error, response_id = %id, "could not store the response");
        }
    }
}

impl ResponsesOut {
    /// The answer to `request`, as response `id` created at `created_at`.
    pub fn new(
        request: &ResponsesRequest,
        id: &str,
        created_at: i64,
        tool_items: ToolItems,
        store: Option<StoreOnFinish>,
    ) -> Self {
        // The object is built only when something needs it: the store or a non-streaming body.
        let object =
            (store.is_some() || !request.stream).then(|| request.response_template(id, created_at));
        let writer = ResponseWriter::new(request.echo_json(id, created_at), object, tool_items);
        Self { writer, store }
    }

    /// Runs the whole answer through the writer for a non-streaming request: the final object.
    pub async fn collect(mut self, chunks: impl IntoIterator<Item = ChatChunk>) -> Value {
        let mut sink = Vec::new();
        self.writer.start(&mut sink);
        for chunk in chunks {
            sink.clear();
            self.writer.chunk(&chunk, &mut sink);
        }
        let response = self.writer.finish(&mut sink).unwrap_or_default();
        if let Some(store) = self.store.take() {
            store.save(response.clone()).await;
        }
        response
    }
}

/// The streamed form: `response.created` and `response.in_progress` before the first chunk's
/// events; the response is stored before `response.completed` goes out.
pub struct ResponsesSse {
    out: ResponsesOut,
    started: bool,
}

impl ResponsesSse {
    pub fn new(out: ResponsesOut) -> Self {
        Self {
            out,
            started: false,
        }
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            self.out.writer.start(out);
        }
    }
}

impl SseDialect for ResponsesSse {
    // A delta event (event line, type, sequence number, item id) is about 230 bytes.
    const CHUNK_BYTES: usize = 512;

    fn chunk(&mut self, chunk: &ChatChunk, out: &mut Vec<u8>) {
        self.start(out);
        self.out.writer.chunk(chunk, out);
    }

    fn failed(&mut self, error: &ErrorObject, out: &mut Vec<u8>) {
        self.start(out);
        self.out.writer.fail(error, out);
    }

    async fn finish(&mut self, out: &mut Vec<u8>) {
        self.start(out);
        let response = self.out.writer.finish(out);
        if let (Some(store), Some(response)) = (self.out.store.take(), response) {
            store.save(response).await;
        }
    }
}
