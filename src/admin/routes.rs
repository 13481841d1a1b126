//! The admin API's endpoints: one table of path templates and methods, written as the OpenAPI
//! document writes them, each method with who may call it (`scope::Access`). The router
//! matches requests against this table and nothing else, so the table is exactly what the API
//! serves and whom it serves, and a test holds the document to it.

use super::scope::{Access, Need, Owner, ADMIN_AT, MEMBER_AT};
use crate::store::SubDecision;
use Access::{Anyone, Operator, Public};

/// Where a path leads, with the path's parameters, before the method is looked at.
#[derive(Debug)]
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
    /// The console's model playground: a chat sent through the data plane with a given key.
    Playground,
    Login,
    Logout,
    Me,
    MyTokens,
    MyToken(String),
    Users,
    User(String),
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
    /// Who may call each of `methods`, in the same order.
    pub access: &'static [Access],
    target: fn(&mut Params) -> Resource,
}

impl Endpoint {
    /// Who may call `method` here; operators only for a method the table forgot (a unit test
    /// makes sure none is).
    pub fn access_for(&self, method: &str) -> Access {
        let i = self.methods.iter().position(|m| *m == method);
        i.and_then(|i| self.access.get(i).copied())
            .unwrap_or(Operator)
    }
}

const fn at(
    path: &'static str,
    methods: &'static [&'static str],
    access: &'static [Access],
    target: fn(&mut Params) -> Resource,
) -> Endpoint {
    Endpoint {
        path,
        methods,
        access,
        target,
    }
}

const OP: &[Access] = &[Operator];
const OP2: &[Access] = &[Operator, Operator];
const OP3: &[Access] = &[Operator, Operator, Operator];
const MEMBER2: &[Access] = &[MEMBER_AT, MEMBER_AT];
const BY_KEY: Access = Access::Tenant(Need::Member, Owner::Key);
const BY_FILTER: &[Access] = &[Access::Tenant(Need::Member, Owner::Filter)];
const USERS_BY_FILTER: Access = Access::Tenant(Need::Admin, Owner::Filter);
const BY_USER: Access = Access::Tenant(Need::Admin, Owner::User);

const GET: &[&str] = &["GET"];
const GET_POST: &[&str] = &["GET", "POST"];
const GET_PATCH_DELETE: &[&str] = &["GET", "PATCH", "DELETE"];
const GET_DELETE: &[&str] = &["GET", "DELETE"];
const PUT_DELETE: &[&str] = &["PUT", "DELETE"];
const POST: &[&str] = &["POST"];
const GET_PUT_DELETE: &[&str] = &["GET", "PUT", "DELETE"];
const DELETE: &[&str] = &["DELETE"];

