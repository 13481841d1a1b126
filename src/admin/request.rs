//! Reading an admin request: the body (bounded), JSON into typed structs (with the failing
//! field named), the query string, dates and durations.

use super::error::AdminError;
use crate::base::time::{date_after, parse_date, parse_duration};
use pingora::protocols::http::ServerSession;
use serde::de::DeserializeOwned;

/// Bodies are small JSON documents; anything bigger is a mistake or an attack.
pub const MAX_BODY: usize = 1024 * 1024;

/// Reads the whole body, refusing (413) one over `MAX_BODY`, by its Content-Length at once.
pub async fn read_body(session: &mut ServerSession) -> Result<Vec<u8>, AdminError> {
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(AdminError::TooLarge { limit: MAX_BODY });
    }
    let mut body = Vec::new();
    loop {
        let chunk = session
            .read_request_body()
            .await
            .map_err(|e| AdminError::BadRequest(format!("cannot read the request body: {e}")))?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > MAX_BODY {
            return Err(AdminError::TooLarge { limit: MAX_BODY });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses a JSON body into `T`; an empty body reads as `{}`. Errors name the field.
pub fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        body
    };
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            AdminError::BadRequest(format!("the body is not valid JSON: {inner}"))
        } else if path == "." {
            AdminError::BadRequest(format!("body: {inner}"))
        } else {
            AdminError::BadRequest(format!("body.{path}: {inner}"))
        }
    })
}

/// The query string as decoded (name, value) pairs.
/// A body that is a named JSON object (a prompt definition, a live configuration entry): the
/// name, and the object without it (the name is the stored row's). At `path` (when `at` is
/// given), a `name` in the body must be that one; `what` names the object in messages.
pub fn named_object(
    body: &[u8],
    what: &str,
    at: Option<&str>,
) -> Result<(String, serde_json::Value), AdminError> {
    let mut v: serde_json::Value = json(body)?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| AdminError::BadRequest(format!("body: a {what} is a JSON object")))?;
    let given = match obj.remove("name") {
        None => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(_) => {
            return Err(AdminError::BadRequest(
                "body.name: a string is needed".into(),
            ))
        }
    };
    let name = match (at, given) {
        (Some(n), Some(g)) if n != g => {
            return Err(AdminError::BadRequest(format!(
                "body.name: {g:?} is not the {what} of this path ({n:?}); a {what} is not renamed: \
                 leave the name out, or delete it and create another"
            )))
        }
        (Some(n), _) => n.to_string(),
        (None, Some(g)) => g,
        (None, None) => return Err(AdminError::BadRequest("body.name: required".into())),
    };
    Ok((name, v))
}

pub fn query(text: Option<&str>) -> Vec<(String, String)> {
    text.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent-decoding, with `+` as a space (form encoding, as curl and browsers send queries).
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 3 <= bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Checks the query has only `known` parameters, so a typo is not silently ignored.
pub fn only_params(params: &[(String, String)], known: &[&str]) -> Result<(), AdminError> {
    match params.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        Some((k, _)) => Err(AdminError::BadRequest(format!(
            "unknown query parameter {k:?}; known: {}",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// A date field (`"2027-06-30"` or RFC 3339) into Unix seconds.
pub fn date(field: &str, text: &str) -> Result<i64, AdminError> {
    parse_date(text).map_err(|e| AdminError::BadRequest(format!("body.{field}: {e}")))
}

/// A duration field (`"30d"`, `"1h"`, at most 100 years) in seconds.
pub fn duration(field: &str, text: &str) -> Result<i64, AdminError> {
    parse_duration(text)
        .map(|d| d.as_secs() as i64)
        .map_err(|e| AdminError::BadRequest(format!("body.{field}: {e}")))
}

/// `now` plus a duration field, refused when the date is past what can be written.
pub fn date_in(field: &str, now: i64, text: &str) -> Result<i64, AdminError> {
    let by =
        parse_duration(text).map_err(|e| AdminError::BadRequest(format!("body.{field}: {e}")))?;
    date_after(now, by).map_err(|e| AdminError::BadRequest(format!("body.{field}: {text:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        n: Option<u32>,
    }

    #[test]
    fn json_errors_name_the_field() {
        let msg = |b: &str| json::<Body>(b.as_bytes()).unwrap_err().to_string();
        assert!(
            msg("{\"name\": 1}").contains("body.name"),
            "{}",
            msg("{\"name\": 1}")
        );
        assert!(msg("{\"name\": \"a\", \"x\": 1}").contains("unknown field `x`"));
        assert!(msg("{\"name\"").contains("not valid JSON"));
        assert!(msg("").contains("missing field `name`"));
        assert_eq!(json::<Body>(b"{\"name\":\"a\"}").unwrap().name, "a");
    }

    #[test]
    fn queries_decode() {
        let q = query(Some(
            "state=pending&tenant=ac%6De&x=a+b&empty=&bad=%zz&end=%4",
        ));
        assert_eq!(param(&q, "state"), Some("pending"));
        assert_eq!(param(&q, "tenant"), Some("acme"));
        assert_eq!(param(&q, "x"), Some("a b"));
        assert_eq!(param(&q, "empty"), None);
        assert_eq!(param(&q, "bad"), Some("%zz"));
        assert_eq!(param(&q, "end"), Some("%4"));
        assert!(only_params(&q, &["state"]).is_err());
    }

    #[test]
    fn durations_and_dates() {
        assert_eq!(duration("overlap", "1h").unwrap(), 3600);
        assert_eq!(duration("expires_in", "30d").unwrap(), 30 * 86400);
        assert!(duration("overlap", "soon").is_err());
        let far = duration("overlap", "9000y").unwrap_err().to_string();
        assert!(
            far.contains("body.overlap") && far.contains("100 years"),
            "{far}"
        );
        assert_eq!(date_in("expires_in", 100, "1m").unwrap(), 160);
        let e = date_in("expires_in", crate::base::time::MAX_UNIX - 5, "1m").unwrap_err();
        assert!(e.to_string().contains("body.expires_in"), "{e}");
        assert!(date("expires_at", "2027-06-30").is_ok());
        assert!(date("expires_at", "June")
            .unwrap_err()
            .to_string()
            .contains("body.expires_at"));
    }
}
