//! The API gate of a request, after its route is found: the lifecycle (draft, deprecated,
//! retired) and, on keyed APIs, the key, the tenant's visibility and the app's subscription.
//! Everything is read from the route and the worker's in-memory directory: no store access.

use crate::auth::directory::{presented_key, Denied, Directory, KeyEntry};
use crate::base::clock::now_unix;
use crate::base::time::http_date;
use crate::config::{AuthMode, Lifecycle};
use crate::error::GatewayError;
use crate::routing::Route;
use crate::snapshot::Snapshot;
use http::{HeaderName, HeaderValue};
use pingora::http::RequestHeader;

/// Response headers announcing a deprecated API.
pub type Notice = Vec<(HeaderName, HeaderValue)>;

/// What the API gate let through.
#[derive(Default)]
pub struct Granted<'d> {
    /// The key the request presented, on keyed APIs: its public id and its app.
    pub key: Option<&'d KeyEntry>,
    /// Deprecation headers; empty (and unallocated) for other states.
    pub notice: Notice,
}

/// Admits the request or says why not; `known` is set to the key as soon as it authenticates,
/// so that a refusal after that (not visible, not subscribed) is recorded with its tenant.
pub fn check<'d>(
    route: &Route,
    snapshot: &Snapshot,
    dir: &'d Directory,
    req: &RequestHeader,
    known: &mut Option<&'d KeyEntry>,
) -> Result<Granted<'d>, GatewayError> {
    check_api(&route.spec.name, &route.spec.api, snapshot, dir, req, known)
}

/// The gate of an API by its name and settings: a route's, or an MCP server's
/// (`[[mcp_servers]]`), which is subscribed to like any API.
pub fn check_api<'d>(
    name: &str,
    api: &crate::config::ApiSpec,
    snapshot: &Snapshot,
    dir: &'d Directory,
    req: &RequestHeader,
    known: &mut Option<&'d KeyEntry>,
) -> Result<Granted<'d>, GatewayError> {
    let over = dir.state_override(name);
    let state = over.map_or(api.state, |o| o.state);
    let successor = over.map_or(api.successor.as_deref(), |o| o.successor.as_deref());
    let mut granted = Granted::default();
    match state {
        Lifecycle::Published => {}
        Lifecycle::Draft => {
            // Not routable: answered as if no route matched.
            return Err(GatewayError::NoRoute {
                method: req.method.to_string(),
                path: req.uri.path().to_string(),
            });
        }
        Lifecycle::Retired => {
            return Err(GatewayError::Retired {
                api: name.to_string(),
                successor: successor.map(|s| describe(snapshot, s)),
            })
        }
        Lifecycle::Deprecated => {
            let since = over.map(|o| o.since).or(api.deprecated_since);
            let sunset = over.map_or(api.sunset, |o| o.sunset);
            granted.notice = notice(snapshot, since, sunset, successor);
        }
    }
    if api.auth == AuthMode::ApiKey {
        let key = check_key(name, api, dir, presented_key(&req.headers), known)?;
        granted.key = Some(key);
    }
    Ok(granted)
}

/// The key gate of the keyed API `name`: the key `presented` authenticates, its tenant sees
/// the API and its app is subscribed. `known` as in [`check`].
pub fn check_key<'d>(
    name: &str,
    api: &crate::config::ApiSpec,
    dir: &'d Directory,
    presented: Option<&str>,
    known: &mut Option<&'d KeyEntry>,
) -> Result<&'d KeyEntry, GatewayError> {
    let key = dir.authenticate(presented.ok_or(Denied::MissingKey)?, now_unix())?;
    *known = Some(key);
    let principal = &key.principal;
    if !api.visibility.admits(&principal.tenant) {
        return Err(Denied::NotVisible {
            api: name.to_string(),
            tenant: principal.tenant.to_string(),
        }
        .into());
    }
    principal.subscribed(name)?;
    Ok(key)
}

/// Where callers reach the API `name` (a route or an MCP server).
fn path_of<'a>(snapshot: &'a Snapshot, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    let config = &snapshot.config;
    config.api_path(config.api(name)?)
}

/// `orders-v2 at /orders/v2`, for the 410 of a retired API.
fn describe(snapshot: &Snapshot, successor: &str) -> String {
    match path_of(snapshot, successor) {
        Some(p) => format!("{successor} at {p}"),
        None => successor.to_string(),
    }
}

/// `Deprecation` (RFC 9745: `@<unix>` when the date is known), `Sunset` (RFC 8594) and a
/// `Link` to the successor version.
fn notice(
    snapshot: &Snapshot,
    since: Option<i64>,
    sunset: Option<i64>,
    successor: Option<&str>,
) -> Notice {
    let mut out = Notice::with_capacity(3);
    let mut add = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            out.push((HeaderName::from_static(name), v));
        }
    };
    add(
        "deprecation",
        since.map_or_else(|| "true".to_string(), |s| format!("@{s}")),
    );
    if let Some(at) = sunset {
        add("sunset", http_date(at));
    }
    if let Some(path) = successor.and_then(|s| path_of(snapshot, s)) {
        add("link", format!("<{path}>; rel=\"successor-version\""));
    }
    out
}

/// The public id of the API key a request presents, when it is in the key format: recorded
/// for a refused key (the secret never is).
pub fn presented_id(req: &RequestHeader) -> Option<&str> {
    presented_key(&req.headers)
        .and_then(crate::base::api_key::parse)
        .map(|(id, _)| id)
}
