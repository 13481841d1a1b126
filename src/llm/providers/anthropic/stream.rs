//! Anthropic Messages API streams: api.anthropic.com's SSE events to ir stream events
//! (`StreamDecoder`) and ir stream events to the exact event sequence `/v1/messages` clients
//! expect (`StreamEncoder`).
//!
//! DESIGN: Anthropic reports input tokens only in `message_start` and output tokens in
//! `message_delta`, so the decoder keeps the first to complete the second, and the encoder
//! holds `message_start` back until the first usage or content after `Start` (or the end), so
//! it carries the input count a provider reports alongside its own start.

mod decode;
mod encode;

pub use decode::StreamDecoder;
pub use encode::StreamEncoder;
