//! A small JSONPath subset, enough to name what a masking rule hides in a JSON body: the root
//! `$`, children `.name` and `['name']` (or `["name"]`), every child `.*` and `[*]`, an array
//! element `[N]`, and recursive descent `..name` (the member `name` at any depth). Filters,
//! slices and negative indexes are refused when the path is parsed, so a rule never silently
//! matches less than its author meant.

use serde_json::Value;
use std::fmt;

/// One step of a path, from the root down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `.name` or `['name']`: the object member `name`.
    Field(String),
    /// `[N]`: the array element `N`.
    Index(usize),
    /// `.*` or `[*]`: every member of an object, every element of an array.
    Wildcard,
    /// `..name`: the member `name` of any object at or below this level.
    Descend(String),
}

/// A parsed path: `$` and its steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    steps: Vec<Step>,
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl JsonPath {
    /// Parses `text`; the error says what is wrong and where (a byte offset into `text`).
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let rest = text
            .strip_prefix('$')
            .ok_or("a JSON path starts at the root `$` (e.g. \"$.user.email\")")?;
        let mut steps = Vec::new();
        let mut at = rest;
        while !at.is_empty() {
            let offset = text.len() - at.len();
            let (step, tail) = parse_step(at).map_err(|e| format!("{e} at byte {offset}"))?;
            steps.push(step);
            at = tail;
        }
        Ok(JsonPath {
            text: text.to_string(),
            steps,
        })
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Replaces every value the path selects in `value` with `with` (a whole value: an
    /// object selected is replaced, not masked member by member).
    pub fn replace(&self, value: &mut Value, with: &Value) {
        replace(value, &self.steps, with);
    }
}

/// A member name: up to the next `.` or `[`.
fn name(at: &str) -> Result<(&str, &str), &'static str> {
    let end = at.find(['.', '[']).unwrap_or(at.len());
    match &at[..end] {
        "" => Err("a member name is missing"),
        n if n.contains([']', '\'', '"', ' ']) => {
            Err("a member name with `]`, quotes or spaces must be written ['name']")
        }
        n => Ok((n, &at[end..])),
    }
}

fn parse_step(at: &str) -> Result<(Step, &str), &'static str> {
    if let Some(rest) = at.strip_prefix("..") {
        if let Some(inner) = rest.strip_prefix('[') {
            let (step, tail) = bracket(inner)?;
            return match step {
                Step::Field(n) => Ok((Step::Descend(n), tail)),
                _ => Err("after `..` only a member name is supported (e.g. \"$..password\")"),
            };
        }
        let (n, tail) = name(rest)?;
        if n == "*" {
            return Err("`..*` is not supported: name the member (e.g. \"$..password\")");
        }
        return Ok((Step::Descend(n.to_string()), tail));
    }
    if let Some(rest) = at.strip_prefix('.') {
        let (n, tail) = name(rest)?;
        let step = match n {
            "*" => Step::Wildcard,
            n => Step::Field(n.to_string()),
        };
        return Ok((step, tail));
    }
    if let Some(inner) = at.strip_prefix('[') {
        return bracket(inner);
    }
    Err("expected `.name`, `..name`, `['name']`, `[N]` or `[*]`")
}

/// What follows a `[`: `'name']`, `"name"]`, `*]` or `N]`.
fn bracket(inner: &str) -> Result<(Step, &str), &'static str> {
    for quote in ['\'', '"'] {
        if let Some(q) = inner.strip_prefix(quote) {
            let end = q.find(quote).ok_or("a quoted name is not closed")?;
            let tail = q[end + 1..]
                .strip_prefix(']')
                .ok_or("`]` expected after the quoted name")?;
            if end == 0 {
                return Err("a member name is empty");
            }
            return Ok((Step::Field(q[..end].to_string()), tail));
        }
    }
    let end = inner.find(']').ok_or("`[` is not closed by `]`")?;
    let tail = &inner[end + 1..];
    match inner[..end].trim() {
        "*" => Ok((Step::Wildcard, tail)),
        n if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n
            .parse()
            .map(|i| (Step::Index(i), tail))
            .map_err(|_| "the index is too large"),
        n if n.starts_with('?') => Err("filters `[?(...)]` are not supported"),
        n if n.contains(':') => Err("slices `[a:b]` are not supported"),
        n if n.starts_with('-') => Err("negative indexes are not supported"),
        _ => Err("expected ['name'], [N] or [*] between the brackets"),
    }
}

