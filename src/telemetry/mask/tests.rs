//! Masking: each JSON path form, the patterns, headers, text, SSE, binary and cut bodies.

use super::*;
use crate::config::schema::MaskSection;
use std::sync::Arc;

const EMAIL: &str = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}";
const CARD: &str = r"\b(?:\d[ -]?){13,19}\b";
const KEY: &str = "tg_abcdefghijkl_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

fn rules(paths: &[&str], patterns: &[&str], headers: &[&str]) -> Arc<MaskRules> {
    let section = MaskSection {
        json_paths: paths.iter().map(|s| s.to_string()).collect(),
        patterns: patterns.iter().map(|s| s.to_string()).collect(),
        headers: headers.iter().map(|s| s.to_string()).collect(),
        ..MaskSection::default()
    };
    MaskRules::compile(&section).unwrap()
}

fn whole(r: &MaskRules, s: &str) -> String {
    body(r, s.as_bytes(), false, s.len() as u64)
}

fn json_of(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

#[test]
fn json_paths_replace_whole_values_in_every_form() {
    let r = rules(
        &[
            "$.user.email",
            "$['user'][\"phone\"]",
            "$.messages[*].content",
            "$.tags[1]",
            "$..password",
        ],
        &[],
        &[],
    );
    let out = whole(
        &r,
        r#"{"user": {"email": "a@b.co", "phone": "555", "name": "Al", "password": "p1"},
            "messages": [{"role": "user", "content": "hi"}, {"role": "tool", "content": {"x": 1}}],
            "tags": ["a", "b", "c"], "deep": [{"x": {"password": "p2"}}]}"#,
    );
    assert_eq!(
        json_of(&out),
        serde_json::json!({
            "user": {"email": "[MASKED]", "phone": "[MASKED]", "name": "Al", "password": "[MASKED]"},
            "messages": [{"role": "user", "content": "[MASKED]"}, {"role": "tool", "content": "[MASKED]"}],
            "tags": ["a", "[MASKED]", "c"], "deep": [{"x": {"password": "[MASKED]"}}]
        })
    );
}

#[test]
fn patterns_apply_to_strings_names_and_numbers_of_json() {
    let r = rules(&[], &[EMAIL, CARD], &[]);
    let out = whole(
        &r,
        r#"{"note": "mail bob@example.org or pay 4111 1111 1111 1111 today",
            "card": 4111111111111111, "count": 3, "carol@example.net": true}"#,
    );
    assert_eq!(
        json_of(&out),
        serde_json::json!({
            // The pattern takes the space after the last digit with it.
            "note": "mail [MASKED] or pay [MASKED]today",
            "card": "[MASKED]", "count": 3, "[MASKED]": true
        })
    );
}

#[test]
fn credentials_are_masked_without_any_rule() {
    let r = rules(&[], &[], &[]);
    let out = whole(
        &r,
        &format!(
            r#"{{"k": "{KEY}", "h": "Bearer abc.def-ghi_jkl", "o": "sk-proj-AAAAAAAAAAAAAAAAAAAAAAAA", "g": "AIzaSyA-1234567890abcdefghijklmnopqrstu"}}"#
        ),
    );
    assert!(!out.contains(KEY) && !out.contains("abc.def") && !out.contains("sk-proj"));
    assert!(!out.contains("AIzaSy"), "{out}");
    assert_eq!(out.matches("[MASKED]").count(), 4, "{out}");
    // Not every `tg_` is a key.
    assert_eq!(whole(&r, "tg_short_one"), "tg_short_one");
}

