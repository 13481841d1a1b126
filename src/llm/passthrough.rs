//! Same-format calls: the client's body goes to the provider as it came, byte for byte, with
//! only the model name replaced (and, for OpenAI streams, usage asked for).
//!
//! DESIGN: re-serialising a body loses what the gateway does not model (unknown fields,
//! `cache_control` markers, key order, number formatting), so same-format calls never do it.
//! `Peek` reads the top-level keys the gateway needs and remembers where their values sit;
//! `splice` rewrites only those byte ranges.

use crate::llm::ir::ApiError;
use crate::llm::validate::{self, Api};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

/// What the gateway reads of a client's body before choosing a deployment.
#[derive(Debug, Default)]
pub struct Peek {
    pub model: String,
    model_at: Range<usize>,
    pub stream: bool,
    pub include_usage: bool,
    /// `max_tokens` or `max_completion_tokens`, when the client set one.
    pub max_output: Option<u64>,
    stream_options_at: Option<Range<usize>>,
    /// Where the closing `}` of the top-level object is.
    end: usize,
}

struct Fields<'a> {
    entries: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'de> serde::Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                // Room for a usual request's fields (model, messages and a few parameters)
                // in one allocation.
                let mut entries = Vec::with_capacity(16);
                while let Some(k) = map.next_key::<Cow<'de, str>>()? {
                    let v: &'de RawValue = map.next_value()?;
                    entries.push((k, v));
                }
                Ok(Fields { entries })
            }
        }
        d.deserialize_map(V)
    }
}

impl Fields<'_> {
    /// A key given twice is refused: JSON parsers disagree on which one counts (serde takes
    /// the last, others the first), so a body the gateway checked could mean another model or
    /// parameter to the provider it is forwarded to.
    fn refuse_duplicates(&self) -> Result<(), ApiError> {
        let keys = &self.entries;
        // A request has a handful of top-level keys: comparing each with those before it is
        // cheaper than hashing them, up to a size where the set wins.
        let repeated = if keys.len() <= 24 {
            (1..keys.len()).find(|&i| keys[..i].iter().any(|(k, _)| *k == keys[i].0))
        } else {
            let mut seen = HashSet::with_capacity(keys.len());
            (0..keys.len()).find(|&i| !seen.insert(keys[i].0.as_ref()))
        };
        match repeated {
            Some(i) => {
                let k = &keys[i].0;
                Err(ApiError::invalid(
                    k.as_ref(),
                    format!("the key `{k}` appears more than once in the body"),
                )
                .with_code("duplicate_key"))
            }
            None => Ok(()),
        }
    }
}

fn span(body: &[u8], raw: &RawValue) -> Range<usize> {
    let start = raw.get().as_ptr() as usize - body.as_ptr() as usize;
    start..start + raw.get().len()
}

