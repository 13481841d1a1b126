//! The `/admin/...` REST API: parses a request, matches it against `routes`, authenticates the
//! caller (`principal`), authorizes the call (`scope`, from the route table) and dispatches it
//! to the handler of its endpoint (`directory`, `plans`, `inspect`, `access`, `users`...).

use super::error::AdminError;
use super::principal::authenticate;
use super::request::{self, read_body};
use super::routes::{route, Resource};
use super::scope::{self, Access};
use super::shared::{Answer, Call, Shared};
use super::{access, calls, directory, inspect, plans, playground, prompts, session, users};
use crate::config::Secret;
use http::Response;
use pingora::protocols::http::ServerSession;
use std::sync::Arc;

/// The OpenAPI 3.1 document of this API.
const OPENAPI: &str = include_str!("openapi.json");

/// Answers one `/admin/...` request: finds the endpoint, who is calling (`principal`), whether
/// they may (`scope`), then runs its handler.
pub async fn serve(
    shared: &Arc<Shared>,
    admin_token: &Secret,
    session: &mut ServerSession,
) -> Response<Vec<u8>> {
    match handle(shared, admin_token, session).await {
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

async fn handle(shared: &Arc<Shared>, admin_token: &Secret, session: &mut ServerSession) -> Answer {
    let head = session.req_header();
    let path = head.uri.path().to_string();
    let method = head.method.as_str().to_string();
    let mut query = request::query(head.uri.query());
    let segs: Vec<String> = path
        .trim_start_matches("/admin")
        .trim_matches('/')
        .split('/')
        .map(request::decode)
        .collect();
    let routed = route(&segs);
    let public = routed.as_ref().is_some_and(|(e, _, _)| {
        e.methods.contains(&method.as_str()) && e.access_for(&method) == Access::Public
    });
    // Only a caller with a credential learns which paths and methods exist.
    let who = match public {
        true => None,
        false => Some(authenticate(shared, admin_token, session).await?),
    };
    let (endpoint, target, params) =
        routed.ok_or_else(|| AdminError::NotFound(format!("no admin endpoint {path}")))?;
    if !endpoint.methods.contains(&method.as_str()) {
        return Err(AdminError::MethodNotAllowed {
            method,
            allowed: endpoint.methods,
        });
    }
    let Some(who) = who else {
        let remote = session.client_addr().map(|a| a.to_string());
        let body = read_body(session).await?;
        return match target {
            Resource::Login => session::login(shared, body, remote).await,
            _ => Err(AdminError::Internal(format!(
                "{path} has no public handler"
            ))),
        };
    };
    let access = endpoint.access_for(&method);
    who.check_csrf(&method, session)?;
    let grant = scope::authorize(shared, &who, access, &params).await?;
    let target = scope::confine(&grant, access, target, &mut query)?;
    let body = read_body(session).await?;
    let call = Call {
        query,
        body,
        actor: who.actor(),
        who,
        grant,
    };
    dispatch(shared, &method, target, call).await
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
        ("POST", Resource::Playground) => playground::chat(shared, call).await,
        ("POST", Resource::Logout) => session::logout(shared, call).await,
        ("GET", Resource::Me) => session::me(shared, call).await,
        ("GET", Resource::MyTokens) => session::list_tokens(shared, call).await,
        ("POST", Resource::MyTokens) => session::create_token(shared, call).await,
        ("DELETE", Resource::MyToken(id)) => session::revoke_token(shared, call, id).await,
        ("GET", Resource::Users) => users::list(shared, call).await,
        ("POST", Resource::Users) => users::create(shared, call).await,
        ("GET", Resource::User(n)) => users::get(shared, n).await,
        ("PATCH", Resource::User(n)) => users::update(shared, call, n).await,
        ("DELETE", Resource::User(n)) => users::delete(shared, call, n).await,
        // Only if `routes::ENDPOINTS` lists a method that is not served here.
        (m, _) => Err(AdminError::Internal(format!(
            "{m} is listed for this path but has no handler"
        ))),
    }
}
