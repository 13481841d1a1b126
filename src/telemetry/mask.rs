//! Masking of captured headers and bodies, with the rules of `[log.mask]` (`config::MaskRules`)
//! and the credentials hidden always. It runs once per captured request, before the capture
//! goes to any sink.
//!
//! - A header hidden by name has its whole value replaced by the marker; other values have
//!   the patterns replaced.
//! - A JSON body is parsed: each JSON path's values are replaced whole, then the patterns are
//!   replaced in every string, every member name, and every number whose digits match (a card
//!   number sent as a number). The body is written back compact, members in name order.
//! - An SSE body (a stream's bytes) is masked event by event: each `data:` payload as a JSON
//!   body, the other lines as text; and the text a stream spreads over many events (the
//!   `delta` strings) is also matched joined up, so a secret split over events is masked
//!   (`mask/sse.rs`).
//! - Any other text has the patterns replaced.
//! - A body that is not UTF-8 is kept as `<N bytes, binary>`: base64 would carry a secret past
//!   the patterns, which cannot see inside it.
//!
//! A body cut at `max_bytes` is rarely valid JSON. It is repaired: everything after the last
//! complete member or element is dropped and the open brackets are closed, so the JSON paths
//! still apply and the value cut in two (perhaps half an e-mail address) is not kept at all. A
//! cut text drops its last, partial, word for the same reason. The limit: a secret that
//! spans whitespace (a card number written in groups) cut in the middle can leave its first
//! groups in a text body when they no longer match a pattern on their own.

mod sse;

use crate::config::MaskRules;
use regex::NoExpand;
use serde_json::Value;
use std::borrow::Cow;

/// A header's value, masked.
pub fn header(rules: &MaskRules, name: &str, value: &str) -> String {
    if rules.masks_header(name) {
        rules.marker.clone()
    } else {
        text(rules, value).into_owned()
    }
}

/// A body, masked: `kept` are its first bytes, `cut` says more were sent, `seen` how many.
pub fn body(rules: &MaskRules, kept: &[u8], cut: bool, seen: u64) -> String {
    let whole = match std::str::from_utf8(kept) {
        Ok(t) => t,
        // A cut may fall inside a character: that character is dropped.
        Err(e) if cut && e.error_len().is_none() => {
            std::str::from_utf8(&kept[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return format!("<{seen} bytes, binary>"),
    };
    if sse::is_sse(whole) {
        sse::mask(rules, whole, cut)
    } else {
        json_or_text(rules, whole, cut)
    }
}

/// The patterns replaced in `s`.
fn text<'t>(rules: &MaskRules, s: &'t str) -> Cow<'t, str> {
    rules.patterns.replace_all(s, NoExpand(&rules.marker))
}

/// `s` parsed as JSON, repaired first when it was `cut`; `None` when it is not JSON.
fn parse_json(s: &str, cut: bool) -> Option<Value> {
    if !s.trim_start().starts_with(['{', '[']) {
        return None;
    }
    serde_json::from_str::<Value>(s).ok().or_else(|| {
        cut.then(|| repair(s))
            .flatten()
            .and_then(|r| serde_json::from_str(&r).ok())
    })
}

fn json_or_text(rules: &MaskRules, s: &str, cut: bool) -> String {
    match parse_json(s, cut) {
        Some(mut v) => {
            paths_in(rules, &mut v);
            patterns_in(rules, &mut v);
            v.to_string()
        }
        None => cut_text(rules, s, cut),
    }
}

/// A text masked, without its last word when it was cut.
fn cut_text(rules: &MaskRules, s: &str, cut: bool) -> String {
    let s = if cut { drop_last_word(s) } else { s };
    text(rules, s).into_owned()
}

/// Every JSON path's values replaced by the marker.
fn paths_in(rules: &MaskRules, v: &mut Value) {
    let marker = Value::String(rules.marker.clone());
    for path in &rules.json_paths {
        path.replace(v, &marker);
    }
}

/// The patterns replaced in every string, member name and number of `v`. The depth is
/// bounded by `serde_json`'s parser (128).
fn patterns_in(rules: &MaskRules, v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Cow::Owned(masked) = text(rules, s) {
                *s = masked;
            }
        }
        Value::Number(n) => {
            if rules.patterns.is_match(&n.to_string()) {
                *v = Value::String(rules.marker.clone());
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| patterns_in(rules, c)),
        Value::Object(m) => {
            if m.keys().any(|k| rules.patterns.is_match(k)) {
                *m = std::mem::take(m)
                    .into_iter()
                    .map(|(k, c)| (text(rules, &k).into_owned(), c))
                    .collect();
            }
            m.values_mut().for_each(|c| patterns_in(rules, c));
        }
        Value::Bool(_) | Value::Null => {}
    }
}

/// A cut text without its last word, which the cut may have split (half a secret no longer
/// matches its pattern).
fn drop_last_word(s: &str) -> &str {
    let boundary = |c: char| c.is_whitespace() || "&,;\"'<>()[]{}|".contains(c);
    match s.rfind(boundary) {
        Some(i) => &s[..i],
        None => "",
    }
}

/// A JSON text cut short, made whole: everything after the last complete member or element
/// dropped, the brackets still open closed. `None` when there is nothing complete to keep.
///
/// The stack of open brackets changes only at `{`, `[`, `}`, `]`, each of which is also a
/// clean point (as is each `,`), so the stack at the end is the stack at the last clean point.
fn repair(s: &str) -> Option<String> {
    let mut open: Vec<u8> = Vec::new();
    let (mut in_string, mut escaped) = (false, false);
    let mut clean = None;
    for (i, b) in s.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => open.push(b'}'),
            b'[' => open.push(b']'),
            b'}' | b']' => {
                open.pop()?;
            }
            b',' => {
                clean = Some(i);
                continue;
            }
            _ => continue,
        }
        if b != b'"' {
            clean = Some(i + 1);
        }
    }
    let end = clean?;
    let mut out = String::with_capacity(end + open.len());
    out.push_str(&s[..end]);
    out.extend(open.iter().rev().map(|&b| b as char));
    Some(out)
}

#[cfg(test)]
mod tests;
