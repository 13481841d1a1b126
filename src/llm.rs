//! The LLM request path: canonical types, provider translation and SSE streaming.
//!
//! A request on an LLM route is read whole (`handler`), its `model` looked up (`models`), and
//! sent to a deployment: as it came when the provider speaks the client's format
//! (`passthrough`), else translated through `ir` by the formats in `providers`. `client` makes
//! the network call; `mock` answers in-process.

pub mod client;
pub mod codec;
pub mod handler;
pub mod ir;
pub mod mock;
pub mod models;
pub mod passthrough;
pub mod provider;
pub mod providers;
pub mod sse;
pub mod validate;