/// The recursion is bounded by the depth of `value`, which `serde_json` caps (128) when it
/// parses.
fn replace(value: &mut Value, steps: &[Step], with: &Value) {
    let Some((first, rest)) = steps.split_first() else {
        *value = with.clone();
        return;
    };
    match (first, value) {
        (Step::Field(n), Value::Object(m)) => {
            if let Some(child) = m.get_mut(n) {
                replace(child, rest, with);
            }
        }
        (Step::Index(i), Value::Array(a)) => {
            if let Some(child) = a.get_mut(*i) {
                replace(child, rest, with);
            }
        }
        (Step::Wildcard, Value::Object(m)) => m.values_mut().for_each(|c| replace(c, rest, with)),
        (Step::Wildcard, Value::Array(a)) => a.iter_mut().for_each(|c| replace(c, rest, with)),
        (Step::Descend(n), Value::Object(m)) => {
            for (k, child) in m.iter_mut() {
                // Deeper matches first: a match replaced here would hide those below it.
                replace(child, steps, with);
                if k == n {
                    replace(child, rest, with);
                }
            }
        }
        (Step::Descend(_), Value::Array(a)) => a.iter_mut().for_each(|c| replace(c, steps, with)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn masked(path: &str, mut v: Value) -> Value {
        JsonPath::parse(path).unwrap().replace(&mut v, &json!("X"));
        v
    }

    #[test]
    fn every_form_parses() {
        let p = JsonPath::parse("$.a['b c'][\"d\"][2][*].*..e").unwrap();
        assert_eq!(
            p.steps(),
            [
                Step::Field("a".into()),
                Step::Field("b c".into()),
                Step::Field("d".into()),
                Step::Index(2),
                Step::Wildcard,
                Step::Wildcard,
                Step::Descend("e".into()),
            ]
        );
        assert_eq!(JsonPath::parse("$").unwrap().steps(), []);
        assert_eq!(
            JsonPath::parse("$..['x']").unwrap().steps(),
            [Step::Descend("x".into())]
        );
    }

    #[test]
    fn bad_paths_say_what_and_where() {
        for (bad, says) in [
            ("user.email", "starts at the root"),
            ("$.", "name is missing at byte 1"),
            ("$.a[", "not closed"),
            ("$['a'", "`]` expected"),
            ("$[?(@.x)]", "filters"),
            ("$[1:2]", "slices"),
            ("$[-1]", "negative"),
            ("$..*", "not supported"),
            ("$[x]", "between the brackets"),
            ("$ .a", "expected `.name`"),
            ("$['']", "empty"),
        ] {
            let e = JsonPath::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn a_field_path_replaces_the_whole_value() {
        let v = json!({"user": {"email": "a@b.co", "name": "Al"}, "email": "kept"});
        assert_eq!(
            masked("$.user.email", v.clone()),
            json!({"user": {"email": "X", "name": "Al"}, "email": "kept"})
        );
        assert_eq!(
            masked("$['user']", v),
            json!({"user": "X", "email": "kept"})
        );
    }

    #[test]
    fn wildcards_and_indexes_select_elements() {
        let v = json!({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]});
        assert_eq!(
            masked("$.messages[*].content", v.clone()),
            json!({"messages": [{"role": "user", "content": "X"}, {"role": "assistant", "content": "X"}]})
        );
        assert_eq!(
            masked("$.messages[1].content", v.clone()),
            json!({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "X"}]})
        );
        assert_eq!(masked("$.messages[7].content", v.clone()), v);
        assert_eq!(
            masked("$.*", json!({"a": 1, "b": [2]})),
            json!({"a": "X", "b": "X"})
        );
    }

    #[test]
    fn descent_finds_the_member_at_any_depth() {
        let v = json!({"password": "p0", "a": [{"password": "p1"}, {"b": {"password": {"password": "p3"}}}]});
        assert_eq!(
            masked("$..password", v),
            json!({"password": "X", "a": [{"password": "X"}, {"b": {"password": "X"}}]})
        );
        let v = json!({"a": {"s": {"k": 1, "j": 2}}, "b": [{"s": {"k": 3}}]});
        assert_eq!(
            masked("$..s.k", v),
            json!({"a": {"s": {"k": "X", "j": 2}}, "b": [{"s": {"k": "X"}}]})
        );
    }

    #[test]
    fn the_root_path_replaces_everything_and_misses_change_nothing() {
        assert_eq!(masked("$", json!({"a": 1})), json!("X"));
        let v = json!(["a", {"b": 1}]);
        assert_eq!(masked("$.a.b", v.clone()), v);
        assert_eq!(masked("$[0].x", v.clone()), v);
    }
}
