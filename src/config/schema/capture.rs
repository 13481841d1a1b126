//! What users write for body capture and masking: a route's `capture = { ... }` and the
//! global `[log.mask]` rules.

use super::ByteSize;
use serde::Deserialize;

/// `capture = { bodies = true, max_bytes = "16KiB", headers = true }` on a route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureSection {
    /// The request and response bodies, each up to `max_bytes`.
    #[serde(default)]
    pub bodies: bool,
    /// The request headers (names and values, masked).
    #[serde(default)]
    pub headers: bool,
    #[serde(default = "default_capture_bytes")]
    pub max_bytes: ByteSize,
}

/// `[log.mask]`: what is hidden in captured headers and bodies before anything is written.
/// Credentials are hidden whatever this says.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskSection {
    /// JSONPath expressions (`$.user.email`, `$.messages[*].content`, `$..password`).
    #[serde(default)]
    pub json_paths: Vec<String>,
    /// Regular expressions (Rust `regex` syntax) hidden wherever they match.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// More request header names whose values are hidden.
    #[serde(default)]
    pub headers: Vec<String>,
    /// What a hidden value is replaced with.
    #[serde(default = "default_marker")]
    pub marker: String,
}

impl Default for MaskSection {
    fn default() -> Self {
        MaskSection {
            json_paths: Vec::new(),
            patterns: Vec::new(),
            headers: Vec::new(),
            marker: default_marker(),
        }
    }
}

fn default_capture_bytes() -> ByteSize {
    ByteSize(8 << 10)
}

fn default_marker() -> String {
    "[MASKED]".to_string()
}
