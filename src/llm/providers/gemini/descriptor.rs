//! Gemini's REST API (v1beta): the model is named in the path rather than the body, a stream is
//! another method on it (`streamGenerateContent`, SSE with `alt=sse`), and the key goes in
//! `x-goog-api-key`.

use crate::llm::ir::ApiError;
use crate::llm::providers::descriptor::{Auth, Descriptor, Format, Http, Paths};

pub const GEMINI: Descriptor = Descriptor {
    kind: "gemini",
    http: Some(Http {
        format: Format::Gemini,
        base_url: Some("https://generativelanguage.googleapis.com"),
        paths: Paths {
            chat: "/v1beta/models/{model}:generateContent",
            stream: "/v1beta/models/{model}:streamGenerateContent?alt=sse",
            embeddings: Some("/v1beta/models/{model}:batchEmbedContents"),
        },
        api_version: None,
        auth: Auth {
            header: "x-goog-api-key",
            scheme: None,
        },
        model_in_path: Some(check_model),
    }),
};

/// The model name becomes a path segment verbatim: anything that would change the URL's shape
/// is refused rather than escaped, as no Gemini model name contains it.
pub fn check_model(model: &str) -> Result<(), ApiError> {
    if model.is_empty() {
        return Err(ApiError::invalid("model", "the Gemini model name is empty"));
    }
    if model
        .chars()
        .any(|c| matches!(c, '/' | '?' | '#') || c.is_whitespace())
    {
        return Err(ApiError::invalid(
            "model",
            format!("the Gemini model name `{model}` contains `/`, `?`, `#` or whitespace"),
        ));
    }
    Ok(())
}
