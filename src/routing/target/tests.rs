//! The normaliser's cases, and properties over arbitrary paths.

use super::{normalize, TargetError};
use proptest::prelude::*;

fn norm(p: &str) -> Result<String, TargetError> {
    normalize(p).map(|c| c.into_owned())
}

#[test]
fn normal_paths_are_borrowed() {
    for p in [
        "/",
        "/a",
        "/a/b/",
        "/.well-known/x",
        "/a..b/c.",
        "/%20x",
        "/caf%C3%A9",
        "/é",
    ] {
        assert!(
            matches!(normalize(p), Ok(std::borrow::Cow::Borrowed(_))),
            "{p}"
        );
    }
}

#[test]
fn dot_segments_are_removed() {
    let cases = [
        ("/pub/../priv/secret.txt", "/priv/secret.txt"),
        ("/pub/%2e%2e/priv/secret.txt", "/priv/secret.txt"),
        ("/pub/%2E%2e/priv/", "/priv/"),
        ("/pub/.%2e/priv", "/priv"),
        ("/a/./b", "/a/b"),
        ("/a/b/..", "/a/"),
        ("/a/b/.", "/a/b/"),
        ("/..", "/"),
        ("/../../etc/passwd", "/etc/passwd"),
        ("/a/../../b", "/b"),
        ("/.", "/"),
    ];
    for (raw, want) in cases {
        assert_eq!(norm(raw).as_deref(), Ok(want), "{raw}");
    }
}

#[test]
fn slashes_merge_and_unreserved_escapes_decode() {
    assert_eq!(norm("//priv/x").as_deref(), Ok("/priv/x"));
    assert_eq!(norm("/a///b//").as_deref(), Ok("/a/b/"));
    assert_eq!(norm("/%41%7e%2D").as_deref(), Ok("/A~-"));
    assert_eq!(norm("/a%3fb%c3%a9").as_deref(), Ok("/a%3Fb%C3%A9"));
}

#[test]
fn unsafe_targets_are_refused() {
    let cases = [
        ("*", TargetError::NotAbsolute),
        ("", TargetError::NotAbsolute),
        ("a/b", TargetError::NotAbsolute),
        ("/pub/..%2fpriv/secret.txt", TargetError::EncodedSeparator),
        ("/pub/..%2Fpriv", TargetError::EncodedSeparator),
        ("/pub/..%5cpriv", TargetError::EncodedSeparator),
        ("/pub\\..\\priv", TargetError::Backslash),
        ("/a%", TargetError::BadEscape),
        ("/a%4", TargetError::BadEscape),
        ("/a%zz", TargetError::BadEscape),
        ("/a%00b", TargetError::EncodedControl),
        ("/a%0d%0aX: y", TargetError::EncodedControl),
    ];
    for (raw, want) in cases {
        assert_eq!(norm(raw), Err(want), "{raw}");
    }
}

/// Paths built from the pieces that matter to normalisation.
fn path_strategy() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/".to_string()),
        Just(".".to_string()),
        Just("..".to_string()),
        Just("%2e".to_string()),
        Just("%2E".to_string()),
        Just("%41".to_string()),
        Just("%3f".to_string()),
        Just("%".to_string()),
        Just("%2f".to_string()),
        "[a-z0-9]{1,3}",
        "[ -~]",
        "\\PC",
    ];
    prop::collection::vec(piece, 0..16).prop_map(|v| format!("/{}", v.concat()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn normal_form_is_stable_and_safe(path in path_strategy()) {
        if let Ok(once) = norm(&path) {
            // Idempotent: the normal form is already normal, and borrowed as such.
            prop_assert!(matches!(normalize(&once), Ok(std::borrow::Cow::Borrowed(_))), "{once}");
            prop_assert!(once.starts_with('/'));
            prop_assert!(!once.contains("//"), "{once}");
            for seg in once.split('/') {
                prop_assert!(seg != "." && seg != "..", "{once}");
            }
            // Nothing that decodes to a separator or a dot segment is left encoded.
            let lower = once.to_ascii_lowercase();
            prop_assert!(!lower.contains("%2e") && !lower.contains("%2f") && !lower.contains("%5c"));
        }
    }

    #[test]
    fn arbitrary_text_never_panics(path in "\\PC*") {
        let _ = normalize(&path);
    }
}
