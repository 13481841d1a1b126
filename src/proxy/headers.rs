//! Header rewriting between client and upstream: hop-by-hop removal, forwarding headers and the
//! route's set/remove transforms.
//!
//! Pingora writes a header name in Title-Case unless it was given in another spelling; only
//! then is the spelling kept, in a per-request map that also makes every later header write
//! look each name up. `insert_header` parses the name it is given and compares its spelling;
//! the gateway's own headers skip both: they are `HeaderName` constants added with
//! `insert_titled_header`, after room is made for them. A route's names are `Bytes` made once at
//! config compile (`config::SetHeader`), and every value set is either static or shared
//! (`base::header`): a clone per request is a reference count, never a copy. Names looked up or
//! removed are `HeaderName` constants, never parsed per request.

use crate::base::header::shared_value;
use crate::config::HeaderTransform;
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::HeaderMap;
use pingora::http::{RequestHeader, ResponseHeader};
use std::net::IpAddr;

/// The request id's header: taken from the client when it sends a usable one, else made; sent
/// upstream and on every answer, the gateway's own refusals included.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// The most headers `set_forwarded` adds, room made for them at once.
const FORWARDED_HEADERS: usize = 4;

/// RFC 9110 §7.6.1 connection-specific fields. `Transfer-Encoding` is absent on purpose: Pingora
/// re-frames bodies itself and needs to see it. `Connection` is first: an upgrade keeps it.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
];

/// The longest text of an IP address (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`).
const IP_TEXT_MAX: usize = 45;

/// An IP address's text, kept inline: the owner of a shared header value, so that the value
/// is one allocation.
struct IpText {
    len: usize,
    buf: [u8; IP_TEXT_MAX],
}

impl AsRef<[u8]> for IpText {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The client address as a header value (`X-Real-IP`, `X-Forwarded-For`): written in place,
/// without a `String`, and shared, so both headers take it for one allocation.
pub fn ip_value(ip: IpAddr) -> Option<HeaderValue> {
    use std::io::Write;
    let mut text = IpText {
        len: 0,
        buf: [0; IP_TEXT_MAX],
    };
    let mut out = &mut text.buf[..];
    write!(out, "{ip}").ok()?;
    text.len = IP_TEXT_MAX - out.len();
    shared_value(text)
}

/// Whether the request asks for a protocol upgrade (WebSocket), which keeps `Connection` and
/// `Upgrade` so that the upgrade can pass through.
pub fn is_upgrade(req: &RequestHeader) -> bool {
    req.headers.contains_key(header::UPGRADE)
        && req.headers.get_all(header::CONNECTION).iter().any(|v| {
            v.as_bytes()
                .windows(7)
                .any(|w| w.eq_ignore_ascii_case(b"upgrade"))
        })
}

/// Whether the client said it takes trailers (`TE: trailers`), as gRPC clients do.
pub fn accepts_trailers(req: &RequestHeader) -> bool {
    req.headers.get_all(header::TE).iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        })
    })
}

/// A gRPC answer's status code (`grpc-status`, in its trailers or trailers-only headers).
pub fn grpc_status(headers: &HeaderMap) -> Option<u32> {
    const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
    std::str::from_utf8(headers.get(GRPC_STATUS)?.as_bytes())
        .ok()?
        .parse()
        .ok()
}

/// A request or answer head, to strip either the same way.
trait Head {
    fn map(&self) -> &HeaderMap;
    fn remove_name(&mut self, name: &HeaderName);
    fn remove_listed(&mut self, name: &str);
}

/// Both heads keep their names the same way, behind the same methods.
macro_rules! impl_head {
    ($($head:ty),*) => {$(
        impl Head for $head {
            fn map(&self) -> &HeaderMap {
                &self.headers
            }
            fn remove_name(&mut self, name: &HeaderName) {
                self.remove_header(name);
            }
            fn remove_listed(&mut self, name: &str) {
                self.remove_header(name);
            }
        }
    )*};
}
impl_head!(RequestHeader, ResponseHeader);

