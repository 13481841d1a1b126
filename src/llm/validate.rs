//! The one check of a client's request parameters against the ranges its API documents,
//! run on the top-level fields `Peek` reads before any other work, on every path (translated,
//! byte-exact pass-through, mock).
//!
//! DESIGN: the gateway must never do work, or allocate, in proportion to a number a client
//! chose (a `"n": 4294967295` once grew a worker to 9 GB), and a pass-through call must not
//! forward a parameter the provider would refuse only after the gateway spent a retry on it.
//! The rules are data, one table per client API, so adding a parameter is one line; values
//! are read from the raw JSON text of each field, so the body is not decoded a second time.
//! `null` is accepted for every optional parameter, as OpenAI's and Anthropic's servers do.

use crate::llm::ir::ApiError;
use crate::llm::provider::Format;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use serde_json::Number;

/// The API a body is addressed to, which decides the rules it is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `/chat/completions` (OpenAI format) or `/messages` (Anthropic format).
    Chat(Format),
    Embeddings,
}

/// OpenAI's documented maximum of `n`; the mock caps its choices at it too.
pub const MAX_CHOICES: u32 = 128;

/// What a parameter must be.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// A JSON integer within the bounds.
    Int(i64, i64),
    /// A JSON number within the bounds.
    Num(f64, f64),
    Bool,
    /// A string or an array of at most this many strings.
    StringOrStrings(usize),
    /// An array of strings.
    Strings,
    /// An object whose values are numbers within the bounds (`logit_bias`).
    NumberMap(f64, f64),
    /// A string, or an array of at most this many items (`input`).
    StringOrItems(usize),
}

/// The largest token count a codec can carry (`u32`).
const MAX_TOKENS: i64 = u32::MAX as i64;

const OPENAI_CHAT: &[(&str, Rule)] = &[
    ("n", Rule::Int(1, MAX_CHOICES as i64)),
    ("temperature", Rule::Num(0.0, 2.0)),
    ("top_p", Rule::Num(0.0, 1.0)),
    ("presence_penalty", Rule::Num(-2.0, 2.0)),
    ("frequency_penalty", Rule::Num(-2.0, 2.0)),
    ("max_tokens", Rule::Int(1, MAX_TOKENS)),
    ("max_completion_tokens", Rule::Int(1, MAX_TOKENS)),
    // Chat Completions' `logprobs` is a switch; how many is `top_logprobs`.
    ("logprobs", Rule::Bool),
    ("top_logprobs", Rule::Int(0, 20)),
    ("stop", Rule::StringOrStrings(4)),
    ("logit_bias", Rule::NumberMap(-100.0, 100.0)),
];

const ANTHROPIC_MESSAGES: &[(&str, Rule)] = &[
    ("max_tokens", Rule::Int(1, MAX_TOKENS)),
    ("temperature", Rule::Num(0.0, 1.0)),
    ("top_p", Rule::Num(0.0, 1.0)),
    ("top_k", Rule::Int(0, MAX_TOKENS)),
    ("stop_sequences", Rule::Strings),
];

const OPENAI_EMBEDDINGS: &[(&str, Rule)] = &[
    ("dimensions", Rule::Int(1, MAX_TOKENS)),
    ("input", Rule::StringOrItems(2048)),
];

fn rules(api: Api) -> &'static [(&'static str, Rule)] {
    match api {
        Api::Chat(Format::Anthropic) => ANTHROPIC_MESSAGES,
        Api::Chat(_) => OPENAI_CHAT,
        Api::Embeddings => OPENAI_EMBEDDINGS,
    }
}

/// Checks one top-level field of a body addressed to `api`. Fields with no rule pass.
pub fn field(api: Api, key: &str, raw: &RawValue) -> Result<(), ApiError> {
    let Some(&(_, rule)) = rules(api).iter().find(|(name, _)| *name == key) else {
        return Ok(());
    };
    let text = raw.get();
    if text == "null" {
        return Ok(());
    }
    check(rule, text).map_err(|expected| {
        ApiError::invalid(
            key,
            format!("`{key}` must be {expected}, got {}", shown(text)),
        )
    })
}

/// Checks what must be present once every field was seen: Anthropic requires `max_tokens`.
pub fn complete(api: Api, has: impl Fn(&str) -> bool) -> Result<(), ApiError> {
    if api == Api::Chat(Format::Anthropic) && !has("max_tokens") {
        return Err(ApiError::invalid(
            "max_tokens",
            "`max_tokens` is required (an integer of at least 1)",
        ));
    }
    Ok(())
}

/// The client's value in an error message, cut short: it may be a megabyte of text.
fn shown(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

/// `Err` says what was expected.
fn check(rule: Rule, text: &str) -> Result<(), String> {
    match rule {
        Rule::Int(min, max) => {
            let ok = serde_json::from_str::<Number>(text)
                .ok()
                .and_then(|n| n.as_i64())
                .is_some_and(|n| (min..=max).contains(&n));
            ok.then_some(()).ok_or_else(|| int_range(min, max))
        }
        Rule::Num(min, max) => number_in(text, min, max)
            .then_some(())
            .ok_or_else(|| format!("a number from {min} to {max}")),
        Rule::Bool => serde_json::from_str::<bool>(text)
            .map(drop)
            .map_err(|_| "a boolean".to_owned()),
        Rule::StringOrStrings(max) => {
            let ok = text.starts_with('"')
                || items(text).is_some_and(|n| n <= max)
                    && serde_json::from_str::<Vec<String>>(text).is_ok();
            ok.then_some(())
                .ok_or_else(|| format!("a string or an array of at most {max} strings"))
        }
        Rule::Strings => serde_json::from_str::<Vec<String>>(text)
            .map(drop)
            .map_err(|_| "an array of strings".to_owned()),
        Rule::NumberMap(min, max) => {
            let ok = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text)
                .is_ok_and(|m| {
                    m.values()
                        .all(|v| v.as_f64().is_some_and(|x| (min..=max).contains(&x)))
                });
            ok.then_some(())
                .ok_or_else(|| format!("an object of numbers from {min} to {max}"))
        }
        Rule::StringOrItems(max) => {
            let ok = text.starts_with('"') || items(text).is_some_and(|n| (1..=max).contains(&n));
            ok.then_some(())
                .ok_or_else(|| format!("a string or an array of 1 to {max} items"))
        }
    }
}

/// How many items a JSON array has; `None` when it is not an array. `IgnoredAny` is
/// zero-sized, so counting allocates nothing per item.
fn items(text: &str) -> Option<usize> {
    serde_json::from_str::<Vec<IgnoredAny>>(text)
        .ok()
        .map(|v| v.len())
}

fn number_in(text: &str, min: f64, max: f64) -> bool {
    serde_json::from_str::<Number>(text)
        .ok()
        .and_then(|n| n.as_f64())
        .is_some_and(|x| (min..=max).contains(&x))
}

fn int_range(min: i64, max: i64) -> String {
    if max == MAX_TOKENS {
        format!("an integer of at least {min}")
    } else {
        format!("an integer from {min} to {max}")
    }
}

#[cfg(test)]
mod tests;
