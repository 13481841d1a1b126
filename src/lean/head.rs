//! A request head as the lean path reads it: parsed in place, checked against the narrow shape
//! the lean path serves, and written out again for the upstream without its hop-by-hop fields.
//! Whatever falls outside that shape is not refused here: it goes to Pingora's path, which has
//! the whole of HTTP/1's rules (and the gateway's hygiene checks) for it.

/// Header fields a request head may have for the lean path to parse it.
pub const MAX_HEADERS: usize = 64;
/// The largest head the lean path waits for: a longer request goes to Pingora's path, a
/// longer answer is a bad gateway.
pub const MAX_HEAD: usize = 16 * 1024;
/// The largest request body the lean path proxies, read whole before the upstream is called
/// (a policy's own answers take any: `LeanApp::serve`).
pub const MAX_BODY: u64 = 16 * 1024;

/// A plain request, borrowed from the connection's buffer.
pub struct Head<'a> {
    pub method: &'a str,
    /// The origin-form target (path and query).
    pub target: &'a str,
    pub headers: &'a [httparse::Header<'a>],
    /// The head's length in the buffer.
    pub len: usize,
    /// The body's length (`Content-Length`, 0 without one).
    pub body: u64,
    /// The client asked for the connection to close after the answer.
    pub close: bool,
}

/// Where a parse of the buffer's start left off.
pub enum Parsed<'a> {
    /// A head the lean path serves.
    Plain(Head<'a>),
    /// The head is not all here yet.
    Partial,
    /// A head (or bytes) for Pingora's path.
    Other,
}

/// Parses the request head at the start of `buf` into `slots`.
pub fn parse<'a>(buf: &'a [u8], slots: &'a mut [httparse::Header<'a>]) -> Parsed<'a> {
    let mut req = httparse::Request::new(slots);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Other,
    };
    let (Some(method), Some(target), Some(1)) = (req.method, req.path, req.version) else {
        return Parsed::Other;
    };
    if method == "CONNECT" || !target.starts_with('/') {
        return Parsed::Other;
    }
    match plain_fields(req.headers) {
        Some((body, Connection { close })) => Parsed::Plain(Head {
            method,
            target,
            headers: req.headers,
            len,
            body,
            close,
        }),
        None => Parsed::Other,
    }
}

/// What a request's `Connection` fields ask for.
#[derive(Default)]
struct Connection {
    close: bool,
}

/// The body length and the client's `Connection` options of a head whose fields are plain: one
/// `Host`, at most one `Content-Length` of digits, no `Transfer-Encoding`,
/// `Upgrade` or `Expect`, and no `Connection` option but `close` and `keep-alive`.
fn plain_fields(headers: &[httparse::Header<'_>]) -> Option<(u64, Connection)> {
    let (mut hosts, mut body, mut conn) = (0, None, Connection::default());
    for h in headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("content-length") {
            if body.is_some() {
                return None;
            }
            body = Some(digits(h.value)?);
        } else if name.eq_ignore_ascii_case("connection") {
            connection_options(h.value, &mut conn)?;
        } else if ["transfer-encoding", "upgrade", "expect"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            return None;
        }
    }
    (hosts == 1).then_some((body.unwrap_or(0), conn))
}

/// Whether the buffer holds an empty line, the end of any head (lines may end in a bare LF).
/// One at the very start is a head too: the parse then hands it to Pingora's path.
pub fn head_ends(buf: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', buf).any(|i| match buf.get(i + 1) {
        Some(b'\n') => true,
        Some(b'\r') => buf.get(i + 2) == Some(&b'\n'),
        _ => false,
    })
}

/// A `Content-Length` of digits only (what RFC 9110 8.6 allows, less the list form).
pub fn digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 {
        return None;
    }
    value.iter().try_fold(0u64, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

/// Reads a `Connection` value's options; `None` for one the lean path leaves to Pingora's (one
/// naming another field as hop-by-hop, or `upgrade`).
fn connection_options(value: &[u8], conn: &mut Connection) -> Option<()> {
    for option in value.split(|b| *b == b',') {
        let option = option.trim_ascii();
        if option.eq_ignore_ascii_case(b"close") {
            conn.close = true;
        } else if !option.eq_ignore_ascii_case(b"keep-alive") && !option.is_empty() {
            return None;
        }
    }
    Some(())
}

/// Fields about one hop only, never forwarded (RFC 9110 7.6.1, and the de-facto ones).
pub fn is_hop_by_hop(name: &str) -> bool {
    const HOP: [&str; 9] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
    ];
    // Most fields are longer than any of these, or start with another letter.
    name.len() <= 19 && HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
}

/// Writes the head for the upstream: the request line as HTTP/1.1, every end-to-end field as
/// the client wrote it, then `extra` (whole `Name: value\r\n` lines).
pub fn write_upstream(head: &Head<'_>, extra: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(head.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(head.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for h in head.headers.iter().filter(|h| !is_hop_by_hop(h.name)) {
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(extra);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str) -> Option<(u64, bool, String)> {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match parse(raw.as_bytes(), &mut slots) {
            Parsed::Plain(h) => {
                let mut out = Vec::new();
                write_upstream(&h, b"X-Added: 1\r\n", &mut out);
                Some((h.body, h.close, String::from_utf8(out).unwrap()))
            }
            Parsed::Partial => Some((0, false, "partial".into())),
            Parsed::Other => None,
        }
    }

    #[test]
    fn a_plain_request_is_written_for_the_upstream_without_hop_by_hop_fields() {
        let raw = "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\nX-Case: V\r\n\r\n";
        let (body, close, out) = check(raw).unwrap();
        assert_eq!((body, close), (0, false));
        assert_eq!(
            out,
            "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Case: V\r\nX-Added: 1\r\n\r\n"
        );
        let raw = "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 12\r\nConnection: Close\r\n\r\n";
        assert_eq!(check(raw).unwrap().0..=12, 12..=12);
        assert!(check(raw).unwrap().1);
        assert_eq!(check("GET / HTTP/1.1\r\nHost: x\r\n").unwrap().2, "partial");
        // A body of any length is a plain shape: which the lean path takes depends on its way.
        let raw = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n";
        assert_eq!(check(raw).unwrap().0, 1 << 20);
    }

    #[test]
    fn every_other_shape_goes_to_pingoras_path() {
        for raw in [
            "GET / HTTP/1.0\r\nHost: x\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            "GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
            "CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: X-Secret\r\nX-Secret: 1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\n Folded: 1\r\n\r\n",
            "GET / HTTP/1.1\r\nHo st: x\r\n\r\n",
        ] {
            assert!(check(raw).is_none(), "{raw:?}");
        }
    }

    #[test]
    fn content_lengths_are_digits_only() {
        assert_eq!(digits(b"0"), Some(0));
        assert_eq!(digits(b"4096"), Some(4096));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"-1",
            b"0x1",
            b"99999999999999999999",
        ] {
            assert_eq!(digits(bad), None);
        }
    }
}