#[test]
fn headers_are_masked_by_name_always_and_by_configuration() {
    let r = rules(&[], &[EMAIL], &["X-My-Secret-Thing", "x-tenant-note"]);
    for name in [
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "x-admin-token",
        "x-client-secret",
        "x-db-password",
        "x-apikey",
        "x-auth-user",
        "x-tenant-note",
    ] {
        assert_eq!(header(&r, name, "value"), "[MASKED]", "{name}");
    }
    assert_eq!(header(&r, "accept", "text/plain"), "text/plain");
    assert_eq!(
        header(&r, "x-user", "alice@example.com"),
        "[MASKED]",
        "patterns apply to the other headers"
    );
    assert_eq!(
        header(&r, "x-forwarded", &format!("key {KEY}")),
        "key [MASKED]"
    );
}

#[test]
fn text_bodies_get_the_patterns() {
    let r = rules(&["$.a"], &[EMAIL], &[]);
    assert_eq!(
        whole(&r, "to=alice@example.com&a=1"),
        "to=[MASKED]&a=1",
        "json paths do not apply to text"
    );
    assert_eq!(
        whole(&r, "{not json alice@example.com"),
        "{not json [MASKED]"
    );
}

#[test]
fn a_custom_marker_is_taken_literally() {
    let section = MaskSection {
        patterns: vec![EMAIL.into()],
        marker: "$0-gone".into(),
        ..MaskSection::default()
    };
    let r = MaskRules::compile(&section).unwrap();
    assert_eq!(whole(&r, "x a@b.co"), "x $0-gone");
}

#[test]
fn a_cut_json_body_is_repaired_so_paths_still_apply() {
    let r = rules(&["$.messages[*].content"], &[EMAIL], &[]);
    let full = r#"{"model": "m", "messages": [{"role": "user", "content": "secret"}, {"role": "user", "content": "mail alice@example.com now"}]}"#;
    // Cut inside the second e-mail address: the paths apply to what is whole, and the cut
    // value is dropped, so no part of the address remains.
    let at = full.find("example.com").unwrap();
    let out = body(&r, &full.as_bytes()[..at], true, full.len() as u64);
    assert_eq!(
        json_of(&out),
        serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "[MASKED]"}, {"role": "user"}]})
    );
    assert!(!out.contains("alice") && !out.contains("secret"), "{out}");
    for cut in 1..full.len() {
        let out = body(&r, &full.as_bytes()[..cut], true, full.len() as u64);
        assert!(
            !out.contains("secret") && !out.contains("alice"),
            "{cut}: {out}"
        );
    }
}

