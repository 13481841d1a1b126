//! `/v1/embeddings` bodies both ways: a client's decoded to the ir, the ir encoded for the
//! provider.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{bad, body_error};
use crate::llm::ir::{self, ApiError};
use crate::llm::providers::json;

#[derive(Deserialize)]
struct EmbeddingsIn {
    model: Option<String>,
    input: Option<Value>,
    encoding_format: Option<String>,
    dimensions: Option<u32>,
    user: Option<String>,
}

/// Decodes a client's `/v1/embeddings` body.
pub fn decode_embeddings(body: &[u8]) -> Result<ir::EmbeddingRequest, ApiError> {
    let req: EmbeddingsIn = json::read_body(body).map_err(body_error)?;
    let model = req
        .model
        .ok_or_else(|| ApiError::invalid("model", "missing required field `model`"))?;
    // Token-id inputs are tokenizer-specific: no other provider could read them.
    let not_text = || {
        bad(
            "input".into(),
            "must be a string or an array of strings; token arrays are not supported",
        )
    };
    let input = match req.input {
        None => return Err(ApiError::invalid("input", "missing required field `input`")),
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(not_text()),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(not_text()),
    };
    if input.is_empty() {
        return Err(ApiError::invalid("input", "`input` must not be empty"));
    }
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            let msg = format!("unknown encoding_format `{other}`; expected float or base64");
            return Err(bad("encoding_format".into(), &msg));
        }
    };
    Ok(ir::EmbeddingRequest {
        model,
        input,
        dimensions: req.dimensions,
        base64,
        user: req.user,
    })
}

#[derive(Serialize)]
struct EmbeddingsOut<'a> {
    model: &'a str,
    input: &'a [String],
    // No `encoding_format`: float is every compatible server's default, and the response
    // decoder reads base64 too should one send it anyway.
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
}

/// Encodes an embeddings request for an OpenAI-compatible provider.
pub fn encode_embeddings(req: &ir::EmbeddingRequest, model: &str) -> Result<Vec<u8>, ApiError> {
    let out = EmbeddingsOut {
        model,
        input: &req.input,
        dimensions: req.dimensions,
        user: req.user.as_deref(),
    };
    serde_json::to_vec(&out).map_err(|e| ApiError::invalid("body", e.to_string()))
}
