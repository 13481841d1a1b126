//! Dispatch from a `Format` to its codec in `providers/`, so the handler names a format once
//! and never matches on it again.

use crate::llm::ir::*;
use crate::llm::providers::descriptor::Format;
use crate::llm::providers::{anthropic, gemini, openai};
use crate::llm::sse;
use bytes::BytesMut;

fn not_a_client_format() -> ApiError {
    ApiError::new(
        ErrorKind::InvalidRequest,
        "Gemini is not a client surface of the gateway",
    )
}

/// A client's chat body to the canonical form.
pub fn decode_chat(client: Format, body: &[u8]) -> Result<ChatRequest, ApiError> {
    match client {
        Format::OpenAi => openai::request::decode_chat(body),
        Format::Anthropic => anthropic::request::decode_chat(body),
        Format::Gemini => Err(not_a_client_format()),
    }
}

/// The canonical request in a provider's format, for its model `model`.
pub fn encode_chat(provider: Format, req: &ChatRequest, model: &str) -> Result<Vec<u8>, ApiError> {
    match provider {
        Format::OpenAi => openai::request::encode_chat(req, model),
        Format::Anthropic => anthropic::request::encode_chat(req, model),
        Format::Gemini => gemini::request::encode_chat(req, model),
    }
}

pub fn decode_response(provider: Format, body: &[u8]) -> Result<ChatResponse, ApiError> {
    match provider {
        Format::OpenAi => openai::response::decode_chat(body),
        Format::Anthropic => anthropic::response::decode_chat(body),
        Format::Gemini => gemini::response::decode_chat(body),
    }
}

/// The usage of a chat answer the client gets as the provider wrote it, checked as
/// `decode_response` checks it; OpenAI's, the common case, without decoding it into the ir.
pub fn response_usage(provider: Format, body: &[u8]) -> Result<Usage, ApiError> {
    match provider {
        Format::OpenAi => openai::response::chat_usage(body),
        Format::Anthropic | Format::Gemini => Ok(decode_response(provider, body)?.usage),
    }
}

pub fn encode_response(client: Format, resp: &ChatResponse) -> Vec<u8> {
    match client {
        Format::Anthropic => anthropic::response::encode_chat(resp),
        Format::OpenAi | Format::Gemini => openai::response::encode_chat(resp),
    }
}

pub fn decode_error(provider: Format, status: u16, body: &[u8]) -> ApiError {
    match provider {
        Format::OpenAi => openai::response::decode_error(status, body),
        Format::Anthropic => anthropic::response::decode_error(status, body),
        Format::Gemini => gemini::response::decode_error(status, body),
    }
}

/// An error body in the client's format (OpenAI's shape for every surface but Anthropic's).
pub fn encode_error(client: Format, err: &ApiError) -> Vec<u8> {
    match client {
        Format::Anthropic => anthropic::response::encode_error(err),
        Format::OpenAi | Format::Gemini => openai::response::encode_error(err),
    }
}

pub fn encode_embeddings(
    provider: Format,
    req: &EmbeddingRequest,
    model: &str,
) -> Result<Vec<u8>, ApiError> {
    match provider {
        Format::OpenAi => openai::request::encode_embeddings(req, model),
        Format::Gemini => gemini::request::encode_embeddings(req, model),
        Format::Anthropic => Err(ApiError::invalid(
            "model",
            "Anthropic has no embeddings endpoint",
        )),
    }
}

pub fn decode_embeddings(provider: Format, body: &[u8]) -> Result<EmbeddingResponse, ApiError> {
    match provider {
        Format::OpenAi => openai::response::decode_embeddings(body),
        Format::Gemini => gemini::response::decode_embeddings(body),
        Format::Anthropic => Err(ApiError::new(
            ErrorKind::BadResponse,
            "Anthropic has no embeddings endpoint",
        )),
    }
}

/// A provider's stream to canonical events.
pub enum StreamDecoder {
    OpenAi(openai::stream::StreamDecoder),
    Anthropic(anthropic::stream::StreamDecoder),
    Gemini(gemini::stream::StreamDecoder),
}

impl StreamDecoder {
    pub fn new(provider: Format) -> StreamDecoder {
        match provider {
            Format::OpenAi => StreamDecoder::OpenAi(Default::default()),
            Format::Anthropic => StreamDecoder::Anthropic(Default::default()),
            Format::Gemini => StreamDecoder::Gemini(Default::default()),
        }
    }

    pub fn decode(
        &mut self,
        event: &sse::Event,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ApiError> {
        match self {
            StreamDecoder::OpenAi(d) => d.decode(event, out),
            StreamDecoder::Anthropic(d) => d.decode(event, out),
            StreamDecoder::Gemini(d) => d.decode(event, out),
        }
    }

    pub fn is_done(&self) -> bool {
        match self {
            StreamDecoder::OpenAi(d) => d.is_done(),
            StreamDecoder::Anthropic(d) => d.is_done(),
            StreamDecoder::Gemini(d) => d.is_done(),
        }
    }
}

/// Canonical events to the client's stream format.
pub enum StreamEncoder {
    OpenAi(openai::stream::StreamEncoder),
    Anthropic(anthropic::stream::StreamEncoder),
}

impl StreamEncoder {
    pub fn new(client: Format, include_usage: bool) -> StreamEncoder {
        match client {
            Format::Anthropic => {
                StreamEncoder::Anthropic(anthropic::stream::StreamEncoder::new(include_usage))
            }
            Format::OpenAi | Format::Gemini => {
                StreamEncoder::OpenAi(openai::stream::StreamEncoder::new(include_usage))
            }
        }
    }

    pub fn encode(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        match self {
            StreamEncoder::OpenAi(e) => e.encode(event, out),
            StreamEncoder::Anthropic(e) => e.encode(event, out),
        }
    }

    pub fn finish(&mut self, out: &mut BytesMut) {
        match self {
            StreamEncoder::OpenAi(e) => e.finish(out),
            StreamEncoder::Anthropic(e) => e.finish(out),
        }
    }

    pub fn error(&mut self, err: &ApiError, out: &mut BytesMut) {
        match self {
            StreamEncoder::OpenAi(e) => e.error(err, out),
            StreamEncoder::Anthropic(e) => e.error(err, out),
        }
    }
}

#[cfg(test)]
mod props;
