//! The validator's rules, one case per bound and per wrong type.

use super::*;

fn check_one(api: Api, key: &str, value: &str) -> Result<(), ApiError> {
    let raw: Box<RawValue> = serde_json::from_str(value).unwrap();
    field(api, key, &raw)
}

const OPENAI: Api = Api::Chat(Format::OpenAi);
const ANTHROPIC: Api = Api::Chat(Format::Anthropic);

fn refused(api: Api, key: &str, value: &str) {
    let e = check_one(api, key, value).expect_err(value);
    assert_eq!(e.param.as_deref(), Some(key), "{value}");
    assert_eq!(e.kind.status(), 400);
    assert!(e.message.contains(key), "{}", e.message);
}

#[test]
fn n_is_an_integer_from_1_to_128() {
    for ok in ["1", "2", "128", "null"] {
        check_one(OPENAI, "n", ok).unwrap();
    }
    for bad in [
        "0",
        "-1",
        "129",
        "4294967295",
        "18446744073709551615",
        "1e30",
        "99999999999999999999999",
        "1.5",
        "2.0",
        "\"2\"",
        "true",
        "[1]",
    ] {
        refused(OPENAI, "n", bad);
    }
}

#[test]
fn sampling_parameters_follow_each_api() {
    for ok in ["0", "0.7", "2", "2.0"] {
        check_one(OPENAI, "temperature", ok).unwrap();
    }
    for bad in ["-0.1", "2.01", "1e3", "\"hot\""] {
        refused(OPENAI, "temperature", bad);
    }
    // Anthropic's temperature stops at 1.
    check_one(ANTHROPIC, "temperature", "1").unwrap();
    refused(ANTHROPIC, "temperature", "1.5");
    refused(OPENAI, "top_p", "1.1");
    refused(ANTHROPIC, "top_p", "-0.5");
    check_one(OPENAI, "presence_penalty", "-2").unwrap();
    refused(OPENAI, "presence_penalty", "-2.5");
    refused(OPENAI, "frequency_penalty", "3");
    check_one(ANTHROPIC, "top_k", "0").unwrap();
    refused(ANTHROPIC, "top_k", "-1");
}

#[test]
fn token_counts_are_positive_and_fit_the_codecs() {
    for key in ["max_tokens", "max_completion_tokens"] {
        check_one(OPENAI, key, "1").unwrap();
        check_one(OPENAI, key, "4294967295").unwrap();
        refused(OPENAI, key, "0");
        refused(OPENAI, key, "4294967296");
        refused(OPENAI, key, "-5");
    }
    refused(ANTHROPIC, "max_tokens", "0");
    assert!(complete(ANTHROPIC, |_| false).is_err());
    assert!(complete(ANTHROPIC, |k| k == "max_tokens").is_ok());
    assert!(complete(OPENAI, |_| false).is_ok());
}

#[test]
fn logprobs_stop_and_logit_bias() {
    check_one(OPENAI, "logprobs", "true").unwrap();
    refused(OPENAI, "logprobs", "5");
    check_one(OPENAI, "top_logprobs", "20").unwrap();
    refused(OPENAI, "top_logprobs", "21");
    check_one(OPENAI, "stop", r#""\n""#).unwrap();
    check_one(OPENAI, "stop", r#"["a","b","c","d"]"#).unwrap();
    refused(OPENAI, "stop", r#"["a","b","c","d","e"]"#);
    refused(OPENAI, "stop", "[1]");
    check_one(ANTHROPIC, "stop_sequences", r#"["a","b","c","d","e"]"#).unwrap();
    refused(ANTHROPIC, "stop_sequences", r#""a""#);
    check_one(OPENAI, "logit_bias", r#"{"50256": -100, "1": 100}"#).unwrap();
    refused(OPENAI, "logit_bias", r#"{"50256": -101}"#);
    refused(OPENAI, "logit_bias", r#"{"50256": "x"}"#);
}

#[test]
fn embeddings_bound_dimensions_and_inputs() {
    check_one(Api::Embeddings, "dimensions", "256").unwrap();
    refused(Api::Embeddings, "dimensions", "0");
    check_one(Api::Embeddings, "input", r#""one""#).unwrap();
    let most = format!("[{}]", vec!["\"a\""; 2048].join(","));
    check_one(Api::Embeddings, "input", &most).unwrap();
    let too_many = format!("[{}]", vec!["\"a\""; 2049].join(","));
    refused(Api::Embeddings, "input", &too_many);
    refused(Api::Embeddings, "input", "[]");
    // Chat rules do not apply to embeddings, nor embeddings rules to chat.
    check_one(Api::Embeddings, "n", "100000").unwrap();
    check_one(OPENAI, "input", "[]").unwrap();
}

#[test]
fn long_values_are_cut_short_in_the_message() {
    let long = format!("\"{}\"", "x".repeat(10_000));
    let e = check_one(OPENAI, "n", &long).unwrap_err();
    assert!(e.message.len() < 200, "{}", e.message);
}
