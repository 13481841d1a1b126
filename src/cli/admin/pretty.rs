//! Indents a JSON answer for people without reordering it: the admin API puts the fields that
//! name an entry first, and a `serde_json::Value` (a sorted map here) would lose that order.

/// `json` indented by two spaces, as `serde_json::to_string_pretty` does; `None` when it is not
/// JSON.
pub fn pretty(json: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde::de::IgnoredAny>(json).ok()?;
    let text = std::str::from_utf8(json).ok()?;
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.peek().is_some_and(|n| n.is_ascii_whitespace()) {
                    chars.next();
                }
                if matches!(chars.peek(), Some('}' | ']')) {
                    out.extend(chars.next());
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    out.push('\n');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_indents_as_serde_json_does_and_keeps_the_order() {
        let text =
            r#"{"name":"acme", "apps": [ ], "o":{}, "n":[1,{"b":"x, \"y\": {z}","a":null}]}"#;
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let ours = pretty(text.as_bytes()).unwrap();
        assert!(ours.starts_with("{\n  \"name\": \"acme\",\n  \"apps\": [],\n  \"o\": {},\n"));
        assert!(
            ours.contains("\"b\": \"x, \\\"y\\\": {z}\",\n      \"a\": null"),
            "{ours}"
        );
        let reparsed: serde_json::Value = serde_json::from_str(&ours).unwrap();
        assert_eq!(reparsed, v);
        assert_eq!(pretty(b"[]").unwrap(), "[]\n");
        assert_eq!(pretty(b"not json"), None);
    }
}
