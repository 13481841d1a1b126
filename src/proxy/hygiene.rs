//! Request framing checks that Pingora leaves to the application: it silently drops
//! `Content-Length` when `Transfer-Encoding` is present and accepts repeated equal
//! `Content-Length` lines, both classic request-smuggling vectors, so they are refused here.

use crate::error::GatewayError;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
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
