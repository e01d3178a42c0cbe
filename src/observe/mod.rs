//! What the proxy tells its operator about each request: the per-request facts the layers record
//! as they learn them, the Prometheus metrics, (feature `otel`) the OTLP spans, and the live feed
//! the console watches (`live`, fed by the request log and `watched_sessions`). Everything
//! here sits below the HTTP layer so the LLM call, the runner and the pipeline can record facts
//! without knowing about axum.

pub mod facts;
pub mod labels;
pub mod live;
pub mod metrics;
#[cfg(feature = "otel")]
pub mod otel;
pub mod watched_sessions;

pub use facts::RequestFacts;
