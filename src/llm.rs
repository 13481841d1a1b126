//! The LLM library: canonical types, provider translation and SSE streaming. It knows
//! nothing of the proxy, limits, auth or telemetry: the request phase that uses it is
//! `proxy::llm`.
//!
//! A request on an LLM route is read whole (`proxy::llm`), its `model` looked up (`models`), and
//! sent to a deployment: as it came when the provider speaks the client's format
//! (`passthrough`), else translated through `ir` by the formats in `providers`. `client` makes
//! the network call; `mock` answers in-process. `prompt` renders the templates of prompt
//! APIs into requests and checks their JSON answers.

pub mod client;
pub mod codec;
pub mod ir;
pub mod mock;
pub mod models;
pub mod passthrough;
pub mod prompt;
pub mod provider;
pub mod providers;
pub mod sse;
pub mod validate;
