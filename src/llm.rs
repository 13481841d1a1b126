//! The LLM request path: canonical types, provider translation and SSE streaming.
//! Only the SSE codec exists so far.

pub mod sse;
