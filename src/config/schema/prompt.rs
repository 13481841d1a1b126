//! What users write for prompt APIs: `[[prompts]]`, a model and a template of chat messages
//! published at a path, with an input JSON Schema and a text or JSON output.

use super::{ApiSection, CaptureSection};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSection {
    /// The API's name: the route name in call records, subscriptions and the catalog.
    pub name: String,
    /// The exact path it answers `POST` on, e.g. `/prompts/translate/v1`.
    pub path: String,
    #[serde(default)]
    pub description: String,
    /// A public `[[models]]` name.
    pub model: String,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub stop: Vec<String>,
    /// The JSON Schema of the request body, inline (a TOML table)...
    pub input: Option<serde_json::Value>,
    /// ...or in a JSON file (relative to the main configuration file).
    pub input_file: Option<String>,
    pub messages: Vec<PromptMessageSection>,
    /// `"text"` (the answer's text) or `"json"` (a JSON value checked against `output_schema`).
    #[serde(default)]
    pub output: OutputKind,
    pub output_schema: Option<serde_json::Value>,
    pub output_schema_file: Option<String>,
    /// Whether a caller may ask for the answer as a stream (`?stream=true`; text output only).
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub api: ApiSection,
    #[serde(default)]
    pub limits: Vec<String>,
    pub capture: Option<CaptureSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptMessageSection {
    pub role: PromptRole,
    /// Text with `{{variable}}` slots, each naming a property of the input schema.
    pub content: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptRole {
    System,
    User,
    Assistant,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    #[default]
    Text,
    Json,
}
