//! Header rewriting between client and upstream: hop-by-hop removal, forwarding headers and the
//! route's set/remove transforms.

use crate::config::HeaderTransform;
use http::header::{self, HeaderName};
use pingora::http::{RequestHeader, ResponseHeader};

/// The request id's header: taken from the client when it sends a usable one, else made; sent
/// upstream and on every answer, the gateway's own refusals included.
pub const REQUEST_ID: &str = "x-request-id";

/// RFC 9110 §7.6.1 connection-specific fields. `Transfer-Encoding` is absent on purpose: Pingora
/// re-frames bodies itself and needs to see it.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
];

/// Whether the request asks for a protocol upgrade (WebSocket), which keeps `Connection` and
/// `Upgrade` so that the upgrade can pass through.
pub fn is_upgrade(req: &RequestHeader) -> bool {
    req.headers.contains_key(header::UPGRADE)
        && req.headers.get_all(header::CONNECTION).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.to_ascii_lowercase().contains("upgrade"))
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
pub fn grpc_status(headers: &http::HeaderMap) -> Option<u32> {
    std::str::from_utf8(headers.get("grpc-status")?.as_bytes())
        .ok()?
        .parse()
        .ok()
}

/// Names listed in `Connection` are hop-by-hop too.
fn connection_listed(headers: &http::HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::try_from(t.trim()).ok())
        .filter(|n| n != header::UPGRADE && n != header::CONNECTION)
        .collect()
}

pub fn strip_request_hop_by_hop(req: &mut RequestHeader, upgrade: bool) {
    for name in connection_listed(&req.headers) {
        req.remove_header(&name);
    }
    for name in HOP_BY_HOP {
        if upgrade && name == "connection" {
            continue;
        }
        req.remove_header(name);
    }
    if !upgrade {
        req.remove_header(&header::UPGRADE);
    }
}

pub fn strip_response_hop_by_hop(resp: &mut ResponseHeader) {
    if resp.status == http::StatusCode::SWITCHING_PROTOCOLS {
        return;
    }
    for name in connection_listed(&resp.headers) {
        resp.remove_header(&name);
    }
    for name in HOP_BY_HOP {
        resp.remove_header(name);
    }
    resp.remove_header(&header::UPGRADE);
}

/// `X-Forwarded-For` (appended), `X-Real-IP`, `X-Forwarded-Proto` and `X-Forwarded-Host`, as
/// the usual nginx reverse-proxy configuration sets them.
pub fn set_forwarded(
    req: &mut RequestHeader,
    client_ip: Option<&str>,
    original_host: Option<&str>,
    tls: bool,
) {
    if let Some(ip) = client_ip {
        let xff = match req
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(prev) if !prev.is_empty() => format!("{prev}, {ip}"),
            _ => ip.to_string(),
        };
        let _ = req.insert_header("x-forwarded-for", xff);
        let _ = req.insert_header("x-real-ip", ip);
    }
    let _ = req.insert_header("x-forwarded-proto", if tls { "https" } else { "http" });
    if let Some(host) = original_host {
        let _ = req.insert_header("x-forwarded-host", host);
    }
}

pub fn apply_request(t: &HeaderTransform, req: &mut RequestHeader) {
    for name in &t.remove {
        req.remove_header(name);
    }
    for (name, value) in &t.set {
        let _ = req.insert_header(name.clone(), value.clone());
    }
}

pub fn apply_response(t: &HeaderTransform, resp: &mut ResponseHeader) {
    for name in &t.remove {
        resp.remove_header(name);
    }
    for (name, value) in &t.set {
        let _ = resp.insert_header(name.clone(), value.clone());
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
        set_forwarded(&mut req, Some("127.0.0.1"), Some("example.com"), false);
        assert_eq!(req.headers["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(req.headers["x-forwarded-host"], "example.com");
    }

    #[test]
    fn prefix_strips_to_a_path() {
        assert_eq!(strip_prefix("/echo/a/b", "/echo"), "/a/b");
        assert_eq!(strip_prefix("/echo", "/echo"), "/");
        assert_eq!(strip_prefix("/echo/", "/echo/"), "/");
    }
}
