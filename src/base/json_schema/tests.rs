//! One test per keyword of the subset, and the refusal of what it does not support.

use super::*;
use serde_json::json;

fn check(schema: Value, value: Value) -> Result<(), String> {
    Schema::compile(&schema)
        .unwrap()
        .validate(&value, "input")
        .map_err(|v| v.to_string())
}

#[test]
fn type_names_one_type_or_a_list() {
    assert!(check(json!({"type": "string"}), json!("x")).is_ok());
    assert_eq!(
        check(json!({"type": "string"}), json!(3)).unwrap_err(),
        "input: expected string, got integer"
    );
    assert!(check(json!({"type": ["string", "null"]}), json!(null)).is_ok());
    assert!(check(json!({"type": ["string", "null"]}), json!(true)).is_err());
    assert!(check(json!({"type": "integer"}), json!(2.0)).is_ok());
    assert!(check(json!({"type": "integer"}), json!(2.5)).is_err());
    assert!(check(json!({"type": "number"}), json!(2.5)).is_ok());
    assert!(check(json!({"type": "boolean"}), json!(false)).is_ok());
    assert!(check(json!({"type": "array"}), json!([])).is_ok());
    assert!(check(json!({"type": "object"}), json!({})).is_ok());
    assert!(check(json!({"type": "null"}), json!(0)).is_err());
}

#[test]
fn properties_required_and_additional_properties() {
    let s = json!({"type": "object", "properties": {"text": {"type": "string"}},
        "required": ["text"], "additionalProperties": false});
    assert!(check(s.clone(), json!({"text": "hi"})).is_ok());
    assert_eq!(
        check(s.clone(), json!({})).unwrap_err(),
        "input.text: required"
    );
    assert_eq!(
        check(s.clone(), json!({"text": 1})).unwrap_err(),
        "input.text: expected string, got integer"
    );
    assert_eq!(
        check(s, json!({"text": "a", "x": 1})).unwrap_err(),
        "input.x: not an allowed property"
    );
    let open = json!({"type": "object", "properties": {"text": {"type": "string"}}});
    assert!(check(open, json!({"x": 1})).is_ok());
}

#[test]
fn enum_and_const() {
    let s = json!({"enum": ["fr", "de"]});
    assert!(check(s.clone(), json!("fr")).is_ok());
    assert_eq!(
        check(s, json!("es")).unwrap_err(),
        "input: must be one of \"fr\", \"de\""
    );
    assert!(check(json!({"const": 3}), json!(3)).is_ok());
    assert_eq!(
        check(json!({"const": 3}), json!(4)).unwrap_err(),
        "input: must be 3"
    );
}

#[test]
fn string_lengths_count_characters() {
    let s = json!({"type": "string", "minLength": 2, "maxLength": 3});
    assert!(check(s.clone(), json!("été")).is_ok());
    assert_eq!(
        check(s.clone(), json!("a")).unwrap_err(),
        "input: shorter than 2 characters"
    );
    assert_eq!(
        check(s, json!("abcd")).unwrap_err(),
        "input: longer than 3 characters"
    );
}

#[test]
fn minimum_and_maximum() {
    let s = json!({"type": "number", "minimum": 0, "maximum": 1.5});
    assert!(check(s.clone(), json!(1.5)).is_ok());
    assert_eq!(
        check(s.clone(), json!(-1)).unwrap_err(),
        "input: less than the minimum 0"
    );
    assert_eq!(
        check(s, json!(2)).unwrap_err(),
        "input: more than the maximum 1.5"
    );
}

#[test]
fn items_and_their_counts() {
    let s = json!({"type": "object", "properties": {"tags": {"type": "array",
        "items": {"type": "string", "maxLength": 2}, "minItems": 1, "maxItems": 2}}});
    assert!(check(s.clone(), json!({"tags": ["a"]})).is_ok());
    assert_eq!(
        check(s.clone(), json!({"tags": []})).unwrap_err(),
        "input.tags: fewer than 1 items"
    );
    assert_eq!(
        check(s.clone(), json!({"tags": ["a", "b", "c"]})).unwrap_err(),
        "input.tags: more than 2 items"
    );
    assert_eq!(
        check(s, json!({"tags": ["a", "long"]})).unwrap_err(),
        "input.tags[1]: longer than 2 characters"
    );
}

#[test]
fn unsupported_keywords_are_refused_with_their_place() {
    let e = Schema::compile(&json!({"type": "object", "properties": {
        "mail": {"type": "string", "format": "email"}}}))
    .unwrap_err();
    assert_eq!(e.path, "/properties/mail/format");
    assert!(e.message.contains("\"format\" is not supported"), "{e}");
    for bad in [
        json!({"pattern": "^a"}),
        json!({"oneOf": []}),
        json!({"$ref": "#/x"}),
        json!({"additionalProperties": {"type": "string"}}),
        json!({"type": "text"}),
        json!({"required": ["b"], "properties": {"a": {}}}),
        json!({"maxLength": -1}),
        json!("string"),
    ] {
        assert!(Schema::compile(&bad).is_err(), "{bad}");
    }
    assert!(Schema::compile(&json!({"description": "d", "title": "t", "default": 1})).is_ok());
}
