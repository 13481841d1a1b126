//! What every provider declares about itself: the `kind` users write, the wire format it speaks,
//! its default base URL and API version, the path of each operation and how it takes a key.
//!
//! Each provider folder holds its own `descriptor.rs` with these facts beside its wire code, and
//! `providers.rs` lists them in one table. Configuration reads the table to check and default
//! `[[providers]]`; `provider.rs` reads a provider's descriptor to build each request head. This
//! file imports nothing of the crate but `ir`'s error type, so the configuration can read it.

use crate::llm::ir::ApiError;

/// The wire format of a provider or of a client surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenAi,
    Anthropic,
    Gemini,
}

/// What a call asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Chat { stream: bool },
    Embeddings,
}

/// One kind of provider.
#[derive(Debug)]
pub struct Descriptor {
    /// The `kind` users write in `[[providers]]`.
    pub kind: &'static str,
    /// How calls reach it; `None` for a provider answered in process (the mock), which then
    /// takes no `base_url`.
    pub http: Option<Http>,
}

/// A provider called over HTTP.
#[derive(Debug)]
pub struct Http {
    /// The codec its bodies and streams go through.
    pub format: Format,
    /// The base URL its official SDK defaults to; `None` when the user must give one.
    pub base_url: Option<&'static str>,
    pub paths: Paths,
    /// Its API version: the default and where it is sent; `None` when it takes none.
    pub api_version: Option<ApiVersion>,
    pub auth: Auth,
    /// Refuses a model name that cannot stand in a path (where a path has `{model}`).
    pub model_in_path: Option<ModelCheck>,
}

/// Answers whether a model name may be placed in a path as it is, and if not, why.
pub type ModelCheck = fn(&str) -> Result<(), ApiError>;

/// Paths appended to the base URL's path, one per operation. `{model}` stands for the
/// deployment's model (Azure's deployment name), `{api_version}` for the provider's version.
#[derive(Debug)]
pub struct Paths {
    pub chat: &'static str,
    pub stream: &'static str,
    /// `None` when the provider has no embeddings endpoint.
    pub embeddings: Option<&'static str>,
}

#[derive(Debug)]
pub struct ApiVersion {
    /// Used when `api_version` is not configured.
    pub default: &'static str,
    /// The request header it is sent in; `None` when a path carries it (`{api_version}`).
    pub header: Option<&'static str>,
}

/// The header a key is sent in, and the scheme before it (`Authorization: Bearer KEY`).
#[derive(Debug)]
pub struct Auth {
    pub header: &'static str,
    pub scheme: Option<&'static str>,
}

impl Paths {
    /// The path template of `op`; `None` when the provider has no endpoint for it.
    pub fn get(&self, op: Operation) -> Option<&'static str> {
        match op {
            Operation::Chat { stream: false } => Some(self.chat),
            Operation::Chat { stream: true } => Some(self.stream),
            Operation::Embeddings => self.embeddings,
        }
    }
}

impl Http {
    /// Whether `path` of `template` depends on the model: the same head can serve every model
    /// otherwise.
    pub fn path_names_model(&self, template: &str) -> bool {
        self.model_in_path.is_some() || template.contains("{model}")
    }

    /// `base` (the base URL's path) followed by `template` with its placeholders filled in.
    pub fn path(
        &self,
        base: &str,
        template: &str,
        model: &str,
        api_version: &str,
    ) -> Result<String, ApiError> {
        if let Some(check) = self.model_in_path {
            check(model)?;
        }
        let mut out =
            String::with_capacity(base.len() + template.len() + model.len() + api_version.len());
        out.push_str(base);
        let mut rest = template;
        while let Some(i) = rest.find('{') {
            out.push_str(&rest[..i]);
            let at = &rest[i..];
            rest = if let Some(after) = at.strip_prefix("{model}") {
                out.push_str(model);
                after
            } else if let Some(after) = at.strip_prefix("{api_version}") {
                out.push_str(api_version);
                after
            } else {
                out.push('{');
                &at[1..]
            };
        }
        out.push_str(rest);
        Ok(out)
    }
}