/// Every endpoint of the admin API.
pub const ENDPOINTS: &[Endpoint] = &[
    at("/admin/openapi.json", GET, &[Anyone], |_| Resource::OpenApi),
    at("/admin/tenants", GET_POST, OP2, |_| Resource::Tenants),
    at(
        "/admin/tenants/{tenant}",
        GET_PATCH_DELETE,
        &[MEMBER_AT, Operator, Operator],
        |p| Resource::Tenant(p.next()),
    ),
    at("/admin/tenants/{tenant}/plan", PUT_DELETE, OP2, |p| {
        Resource::TenantPlan(p.next())
    }),
    at(
        "/admin/tenants/{tenant}/limits/{limit}",
        PUT_DELETE,
        OP2,
        |p| Resource::TenantLimit(p.next(), p.next()),
    ),
    at(
        "/admin/tenants/{tenant}/apps/{app}/limits/{limit}",
        PUT_DELETE,
        OP2,
        |p| Resource::AppLimit(p.next(), p.next(), p.next()),
    ),
    at("/admin/limits", GET, OP, |_| Resource::Limits),
    at("/admin/limits/top", GET, OP, |_| Resource::LimitsTop),
    at("/admin/limits/{limit}/bucket", GET_DELETE, OP2, |p| {
        Resource::LimitBucket(p.next())
    }),
    at(
        "/admin/tenants/{tenant}/credentials",
        GET,
        &[ADMIN_AT],
        |p| Resource::Credentials(p.next()),
    ),
    at(
        "/admin/tenants/{tenant}/credentials/{provider}",
        PUT_DELETE,
        &[ADMIN_AT, ADMIN_AT],
        |p| Resource::Credential(p.next(), p.next()),
    ),
    at("/admin/tenants/{tenant}/apps", GET_POST, MEMBER2, |p| {
        Resource::Apps(p.next())
    }),
    at(
        "/admin/tenants/{tenant}/apps/{app}",
        GET_PATCH_DELETE,
        &[MEMBER_AT, MEMBER_AT, ADMIN_AT],
        |p| Resource::App(p.next(), p.next()),
    ),
    at(
        "/admin/tenants/{tenant}/apps/{app}/keys",
        GET_POST,
        MEMBER2,
        |p| Resource::AppKeys(p.next(), p.next()),
    ),
    at(
        "/admin/tenants/{tenant}/apps/{app}/subscriptions",
        GET_POST,
        MEMBER2,
        |p| Resource::AppSubscriptions(p.next(), p.next()),
    ),
    at("/admin/keys/{id}", GET_DELETE, &[BY_KEY, BY_KEY], |p| {
        Resource::Key(p.next())
    }),
    at("/admin/keys/{id}/rotate", POST, &[BY_KEY], |p| {
        Resource::KeyRotate(p.next())
    }),
    at("/admin/subscriptions", GET, BY_FILTER, |_| {
        Resource::Subscriptions
    }),
    at(
        "/admin/subscriptions/{id}",
        GET,
        &[Access::Tenant(Need::Member, Owner::Subscription)],
        |p| Resource::Subscription(p.next()),
    ),
    at("/admin/subscriptions/{id}/approve", POST, OP, |p| {
        Resource::Decide(p.next(), SubDecision::Approve)
    }),
    at("/admin/subscriptions/{id}/reject", POST, OP, |p| {
        Resource::Decide(p.next(), SubDecision::Reject)
    }),
    at("/admin/subscriptions/{id}/revoke", POST, OP, |p| {
        Resource::Decide(p.next(), SubDecision::Revoke)
    }),
    at("/admin/apis", GET, OP, |_| Resource::Apis),
    at("/admin/apis/{name}", GET, OP, |p| Resource::Api(p.next())),
    at("/admin/apis/{name}/state", PUT_DELETE, OP2, |p| {
        Resource::ApiState(p.next())
    }),
    at("/admin/catalog", GET, BY_FILTER, |_| Resource::Catalog),
    at("/admin/audit", GET, OP, |_| Resource::Audit),
    at("/admin/calls", GET, BY_FILTER, |_| Resource::Calls(None)),
    at("/admin/calls/{request_id}", GET, BY_FILTER, |p| {
        Resource::CallRecord(None, p.next())
    }),
    at("/admin/usage", GET, BY_FILTER, |_| Resource::Usage(None)),
    at("/admin/tenants/{tenant}/calls", GET, &[MEMBER_AT], |p| {
        Resource::Calls(Some(p.next()))
    }),
    at(
        "/admin/tenants/{tenant}/calls/{request_id}",
        GET,
        &[MEMBER_AT],
        |p| Resource::CallRecord(Some(p.next()), p.next()),
    ),
    at("/admin/tenants/{tenant}/usage", GET, &[MEMBER_AT], |p| {
        Resource::Usage(Some(p.next()))
    }),
    at("/admin/prompts", GET_POST, OP2, |_| Resource::Prompts),
    at("/admin/prompts/{name}", GET_PUT_DELETE, OP3, |p| {
        Resource::Prompt(p.next())
    }),
    at("/admin/playground", POST, &[Anyone], |_| {
        Resource::Playground
    }),
    at("/admin/login", POST, &[Public], |_| Resource::Login),
    at("/admin/logout", POST, &[Anyone], |_| Resource::Logout),
    at("/admin/me", GET, &[Anyone], |_| Resource::Me),
    at("/admin/me/tokens", GET_POST, &[Anyone, Anyone], |_| {
        Resource::MyTokens
    }),
    at("/admin/me/tokens/{id}", DELETE, &[Anyone], |p| {
        Resource::MyToken(p.next())
    }),
    at(
        "/admin/users",
        GET_POST,
        &[USERS_BY_FILTER, USERS_BY_FILTER],
        |_| Resource::Users,
    ),
    at(
        "/admin/users/{name}",
        GET_PATCH_DELETE,
        &[BY_USER, BY_USER, BY_USER],
        |p| Resource::User(p.next()),
    ),
];

/// Every (method, path template) the API serves, e.g. `("GET", "/admin/tenants/{tenant}")`.
pub fn routes() -> impl Iterator<Item = (&'static str, &'static str)> {
    ENDPOINTS
        .iter()
        .flat_map(|e| e.methods.iter().map(move |m| (*m, e.path)))
}

/// Who may call each (method, path template): `public`, `signed_in`, `operator`,
/// `tenant_member` or `tenant_admin` (operators may call every one).
pub fn access() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    ENDPOINTS.iter().flat_map(|e| {
        e.methods
            .iter()
            .map(move |m| (*m, e.path, e.access_for(m).label()))
    })
}

/// The endpoint whose template matches the decoded segments after `/admin/`, its target and
/// the path's parameters. Literal segments must be equal; a `{name}` takes any one segment.
pub(super) fn route(segs: &[String]) -> Option<(&'static Endpoint, Resource, Vec<String>)> {
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
        let target = (e.target)(&mut Params(params.clone().into_iter()));
        Some((e, target, params))
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
        let (e, t, _) = route(&segs("tenants/acme/apps/web/limits/daily")).unwrap();
        assert_eq!(e.path, "/admin/tenants/{tenant}/apps/{app}/limits/{limit}");
        assert!(
            matches!(t, Resource::AppLimit(a, b, c) if (a.as_str(), b.as_str(), c.as_str()) == ("acme", "web", "daily"))
        );
        let (e, _, _) = route(&segs("limits/top")).unwrap();
        assert_eq!(e.path, "/admin/limits/top");
        assert!(route(&segs("tenants/acme/nothing")).is_none());
        assert!(route(&segs("keys")).is_none());
    }

    #[test]
    fn every_template_is_reached_by_its_own_path() {
        for e in ENDPOINTS {
            let path = e.path.trim_start_matches("/admin/");
            let (found, _, _) = route(&segs(path)).unwrap();
            assert_eq!(found.path, e.path, "{path} is taken by another endpoint");
        }
    }
}
