//! The route table: the most specific route that matches a request wins.
//!
//! Specificity, most significant first: an exact host beats a wildcard host beats no host; an
//! exact path beats a prefix; a longer prefix beats a shorter one; more header conditions beat
//! fewer; a method list beats none. Routes are sorted once at build time, so a lookup is a scan
//! that stops at the first match.

use crate::config::{HostMatch, PathMatch, RouteSpec};
use http::request::Parts;
use http::{HeaderMap, Method};

pub struct RouteTable<R> {
    /// (spec, payload), most specific first.
    routes: Vec<(RouteSpec, R)>,
    /// Some route names a host: only then is a request's host worked out.
    by_host: bool,
}

impl<R> RouteTable<R> {
    pub fn new(mut routes: Vec<(RouteSpec, R)>) -> Self {
        routes.sort_by_key(|(spec, _)| std::cmp::Reverse(specificity(spec)));
        let by_host = routes.iter().any(|(spec, _)| spec.host.is_some());
        RouteTable { routes, by_host }
    }

    /// The route of a request with this target, method and headers.
    pub fn find_request(
        &self,
        uri: &http::Uri,
        method: &Method,
        headers: &HeaderMap,
    ) -> Option<&R> {
        let host = if self.by_host {
            request_host(uri.host(), headers)
        } else {
            // No route compares it.
            std::borrow::Cow::Borrowed("")
        };
        self.find(&host, uri.path(), method, headers)
    }

    pub fn find(&self, host: &str, path: &str, method: &Method, headers: &HeaderMap) -> Option<&R> {
        self.find_by(host, path, method, |name| {
            headers.get(name).map(|v| v.as_bytes())
        })
    }

    /// `find`, with the request's fields looked up by `field` (the first value of a name).
    pub fn find_by<'h>(
        &self,
        host: &str,
        path: &str,
        method: &Method,
        field: impl Fn(&http::HeaderName) -> Option<&'h [u8]>,
    ) -> Option<&R> {
        self.routes
            .iter()
            .find(|(spec, _)| matches(spec, host, path, method, &field))
            .map(|(_, r)| r)
    }

    /// Whether any route matches on the host.
    pub fn by_host(&self) -> bool {
        self.by_host
    }

    pub fn find_parts(&self, parts: &Parts) -> Option<&R> {
        self.find_request(&parts.uri, &parts.method, &parts.headers)
    }
}

/// The request's host, lower-cased, without port and without the trailing dot of a fully
/// qualified name (`api.example.com.` is `api.example.com`): from the URI (absolute form) or
/// `Host`.
pub fn request_host<'a>(
    uri_host: Option<&'a str>,
    headers: &'a HeaderMap,
) -> std::borrow::Cow<'a, str> {
    let raw = uri_host
        .or_else(|| {
            headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
        })
        .unwrap_or("");
    host_of(raw)
}

/// `request_host`'s form of a `Host` value.
pub fn host_of(raw: &str) -> std::borrow::Cow<'_, str> {
    let no_port = match raw.rfind(':') {
        Some(i) if !raw.ends_with(']') => &raw[..i],
        _ => raw,
    };
    let no_port = no_port.strip_suffix('.').unwrap_or(no_port);
    if no_port.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(no_port.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(no_port)
    }
}

fn specificity(s: &RouteSpec) -> (u8, u8, usize, usize, u8) {
    let host = match s.host {
        Some(HostMatch::Exact(_)) => 2,
        Some(HostMatch::Suffix(_)) => 1,
        None => 0,
    };
    let (exact, len) = match &s.path {
        PathMatch::Exact(p) => (1, p.len()),
        PathMatch::Prefix(p) => (0, p.len()),
    };
    (
        host,
        exact,
        len,
        s.headers.len(),
        u8::from(!s.methods.is_empty()),
    )
}

fn matches<'h>(
    s: &RouteSpec,
    host: &str,
    path: &str,
    method: &Method,
    field: &impl Fn(&http::HeaderName) -> Option<&'h [u8]>,
) -> bool {
    let host_ok = match &s.host {
        None => true,
        Some(HostMatch::Exact(h)) => h == host,
        Some(HostMatch::Suffix(suffix)) => {
            host.len() > suffix.len() && host.ends_with(suffix.as_str())
        }
    };
    host_ok
        && path_matches(&s.path, path)
        && (s.methods.is_empty() || s.methods.contains(method))
        && s.headers
            .iter()
            .all(|(k, v)| field(k) == Some(v.as_bytes()))
}

