//! Body capture and masking compiled: a route's `capture` with the global `[log.mask]` rules
//! resolved into it, so the request path holds one `Arc` and reads nothing else. Masking
//! itself (applying the rules) is telemetry's (`telemetry::mask`).

use super::Checker;
use crate::base::api_key;
use crate::base::json_path::JsonPath;
use crate::config::problem::{key, Seg};
use crate::config::schema;
use regex::Regex;
use std::sync::Arc;

/// The largest `max_bytes`: a capture is masked on the worker after the answer is sent, and
/// the cost of masking grows with it.
pub const MAX_CAPTURE_BYTES: u64 = 1 << 20;

/// A route's capture, as the request path reads it.
#[derive(Debug, Clone)]
pub struct CaptureSpec {
    pub bodies: bool,
    pub headers: bool,
    /// Bytes kept of each body; more are counted, not kept.
    pub max_bytes: usize,
    pub mask: Arc<MaskRules>,
}

/// The masking rules: configured ones, and the credentials that are always hidden.
#[derive(Debug)]
pub struct MaskRules {
    pub json_paths: Vec<JsonPath>,
    /// Every pattern, the built-in credential ones first, as one alternation: one pass over a
    /// text, and a marker put in by one pattern is never matched again by another.
    pub patterns: Regex,
    /// Lower-cased names of more headers to hide, beyond `always_masked_header`.
    pub headers: Vec<String>,
    pub marker: String,
}

/// Credentials hidden in every text, whatever `[log.mask]` says: Tollgate keys, bearer
/// tokens, and provider keys of the common shapes (OpenAI and Anthropic `sk-...`, Google
/// `AIza...`).
fn builtin_patterns() -> [String; 4] {
    [
        format!(
            r"tg_[a-z0-9]{{{}}}_[A-Za-z0-9]{{{}}}",
            api_key::PUBLIC_ID_LEN,
            api_key::SECRET_LEN
        ),
        r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}".to_string(),
        r"\bsk-[A-Za-z0-9_-]{20,}".to_string(),
        r"\bAIza[0-9A-Za-z_-]{35}".to_string(),
    ]
}

/// Header names hidden whatever the configuration says: exact names, and any name holding one
/// of `MASKED_NAME_PARTS`.
const MASKED_HEADERS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
];
const MASKED_NAME_PARTS: [&str; 10] = [
    "auth", "token", "secret", "password", "passwd", "api-key", "api_key", "apikey", "cookie",
    "session",
];

/// Whether a (lower-case) header name always has its value hidden.
pub fn always_masked_header(name: &str) -> bool {
    MASKED_HEADERS.contains(&name) || MASKED_NAME_PARTS.iter().any(|p| name.contains(p))
}

impl MaskRules {
    /// `[log.mask]` alone, compiled: for tools and tests that have no whole configuration.
    pub fn compile(m: &schema::MaskSection) -> Result<Arc<MaskRules>, Vec<super::Issue>> {
        let mut ck = Checker { issues: Vec::new() };
        let rules = compile_mask(m, &mut ck);
        if ck.issues.is_empty() {
            Ok(rules)
        } else {
            Err(ck.issues)
        }
    }

    /// Whether the value of header `name` (lower case) is hidden whole.
    pub fn masks_header(&self, name: &str) -> bool {
        always_masked_header(name) || self.headers.iter().any(|h| h == name)
    }
}

/// `[log.mask]`, each bad path or pattern a problem at its own index.
pub(super) fn compile_mask(m: &schema::MaskSection, ck: &mut Checker) -> Arc<MaskRules> {
    let base = [key("log"), key("mask")];
    let at = |field: &str, i: usize| vec![key("log"), key("mask"), key(field), Seg::Index(i)];
    let mut json_paths = Vec::new();
    for (i, p) in m.json_paths.iter().enumerate() {
        match JsonPath::parse(p) {
            Ok(path) => json_paths.push(path),
            Err(e) => ck.issues.push(super::Issue::new(
                at("json_paths", i),
                format!("{p:?}: {e}"),
            )),
        }
    }
    let mut all = builtin_patterns().to_vec();
    for (i, p) in m.patterns.iter().enumerate() {
        match Regex::new(p) {
            Ok(_) if p.is_empty() => ck.issues.push(super::Issue::new(
                at("patterns", i),
                "an empty pattern would match everywhere",
            )),
            Ok(_) => all.push(p.clone()),
            Err(e) => ck.issues.push(super::Issue::new(
                at("patterns", i),
                format!("not a valid regular expression: {e}"),
            )),
        }
    }
    let alternation = all
        .iter()
        .map(|p| format!("(?:{p})"))
        .collect::<Vec<_>>()
        .join("|");
    let patterns = Regex::new(&alternation).unwrap_or_else(|e| {
        // Each pattern compiled alone: only the size of them all together can fail here.
        ck.at(&base, &["patterns"], format!("the patterns together: {e}"));
        builtin()
    });
    let mut headers = Vec::new();
    for (i, h) in m.headers.iter().enumerate() {
        match http::HeaderName::try_from(h.as_str()) {
            Ok(n) => headers.push(n.as_str().to_string()),
            Err(_) => ck.issues.push(super::Issue::new(
                at("headers", i),
                format!("{h:?} is not a valid header name"),
            )),
        }
    }
    if m.marker.is_empty() {
        ck.at(&base, &["marker"], "the marker must not be empty");
    }
    Arc::new(MaskRules {
        json_paths,
        patterns,
        headers,
        marker: m.marker.clone(),
    })
}

