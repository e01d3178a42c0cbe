//! adk-llm-proxy: an OpenAI-compatible streaming proxy. See `docs/ARCHITECTURE.md` for where each
//! piece lives and how a request flows through them.

pub mod api;
pub mod bridge;
pub mod cli;
pub mod config;
pub mod error;
pub mod handler;
pub mod llm;
pub mod server;
pub mod wire;
