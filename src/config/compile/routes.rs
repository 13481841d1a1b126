//! `[[routes]]` compiled: matches, what serves the route, header transforms, and the check
//! that no two routes match the same requests.

use super::api::{self, ApiSpec};
use super::Checker;
use crate::base::header::{shared_bytes, shared_value};
use crate::config::problem::{did_you_mean, Seg};
use crate::config::schema;
use http::{HeaderName, HeaderValue, Method};

#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub name: String,
    pub host: Option<HostMatch>,
    pub path: PathMatch,
    pub methods: Vec<Method>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub target: RouteTarget,
    pub strip_prefix: bool,
    pub upstream_host: Option<HeaderValue>,
    pub request_headers: HeaderTransform,
    pub response_headers: HeaderTransform,
    pub api: ApiSpec,
    /// Indexes into `Config::limits`: those counting requests, and (LLM routes) those
    /// counting tokens or cost.
    pub limits: Vec<usize>,
    pub usage_limits: Vec<usize>,
    /// Concurrency caps: requests (or streams) in flight at once.
    pub concurrency_limits: Vec<usize>,
    /// What of the route's requests is captured into the call logs; `None`: nothing.
    pub capture: Option<std::sync::Arc<super::CaptureSpec>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteTarget {
    /// Index into `Config::upstreams`.
    Upstream(usize),
    /// The LLM API over `Config::llm`.
    Llm,
    /// A prompt API: index into `Config::prompts`.
    Prompt(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// Lower-cased host without port.
    Exact(String),
    /// `*.example.com` kept as `.example.com`.
    Suffix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    Exact(String),
    Prefix(String),
}

#[derive(Debug, Clone, Default)]
pub struct HeaderTransform {
    pub set: Vec<SetHeader>,
    pub remove: Vec<HeaderName>,
}

/// A header a route sets, made once here so that setting it per request neither parses nor
/// copies: Pingora keeps a copy of a non-standard `HeaderName` for its wire spelling on every
/// insert, but takes `wire` (the name as the config writes it, which is also how it is sent)
/// as is; `value` is shared, so its clone is a reference count.
#[derive(Debug, Clone)]
pub struct SetHeader {
    pub name: HeaderName,
    pub wire: bytes::Bytes,
    pub value: HeaderValue,
}

impl HeaderTransform {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

pub(super) fn compile_route(
    r: &schema::RouteSection,
    upstreams: &[&str],
    have_models: bool,
    base: &[Seg],
    ck: &mut Checker,
) -> Option<RouteSpec> {
    let before = ck.issues.len();
    let target = route_target(r, upstreams, have_models, base, ck);
    let path = match (&r.path, &r.path_prefix) {
        (Some(_), Some(_)) => {
            ck.at(
                base,
                &["path"],
                "set either path (exact) or path_prefix, not both",
            );
            PathMatch::Prefix("/".into())
        }
        (Some(p), None) => PathMatch::Exact(checked_path(p, base, "path", ck)),
        (None, Some(p)) => PathMatch::Prefix(checked_path(p, base, "path_prefix", ck)),
        (None, None) => PathMatch::Prefix("/".into()),
    };
    if r.strip_prefix && !matches!(path, PathMatch::Prefix(_)) {
        ck.at(base, &["strip_prefix"], "strip_prefix needs a path_prefix");
    }
    let host = r.host.as_deref().map(|h| {
        let h = h.to_ascii_lowercase();
        match h.strip_prefix('*') {
            Some(suffix) if suffix.starts_with('.') => HostMatch::Suffix(suffix.to_string()),
            _ => HostMatch::Exact(h),
        }
    });
    let mut methods = Vec::new();
    for m in &r.methods {
        match Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
            Ok(method) => methods.push(method),
            Err(_) => ck.at(base, &["methods"], format!("{m:?} is not an HTTP method")),
        }
    }
    let headers = header_pairs(&r.headers, base, &["headers"], ck);
    let upstream_host = r
        .upstream_host
        .as_deref()
        .and_then(|h| match HeaderValue::from_str(h) {
            Ok(v) => Some(v),
            Err(_) => {
                ck.at(
                    base,
                    &["upstream_host"],
                    format!("{h:?} is not a valid Host value"),
                );
                None
            }
        });
    let request_headers = transform(&r.request_headers, base, "request_headers", ck);
    let response_headers = transform(&r.response_headers, base, "response_headers", ck);
    if ck.issues.len() > before {
        return None;
    }
    Some(RouteSpec {
        name: r.name.clone(),
        host,
        path,
        methods,
        headers,
        target: target?,
        strip_prefix: r.strip_prefix,
        upstream_host,
        request_headers,
        response_headers,
        api: api::compile_api(&r.api, base, ck),
        limits: Vec::new(),
        usage_limits: Vec::new(),
        concurrency_limits: Vec::new(),
        capture: None,
    })
}

fn route_target(
    r: &schema::RouteSection,
    upstreams: &[&str],
    have_models: bool,
    base: &[Seg],
    ck: &mut Checker,
) -> Option<RouteTarget> {
    match (r.handler, r.upstream.as_deref()) {
        (schema::HandlerKind::Llm, Some(_)) => {
            ck.at(
                base,
                &["upstream"],
                "an LLM route sends each request to its model's deployments; remove `upstream`",
            );
            None
        }
        (schema::HandlerKind::Llm, None) if !have_models => {
            ck.at(
                base,
                &["handler"],
                "handler = \"llm\" needs at least one [[models]] entry",
            );
            None
        }
        (schema::HandlerKind::Llm, None) => Some(RouteTarget::Llm),
        (schema::HandlerKind::Proxy, None) => {
            ck.at(
                base,
                &["upstream"],
                "a proxy route needs `upstream` (or set handler = \"llm\")",
            );
            None
        }
        (schema::HandlerKind::Proxy, Some(name)) => match upstreams.iter().position(|n| *n == name)
        {
            Some(i) => Some(RouteTarget::Upstream(i)),
            None => {
                ck.at(
                    base,
                    &["upstream"],
                    format!(
                        "no upstream named {name:?}{}",
                        did_you_mean(name, upstreams.iter().copied())
                    ),
                );
                None
            }
        },
    }
}

pub(super) fn checked_path(p: &str, base: &[Seg], field: &str, ck: &mut Checker) -> String {
    if !p.starts_with('/') {
        ck.at(base, &[field], format!("{p:?} must start with '/'"));
    }
    p.to_string()
}

pub(super) fn header_pairs(
    map: &std::collections::BTreeMap<String, String>,
    base: &[Seg],
    field: &[&str],
    ck: &mut Checker,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    for (k, v) in map {
        match (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v)) {
            (Ok(name), Ok(value)) => out.push((name, value)),
            (Err(_), _) => ck.at(base, field, format!("{k:?} is not a valid header name")),
            (_, Err(_)) => ck.at(
                base,
                field,
                format!("the value of {k:?} is not a valid header value"),
            ),
        }
    }
    out
}

