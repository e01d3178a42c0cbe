//! What the proxy tells its operator about each request: the per-request facts the layers record
//! as they learn them, the Prometheus metrics, and (feature `otel`) the OTLP spans. Everything
//! here sits below the HTTP layer so the LLM call, the runner and the pipeline can record facts
//! without knowing about axum.

pub mod facts;
pub mod labels;
pub mod metrics;
#[cfg(feature = "otel")]
pub mod otel;

pub use facts::RequestFacts;
