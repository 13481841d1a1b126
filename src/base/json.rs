//! JSON read from bytes at the cost of JSON read from a `str`.
//!
//! `serde_json::from_slice` checks that every string it borrows or decodes is UTF-8, one
//! string at a time: on a chat body, a few dozen short keys and values each pay the check's
//! set-up. Checking the whole body once is cheaper, and `from_str` then checks none. A body
//! that is not UTF-8 goes to `from_slice` as before, so the answer is the same either way,
//! errors and their positions included (`from_str` reads a `str` as `from_slice` reads its
//! bytes, less the check).

use serde::Deserialize;

/// `serde_json::from_slice`, with UTF-8 checked once for the whole body.
pub fn from_slice<'a, T: Deserialize<'a>>(body: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    }
}

#[cfg(test)]
mod tests {
    use super::from_slice;
    use serde_json::value::RawValue;
    use std::borrow::Cow;

    /// Both readers, and whether they agree: the value, or the error's message and position.
    fn same<'a, T>(body: &'a [u8])
    where
        T: serde::Deserialize<'a> + PartialEq + std::fmt::Debug,
    {
        let ours = from_slice::<T>(body).map_err(|e| e.to_string());
        let theirs = serde_json::from_slice::<T>(body).map_err(|e| e.to_string());
        assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(body));
    }

    #[test]
    fn answers_as_from_slice_does_valid_or_not() {
        let bodies: &[&[u8]] = &[
            br#"{"a":"b","c":[1,2.5,null,true],"d":{"e":"\u00e9\n"}}"#,
            "{\"caf\u{e9}\":\"\u{1f600}\"}".as_bytes(),
            br#"{"a":"b""#,
            br#"{"a":"b",}"#,
            b"{\"a\":\"\x01\"}",
            b"{\"a\":\"\xff\"}",
            b"{\"\xc3\":1}",
            b"{\"a\":1}\xff",
            b"",
            b" 1 ",
        ];
        for body in bodies {
            same::<serde_json::Value>(body);
            same::<std::collections::BTreeMap<Cow<str>, serde_json::Value>>(body);
        }
    }

    #[test]
    fn borrowed_strings_and_raw_values_borrow_from_the_body() {
        let body = br#"{"k":"v","raw":[1, {"x":2}]}"#;
        #[derive(serde::Deserialize)]
        struct Shape<'a> {
            #[serde(borrow)]
            k: Cow<'a, str>,
            #[serde(borrow)]
            raw: &'a RawValue,
        }
        let s: Shape = from_slice(body).unwrap();
        assert!(matches!(s.k, Cow::Borrowed("v")));
        assert_eq!(s.raw.get(), r#"[1, {"x":2}]"#);
        // A raw value that is not UTF-8 is refused, as `from_slice` refuses it.
        let bad = b"{\"k\":\"v\",\"raw\":[\"\xff\"]}";
        assert!(from_slice::<Shape>(bad).is_err());
        assert!(serde_json::from_slice::<Shape>(bad).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 512,
            failure_persistence: None,
            ..Default::default()
        })]

        /// Bytes near JSON (its punctuation, escapes, multi-byte and broken UTF-8) read the
        /// same through both.
        #[test]
        fn any_bytes_read_as_from_slice_reads_them(
            pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..24)
        ) {
            let body: Vec<u8> = pieces.concat();
            same::<serde_json::Value>(&body);
            same::<std::collections::BTreeMap<Cow<str>, serde_json::Value>>(&body);
        }
    }

    const PIECES: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b":",
        b",",
        b"\"",
        b"\\",
        b"\\u00e9",
        b"\\ud800",
        b"\\n",
        b"a",
        b"1",
        b"-2.5e3",
        b"true",
        b"null",
        b" ",
        b"\n",
        b"\x01",
        "\u{e9}".as_bytes(),
        "\u{1f600}".as_bytes(),
        b"\xc3",
        b"\xff",
        b"\xe2\x82",
    ];
}
