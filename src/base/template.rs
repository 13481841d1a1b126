//! `{{variable}}` templates: text split once into literal pieces and named slots, and filled
//! with JSON values.
//!
//! DESIGN: a value is data, never template. The split happens once, when the configuration
//! compiles; `fill` writes each value into its slot and never scans it again, so a value
//! holding `{{other}}` stays those characters.

use serde_json::{Map, Value};

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Text(String),
    /// The name of a variable: letters, digits and `_`.
    Var(String),
}

/// Splits `text` into literal text and `{{ name }}` slots.
pub fn parse(text: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| {
            let at: String = rest[start..].chars().take(24).collect();
            format!("unclosed {{{{ at {at:?}")
        })?;
        let name = after[..end].trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!(
                "{{{{{}}}}} is not a variable: write {{{{name}}}} with letters, digits and _",
                &after[..end]
            ));
        }
        if start > 0 {
            out.push(Segment::Text(rest[..start].to_string()));
        }
        out.push(Segment::Var(name.to_string()));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        out.push(Segment::Text(rest.to_string()));
    }
    Ok(out)
}

/// The variables of `segments`, in order (with repeats).
pub fn variables(segments: &[Segment]) -> impl Iterator<Item = &str> {
    segments.iter().filter_map(|s| match s {
        Segment::Var(v) => Some(v.as_str()),
        Segment::Text(_) => None,
    })
}

/// The text of `segments` with `values` in their slots: a string as it is, any other value as
/// compact JSON, an absent (or null) one as nothing.
pub fn fill(segments: &[Segment], values: &Map<String, Value>) -> String {
    let mut out = String::new();
    for seg in segments {
        match seg {
            Segment::Text(t) => out.push_str(t),
            Segment::Var(name) => match values.get(name) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => out.push_str(s),
                Some(other) => out.push_str(&other.to_string()),
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_split_into_text_and_slots() {
        assert_eq!(
            parse("Translate {{ text }} to {{lang}}.").unwrap(),
            vec![
                Segment::Text("Translate ".into()),
                Segment::Var("text".into()),
                Segment::Text(" to ".into()),
                Segment::Var("lang".into()),
                Segment::Text(".".into()),
            ]
        );
        assert_eq!(parse("").unwrap(), vec![]);
        assert!(parse("a {{text").unwrap_err().contains("unclosed"));
        assert!(parse("a {{te xt}}").unwrap_err().contains("not a variable"));
        assert!(parse("a {{}}").is_err());
    }

    #[test]
    fn strings_fill_as_text_other_values_as_json_and_are_never_rescanned() {
        let t = parse("{{a}}|{{n}}|{{tags}}|{{missing}}|{{b}}").unwrap();
        let v = json!({"a": "{{b}}", "b": "x", "n": 3, "tags": ["a", {"b": true}]});
        assert_eq!(
            fill(&t, v.as_object().unwrap()),
            "{{b}}|3|[\"a\",{\"b\":true}]||x"
        );
        assert_eq!(
            variables(&t).collect::<Vec<_>>(),
            ["a", "n", "tags", "missing", "b"]
        );
    }
}
