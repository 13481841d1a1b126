//! The providers: one folder per wire format, each with the same files (`request.rs`,
//! `response.rs`, `stream.rs`, converting to and from `llm::ir`, split into a folder of the
//! same name by direction or topic where one file would be too long; `descriptor.rs`, the
//! facts of the kinds that speak it; `tests.rs` with `tests/` by topic, and recorded
//! `fixtures/`), and the table of every kind. `json.rs` is how their encoders write text.
//!
//! Adding a kind that speaks a known format is a descriptor in its format's folder and one line
//! in `DESCRIPTORS`; configuration and the request builder read everything else from it.

pub mod anthropic;
pub mod descriptor;
pub mod gemini;
mod json;
pub mod openai;

use descriptor::Descriptor;

/// Every `kind` of `[[providers]]`, in the order `tollgate validate` lists them.
pub const DESCRIPTORS: &[&Descriptor] = &[
    &openai::descriptor::OPENAI,
    &openai::descriptor::AZURE_OPENAI,
    &anthropic::descriptor::ANTHROPIC,
    &gemini::descriptor::GEMINI,
    &openai::descriptor::OPENAI_COMPATIBLE,
    &MOCK,
];

/// The in-process provider of `llm::mock`: no network side, so no folder and no wire facts.
pub const MOCK: Descriptor = Descriptor {
    kind: "mock",
    http: None,
};

/// The names in `DESCRIPTORS`, for the error that lists them.
pub const KINDS: [&str; DESCRIPTORS.len()] = {
    let mut kinds = [""; DESCRIPTORS.len()];
    let mut i = 0;
    while i < kinds.len() {
        kinds[i] = DESCRIPTORS[i].kind;
        i += 1;
    }
    kinds
};

/// The descriptor of a `kind`.
pub fn find(kind: &str) -> Option<&'static Descriptor> {
    DESCRIPTORS.iter().copied().find(|d| d.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::descriptor::Operation;
    use super::*;

    const OPS: [Operation; 3] = [
        Operation::Chat { stream: false },
        Operation::Chat { stream: true },
        Operation::Embeddings,
    ];

    #[test]
    fn every_descriptor_is_consistent() {
        for (i, d) in DESCRIPTORS.iter().enumerate() {
            assert!(
                DESCRIPTORS[..i].iter().all(|o| o.kind != d.kind),
                "{} twice",
                d.kind
            );
            assert_eq!(find(d.kind).map(|f| f.kind), Some(d.kind));
            let Some(http) = &d.http else { continue };
            for op in OPS {
                let Some(t) = http.paths.get(op) else {
                    continue;
                };
                assert!(t.starts_with('/'), "{}: {t}", d.kind);
                // Every placeholder is one `path` fills, and a model in a path is checked.
                let bare = t.replace("{model}", "").replace("{api_version}", "");
                assert!(!bare.contains(['{', '}']), "{}: {t}", d.kind);
                assert_eq!(
                    t.contains("{model}"),
                    http.model_in_path.is_some(),
                    "{}: {t}",
                    d.kind
                );
                assert!(
                    !t.contains("{api_version}")
                        || http
                            .api_version
                            .as_ref()
                            .is_some_and(|v| v.header.is_none()),
                    "{}: {t}",
                    d.kind
                );
            }
            if let Some(url) = http.base_url {
                assert!(url.starts_with("https://") && !url.ends_with('/'), "{url}");
            }
        }
        assert!(find("mocky").is_none());
    }

    #[test]
    fn paths_fill_in_the_model_and_version() {
        let azure = openai::descriptor::AZURE_OPENAI.http.as_ref().unwrap();
        let path = |op, model| azure.path("/base", azure.paths.get(op).unwrap(), model, "v1");
        assert_eq!(
            path(Operation::Chat { stream: true }, "gpt-4o").unwrap(),
            "/base/openai/deployments/gpt-4o/chat/completions?api-version=v1"
        );
        assert_eq!(
            path(Operation::Embeddings, "e.1").unwrap(),
            "/base/openai/deployments/e.1/embeddings?api-version=v1"
        );
        for bad in ["", "a/b", "a b", "a?b", "é"] {
            let err = path(Operation::Embeddings, bad).unwrap_err();
            assert_eq!(err.param.as_deref(), Some("model"), "{bad:?}");
        }
        let openai = openai::descriptor::OPENAI.http.as_ref().unwrap();
        let chat = openai.paths.get(Operation::Chat { stream: false }).unwrap();
        assert_eq!(
            openai.path("/v1", chat, "a/b", "").unwrap(),
            "/v1/chat/completions"
        );
        let anthropic = anthropic::descriptor::ANTHROPIC.http.as_ref().unwrap();
        assert!(anthropic.paths.get(Operation::Embeddings).is_none());
    }
}