#[test]
fn repair_closes_what_is_open_after_the_last_complete_piece() {
    assert_eq!(repair(r#"{"a": [1, 2"#).as_deref(), Some(r#"{"a": [1]}"#));
    assert_eq!(
        repair(r#"{"a": {"b": "x,y"}, "c": tr"#).as_deref(),
        Some(r#"{"a": {"b": "x,y"}}"#)
    );
    assert_eq!(repair(r#"[{"q": "\"]"#).as_deref(), Some("[{}]"));
    assert_eq!(repair(r#"{"a": 1}} "#), None);
    assert_eq!(repair("  "), None);
}

#[test]
fn a_cut_text_drops_its_partial_last_word() {
    let r = rules(&[], &[EMAIL], &[]);
    let full = "contact bob@example.org or alice@example.com please";
    let at = full.find("@example.com").unwrap();
    let out = body(&r, &full.as_bytes()[..at], true, full.len() as u64);
    assert_eq!(out, "contact [MASKED] or");
}

#[test]
fn a_cut_inside_a_character_drops_it_and_binary_is_a_placeholder() {
    let r = rules(&[], &[], &[]);
    let text = "héllo wörld".as_bytes();
    let at = text.len() - 4; // inside `ö`
    assert_eq!(body(&r, &text[..at], true, 99), "héllo");
    assert_eq!(
        body(&r, &[0xff, 0xfe, 0x00, 0x41], false, 4),
        "<4 bytes, binary>"
    );
    assert_eq!(
        body(&r, &[0x41, 0xff, 0x41], true, 10),
        "<10 bytes, binary>"
    );
}

#[test]
fn sse_data_lines_are_masked_as_json() {
    let r = rules(&["$.choices[*].delta.content"], &[EMAIL], &[]);
    let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\nevent: note\ndata: to a@b.co\n\ndata: [DONE]\n\n";
    assert_eq!(
        whole(&r, stream),
        "data: {\"choices\":[{\"delta\":{\"content\":\"[MASKED]\"}}]}\n\nevent: note\ndata: to [MASKED]\n\ndata: [DONE]\n\n"
    );
    let cut = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"al";
    assert_eq!(
        body(&r, cut.as_bytes(), true, 500),
        "data: {\"choices\":[{\"delta\":{\"content\":\"[MASKED]\"}}]}\n\ndata: {\"choices\":[{\"delta\":{}}]}"
    );
}

#[test]
fn bad_rules_are_refused_at_their_index() {
    let section = MaskSection {
        json_paths: vec!["$.ok".into(), "user.email".into()],
        patterns: vec!["(unclosed".into()],
        headers: vec!["bad header".into()],
        marker: String::new(),
    };
    let issues = MaskRules::compile(&section).unwrap_err();
    let at: Vec<String> = issues
        .iter()
        .map(|i| crate::config::problem::render_path(&i.at))
        .collect();
    assert_eq!(
        at,
        [
            "log.mask.json_paths[1]",
            "log.mask.patterns[0]",
            "log.mask.headers[0]",
            "log.mask.marker"
        ]
    );
    assert!(issues[0].message.contains("starts at the root"));
    assert!(issues[1].message.contains("not a valid regular expression"));
}

#[test]
fn a_secret_split_over_stream_events_is_masked() {
    let r = rules(&[], &[EMAIL], &[]);
    let openai = |piece: &str| {
        format!(
            "data: {}\n\n",
            serde_json::json!({"id": "c1", "choices": [{"index": 0, "delta": {"content": piece}}]})
        )
    };
    let stream: String = ["Mail ali", "ce@exa", "mple.com now"]
        .iter()
        .map(|p| openai(p))
        .collect::<String>()
        + "data: [DONE]\n\n";
    let out = whole(&r, &stream);
    assert!(
        !out.contains("ali") && !out.contains("exa") && !out.contains("mple"),
        "{out}"
    );
    let said: String = out
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(said, "Mail [MASKED] now");

    // Anthropic's events, two content blocks: each block is its own channel.
    let anthropic = |index: u32, piece: &str| {
        format!(
            "event: content_block_delta\ndata: {}\n\n",
            serde_json::json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "text_delta", "text": piece}})
        )
    };
    let stream = anthropic(0, "bob@") + &anthropic(1, "x ") + &anthropic(0, "example.org");
    let out = whole(&r, &stream);
    assert!(
        !out.contains("bob") && !out.contains("example.org"),
        "{out}"
    );
    assert!(out.contains("\"text\":\"x \""), "{out}");
}

proptest::proptest! {
    /// Whatever the bytes and wherever the cut, masking answers (no panic), and an address
    /// that was in a JSON body never survives in part.
    #[test]
    fn any_body_cut_anywhere_is_masked_without_panic(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        words in proptest::collection::vec("[a-z ]{0,12}", 1..6),
        at in 0usize..400,
    ) {
        let r = rules(&["$.a"], &[EMAIL], &[]);
        let cut = at.min(bytes.len());
        let _ = body(&r, &bytes[..cut], cut < bytes.len(), bytes.len() as u64);
        let text = words.join(" zed@qux.io ");
        let events = format!("data: {}\n\n", serde_json::json!({"delta": {"text": text}}));
        for doc in [serde_json::json!({"a": 1, "b": [text.clone()]}).to_string(), events] {
            let cut = at.min(doc.len());
            let out = body(&r, &doc.as_bytes()[..cut], cut < doc.len(), doc.len() as u64);
            proptest::prop_assert!(!out.contains("zed@") && !out.contains("@qux"), "{out}");
        }
    }
}
