//! The `batchEmbedContents` body: one embedding request per input.

use serde::Serialize;

use super::{OutPart, PartData};
use crate::llm::ir::{ApiError, EmbeddingRequest};
use crate::llm::providers::gemini::descriptor::check_model;

#[derive(Serialize)]
struct BatchEmbed<'a> {
    requests: Vec<EmbedRequest<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EmbedRequest<'a> {
    model: &'a str,
    content: EmbedContent<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_dimensionality: Option<u32>,
}

#[derive(Serialize)]
struct EmbedContent<'a> {
    parts: [OutPart<'a>; 1],
}

/// A `batchEmbedContents` body: one request per input. `base64` only shapes the client's
/// answer, and `user` has no Gemini field.
pub fn encode_embeddings(req: &EmbeddingRequest, model: &str) -> Result<Vec<u8>, ApiError> {
    check_model(model)?;
    if req.input.is_empty() {
        return Err(ApiError::invalid("input", "input must not be empty"));
    }
    let name = format!("models/{model}");
    let body = BatchEmbed {
        requests: req
            .input
            .iter()
            .map(|text| EmbedRequest {
                model: &name,
                content: EmbedContent {
                    parts: [OutPart::new(PartData::Text(text))],
                },
                output_dimensionality: req.dimensions,
            })
            .collect(),
    };
    serde_json::to_vec(&body).map_err(|e| ApiError::invalid("body", e.to_string()))
}