/// The built-in patterns alone, for a rule set already refused (never used on a request).
/// Start-up code, on constant patterns that a unit test compiles.
fn builtin() -> Regex {
    Regex::new(&builtin_patterns().join("|")).expect("the built-in patterns compile")
}

/// A route's `capture`; `None` when it captures nothing.
pub(super) fn compile_capture(
    c: Option<&schema::CaptureSection>,
    mask: &Arc<MaskRules>,
    base: &[Seg],
    ck: &mut Checker,
) -> Option<Arc<CaptureSpec>> {
    let c = c?;
    if !(1..=MAX_CAPTURE_BYTES).contains(&c.max_bytes.0) {
        ck.at(
            base,
            &["capture", "max_bytes"],
            "must be between 1 byte and 1MiB",
        );
    }
    if !c.bodies && !c.headers {
        // Written, so meant: capturing nothing would drop the wish without a word.
        ck.at(
            base,
            &["capture"],
            "captures nothing: set bodies = true, headers = true, or both (or remove capture)",
        );
    }
    (c.bodies || c.headers).then(|| {
        Arc::new(CaptureSpec {
            bodies: c.bodies,
            headers: c.headers,
            max_bytes: c.max_bytes.0.min(MAX_CAPTURE_BYTES) as usize,
            mask: Arc::clone(mask),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(text: &str) -> Result<Option<Arc<CaptureSpec>>, Vec<String>> {
        let section: schema::CaptureSection = toml::from_str(text).unwrap();
        let mut ck = Checker { issues: Vec::new() };
        let mask = compile_mask(&schema::MaskSection::default(), &mut ck);
        let spec = compile_capture(
            Some(&section),
            &mask,
            &[key("routes"), Seg::Index(0)],
            &mut ck,
        );
        match ck.issues.is_empty() {
            true => Ok(spec),
            false => Err(ck.issues.iter().map(|i| i.message.clone()).collect()),
        }
    }

    #[test]
    fn the_builtin_patterns_compile_and_match_credentials() {
        let r = builtin();
        assert!(r.is_match("tg_abcdefghijkl_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"));
        assert!(r.is_match("Authorization: bearer abcdefgh123"));
        assert!(!r.is_match("a bearer of news"));
    }

    #[test]
    fn max_bytes_defaults_to_8_kib_and_is_bounded() {
        let spec = capture("bodies = true").unwrap().unwrap();
        assert_eq!(
            (spec.bodies, spec.headers, spec.max_bytes),
            (true, false, 8192)
        );
        assert_eq!(
            capture("headers = true\nmax_bytes = \"1MiB\"")
                .unwrap()
                .unwrap()
                .max_bytes,
            1 << 20
        );
        for bad in [
            "bodies = true\nmax_bytes = 0",
            "bodies = true\nmax_bytes = \"2MiB\"",
        ] {
            assert!(capture(bad).unwrap_err()[0].contains("between 1 byte and 1MiB"));
        }
        assert!(capture("max_bytes = 10").unwrap_err()[0].contains("captures nothing"));
    }

    #[test]
    fn header_names_masked_always() {
        for name in [
            "authorization",
            "x-goog-api-key",
            "x-admin-token",
            "set-cookie",
            "x-session-id",
        ] {
            assert!(always_masked_header(name), "{name}");
        }
        for name in ["accept", "content-type", "x-request-id", "user-agent"] {
            assert!(!always_masked_header(name), "{name}");
        }
    }
}
