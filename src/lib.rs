//! adk-llm-proxy: an OpenAI-compatible streaming proxy. See `docs/ARCHITECTURE.md` for where each
//! piece lives and how a request flows through them.

pub mod agent;
pub mod allocator;
pub mod api;
pub mod assemble;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod dialect;
pub mod error;
pub mod event;
pub mod glob;
pub mod ids;
pub mod lifecycle;
pub mod limits;
pub mod llm;
pub mod memory_return;
pub mod observe;
pub mod pipeline;
pub mod redis_connection;
pub mod runner;
pub mod server;
pub mod session;
pub mod tool;
pub mod wire;