/// Removes the hop-by-hop fields: those the `Connection` fields list (never `Connection` or
/// `Upgrade` themselves: an upgrade keeps both), then the fixed ones, and `Upgrade` unless
/// `upgrade`. Nothing is collected: the head's names are scanned once and only the fields
/// present are removed.
fn strip_hop_by_hop(head: &mut impl Head, upgrade: bool) {
    let listed = head.map().get_all(header::CONNECTION).iter().count();
    for i in 0..listed {
        // A parsed value is a slice of the read buffer: its clone is a reference count, and
        // lets the head be changed while its tokens are read.
        let Some(value) = head
            .map()
            .get_all(header::CONNECTION)
            .iter()
            .nth(i)
            .cloned()
        else {
            break;
        };
        let Ok(text) = value.to_str() else {
            continue;
        };
        for token in text.split(',').map(str::trim) {
            // The fixed names are removed below, found by a scan rather than by parsing the
            // token (an upstream's `Connection: keep-alive` names one of them on every answer).
            let spared = token.is_empty()
                || token.eq_ignore_ascii_case("upgrade")
                || HOP_BY_HOP
                    .iter()
                    .any(|h| token.eq_ignore_ascii_case(h.as_str()));
            if !spared {
                head.remove_listed(token);
            }
        }
    }
    let mut present = 0u8;
    for name in head.map().keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|h| h == name) {
            present |= 1 << i;
        }
        if !upgrade && name == header::UPGRADE {
            present |= 1 << HOP_BY_HOP.len();
        }
    }
    if upgrade {
        // `Connection` is the list's first.
        present &= !1;
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            head.remove_name(name);
        }
    }
    if present & (1 << HOP_BY_HOP.len()) != 0 {
        head.remove_name(&header::UPGRADE);
    }
}

pub fn strip_request_hop_by_hop(req: &mut RequestHeader, upgrade: bool) {
    strip_hop_by_hop(req, upgrade);
}

pub fn strip_response_hop_by_hop(resp: &mut ResponseHeader) {
    if resp.status == http::StatusCode::SWITCHING_PROTOCOLS {
        return;
    }
    strip_hop_by_hop(resp, false);
}

/// `X-Forwarded-For` (appended), `X-Real-Ip`, `X-Forwarded-Proto` and `X-Forwarded-Host`, as
/// the usual nginx reverse-proxy configuration sets them. `client_ip` is `ip_value`'s and
/// `original_host` the client's own `Host` value: both are shared, so setting them copies
/// nothing; only a client's own `X-Forwarded-For` makes a new value, the list appended to.
pub fn set_forwarded(
    req: &mut RequestHeader,
    client_ip: Option<&HeaderValue>,
    original_host: Option<&HeaderValue>,
    tls: bool,
) {
    // Room for the request id too; the map cannot be near its bound of 32,768 names (a
    // header block is far smaller), so a failure only means growing more than once.
    let _ = req.reserve_headers(FORWARDED_HEADERS + 1);
    if let Some(ip) = client_ip {
        let xff = match req.headers.get(X_FORWARDED_FOR) {
            Some(prev) if !prev.is_empty() && prev.to_str().is_ok() => appended(prev, ip),
            _ => Some(ip.clone()),
        };
        if let Some(xff) = xff {
            req.insert_titled_header(X_FORWARDED_FOR, xff);
        }
        req.insert_titled_header(X_REAL_IP, ip.clone());
    }
    let proto = HeaderValue::from_static(if tls { "https" } else { "http" });
    req.insert_titled_header(X_FORWARDED_PROTO, proto);
    if let Some(host) = original_host {
        req.insert_titled_header(X_FORWARDED_HOST, host.clone());
    }
}

/// `prev, ip` in one allocation of the exact size.
fn appended(prev: &HeaderValue, ip: &HeaderValue) -> Option<HeaderValue> {
    let mut list = Vec::with_capacity(prev.len() + 2 + ip.len());
    list.extend_from_slice(prev.as_bytes());
    list.extend_from_slice(b", ");
    list.extend_from_slice(ip.as_bytes());
    HeaderValue::from_maybe_shared(Bytes::from(list)).ok()
}

pub fn apply_request(t: &HeaderTransform, req: &mut RequestHeader) {
    for name in &t.remove {
        req.remove_header(name);
    }
    for h in &t.set {
        let _ = req.insert_header(h.wire.clone(), h.value.clone());
    }
}

pub fn apply_response(t: &HeaderTransform, resp: &mut ResponseHeader) {
    for name in &t.remove {
        resp.remove_header(name);
    }
    for h in &t.set {
        let _ = resp.insert_header(h.wire.clone(), h.value.clone());
    }
}

