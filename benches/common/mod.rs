//! What the request-path benches share: a gateway configuration like the load test's (one route
//! to one upstream, with a header transform each way), and the heads of a wrk `GET /small` and
//! of the upstream nginx's answer, built the way Pingora hands them to the gateway.

use pingora::http::{RequestHeader, ResponseHeader};
use std::io::Write;
use std::sync::Arc;
use tollgate::routing::Route;
use tollgate::snapshot::Snapshot;

/// The load test's gateway, plus one `set` and one `remove` each way so the transforms run.
const CONFIG: &str = r#"
[server]
listen = ["127.0.0.1:1"]
workers = 1

[[upstreams]]
name = "up"
targets = ["127.0.0.1:2"]
keepalive = 64

[[routes]]
name = "all"
path_prefix = "/"
upstream = "up"
[routes.request_headers]
set = { "x-gateway" = "tollgate" }
remove = ["x-debug"]
[routes.response_headers]
set = { "x-served-by" = "tollgate" }
remove = ["server"]
"#;

/// The configuration loaded the way the gateway loads it, and its snapshot (the route table).
pub fn snapshot() -> Snapshot {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(CONFIG.as_bytes())
        .expect("write the bench config");
    let cfg = Arc::new(tollgate::config::load(f.path()).expect("valid bench config"));
    let registry = tollgate::telemetry::metrics::Registry::default();
    Snapshot::build(cfg, &registry, None)
}

/// The route a `GET /small` takes.
pub fn route(snap: &Snapshot) -> Arc<Route> {
    snap.routes
        .find(
            "127.0.0.1",
            "/small",
            &http::Method::GET,
            &http::HeaderMap::new(),
        )
        .expect("the bench route matches")
        .clone()
}

/// wrk's `GET /small` head (wrk sends `Host` only).
pub fn get_request() -> RequestHeader {
    let mut req = RequestHeader::build("GET", b"/small", None).expect("request head");
    req.insert_header("host", "127.0.0.1:8080").expect("host");
    req
}

/// The upstream nginx's answer head to `GET /small`.
pub fn small_response() -> ResponseHeader {
    let mut resp = ResponseHeader::build(200, None).expect("response head");
    for (name, value) in [
        ("server", "nginx/1.22.1"),
        ("date", "Sun, 06 Dec 2026 21:00:00 GMT"),
        ("content-type", "text/plain"),
        ("content-length", "12"),
        ("connection", "keep-alive"),
    ] {
        resp.insert_header(name, value).expect("response header");
    }
    resp
}

/// The gateway's header work on the head sent upstream (`upstream`, Pingora's copy of the
/// client's `downstream` head): `proxy::upstream::rewrite_request` itself, for a plain route,
/// with the client facts a live session gives (`upstream::Client::of`) made the same way.
pub fn rewrite_request(
    route: &Route,
    downstream: &RequestHeader,
    upstream: &mut RequestHeader,
    request_id: &http::HeaderValue,
) {
    use tollgate::proxy::{headers, upstream as up};
    let client = up::Client {
        ip: headers::ip_value(std::net::IpAddr::from([127, 0, 0, 1])),
        host: downstream.headers.get(http::header::HOST),
        tls: false,
        cert_subject: None,
    };
    up::rewrite_request(&route.spec, &client, upstream, request_id, false)
        .expect("the bench head is rewritten");
}

/// The gateway's header work on an answer head (`response_filter` for a plain route).
pub fn rewrite_response(route: &Route, resp: &mut ResponseHeader, request_id: &http::HeaderValue) {
    use tollgate::proxy::headers;
    headers::strip_response_hop_by_hop(resp);
    headers::apply_response(&route.spec.response_headers, resp);
    resp.insert_titled_header(headers::REQUEST_ID, request_id.clone());
}
