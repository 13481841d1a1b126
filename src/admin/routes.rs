//! The admin API's endpoints: one table of path templates and methods, written as the OpenAPI
//! document writes them. The router matches requests against this table and nothing else, so
//! the table is exactly what the API serves, and a test holds the document to it.

use crate::store::SubDecision;

/// Where a path leads, with the path's parameters, before the method is looked at.
pub(super) enum Resource {
    OpenApi,
    Tenants,
    Tenant(String),
    TenantPlan(String),
    TenantLimit(String, String),
    AppLimit(String, String, String),
    Limits,
    LimitsTop,
    LimitBucket(String),
    Credentials(String),
    Credential(String, String),
    Apps(String),
    App(String, String),
    AppKeys(String, String),
    AppSubscriptions(String, String),
    Key(String),
    KeyRotate(String),
    Subscriptions,
    Subscription(String),
    Decide(String, SubDecision),
    Apis,
    Api(String),
    ApiState(String),
    Catalog,
    Audit,
    /// The call store; with a tenant, restricted to it.
    Calls(Option<String>),
    CallRecord(Option<String>, String),
    Usage(Option<String>),
    Prompts,
    Prompt(String),
}

/// The values of a path's `{parameters}`, in order.
pub(super) struct Params(std::vec::IntoIter<String>);

impl Params {
    /// The next parameter; the template fixes how many there are.
    fn next(&mut self) -> String {
        self.0.next().unwrap_or_default()
    }
}

/// One path of the API and the methods it serves.
pub struct Endpoint {
    /// The template, e.g. `/admin/tenants/{tenant}`: a `{name}` stands for one segment.
    pub path: &'static str,
    pub methods: &'static [&'static str],
    target: fn(&mut Params) -> Resource,
}

const fn at(
    path: &'static str,
    methods: &'static [&'static str],
    target: fn(&mut Params) -> Resource,
) -> Endpoint {
    Endpoint {
        path,
        methods,
        target,
    }
}

const GET: &[&str] = &["GET"];
const GET_POST: &[&str] = &["GET", "POST"];
const GET_PATCH_DELETE: &[&str] = &["GET", "PATCH", "DELETE"];
const GET_DELETE: &[&str] = &["GET", "DELETE"];
const PUT_DELETE: &[&str] = &["PUT", "DELETE"];
const POST: &[&str] = &["POST"];
const GET_PUT_DELETE: &[&str] = &["GET", "PUT", "DELETE"];

