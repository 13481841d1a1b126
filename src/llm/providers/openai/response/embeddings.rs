//! Embeddings bodies: a provider's answer decoded (float or base64 vectors), and the gateway's
//! answer encoded in the format the client asked for.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{parse, to_vec, UsageIn};
use crate::llm::ir::{self, ApiError, ErrorKind};

#[derive(Deserialize)]
struct EmbeddingsIn {
    #[serde(default)]
    model: String,
    data: Vec<EmbeddingIn>,
    usage: Option<UsageIn>,
}

#[derive(Deserialize)]
struct EmbeddingIn {
    #[serde(default)]
    index: usize,
    embedding: Vector,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Vector {
    Floats(Vec<f32>),
    /// Little-endian f32s, base64-encoded (`encoding_format: "base64"`).
    Base64(String),
}

/// Decodes a provider's embeddings; vectors may be float arrays or base64.
pub fn decode_embeddings(body: &[u8]) -> Result<ir::EmbeddingResponse, ApiError> {
    let mut resp: EmbeddingsIn = parse("embeddings response", body)?;
    resp.data.sort_by_key(|d| d.index);
    let data = resp
        .data
        .into_iter()
        .map(|d| match d.embedding {
            Vector::Floats(v) => Ok(v),
            Vector::Base64(s) => decode_vector(&s),
        })
        .collect::<Result<_, _>>()?;
    Ok(ir::EmbeddingResponse {
        model: resp.model,
        data,
        usage: resp.usage.map(|u| u.to_ir()).unwrap_or_default(),
    })
}

fn decode_vector(s: &str) -> Result<Vec<f32>, ApiError> {
    let bad = |why: &str| {
        ApiError::new(
            ErrorKind::BadResponse,
            format!("unreadable base64 embedding: {why}"),
        )
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| bad(&e.to_string()))?;
    if bytes.len() % 4 != 0 {
        return Err(bad("length is not a multiple of 4 bytes"));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

fn encode_vector(v: &[f32]) -> String {
    let mut bytes = Vec::with_capacity(v.len() * 4);
    for f in v {
        bytes.extend_from_slice(&f.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[derive(Serialize)]
struct EmbeddingsOut<'a> {
    object: &'static str,
    data: Vec<EmbeddingOut<'a>>,
    model: &'a str,
    usage: EmbeddingUsageOut,
}

#[derive(Serialize)]
struct EmbeddingOut<'a> {
    object: &'static str,
    index: usize,
    embedding: VectorOut<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum VectorOut<'a> {
    Floats(&'a [f32]),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingUsageOut {
    prompt_tokens: u64,
    total_tokens: u64,
}

/// Encodes embeddings for a client; `base64` when it asked for `encoding_format: "base64"`.
pub fn encode_embeddings(resp: &ir::EmbeddingResponse, base64: bool) -> Vec<u8> {
    let data = resp
        .data
        .iter()
        .enumerate()
        .map(|(index, v)| EmbeddingOut {
            object: "embedding",
            index,
            embedding: if base64 {
                VectorOut::Base64(encode_vector(v))
            } else {
                VectorOut::Floats(v)
            },
        })
        .collect();
    to_vec(&EmbeddingsOut {
        object: "list",
        data,
        model: &resp.model,
        usage: EmbeddingUsageOut {
            prompt_tokens: resp.usage.prompt_tokens,
            total_tokens: resp.usage.total(),
        },
    })
}
