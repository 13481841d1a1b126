//! Anthropic's Messages API: one path, an `x-api-key` header and the `anthropic-version`
//! header every call must carry. It has no embeddings endpoint.

use crate::llm::providers::descriptor::{ApiVersion, Auth, Descriptor, Format, Http, Paths};

pub const ANTHROPIC: Descriptor = Descriptor {
    kind: "anthropic",
    http: Some(Http {
        format: Format::Anthropic,
        base_url: Some("https://api.anthropic.com"),
        paths: Paths {
            chat: "/v1/messages",
            stream: "/v1/messages",
            embeddings: None,
        },
        api_version: Some(ApiVersion {
            default: "2023-06-01",
            header: Some("anthropic-version"),
        }),
        auth: Auth {
            header: "x-api-key",
            scheme: None,
        },
        model_in_path: None,
    }),
};
