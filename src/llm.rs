//! The LLM request path: canonical types, provider translation and SSE streaming.

pub mod ir;
pub mod providers;
pub mod sse;
