//! How the codecs read JSON bodies, and write text into them (prompts, answers, thinking, tool
//! arguments, inline images) with `#[serde(serialize_with = ...)]`.
//!
//! Reading: a body is checked for UTF-8 once and read as text (`base::json::from_slice`, which
//! says why); a client's body is read without recording the path of the field at fault, and
//! read again with it only when it fails (`read_body`).
//!
//! Writing: serde_json escapes a string one byte at a time, a table lookup and a branch per
//! byte, which was the largest single cost of a translated chat call (13k instructions of 132k
//! per request). Most text has nothing to escape, so a check the compiler vectorises runs first
//! and such a string is copied whole as a `RawValue`; anything else, and short strings (where
//! the copy costs more than it saves), go through serde_json's own escaping. The bytes written
//! are serde_json's either way (see the tests). Bodies start in a buffer of `BODY_CAPACITY`.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::de::{Deserializer, Read};
use serde_json::value::RawValue;

/// A client's body read as `T`; on failure, the error with the path of the field at fault.
/// Recording the path costs on every call (over a quarter of a chat request's decode) and serves
/// only the error, so the body is read plainly first and only a failure is read again, with it.
pub(crate) fn read_body<'de, T: Deserialize<'de>>(
    body: &'de [u8],
) -> Result<T, serde_path_to_error::Error<serde_json::Error>> {
    match std::str::from_utf8(body) {
        Ok(text) => twice(|| Deserializer::from_str(text)),
        Err(_) => twice(|| Deserializer::from_slice(body)),
    }
}

/// Neither pass reads past the value (as the path-tracked read alone did not).
fn twice<'de, R: Read<'de>, T: Deserialize<'de>>(
    de: impl Fn() -> Deserializer<R>,
) -> Result<T, serde_path_to_error::Error<serde_json::Error>> {
    if let Ok(value) = T::deserialize(&mut de()) {
        return Ok(value);
    }
    serde_path_to_error::deserialize(&mut de())
}

/// A chat body up to this size is written without growing its buffer: `serde_json::to_vec`
/// starts at 128 bytes and doubles, copying all it wrote each time, and a prompt of a few
/// paragraphs grew four times.
const BODY_CAPACITY: usize = 2048;

/// `serde_json::to_vec`, with the same bytes.
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(BODY_CAPACITY);
    serde_json::to_writer(&mut out, value)?;
    Ok(out)
}

/// Below this length serde_json's loop is cheaper than the raw value's allocation and copy.
const RAW_FROM: usize = 32;

/// A string field, written as `serde_json` writes a `&str`.
pub(crate) fn text<T, S>(value: &T, ser: S) -> Result<S::Ok, S::Error>
where
    T: AsRef<str> + ?Sized,
    S: Serializer,
{
    let s = value.as_ref();
    if s.len() < RAW_FROM || !plain(s.as_bytes()) {
        return ser.serialize_str(s);
    }
    let mut json = String::with_capacity(s.len() + 2);
    json.push('"');
    json.push_str(s);
    json.push('"');
    // SAFETY: `s` is UTF-8 with no quote, backslash or control character (`plain`), so in
    // quotes it is one JSON string, with no whitespace around it, and it reads back as `s`.
    unsafe { RawValue::from_string_unchecked(json) }.serialize(ser)
}

/// An optional string field, `None` written as `null` (or skipped, as the field says).
pub(crate) fn opt_text<T, S>(value: &Option<T>, ser: S) -> Result<S::Ok, S::Error>
where
    T: AsRef<str>,
    S: Serializer,
{
    match value {
        Some(s) => text(s, ser),
        None => ser.serialize_none(),
    }
}