/// The path sent upstream once the route's prefix is taken off; never empty.
pub fn strip_prefix<'a>(path: &'a str, prefix: &str) -> &'a str {
    match path.strip_prefix(prefix.trim_end_matches('/')) {
        Some("") | None => "/",
        Some(rest) => rest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_listed_headers_go() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.insert_header("connection", "keep-alive, x-secret")
            .unwrap();
        req.insert_header("x-secret", "1").unwrap();
        req.insert_header("keep-alive", "timeout=5").unwrap();
        req.insert_header("x-kept", "1").unwrap();
        strip_request_hop_by_hop(&mut req, false);
        assert!(req.headers.get("x-secret").is_none());
        assert!(req.headers.get("keep-alive").is_none());
        assert!(req.headers.get("connection").is_none());
        assert!(req.headers.get("x-kept").is_some());
    }

    #[test]
    fn websocket_upgrade_is_kept() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.insert_header("connection", "Upgrade").unwrap();
        req.insert_header("upgrade", "websocket").unwrap();
        let up = is_upgrade(&req);
        strip_request_hop_by_hop(&mut req, up);
        assert!(up);
        assert!(req.headers.get("upgrade").is_some());
    }

    #[test]
    fn trailers_accepted_and_grpc_status_read() {
        let mut req = RequestHeader::build("POST", b"/", None).unwrap();
        assert!(!accepts_trailers(&req));
        req.insert_header("te", "gzip, Trailers").unwrap();
        assert!(accepts_trailers(&req));
        let mut h = http::HeaderMap::new();
        assert_eq!(grpc_status(&h), None);
        h.insert("grpc-status", http::HeaderValue::from_static("14"));
        assert_eq!(grpc_status(&h), Some(14));
        h.insert("grpc-status", http::HeaderValue::from_static("x"));
        assert_eq!(grpc_status(&h), None);
    }

    #[test]
    fn forwarded_for_is_appended() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.insert_header("x-forwarded-for", "10.0.0.1").unwrap();
        let ip = ip_value(IpAddr::from([127, 0, 0, 1]));
        let host = HeaderValue::from_static("example.com");
        set_forwarded(&mut req, ip.as_ref(), Some(&host), false);
        assert_eq!(req.headers["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(req.headers["x-real-ip"], "127.0.0.1");
        assert_eq!(req.headers["x-forwarded-proto"], "http");
        assert_eq!(req.headers["x-forwarded-host"], "example.com");
        let mut fresh = RequestHeader::build("GET", b"/", None).unwrap();
        set_forwarded(&mut fresh, ip.as_ref(), None, true);
        assert_eq!(fresh.headers["x-forwarded-for"], "127.0.0.1");
        assert_eq!(fresh.headers["x-forwarded-proto"], "https");
        assert!(fresh.headers.get("x-forwarded-host").is_none());
    }

    #[test]
    fn added_names_go_out_in_title_case() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.insert_header("Host", "example.com").unwrap();
        let ip = ip_value(IpAddr::from([127, 0, 0, 1]));
        let host = req.headers.get("host").cloned();
        set_forwarded(&mut req, ip.as_ref(), host.as_ref(), false);
        req.insert_titled_header(REQUEST_ID, HeaderValue::from_static("id-1"));
        let mut wire = Vec::new();
        req.header_to_h1_wire(&mut wire);
        let wire = String::from_utf8(wire).unwrap();
        for line in [
            "X-Forwarded-For: 127.0.0.1\r\n",
            "X-Real-Ip: 127.0.0.1\r\n",
            "X-Forwarded-Proto: http\r\n",
            "X-Forwarded-Host: example.com\r\n",
            "X-Request-Id: id-1\r\n",
        ] {
            assert!(wire.contains(line), "{line:?} in {wire:?}");
        }
    }

    #[test]
    fn ip_values_of_every_length() {
        let longest: IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap();
        for ip in [IpAddr::from([10, 0, 0, 1]), longest, "::1".parse().unwrap()] {
            assert_eq!(ip_value(ip).unwrap(), ip.to_string().as_str());
        }
    }

    #[test]
    fn every_connection_line_is_read_and_answers_are_stripped_too() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.append_header("connection", "x-one").unwrap();
        req.append_header("connection", "X-Two , upgrade").unwrap();
        for h in ["x-one", "x-two", "upgrade", "proxy-connection", "x-kept"] {
            req.append_header(h, "1").unwrap();
        }
        strip_request_hop_by_hop(&mut req, false);
        let left: Vec<&str> = req.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-kept"]);

        let mut resp = ResponseHeader::build(200, None).unwrap();
        for (h, v) in [("connection", "keep-alive"), ("keep-alive", "timeout=5")] {
            resp.append_header(h, v).unwrap();
        }
        resp.append_header("trailer", "x").unwrap();
        resp.append_header("content-length", "2").unwrap();
        strip_response_hop_by_hop(&mut resp);
        let left: Vec<&str> = resp.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["content-length"]);
    }

    #[test]
    fn prefix_strips_to_a_path() {
        assert_eq!(strip_prefix("/echo/a/b", "/echo"), "/a/b");
        assert_eq!(strip_prefix("/echo", "/echo"), "/");
        assert_eq!(strip_prefix("/echo/", "/echo/"), "/");
    }
}
