//! Wire formats of the providers. Each folder has the same files: `request.rs`, `response.rs`,
//! `stream.rs` and `tests.rs`, converting to and from `llm::ir`.

pub mod anthropic;
pub mod gemini;
pub mod openai;
