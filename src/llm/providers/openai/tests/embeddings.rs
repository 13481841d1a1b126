//! Embeddings: requests decoded and encoded, responses in float and base64.

use serde_json::json;

use super::value;
use crate::llm::ir;
use crate::llm::providers::openai::{request, response};

#[test]
fn embeddings_requests() {
    let req = request::decode_embeddings(
        br#"{"model":"text-embedding-3-small","input":["a","b"],"encoding_format":"base64","dimensions":256,"user":"u"}"#,
    )
    .unwrap();
    assert_eq!(
        req,
        ir::EmbeddingRequest {
            model: "text-embedding-3-small".into(),
            input: vec!["a".into(), "b".into()],
            dimensions: Some(256),
            base64: true,
            user: Some("u".into()),
        }
    );
    let body = request::encode_embeddings(&req, "emb-prod").unwrap();
    assert_eq!(
        value(&body),
        json!({"model": "emb-prod", "input": ["a", "b"], "dimensions": 256, "user": "u"})
    );
    let one = request::decode_embeddings(br#"{"model":"m","input":"x"}"#).unwrap();
    assert_eq!((one.input, one.base64), (vec!["x".to_string()], false));

    let errors = [
        (r#"{"model":"m","input":[1,2,3]}"#, "input"),
        (r#"{"model":"m","input":[[1,2],[3]]}"#, "input"),
        (r#"{"model":"m","input":7}"#, "input"),
        (r#"{"model":"m","input":[]}"#, "input"),
        (r#"{"model":"m"}"#, "input"),
        (r#"{"input":"x"}"#, "model"),
        (
            r#"{"model":"m","input":"x","encoding_format":"int8"}"#,
            "encoding_format",
        ),
        (
            r#"{"model":"m","input":"x","dimensions":"big"}"#,
            "dimensions",
        ),
    ];
    for (body, param) in errors {
        let err = request::decode_embeddings(body.as_bytes()).unwrap_err();
        assert_eq!(err.param.as_deref(), Some(param), "{body}");
    }
}

#[test]
fn embeddings_responses() {
    let float =
        response::decode_embeddings(include_bytes!("../fixtures/embeddings_float.json")).unwrap();
    let b64 =
        response::decode_embeddings(include_bytes!("../fixtures/embeddings_base64.json")).unwrap();
    assert_eq!(float, b64);
    assert_eq!(float.model, "text-embedding-3-small");
    assert_eq!(float.data.len(), 2);
    assert_eq!(float.data[0][1], -0.009327292);
    assert_eq!(float.usage.prompt_tokens, 9);

    let floats = response::encode_embeddings(&float, false);
    let mut expected = value(include_bytes!("../fixtures/embeddings_float.json"));
    assert_eq!(value(&floats), expected);
    let base64 = response::encode_embeddings(&float, true);
    expected = value(include_bytes!("../fixtures/embeddings_base64.json"));
    assert_eq!(value(&base64), expected);
    assert_eq!(response::decode_embeddings(&base64).unwrap(), float);

    // Out-of-order data is put back in index order.
    let resp = response::decode_embeddings(
        br#"{"model":"m","data":[{"index":1,"embedding":[2.0]},{"index":0,"embedding":[1.0]}]}"#,
    )
    .unwrap();
    assert_eq!(resp.data, vec![vec![1.0], vec![2.0]]);
}

/// A field of the wrong type, refused in full as the client reads it.
#[test]
fn a_refusal_is_worded_in_full() {
    let err =
        request::decode_embeddings(br#"{"model":"m","input":"x","dimensions":"big"}"#).unwrap_err();
    assert_eq!(err.param.as_deref(), Some("dimensions"));
    assert_eq!(
        err.message,
        "invalid field `dimensions`: invalid type: string \"big\", expected u32 at line 1 column 43"
    );
}
