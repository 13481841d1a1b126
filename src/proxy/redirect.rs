//! A plain listener that only sends clients to HTTPS (`{ addr = "0.0.0.0:80",
//! redirect_https = 443 }`): every request is answered with a redirect to the same host (its
//! port replaced by the HTTPS one, left out when 443) and the same path and query. No route,
//! key or limit is looked at, and nothing is proxied.
//!
//! GET and HEAD get `301 Moved Permanently`, as nginx's `return 301 https://...` gives; any
//! other method gets `308 Permanent Redirect`, which a client must follow with the same method
//! and body (a 301 lets it turn a POST into a GET). The connection is closed after the answer:
//! a client comes here once, then stays on HTTPS, and an unread request body is never taken
//! for a next request.

use async_trait::async_trait;
use http::{Method, Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

/// The app of one redirecting listener.
pub struct RedirectHttps {
    pub port: u16,
}

#[async_trait]
impl ServeHttp for RedirectHttps {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        session.set_keepalive(None);
        let req = session.req_header();
        let host = req
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| req.uri.authority().map(|a| a.as_str()));
        let status = match req.method {
            Method::GET | Method::HEAD => StatusCode::MOVED_PERMANENTLY,
            _ => StatusCode::PERMANENT_REDIRECT,
        };
        let built = match host.and_then(|h| location(h, &req.uri, self.port)) {
            Some(to) => Response::builder()
                .status(status)
                .header(http::header::LOCATION, to)
                .header(http::header::CONTENT_LENGTH, 0)
                .body(Vec::new()),
            None => {
                let body = b"a redirect to HTTPS needs a Host header naming a host\n".to_vec();
                Response::builder()
                    .status(StatusCode::BAD_REQUEST)
                    .header(http::header::CONTENT_TYPE, "text/plain")
                    .header(http::header::CONTENT_LENGTH, body.len())
                    .body(body)
            }
        };
        built.unwrap_or_default()
    }
}

/// `https://HOST[:port]/path?query` for a request to `host` (a `Host` header: a name, an IPv4
/// address or a bracketed IPv6 one, with or without a port); `None` when `host` is not one.
pub fn location(host: &str, uri: &http::Uri, port: u16) -> Option<String> {
    let name = match host.strip_prefix('[') {
        Some(v6) => {
            let (addr, rest) = v6.split_once(']')?;
            addr.parse::<std::net::Ipv6Addr>().ok()?;
            port_only(rest)?;
            &host[..addr.len() + 2]
        }
        None => {
            let (name, rest) = match host.split_once(':') {
                Some((n, p)) => (n, Some(p)),
                None => (host, None),
            };
            if let Some(p) = rest {
                port_only(&format!(":{p}"))?;
            }
            name
        }
    };
    let plain = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
    if name.is_empty() || !(name.starts_with('[') || name.bytes().all(plain)) {
        return None;
    }
    let path = match uri.path_and_query().map(|p| p.as_str()) {
        Some(p) if p.starts_with('/') => p,
        _ => "/",
    };
    Some(match port {
        443 => format!("https://{name}{path}"),
        p => format!("https://{name}:{p}{path}"),
    })
}

/// Nothing, or `:` and a port number.
fn port_only(rest: &str) -> Option<()> {
    match rest.strip_prefix(':') {
        None if rest.is_empty() => Some(()),
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::location;

    fn to(host: &str, uri: &str, port: u16) -> Option<String> {
        location(host, &uri.parse().unwrap(), port)
    }

    #[test]
    fn the_host_keeps_its_name_and_takes_the_https_port() {
        let at = |h| to(h, "/a/b?x=1&y", 443);
        assert_eq!(at("example.com").unwrap(), "https://example.com/a/b?x=1&y");
        assert_eq!(
            at("example.com:80").unwrap(),
            "https://example.com/a/b?x=1&y"
        );
        assert_eq!(at("10.0.0.1:8080").unwrap(), "https://10.0.0.1/a/b?x=1&y");
        assert_eq!(at("[::1]:80").unwrap(), "https://[::1]/a/b?x=1&y");
        assert_eq!(at("[::1]").unwrap(), "https://[::1]/a/b?x=1&y");
        assert_eq!(
            to("api.test:80", "/", 8443).unwrap(),
            "https://api.test:8443/"
        );
        assert_eq!(to("a.test", "*", 443).unwrap(), "https://a.test/");
        // An absolute-form request keeps only its path and query.
        assert_eq!(
            to("a.test", "http://a.test/p?q", 443).unwrap(),
            "https://a.test/p?q"
        );
    }

    #[test]
    fn a_host_that_is_not_one_gets_no_location() {
        for bad in [
            "",
            ":80",
            "evil.test/x",
            "evil.test@a",
            "a.test:80:80",
            "a.test:",
            "a.test:x",
            "[::1",
            "[nothost]:80",
            "[::1]x",
            "a b",
        ] {
            assert_eq!(to(bad, "/", 443), None, "{bad:?}");
        }
    }
}