/// Every endpoint of the admin API.
pub const ENDPOINTS: &[Endpoint] = &[
    at("/admin/openapi.json", GET, |_| Resource::OpenApi),
    at("/admin/tenants", GET_POST, |_| Resource::Tenants),
    at("/admin/tenants/{tenant}", GET_PATCH_DELETE, |p| {
        Resource::Tenant(p.next())
    }),
    at("/admin/tenants/{tenant}/plan", PUT_DELETE, |p| {
        Resource::TenantPlan(p.next())
    }),
    at("/admin/tenants/{tenant}/limits/{limit}", PUT_DELETE, |p| {
        Resource::TenantLimit(p.next(), p.next())
    }),
    at(
        "/admin/tenants/{tenant}/apps/{app}/limits/{limit}",
        PUT_DELETE,
        |p| Resource::AppLimit(p.next(), p.next(), p.next()),
    ),
    at("/admin/limits", GET, |_| Resource::Limits),
    at("/admin/limits/top", GET, |_| Resource::LimitsTop),
    at("/admin/limits/{limit}/bucket", GET_DELETE, |p| {
        Resource::LimitBucket(p.next())
    }),
    at("/admin/tenants/{tenant}/credentials", GET, |p| {
        Resource::Credentials(p.next())
    }),
    at(
        "/admin/tenants/{tenant}/credentials/{provider}",
        PUT_DELETE,
        |p| Resource::Credential(p.next(), p.next()),
    ),
    at("/admin/tenants/{tenant}/apps", GET_POST, |p| {
        Resource::Apps(p.next())
    }),
    at(
        "/admin/tenants/{tenant}/apps/{app}",
        GET_PATCH_DELETE,
        |p| Resource::App(p.next(), p.next()),
    ),
    at("/admin/tenants/{tenant}/apps/{app}/keys", GET_POST, |p| {
        Resource::AppKeys(p.next(), p.next())
    }),
    at(
        "/admin/tenants/{tenant}/apps/{app}/subscriptions",
        GET_POST,
        |p| Resource::AppSubscriptions(p.next(), p.next()),
    ),
    at("/admin/keys/{id}", GET_DELETE, |p| Resource::Key(p.next())),
    at("/admin/keys/{id}/rotate", POST, |p| {
        Resource::KeyRotate(p.next())
    }),
    at("/admin/subscriptions", GET, |_| Resource::Subscriptions),
    at("/admin/subscriptions/{id}", GET, |p| {
        Resource::Subscription(p.next())
    }),
    at("/admin/subscriptions/{id}/approve", POST, |p| {
        Resource::Decide(p.next(), SubDecision::Approve)
    }),
    at("/admin/subscriptions/{id}/reject", POST, |p| {
        Resource::Decide(p.next(), SubDecision::Reject)
    }),
    at("/admin/subscriptions/{id}/revoke", POST, |p| {
        Resource::Decide(p.next(), SubDecision::Revoke)
    }),
    at("/admin/apis", GET, |_| Resource::Apis),
    at("/admin/apis/{name}", GET, |p| Resource::Api(p.next())),
    at("/admin/apis/{name}/state", PUT_DELETE, |p| {
        Resource::ApiState(p.next())
    }),
    at("/admin/catalog", GET, |_| Resource::Catalog),
    at("/admin/audit", GET, |_| Resource::Audit),
    at("/admin/calls", GET, |_| Resource::Calls(None)),
    at("/admin/calls/{request_id}", GET, |p| {
        Resource::CallRecord(None, p.next())
    }),
    at("/admin/usage", GET, |_| Resource::Usage(None)),
    at("/admin/tenants/{tenant}/calls", GET, |p| {
        Resource::Calls(Some(p.next()))
    }),
    at("/admin/tenants/{tenant}/calls/{request_id}", GET, |p| {
        Resource::CallRecord(Some(p.next()), p.next())
    }),
    at("/admin/tenants/{tenant}/usage", GET, |p| {
        Resource::Usage(Some(p.next()))
    }),
    at("/admin/prompts", GET_POST, |_| Resource::Prompts),
    at("/admin/prompts/{name}", GET_PUT_DELETE, |p| {
        Resource::Prompt(p.next())
    }),
];

/// Every (method, path template) the API serves, e.g. `("GET", "/admin/tenants/{tenant}")`.
pub fn routes() -> impl Iterator<Item = (&'static str, &'static str)> {
    ENDPOINTS
        .iter()
        .flat_map(|e| e.methods.iter().map(move |m| (*m, e.path)))
}

/// The endpoint whose template matches the decoded segments after `/admin/`, and its target.
/// Literal segments must be equal; a `{name}` takes any one segment.
pub(super) fn route(segs: &[String]) -> Option<(&'static Endpoint, Resource)> {
    ENDPOINTS.iter().find_map(|e| {
        let template: Vec<&str> = e.path.trim_start_matches("/admin/").split('/').collect();
        if template.len() != segs.len() {
            return None;
        }
        let mut params = Vec::new();
        for (t, s) in template.iter().zip(segs) {
            if t.starts_with('{') {
                params.push(s.clone());
            } else if t != s {
                return None;
            }
        }
        Some((e, (e.target)(&mut Params(params.into_iter()))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(path: &str) -> Vec<String> {
        path.split('/').map(String::from).collect()
    }

    #[test]
    fn templates_take_their_parameters_in_order() {
        let (e, t) = route(&segs("tenants/acme/apps/web/limits/daily")).unwrap();
        assert_eq!(e.path, "/admin/tenants/{tenant}/apps/{app}/limits/{limit}");
        assert!(
            matches!(t, Resource::AppLimit(a, b, c) if (a.as_str(), b.as_str(), c.as_str()) == ("acme", "web", "daily"))
        );
        let (e, _) = route(&segs("limits/top")).unwrap();
        assert_eq!(e.path, "/admin/limits/top");
        assert!(route(&segs("tenants/acme/nothing")).is_none());
        assert!(route(&segs("keys")).is_none());
    }

    #[test]
    fn every_template_is_reached_by_its_own_path() {
        for e in ENDPOINTS {
            let path = e.path.trim_start_matches("/admin/");
            let (found, _) = route(&segs(path)).unwrap();
            assert_eq!(found.path, e.path, "{path} is taken by another endpoint");
        }
    }
}
