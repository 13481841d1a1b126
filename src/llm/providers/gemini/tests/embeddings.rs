//! Embeddings: the request encoded as `batchEmbedContents`, the recorded answer decoded.

use serde_json::{json, Value};

use crate::llm::ir::{EmbeddingRequest, Usage};
use crate::llm::providers::gemini::{request, response};

#[test]
fn encodes_embeddings() {
    let req = EmbeddingRequest {
        model: "embed".into(),
        input: vec!["hello".into(), "world".into()],
        dimensions: Some(768),
        base64: true,
        user: None,
    };
    let body = request::encode_embeddings(&req, "gemini-embedding-001").unwrap();
    let got: Value = serde_json::from_slice(&body).unwrap();
    let one = |t: &str| {
        json!({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t}]},
               "outputDimensionality": 768})
    };
    assert_eq!(got, json!({"requests": [one("hello"), one("world")]}));
    let empty = EmbeddingRequest::default();
    assert_eq!(
        request::encode_embeddings(&empty, "m")
            .unwrap_err()
            .param
            .as_deref(),
        Some("input")
    );
}

#[test]
fn decodes_embeddings() {
    let got = response::decode_embeddings(include_bytes!("../fixtures/batch_embed_contents.json"))
        .unwrap();
    assert_eq!(
        got.data,
        vec![
            vec![-0.0015675843, 0.0040880083, -0.07141946, 0.028541852],
            vec![0.013124765, -0.021571316, -0.04596812, 0.007321432],
        ]
    );
    assert_eq!(got.usage, Usage::default());
}
