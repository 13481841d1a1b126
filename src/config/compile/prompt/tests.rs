//! `[[prompts]]` at load: a good one compiles into a route, and every mistake is a located
//! problem naming its key path.

use crate::config::{load, PathMatch, Problems, RouteTarget};
use std::path::Path;

const MODELS: &str = r#"
[server]
listen = ["127.0.0.1:0"]

[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "demo"
deployments = [{ provider = "mock", model = "m" }]
"#;

const PROMPT: &str = r#"
[[prompts]]
name = "translate-v1"
path = "/prompts/translate/v1"
description = "Translates a text"
model = "demo"
temperature = 0.2
max_tokens = 200
input = { type = "object", required = ["text"], properties = { text = { type = "string", maxLength = 2000 }, lang = { enum = ["fr", "de"] } } }
messages = [
  { role = "system", content = "Translate into {{lang}}." },
  { role = "user", content = "{{text}}" },
]
"#;

fn problems_in(dir: &Path, text: &str) -> Vec<String> {
    let p = dir.join("t.toml");
    std::fs::write(&p, text).unwrap();
    match load(&p) {
        Ok(_) => vec![],
        Err(Problems(ps)) => ps
            .into_iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect(),
    }
}

fn problems(text: &str) -> Vec<String> {
    problems_in(tempfile::tempdir().unwrap().path(), text)
}

#[test]
fn a_prompt_compiles_into_a_route_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.toml");
    std::fs::write(&p, format!("{MODELS}{PROMPT}")).unwrap();
    let config = load(&p).unwrap();
    assert_eq!(config.prompts.len(), 1);
    let spec = &config.prompts[0];
    assert_eq!((spec.model.as_str(), spec.messages.len()), ("demo", 2));
    assert_eq!(spec.input_schema["required"][0], "text");
    let route = config.routes.iter().find(|r| r.name == "translate-v1");
    let route = route.expect("the prompt's route");
    assert_eq!(route.target, RouteTarget::Prompt(0));
    assert_eq!(route.path, PathMatch::Exact("/prompts/translate/v1".into()));
    assert_eq!(route.api.description, "Translates a text");
}

#[test]
fn every_mistake_is_located() {
    let cases = [
        ("model = \"demo\"", "model = \"dmeo\"", "prompts[0].model: no model named \"dmeo\" (did you mean \"demo\"?)"),
        ("{{lang}}", "{{langue}}", "prompts[0].messages[0].content: {{langue}} is not a property of the input schema (did you mean \"lang\"?)"),
        ("{{text}}", "{{text", "prompts[0].messages[1].content: unclosed {{"),
        ("maxLength = 2000", "pattern = \"x\"", "prompts[0].input: unsupported JSON Schema: at /properties/text/pattern: the keyword \"pattern\" is not supported"),
        ("input = { type = \"object\",", "input = { type = \"array\",", "prompts[0].input: the input schema must have type = \"object\""),
        ("temperature = 0.2", "temperature = 7.0", "prompts[0].temperature: must be between 0 and 2"),
        ("max_tokens = 200", "output = \"json\"", "prompts[0].output: output = \"json\" needs output_schema"),
        ("max_tokens = 200", "output_schema = { type = \"object\" }", "prompts[0].output_schema: an output schema needs output = \"json\""),
        ("max_tokens = 200", "output = \"json\"\nstream = true\noutput_schema = { type = \"object\" }", "prompts[0].stream: a JSON answer is checked whole"),
        ("max_tokens = 200", "input_file = \"in.json\"", "prompts[0].input_file: set either input or input_file, not both"),
        ("path = \"/prompts/translate/v1\"", "path = \"prompts\"", "prompts[0].path: \"prompts\" must start with '/'"),
        ("role = \"system\"", "role = \"root\"", "prompts[0].messages[0].role: unknown value \"root\""),
    ];
    for (from, to, want) in cases {
        let text = format!("{MODELS}{}", PROMPT.replacen(from, to, 1));
        let found = problems(&text);
        assert!(
            found.iter().any(|p| p.starts_with(want)),
            "{to}: want {want:?}, got {found:?}"
        );
    }
}

#[test]
fn a_prompt_shares_the_route_names() {
    let text = format!(
        "{MODELS}{PROMPT}\n[[routes]]\nname = \"translate-v1\"\npath_prefix = \"/v1\"\nhandler = \"llm\"\n"
    );
    let found = problems(&text);
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("prompts[0].name: duplicate route name")),
        "{found:?}"
    );
}

#[test]
fn schemas_may_live_in_json_files_beside_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.json"),
        r#"{"type": "object", "properties": {"text": {"type": "string"}, "lang": {}}}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("out.json"), r#"{"type": "object"}"#).unwrap();
    let input = PROMPT.lines().find(|l| l.starts_with("input =")).unwrap();
    let text = format!(
        "{MODELS}{}",
        PROMPT.replace(
            input,
            "input_file = \"in.json\"\noutput = \"json\"\noutput_schema_file = \"out.json\""
        )
    );
    assert_eq!(problems_in(dir.path(), &text), Vec::<String>::new());
    std::fs::write(dir.path().join("in.json"), "{not json").unwrap();
    let found = problems_in(dir.path(), &text);
    assert!(
        found[0].starts_with("prompts[0].input_file: ") && found[0].contains("is not JSON"),
        "{found:?}"
    );
}