/// A prefix matches on segment boundaries: `/echo` matches `/echo` and `/echo/x`, not `/echoes`.
fn path_matches(m: &PathMatch, path: &str) -> bool {
    match m {
        PathMatch::Exact(p) => p == path,
        PathMatch::Prefix(p) => {
            path.starts_with(p.as_str())
                && (p.ends_with('/') || path.len() == p.len() || path.as_bytes()[p.len()] == b'/')
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HeaderTransform;

    fn spec(name: &str, host: Option<HostMatch>, path: PathMatch) -> RouteSpec {
        RouteSpec {
            name: name.into(),
            host,
            path,
            methods: vec![],
            headers: vec![],
            target: crate::config::RouteTarget::Upstream(0),
            strip_prefix: false,
            upstream_host: None,
            request_headers: HeaderTransform::default(),
            response_headers: HeaderTransform::default(),
            api: Default::default(),
            limits: vec![],
            usage_limits: vec![],
            concurrency_limits: vec![],
            capture: None,
        }
    }

    fn table() -> RouteTable<&'static str> {
        let mut post = spec("post", None, PathMatch::Prefix("/api".into()));
        post.methods = vec![Method::POST];
        let mut beta = spec("beta", None, PathMatch::Prefix("/api".into()));
        beta.headers = vec![(
            http::HeaderName::from_static("x-beta"),
            http::HeaderValue::from_static("1"),
        )];
        RouteTable::new(vec![
            (spec("root", None, PathMatch::Prefix("/".into())), "root"),
            (spec("api", None, PathMatch::Prefix("/api".into())), "api"),
            (
                spec("users", None, PathMatch::Prefix("/api/users".into())),
                "users",
            ),
            (
                spec("exact", None, PathMatch::Exact("/api/users".into())),
                "exact",
            ),
            (
                spec(
                    "host",
                    Some(HostMatch::Exact("a.example.com".into())),
                    PathMatch::Prefix("/".into()),
                ),
                "host",
            ),
            (
                spec(
                    "wild",
                    Some(HostMatch::Suffix(".example.com".into())),
                    PathMatch::Prefix("/".into()),
                ),
                "wild",
            ),
            (post, "post"),
            (beta, "beta"),
        ])
    }

    fn find(
        host: &str,
        path: &str,
        method: Method,
        headers: &[(&'static str, &'static str)],
    ) -> Option<&'static str> {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        table().find(host, path, &method, &h).copied()
    }

    #[test]
    fn most_specific_wins() {
        assert_eq!(find("x", "/api/users", Method::GET, &[]), Some("exact"));
        assert_eq!(find("x", "/api/users/7", Method::GET, &[]), Some("users"));
        assert_eq!(find("x", "/api/other", Method::GET, &[]), Some("api"));
        assert_eq!(find("x", "/api/other", Method::POST, &[]), Some("post"));
        assert_eq!(
            find("x", "/api/other", Method::GET, &[("x-beta", "1")]),
            Some("beta")
        );
        assert_eq!(find("x", "/apiary", Method::GET, &[]), Some("root"));
        assert_eq!(
            find("a.example.com", "/api", Method::GET, &[]),
            Some("host")
        );
        assert_eq!(
            find("b.example.com", "/api", Method::GET, &[]),
            Some("wild")
        );
        assert_eq!(find("example.com", "/api", Method::GET, &[]), Some("api"));
    }

    #[test]
    fn a_request_is_routed_by_its_host_only_where_routes_name_one() {
        let uri = |u: &'static str| http::Uri::from_static(u);
        let mut h = HeaderMap::new();
        h.insert("host", http::HeaderValue::from_static("A.Example.COM:8080"));
        let table = table();
        let found = table.find_request(&uri("/api"), &Method::GET, &h);
        assert_eq!(found, Some(&"host"));
        let found = table.find_request(&uri("http://b.example.com/api"), &Method::GET, &h);
        assert_eq!(found, Some(&"wild"), "the absolute form's host comes first");
        let plain = RouteTable::new(vec![
            (spec("root", None, PathMatch::Prefix("/".into())), "root"),
            (spec("api", None, PathMatch::Prefix("/api".into())), "api"),
        ]);
        assert!(!plain.by_host && table.by_host);
        assert_eq!(
            plain.find_request(&uri("/api/x"), &Method::GET, &h),
            Some(&"api")
        );
        let no_host = HeaderMap::new();
        assert_eq!(
            plain.find_request(&uri("/"), &Method::GET, &no_host),
            Some(&"root")
        );
    }

    #[test]
    fn host_header_is_normalised() {
        let mut h = HeaderMap::new();
        h.insert("host", http::HeaderValue::from_static("A.Example.COM:8080"));
        assert_eq!(request_host(None, &h), "a.example.com");
        h.insert("host", http::HeaderValue::from_static("[::1]"));
        assert_eq!(request_host(None, &h), "[::1]");
    }
}
