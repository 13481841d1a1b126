//! OpenAI Chat Completions and Embeddings request bodies: `decode_*` reads what a client of the
//! gateway sent, `encode_*` writes what goes to OpenAI, Azure OpenAI or an OpenAI-compatible
//! server (vLLM, Ollama, Mistral, Groq, DeepSeek).
//!
//! A body that does not decode is read again through `serde_path_to_error` (`json::read_body`) so
//! a bad field is a 400 naming its path (`messages[2].content[0].type`). Fields the gateway
//! does not translate (`logprobs`, `logit_bias`, `metadata`, ...) are ignored, as OpenAI's own
//! server does for unknown ones.
//!
//! The chat body is read in `request/decode.rs` and written in `request/encode.rs`, the embeddings
//! body both ways in `request/embeddings.rs`; this file holds what they share.

mod decode;
mod embeddings;
mod encode;

pub use decode::decode_chat;
pub use embeddings::{decode_embeddings, encode_embeddings};
pub use encode::encode_chat;
pub(crate) use encode::{FunctionCallOut, ToolCallOut};

use serde::{Deserialize, Serialize};

use crate::llm::ir::{self, ApiError};

/// `stream_options`: read from a client, and sent on every stream so usage is always metered.
#[derive(Deserialize, Serialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}

/// A 400 naming the field in both `param` and the message, as `ir::body_error` does.
fn bad(param: String, why: &str) -> ApiError {
    let message = format!("invalid field `{param}`: {why}");
    ApiError::invalid(param, message)
}

/// `ir::body_error` for everything but broken JSON, whose "path" is wherever the parser
/// stopped (`messages[0].?`): that is a bad body, not a bad field.
fn body_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    if err.inner().is_syntax() || err.inner().is_eof() {
        let message = format!("invalid JSON body: {}", err.inner());
        return ApiError::invalid("body", message);
    }
    ir::body_error(err)
}
