//! Request checks that Pingora leaves to the application, made before routing:
//! - framing: Pingora silently drops `Content-Length` when `Transfer-Encoding` is present,
//!   accepts repeated equal `Content-Length` lines, and reads `gzip, chunked` as plain chunked
//!   (losing the gzip coding), all refused here;
//! - `Host`: required on HTTP/1.1, once, and a valid `host[:port]` (RFC 9112 3.2), since
//!   routes and access rules are bound to it;
//! - `Expect`: only `100-continue` is understood (`417` otherwise);
//! - the request target, put in its normal form (`routing::target`) before anything reads it.

use crate::error::GatewayError;
use http::header::{CONTENT_LENGTH, EXPECT, HOST, TRANSFER_ENCODING};
use pingora::http::RequestHeader;
use pingora::proxy::Session;

pub fn check(
    session: &Session,
    max_header_bytes: usize,
    max_body_bytes: u64,
) -> Result<(), GatewayError> {
    let req = session.req_header();
    let raw = session
        .as_downstream()
        .as_http1()
        .map(|h1| h1.get_headers_raw_bytes());
    if let Some(raw) = &raw {
        if raw.len() > max_header_bytes {
            return Err(GatewayError::HeaderTooLarge {
                size: raw.len(),
                limit: max_header_bytes,
            });
        }
        if req.headers.contains_key(TRANSFER_ENCODING) && has_header_line(raw, b"content-length") {
            return Err(GatewayError::BadFraming(
                "both Content-Length and Transfer-Encoding",
            ));
        }
    }
    check_transfer_encoding(req)?;
    check_host(req)?;
    let mut lengths = req.headers.get_all(CONTENT_LENGTH).iter();
    if let Some(first) = lengths.next() {
        if lengths.next().is_some() || first.as_bytes().contains(&b',') {
            return Err(GatewayError::BadFraming("more than one Content-Length"));
        }
        let declared = std::str::from_utf8(first.as_bytes())
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > max_body_bytes) {
            return Err(GatewayError::BodyTooLarge {
                limit: max_body_bytes,
            });
        }
    }
    Ok(())
}

/// Only `chunked`, alone, is a transfer coding the gateway can pass on without decoding.
/// (Pingora refuses a coding it does not know at all, and any on HTTP/1.0; it reads
/// `gzip, chunked` as chunked and would drop the gzip.)
fn check_transfer_encoding(req: &RequestHeader) -> Result<(), GatewayError> {
    for value in req.headers.get_all(TRANSFER_ENCODING) {
        let text = String::from_utf8_lossy(value.as_bytes());
        for coding in text.split(',').map(str::trim) {
            if !coding.eq_ignore_ascii_case("chunked") {
                return Err(GatewayError::UnsupportedTransferCoding(coding.to_string()));
            }
        }
    }
    Ok(())
}

/// `Host` is required once on HTTP/1.1 and must be a host with an optional port; routes and
/// access rules are chosen by it, so an odd value must not fall through to a catch-all.
fn check_host(req: &RequestHeader) -> Result<(), GatewayError> {
    let mut hosts = req.headers.get_all(HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(GatewayError::BadRequest("more than one Host header"));
    }
    match host {
        None if req.version == http::Version::HTTP_11 && req.uri.authority().is_none() => Err(
            GatewayError::BadRequest("HTTP/1.1 request without a Host header"),
        ),
        Some(h) if !is_valid_host(h.as_bytes()) => Err(GatewayError::BadRequest(
            "the Host header is not a valid host[:port]",
        )),
        _ => Ok(()),
    }
}

/// `uri-host [ ":" port ]`: a reg-name or IPv4 address, or an IP literal in brackets. Empty is
/// allowed (RFC 9112 3.2: the target has no authority).
fn is_valid_host(v: &[u8]) -> bool {
    let (host, port) = match v.iter().rposition(|&b| b == b':') {
        Some(i) if !v.ends_with(b"]") => (&v[..i], Some(&v[i + 1..])),
        _ => (v, None),
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.iter().all(u8::is_ascii_digit));
    let host_ok = if let Some(inner) = host.strip_prefix(b"[").and_then(|h| h.strip_suffix(b"]")) {
        !inner.is_empty()
            && inner
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        host.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')'
                )
                || matches!(b, b'*' | b'+' | b',' | b';' | b'=' | b'%')
        })
    };
    port_ok && host_ok && !(host.is_empty() && port.is_some())
}

/// Whether the client asked for `100 Continue`; any other expectation is refused.
pub fn expects_continue(req: &RequestHeader) -> Result<bool, GatewayError> {
    let Some(v) = req.headers.get(EXPECT) else {
        return Ok(false);
    };
    if v.as_bytes().eq_ignore_ascii_case(b"100-continue") {
        Ok(true)
    } else {
        Err(GatewayError::ExpectationFailed(
            String::from_utf8_lossy(v.as_bytes()).into_owned(),
        ))
    }
}

/// Puts the request path in its normal form, in place, so that routing, access checks and the
/// upstream all see the same path. An absolute-form target keeps only its path and query.
pub fn normalize_target(req: &mut RequestHeader) -> Result<(), GatewayError> {
    let uri = &req.uri;
    let path = crate::routing::target::normalize(uri.path())?;
    if matches!(path, std::borrow::Cow::Borrowed(_)) && uri.authority().is_none() {
        return Ok(());
    }
    let target = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.into_owned(),
    };
    let parsed = target
        .parse::<http::Uri>()
        .map_err(|_| GatewayError::BadRequest("the request target cannot be normalised"))?;
    // RFC 9112 3.2.2: an absolute-form target's authority wins over `Host`.
    if let Some(authority) = req.uri.authority() {
        let host = http::HeaderValue::from_str(authority.as_str())
            .map_err(|_| GatewayError::BadRequest("the request target's authority is invalid"))?;
        req.insert_header(HOST, host)
            .map_err(|_| GatewayError::BadRequest("the request target's authority is invalid"))?;
    }
    req.set_uri(parsed);
    Ok(())
}

/// Whether the raw header block has a line starting with `name:` (case-insensitive).
fn has_header_line(raw: &[u8], name: &[u8]) -> bool {
    raw.split(|&b| b == b'\n').skip(1).any(|line| {
        let line = line.strip_prefix(b" ").unwrap_or(line);
        line.len() > name.len()
            && line[..name.len()].eq_ignore_ascii_case(name)
            && matches!(line[name.len()], b':' | b' ' | b'\t')
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_header_lines_case_insensitively() {
        let raw = b"POST / HTTP/1.1\r\nHost: x\r\nCONTENT-LENGTH: 4\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(super::has_header_line(raw, b"content-length"));
        assert!(!super::has_header_line(
            b"GET / HTTP/1.1\r\nX-Content-Length: 1\r\n\r\n",
            b"content-length"
        ));
    }
}
