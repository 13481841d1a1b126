//! Anthropic Messages API request bodies: `POST /v1/messages` as clients send it (decode) and as
//! api.anthropic.com takes it (encode).
//!
//! Decoding is in `request/decode.rs`, encoding in `request/encode.rs`; this file says what the
//! rest of the provider reads from them.

mod decode;
mod encode;

pub use decode::decode_chat;
pub(super) use decode::WireBlock;
pub use encode::{encode_chat, DEFAULT_MAX_TOKENS};
pub(super) use encode::{OutBlock, ToolInput};
