//! Stored entries compiled with a configuration: named problems, and left out without taking
//! the rest down.

use super::*;
use crate::config::schema::FileConfig;

fn files(toml_text: &str) -> Config {
    let file: FileConfig = toml::from_str(toml_text).unwrap();
    compile(&file).unwrap()
}

const BASE: &str = r#"
[[upstreams]]
name = "a"
targets = ["127.0.0.1:1"]

[[routes]]
name = "a"
path_prefix = "/a"
upstream = "a"
"#;

fn entry(section: &'static str, name: &str, v: Value) -> StoredEntry {
    StoredEntry {
        section,
        name: name.into(),
        definition: Ok(v),
    }
}

#[test]
fn entries_compile_after_the_files_and_a_dangling_one_is_left_out_by_name() {
    let config = files(BASE);
    let entries = [
        entry(
            "upstreams",
            "b",
            serde_json::json!({"targets": ["127.0.0.1:2"]}),
        ),
        entry(
            "routes",
            "b",
            serde_json::json!({"path_prefix": "/b", "upstream": "b"}),
        ),
        entry(
            "routes",
            "c",
            serde_json::json!({"path_prefix": "/c", "upstream": "nope"}),
        ),
    ];
    let (merged, left) = with_stored_entries(&config, &entries);
    let names: Vec<&str> = merged.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(left.len(), 1, "{left:?}");
    let problem = &left[0].problem;
    assert!(
        problem.starts_with(r#"routes[c].upstream: no upstream named "nope""#),
        "{problem}"
    );
}

#[test]
fn a_left_out_upstream_takes_its_routes_with_it_and_bad_types_are_named() {
    let config = files(BASE);
    let entries = [
        entry(
            "upstreams",
            "b",
            serde_json::json!({"targets": ["127.0.0.1:2"], "retries": "x"}),
        ),
        entry(
            "routes",
            "b",
            serde_json::json!({"path_prefix": "/b", "upstream": "b"}),
        ),
        entry(
            "routes",
            "d",
            serde_json::json!({"path_prefix": "/d", "upstream": "a"}),
        ),
    ];
    let (merged, left) = with_stored_entries(&config, &entries);
    assert_eq!(merged.routes.len(), 2);
    let problems: Vec<&str> = left.iter().map(|l| l.problem.as_str()).collect();
    assert!(
        problems[0].starts_with("upstreams[b].retries: "),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with("routes[b].upstream: "),
        "{problems:?}"
    );
}

#[test]
fn no_entries_is_the_configuration_itself() {
    let config = files(BASE);
    let (merged, left) = with_stored_entries(&config, &[]);
    assert!(left.is_empty());
    assert_eq!(merged.routes.len(), config.routes.len());
}