impl Peek {
    /// Reads the top level of a chat or embeddings body addressed to `api`, and holds every
    /// parameter to its documented range (`validate`). An invalid body, a key given twice, or
    /// a `model` that is missing or not a string, is a 400 naming what is wrong.
    pub fn read(body: &[u8], api: Api) -> Result<Peek, ApiError> {
        let fields: Fields = crate::base::json::from_slice(body)
            .map_err(|e| ApiError::invalid("body", format!("invalid JSON body: {e}")))?;
        fields.refuse_duplicates()?;
        let mut peek = Peek::default();
        let mut model = None;
        for (k, v) in &fields.entries {
            validate::field(api, k, v)?;
            match k.as_ref() {
                "model" => {
                    let name: String = serde_json::from_str(v.get())
                        .map_err(|_| ApiError::invalid("model", "`model` must be a string"))?;
                    model = Some(name);
                    peek.model_at = span(body, v);
                }
                "stream" => {
                    peek.stream = serde_json::from_str(v.get())
                        .map_err(|_| ApiError::invalid("stream", "`stream` must be a boolean"))?
                }
                "max_tokens" | "max_completion_tokens" => {
                    peek.max_output = serde_json::from_str(v.get()).ok();
                }
                "stream_options" => {
                    #[derive(serde::Deserialize)]
                    struct Options {
                        include_usage: Option<bool>,
                    }
                    let o: Option<Options> = serde_json::from_str(v.get()).map_err(|_| {
                        ApiError::invalid("stream_options", "`stream_options` must be an object")
                    })?;
                    peek.include_usage = o.and_then(|o| o.include_usage).unwrap_or(false);
                    peek.stream_options_at = Some(span(body, v));
                }
                _ => {}
            }
        }
        peek.model = model.ok_or_else(|| ApiError::invalid("model", "`model` is required"))?;
        validate::complete(api, |key| {
            fields
                .entries
                .iter()
                .any(|(k, v)| k == key && v.get() != "null")
        })?;
        peek.end = body
            .iter()
            .rposition(|&b| b == b'}')
            .ok_or_else(|| ApiError::invalid("body", "the body must be a JSON object"))?;
        Ok(peek)
    }

