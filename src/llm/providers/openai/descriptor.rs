//! The kinds that speak the OpenAI wire format: OpenAI itself, Azure OpenAI (the same bodies,
//! with the deployment and `api-version` in the URL and an `api-key` header) and any server
//! that copies OpenAI's API (vLLM, Ollama, LiteLLM...), which has no public base URL.

use crate::llm::ir::ApiError;
use crate::llm::providers::descriptor::{ApiVersion, Auth, Descriptor, Format, Http, Paths};

const BEARER: Auth = Auth {
    header: "authorization",
    scheme: Some("Bearer"),
};

const PATHS: Paths = Paths {
    chat: "/chat/completions",
    stream: "/chat/completions",
    embeddings: Some("/embeddings"),
};

pub const OPENAI: Descriptor = Descriptor {
    kind: "openai",
    http: Some(Http {
        format: Format::OpenAi,
        base_url: Some("https://api.openai.com/v1"),
        paths: PATHS,
        api_version: None,
        auth: BEARER,
        model_in_path: None,
    }),
};

pub const AZURE_OPENAI: Descriptor = Descriptor {
    kind: "azure_openai",
    http: Some(Http {
        format: Format::OpenAi,
        // `https://NAME.openai.azure.com`: every resource has its own.
        base_url: None,
        paths: Paths {
            chat: "/openai/deployments/{model}/chat/completions?api-version={api_version}",
            stream: "/openai/deployments/{model}/chat/completions?api-version={api_version}",
            embeddings: Some("/openai/deployments/{model}/embeddings?api-version={api_version}"),
        },
        api_version: Some(ApiVersion {
            default: "2024-10-21",
            header: None,
        }),
        auth: Auth {
            header: "api-key",
            scheme: None,
        },
        model_in_path: Some(deployment_name),
    }),
};

pub const OPENAI_COMPATIBLE: Descriptor = Descriptor {
    kind: "openai_compatible",
    http: Some(Http {
        format: Format::OpenAi,
        base_url: None,
        paths: PATHS,
        api_version: None,
        auth: BEARER,
        model_in_path: None,
    }),
};

/// An Azure deployment name placed in a URL path: unreserved characters only, as Azure
/// allows no others in one.
fn deployment_name(model: &str) -> Result<(), ApiError> {
    if model.is_empty()
        || !model
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        return Err(ApiError::invalid(
            "model",
            format!("deployment name {model:?} cannot be used in a URL"),
        ));
    }
    Ok(())
}
