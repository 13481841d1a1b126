//! The `/admin/...` REST API: parses a request, matches it against `routes` and dispatches it
//! to the handler of its endpoint (`directory`, `plans`, `inspect`, `access`).

use super::error::AdminError;
use super::request::{self, read_body};
use super::routes::{route, Resource};
use super::shared::{Answer, Call, Shared};
use super::{access, calls, directory, inspect, plans, prompts};
use crate::store::Actor;
use http::Response;
use pingora::protocols::http::ServerSession;
use std::sync::Arc;

/// The OpenAPI 3.1 document of this API.
const OPENAPI: &str = include_str!("openapi.json");

/// Answers one `/admin/...` request (the token was checked already).
pub async fn serve(shared: &Arc<Shared>, session: &mut ServerSession) -> Response<Vec<u8>> {
    match handle(shared, session).await {
        Ok(resp) => resp,
        Err(e) => {
            if matches!(e, AdminError::TooLarge { .. }) {
                // The rest of the body is not read; the connection cannot be reused.
                session.set_keepalive(None);
            }
            e.into_response()
        }
    }
}

async fn handle(shared: &Arc<Shared>, session: &mut ServerSession) -> Answer {
    let head = session.req_header();
    let path = head.uri.path().to_string();
    let method = head.method.as_str().to_string();
    let query = request::query(head.uri.query());
    let actor = actor(session)?;
    let segs: Vec<String> = path
        .trim_start_matches("/admin")
        .trim_matches('/')
        .split('/')
        .map(request::decode)
        .collect();
    let (endpoint, target) =
        route(&segs).ok_or_else(|| AdminError::NotFound(format!("no admin endpoint {path}")))?;
    if !endpoint.methods.contains(&method.as_str()) {
        return Err(AdminError::MethodNotAllowed {
            method,
            allowed: endpoint.methods,
        });
    }
    let body = read_body(session).await?;
    let call = Call { query, body, actor };
    dispatch(shared, &method, target, call).await
}

/// The audit actor: `X-Tollgate-Actor` (default "admin") and the client address.
fn actor(session: &ServerSession) -> Result<Actor, AdminError> {
    let name = match session.req_header().headers.get("x-tollgate-actor") {
        None => "admin".to_string(),
        Some(v) => {
            let text = v.to_str().unwrap_or("").trim();
            if text.is_empty() || text.len() > 128 || text.chars().any(char::is_control) {
                return Err(AdminError::BadRequest(
                    "X-Tollgate-Actor: give a name of 1 to 128 printable characters".into(),
                ));
            }
            text.to_string()
        }
    };
    Ok(Actor::new(
        name,
        session.client_addr().map(|a| a.to_string()),
    ))
}

async fn dispatch(shared: &Arc<Shared>, method: &str, target: Resource, call: Call) -> Answer {
    use directory as d;
    match (method, target) {
        ("GET", Resource::OpenApi) => Ok(super::reply(200, "application/json", OPENAPI.into())),
        ("GET", Resource::Tenants) => d::list_tenants(shared).await,
        ("POST", Resource::Tenants) => d::create_tenant(shared, call).await,
        ("GET", Resource::Tenant(t)) => d::get_tenant(shared, t).await,
        ("PATCH", Resource::Tenant(t)) => d::update_tenant(shared, call, t).await,
        ("DELETE", Resource::Tenant(t)) => d::delete_tenant(shared, call, t).await,
        ("PUT", Resource::TenantPlan(t)) => plans::set_plan(shared, call, t).await,
        ("DELETE", Resource::TenantPlan(t)) => plans::clear_plan(shared, call, t).await,
        ("PUT", Resource::TenantLimit(t, l)) => plans::attach(shared, call, t, None, l).await,
        ("DELETE", Resource::TenantLimit(t, l)) => plans::detach(shared, call, t, None, l).await,
        ("PUT", Resource::AppLimit(t, a, l)) => plans::attach(shared, call, t, Some(a), l).await,
        ("DELETE", Resource::AppLimit(t, a, l)) => plans::detach(shared, call, t, Some(a), l).await,
        ("GET", Resource::Limits) => inspect::list(shared).await,
        ("GET", Resource::LimitsTop) => inspect::top(shared, call).await,
        ("GET", Resource::LimitBucket(l)) => inspect::bucket(shared, call, l).await,
        ("DELETE", Resource::LimitBucket(l)) => inspect::reset(shared, call, l).await,
        ("GET", Resource::Credentials(t)) => d::list_credentials(shared, t).await,
        ("PUT", Resource::Credential(t, p)) => d::put_credential(shared, call, t, p).await,
        ("DELETE", Resource::Credential(t, p)) => d::delete_credential(shared, call, t, p).await,
        ("GET", Resource::Apps(t)) => d::list_apps(shared, t).await,
        ("POST", Resource::Apps(t)) => d::create_app(shared, call, t).await,
        ("GET", Resource::App(t, a)) => d::get_app(shared, t, a).await,
        ("PATCH", Resource::App(t, a)) => d::update_app(shared, call, t, a).await,
        ("DELETE", Resource::App(t, a)) => d::delete_app(shared, call, t, a).await,
        ("GET", Resource::AppKeys(t, a)) => d::list_keys(shared, t, a).await,
        ("POST", Resource::AppKeys(t, a)) => d::create_key(shared, call, t, a).await,
        ("GET", Resource::Key(id)) => d::get_key(shared, id).await,
        ("DELETE", Resource::Key(id)) => d::revoke_key(shared, call, id).await,
        ("POST", Resource::KeyRotate(id)) => d::rotate_key(shared, call, id).await,
        ("GET", Resource::AppSubscriptions(t, a)) => {
            access::list_app_subscriptions(shared, t, a).await
        }
        ("POST", Resource::AppSubscriptions(t, a)) => access::request(shared, call, t, a).await,
        ("GET", Resource::Subscriptions) => access::list_subscriptions(shared, call).await,
        ("GET", Resource::Subscription(id)) => access::get_subscription(shared, id).await,
        ("POST", Resource::Decide(id, d)) => access::decide(shared, call, id, d).await,
        ("GET", Resource::Apis) => access::list_apis(shared).await,
        ("GET", Resource::Api(n)) => access::get_api(shared, n).await,
        ("PUT", Resource::ApiState(n)) => access::set_state(shared, call, n).await,
        ("DELETE", Resource::ApiState(n)) => access::clear_state(shared, call, n).await,
        ("GET", Resource::Catalog) => access::catalog(shared, call).await,
        ("GET", Resource::Audit) => access::audit(shared, call).await,
        ("GET", Resource::Calls(scope)) => calls::list(shared, call, scope).await,
        ("GET", Resource::CallRecord(scope, id)) => calls::get(shared, id, scope).await,
        ("GET", Resource::Usage(scope)) => calls::usage(shared, call, scope).await,
        ("GET", Resource::Prompts) => prompts::list(shared).await,
        ("POST", Resource::Prompts) => prompts::create(shared, call).await,
        ("GET", Resource::Prompt(n)) => prompts::show(shared, call, n).await,
        ("PUT", Resource::Prompt(n)) => prompts::update(shared, call, n).await,
        ("DELETE", Resource::Prompt(n)) => prompts::delete(shared, call, n).await,
        // Only if `routes::ENDPOINTS` lists a method that is not served here.
        (m, _) => Err(AdminError::Internal(format!(
            "{m} is listed for this path but has no handler"
        ))),
    }
}