pub(super) fn transform(
    t: &schema::HeaderTransformSection,
    base: &[Seg],
    field: &str,
    ck: &mut Checker,
) -> HeaderTransform {
    let mut set = Vec::new();
    for (written, value) in &t.set {
        let name = HeaderName::try_from(written.as_str());
        let value = shared_value(value.clone().into_bytes());
        match (name, value) {
            (Ok(name), Some(value)) => set.push(SetHeader {
                name,
                wire: shared_bytes(written.clone().into_bytes()),
                value,
            }),
            (Err(_), _) => ck.at(
                base,
                &[field, "set"],
                format!("{written:?} is not a valid header name"),
            ),
            (_, None) => ck.at(
                base,
                &[field, "set"],
                format!("the value of {written:?} is not a valid header value"),
            ),
        }
    }
    let mut remove = Vec::new();
    for name in &t.remove {
        match HeaderName::try_from(name.as_str()) {
            Ok(n) => remove.push(n),
            Err(_) => ck.at(
                base,
                &[field, "remove"],
                format!("{name:?} is not a valid header name"),
            ),
        }
    }
    HeaderTransform { set, remove }
}

pub(super) fn same_match(a: &RouteSpec, b: &RouteSpec) -> bool {
    let mut am = a.methods.clone();
    let mut bm = b.methods.clone();
    am.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    bm.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    a.host == b.host && a.path == b.path && am == bm && a.headers == b.headers
}
