//! Masking a stream's bytes (server-sent events). Each `data:` payload is masked as a JSON
//! body, other lines as text. A stream also spreads its text over many events (an e-mail
//! address may come as `ali`, `ce@exa`, `mple.com`), which no pattern sees in one event: so
//! the `delta` strings of the events (OpenAI's `choices[i].delta.content`, Anthropic's
//! `delta.text`, tool-call argument fragments...) are joined per channel, the patterns are
//! matched on the joined text, and each match is hidden in the pieces it spans: the marker
//! where it starts, nothing in the pieces after.

use super::{cut_text, drop_last_word, parse_json, paths_in, patterns_in, text, MaskRules};
use serde_json::Value;
use std::ops::Range;

/// Whether a body reads as server-sent events: its first line is an SSE field.
pub(super) fn is_sse(s: &str) -> bool {
    ["data:", "event:", "id:", "retry:", ":"]
        .iter()
        .any(|f| s.starts_with(f))
}

/// One line of the stream: a `data:` payload parsed as JSON, or text already masked.
enum Line<'s> {
    Json {
        field: &'s str,
        value: Value,
        end: &'s str,
    },
    Text(String),
}

pub(super) fn mask(rules: &MaskRules, s: &str, cut: bool) -> String {
    let mut lines = Vec::new();
    let mut rest = s.split_inclusive('\n').peekable();
    while let Some(line) = rest.next() {
        let cut_here = cut && rest.peek().is_none();
        let content = line.trim_end_matches(['\r', '\n']);
        let end = &line[content.len()..];
        let masked = match content.strip_prefix("data:") {
            Some(data) => {
                let payload = data.strip_prefix(' ').unwrap_or(data);
                let field = &content[..content.len() - payload.len()];
                match parse_json(payload, cut_here) {
                    Some(mut value) => {
                        paths_in(rules, &mut value);
                        lines.push(Line::Json { field, value, end });
                        continue;
                    }
                    None => format!("{field}{}", cut_text(rules, payload, cut_here)),
                }
            }
            None if cut_here => text(rules, drop_last_word(content)).into_owned(),
            None => text(rules, content).into_owned(),
        };
        lines.push(Line::Text(masked + end));
    }
    across_events(rules, &mut lines);
    let mut out = String::with_capacity(s.len());
    for line in &mut lines {
        match line {
            Line::Json { field, value, end } => {
                patterns_in(rules, value);
                out.push_str(field);
                out.push_str(&value.to_string());
                out.push_str(end);
            }
            Line::Text(t) => out.push_str(t),
        }
    }
    out
}

/// A `delta` string of one event: which line, and its JSON pointer there.
struct Piece {
    line: usize,
    pointer: String,
}

/// Masks the patterns that match the joined `delta` strings of each channel.
fn across_events(rules: &MaskRules, lines: &mut [Line<'_>]) {
    // Channels in order of first appearance; a stream has a handful.
    let mut channels: Vec<(String, Vec<Piece>)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Line::Json { value, .. } = line else {
            continue;
        };
        // Anthropic numbers content blocks with a top-level `index`.
        let block = value
            .get("index")
            .map(|v| v.to_string())
            .unwrap_or_default();
        let mut found = Vec::new();
        deltas(value, &mut String::new(), false, &mut found);
        for pointer in found {
            let channel = format!("{block}{pointer}");
            let piece = Piece { line: i, pointer };
            match channels.iter_mut().find(|(c, _)| *c == channel) {
                Some((_, pieces)) => pieces.push(piece),
                None => channels.push((channel, vec![piece])),
            }
        }
    }
    for (_, pieces) in channels {
        mask_pieces(rules, lines, &pieces);
    }
}

/// Pointers of the strings under a `delta` member (not its `type`, `role` or `id`).
fn deltas(v: &Value, at: &mut String, under: bool, out: &mut Vec<String>) {
    match v {
        Value::String(_) if under => out.push(at.clone()),
        Value::Object(m) => {
            for (k, c) in m {
                if under && matches!(k.as_str(), "type" | "role" | "id") {
                    continue;
                }
                let len = at.len();
                at.push('/');
                at.push_str(&k.replace('~', "~0").replace('/', "~1"));
                deltas(c, at, under || k == "delta", out);
                at.truncate(len);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                let len = at.len();
                at.push_str(&format!("/{i}"));
                deltas(c, at, under, out);
                at.truncate(len);
            }
        }
        _ => {}
    }
}

fn mask_pieces(rules: &MaskRules, lines: &mut [Line<'_>], pieces: &[Piece]) {
    let piece_text = |lines: &[Line<'_>], p: &Piece| match &lines[p.line] {
        Line::Json { value, .. } => value
            .pointer(&p.pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_default(),
        Line::Text(_) => String::new(),
    };
    let texts: Vec<String> = pieces.iter().map(|p| piece_text(lines, p)).collect();
    let joined = texts.concat();
    let found: Vec<Range<usize>> = rules
        .patterns
        .find_iter(&joined)
        .map(|m| m.range())
        .collect();
    if found.is_empty() {
        return;
    }
    let mut start = 0;
    for (p, t) in pieces.iter().zip(&texts) {
        let span = start..start + t.len();
        start = span.end;
        let mut out = String::new();
        let mut pos = span.start;
        let mut touched = false;
        for m in found
            .iter()
            .filter(|m| m.start < span.end && m.end > span.start)
        {
            touched = true;
            out.push_str(&joined[pos..m.start.max(span.start)]);
            if m.start >= span.start {
                out.push_str(&rules.marker);
            }
            pos = m.end.min(span.end);
        }
        if !touched {
            continue;
        }
        out.push_str(&joined[pos..span.end]);
        if let Line::Json { value, .. } = &mut lines[p.line] {
            if let Some(slot) = value.pointer_mut(&p.pointer) {
                *slot = Value::String(out);
            }
        }
    }
}