/// Nothing in `bytes` that JSON escapes: `"`, `\` and the bytes below 0x20 (serde_json leaves
/// DEL, non-ASCII and U+2028/U+2029 as they are). Blocks without an early exit inside
/// vectorise; the exit between them keeps a long string with an early escape cheap.
fn plain(bytes: &[u8]) -> bool {
    bytes.chunks(64).all(|block| {
        block
            .iter()
            .fold(true, |ok, &b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Serialize)]
    struct Fields<'a> {
        #[serde(serialize_with = "text")]
        text: &'a str,
        #[serde(serialize_with = "opt_text")]
        some: Option<String>,
        #[serde(serialize_with = "opt_text")]
        none: Option<&'a str>,
    }

    /// The same fields as serde writes them by default.
    #[derive(Serialize)]
    struct Serde<'a> {
        text: &'a str,
        some: Option<String>,
        none: Option<&'a str>,
    }

    fn same_as_serde(s: &str) {
        let ours = Fields {
            text: s,
            some: Some(s.to_owned()),
            none: None,
        };
        let serde = Serde {
            text: s,
            some: Some(s.to_owned()),
            none: None,
        };
        let ours = serde_json::to_vec(&ours).unwrap();
        assert_eq!(ours, serde_json::to_vec(&serde).unwrap(), "{s:?}");
    }

    /// Strings of the characters JSON treats specially, long enough for the raw path.
    fn tricky() -> impl Strategy<Value = String> {
        let unit = prop_oneof![
            4 => Just("a".to_owned()),
            1 => Just("\"".to_owned()),
            1 => Just("\\".to_owned()),
            1 => (0u8..0x20).prop_map(|b| char::from(b).to_string()),
            1 => Just("\u{7f}".to_owned()),
            1 => Just("\u{2028}\u{2029}".to_owned()),
            1 => Just("é€😀".to_owned()),
            1 => Just("/<>&'".to_owned()),
        ];
        proptest::collection::vec(unit, 0..100).prop_map(|units| units.concat())
    }

    #[test]
    fn edge_strings_are_written_as_serde_writes_them() {
        let long = "x".repeat(RAW_FROM);
        for s in [
            "",
            "a",
            &long,
            &format!("{long}\""),
            &format!("\\{long}"),
            &format!("{long}\u{1f}"),
            &format!("{long}\u{7f}\u{2028}\u{2029}é"),
            &format!("{}\n", "y".repeat(200)),
        ] {
            same_as_serde(s);
        }
    }

    /// Objects whose strings hold escapes, non-ASCII and bytes that are not UTF-8.
    fn bodies() -> impl Strategy<Value = Vec<u8>> {
        let unit = prop_oneof![
            4 => Just(&b"a"[..]),
            1 => Just(&b"\\\""[..]),
            1 => Just(&b"\\u00e9\\ud800"[..]),
            1 => Just("é😀".as_bytes()),
            1 => Just(&b"\xff"[..]),
            1 => Just(&b"\xc3"[..]),
            1 => Just(&b"\n"[..]),
            1 => Just(&b"\",\"k\":[1,{\"x\":\""[..]),
        ];
        proptest::collection::vec(unit, 0..40)
            .prop_map(|units| [&b"{\"k\":{\"s\":\""[..], &units.concat(), b"\"}}"].concat())
    }

    proptest! {
        #[test]
        fn a_body_is_read_as_the_path_tracked_read_reads_it(body in bodies()) {
            let tracked = |e: serde_path_to_error::Error<serde_json::Error>| {
                (e.path().to_string(), e.inner().to_string())
            };
            let ours = read_body::<serde_json::Value>(&body).map_err(tracked);
            let de = &mut Deserializer::from_slice(&body);
            prop_assert_eq!(ours, serde_path_to_error::deserialize(de).map_err(tracked));
        }

        #[test]
        fn any_string_is_written_as_serde_writes_it(s in any::<String>(), t in tricky()) {
            same_as_serde(&s);
            same_as_serde(&t);
            same_as_serde(&format!("{}{s}", "z".repeat(RAW_FROM)));
        }
    }
}