    /// The body for the provider: `model` replaced by `provider_model`, and, when
    /// `want_usage` and the client streams without asking for usage, `stream_options`
    /// set to ask for it.
    pub fn splice(&self, body: &[u8], provider_model: &str, want_usage: bool) -> Vec<u8> {
        let mut edits: Vec<(Range<usize>, String)> = Vec::with_capacity(2);
        if provider_model != self.model {
            edits.push((self.model_at.clone(), json_string(provider_model)));
        }
        if want_usage && self.stream && !self.include_usage {
            let usage = r#"{"include_usage":true}"#.to_owned();
            match &self.stream_options_at {
                Some(at) => edits.push((at.clone(), merged_options(&body[at.clone()]))),
                None => edits.push((self.end..self.end, format!(r#","stream_options":{usage}"#))),
            }
        }
        edits.sort_by_key(|(r, _)| r.start);
        let mut out = Vec::with_capacity(body.len() + 64);
        let mut at = 0;
        for (range, text) in edits {
            out.extend_from_slice(&body[at..range.start]);
            out.extend_from_slice(text.as_bytes());
            at = range.end;
        }
        out.extend_from_slice(&body[at..]);
        out
    }
}

/// `stream_options` with `include_usage: true` and the client's other options kept.
fn merged_options(raw: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(raw) {
        Ok(mut map) => {
            map.insert("include_usage".into(), serde_json::Value::Bool(true));
            serde_json::Value::Object(map).to_string()
        }
        Err(_) => r#"{"include_usage":true}"#.to_owned(),
    }
}

/// `s` as a JSON string, escaped as serde_json writes any string (written straight, not
/// through a `Value` and `Display`, which cost as much as the rest of the splice).
fn json_string(s: &str) -> String {
    // Writing a `str` into a `String` cannot fail.
    serde_json::to_string(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::provider::Format;

    const CHAT: Api = Api::Chat(Format::OpenAi);

    #[test]
    fn a_key_given_twice_is_refused() {
        let e = Peek::read(br#"{"model":"cheap","messages":[],"model":"dear"}"#, CHAT).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("model"));
        assert_eq!(e.code.as_deref(), Some("duplicate_key"));
        // An escaped key is the same key once decoded, as the provider will read it.
        let e = Peek::read(br#"{"model":"a","mod\u0065l":"b"}"#, CHAT).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("model"));
        let e = Peek::read(br#"{"model":"a","n":1,"n":2}"#, CHAT).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("n"));
        // Nested objects are the codecs' business; only the top level is spliced.
        Peek::read(br#"{"model":"a","metadata":{"k":1},"x":{"k":2}}"#, CHAT).unwrap();
        // Past a handful of keys, a set finds the repeat.
        let many: String = (0..30).map(|i| format!(r#","x_{i}":{i}"#)).collect();
        Peek::read(format!(r#"{{"model":"a"{many}}}"#).as_bytes(), CHAT).unwrap();
        let body = format!(r#"{{"model":"a"{many},"x_7":1}}"#);
        let e = Peek::read(body.as_bytes(), CHAT).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("x_7"));
    }

    #[test]
    fn parameters_are_validated_on_every_path() {
        let e = Peek::read(br#"{"model":"m","n":4294967295,"messages":[]}"#, CHAT).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("n"));
        let anthropic = Api::Chat(Format::Anthropic);
        let e = Peek::read(br#"{"model":"m","messages":[]}"#, anthropic).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("max_tokens"));
        let e = Peek::read(br#"{"model":"m","max_tokens":null}"#, anthropic).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("max_tokens"));
        Peek::read(br#"{"model":"m","max_tokens":5}"#, anthropic).unwrap();
    }

    #[test]
    fn only_the_model_changes_and_everything_else_survives() {
        let body = br#"{ "messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}], "model" : "claude",  "x_unknown": 1.50 }"#;
        let peek = Peek::read(body, CHAT).unwrap();
        assert_eq!(peek.model, "claude");
        let out = peek.splice(body, "claude-sonnet-4-5", true);
        let expected =
            String::from_utf8_lossy(body).replace(r#""claude""#, r#""claude-sonnet-4-5""#);
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn same_model_keeps_the_body_identical() {
        let body = br#"{"model":"gpt-4o","messages":[]}"#;
        let peek = Peek::read(body, CHAT).unwrap();
        assert_eq!(peek.splice(body, "gpt-4o", true), body.to_vec());
    }

    #[test]
    fn usage_is_asked_for_on_streams() {
        let body = br#"{"model":"m","stream":true,"messages":[]}"#;
        let peek = Peek::read(body, CHAT).unwrap();
        assert!(!peek.include_usage);
        let out = peek.splice(body, "m", true);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["stream_options"]["include_usage"], true);

        let body =
            br#"{"model":"m","stream":true,"stream_options":{"include_usage":false,"other":1}}"#;
        let peek = Peek::read(body, CHAT).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&peek.splice(body, "m", true)).unwrap();
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["stream_options"]["other"], 1);
    }

    #[test]
    fn bad_bodies_name_what_is_wrong() {
        assert_eq!(
            Peek::read(b"{", CHAT).unwrap_err().param.as_deref(),
            Some("body")
        );
        assert_eq!(
            Peek::read(b"[1]", CHAT).unwrap_err().param.as_deref(),
            Some("body")
        );
        assert_eq!(
            Peek::read(br#"{"messages":[]}"#, CHAT)
                .unwrap_err()
                .param
                .as_deref(),
            Some("model")
        );
        assert_eq!(
            Peek::read(br#"{"model":3}"#, CHAT)
                .unwrap_err()
                .param
                .as_deref(),
            Some("model")
        );
        assert_eq!(
            Peek::read(br#"{"model":"m","stream":"yes"}"#, CHAT)
                .unwrap_err()
                .param
                .as_deref(),
            Some("stream")
        );
    }

    #[test]
    fn escaped_model_names_are_read_and_replaced() {
        let body = br#"{"model":"a\"b","messages":[]}"#;
        let peek = Peek::read(body, CHAT).unwrap();
        assert_eq!(peek.model, "a\"b");
        let out = peek.splice(body, "x", false);
        assert_eq!(out, br#"{"model":"x","messages":[]}"#.to_vec());
        // The provider's name is escaped as a JSON value of it is written.
        let name = "q\"b\\s/\u{1}\u{7f}\u{e9}\u{2028}\u{1f600}";
        let out = peek.splice(body, name, false);
        let value = serde_json::Value::String(name.to_owned()).to_string();
        let expected = format!(r#"{{"model":{value},"messages":[]}}"#);
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
}
