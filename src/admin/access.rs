//! Handlers for who may call which API: subscriptions, API lifecycle overrides, the catalog
//! and the audit trail. An API is any kind the configuration declares (a route, a prompt API,
//! an upstream MCP server), found by name through `Config::api`.

use super::error::AdminError;
use super::request::{self, date, only_params, param};
use super::shared::{json, Answer, Call, Shared};
use super::views;
use crate::config::{ApiKind, ApiRef, Config, RouteTarget};
use crate::config::{AuthMode, Lifecycle, Visibility};
use crate::store::{ApiStateRow, AuditFilter, SubDecision, SubState, SubscriptionFilter};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSubscription {
    api: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewState {
    state: Lifecycle,
    successor: Option<String>,
    sunset: Option<String>,
}

fn api<'a>(config: &'a Config, name: &str) -> Result<ApiRef<'a>, AdminError> {
    config
        .api(name)
        .ok_or_else(|| AdminError::NotFound(format!("no API named {name:?}")))
}

fn sub_id(id: &str) -> Result<i64, AdminError> {
    id.parse()
        .map_err(|_| AdminError::NotFound(format!("no subscription {id:?}")))
}

fn subscriptions_json(rows: &[crate::store::SubscriptionRow]) -> Answer {
    json(
        200,
        &rows.iter().map(views::subscription).collect::<Vec<_>>(),
    )
}

pub async fn list_app_subscriptions(shared: &Arc<Shared>, t: String, a: String) -> Answer {
    let rows = shared
        .store(move |s| {
            s.get_app(&t, &a)?;
            let filter = SubscriptionFilter {
                tenant: Some(t),
                app: Some(a),
                ..SubscriptionFilter::default()
            };
            Ok(s.list_subscriptions(&filter)?)
        })
        .await?;
    subscriptions_json(&rows)
}

/// Subscribes an app to an API the tenant can see and that takes keys.
pub async fn request(shared: &Arc<Shared>, call: Call, t: String, a: String) -> Answer {
    let body: NewSubscription = request::json(&call.body)?;
    let config = super::prompts::apis_config(shared).await?;
    let row = shared
        .store(move |s| {
            let r = api(&config, &body.api)?;
            let (name, spec) = (r.name(), r.spec());
            s.get_app(&t, &a)?;
            if !spec.visibility.admits(&t) {
                return Err(AdminError::Forbidden(format!(
                    "API {name:?} is not visible to tenant {t:?}"
                )));
            }
            if spec.auth == AuthMode::None {
                return Err(AdminError::Conflict(format!(
                    "API {name:?} takes no key (auth = \"none\"): there is nothing to subscribe to"
                )));
            }
            let state = views::effective_state(spec, s.get_api_state(name)?.as_ref());
            if matches!(state, Lifecycle::Draft | Lifecycle::Retired) {
                return Err(AdminError::Conflict(format!(
                    "API {name:?} is {}; it takes no new subscriptions",
                    crate::store::rows::lifecycle_str(state)
                )));
            }
            Ok(s.request_subscription(&call.actor, &t, &a, name, spec.approval)?)
        })
        .await?;
    json(201, &views::subscription(&row))
}

pub async fn list_subscriptions(shared: &Arc<Shared>, call: Call) -> Answer {
    let q = &call.query;
    only_params(q, &["state", "tenant", "app", "api"])?;
    let state = match param(q, "state") {
        Some(s) => Some(SubState::parse(s).ok_or_else(|| {
            AdminError::BadRequest(format!(
                "state={s}: use pending, active, rejected or revoked"
            ))
        })?),
        None => None,
    };
    let filter = SubscriptionFilter {
        state,
        tenant: param(q, "tenant").map(String::from),
        app: param(q, "app").map(String::from),
        api: param(q, "api").map(String::from),
    };
    let rows = shared
        .store(move |s| Ok(s.list_subscriptions(&filter)?))
        .await?;
    subscriptions_json(&rows)
}

pub async fn get_subscription(shared: &Arc<Shared>, id: String) -> Answer {
    let id = sub_id(&id)?;
    let row = shared.store(move |s| Ok(s.get_subscription(id)?)).await?;
    json(200, &views::subscription(&row))
}

pub async fn decide(shared: &Arc<Shared>, call: Call, id: String, d: SubDecision) -> Answer {
    let id = sub_id(&id)?;
    let body: Reason = request::json(&call.body)?;
    let row = shared
        .store(move |s| Ok(s.decide_subscription(&call.actor, id, d, body.reason.as_deref())?))
        .await?;
    json(200, &views::subscription(&row))
}

pub async fn list_apis(shared: &Arc<Shared>) -> Answer {
    let config = super::prompts::apis_config(shared).await?;
    let overrides = shared.store(|s| Ok(s.api_states()?)).await?;
    let out: Vec<_> = config
        .apis()
        .map(|a| views::api(&config, a, find(&overrides, a.name())))
        .collect();
    json(200, &out)
}

fn find<'a>(overrides: &'a [ApiStateRow], api: &str) -> Option<&'a ApiStateRow> {
    overrides.iter().find(|o| o.api == api)
}

pub async fn get_api(shared: &Arc<Shared>, name: String) -> Answer {
    let config = super::prompts::apis_config(shared).await?;
    let r = api(&config, &name)?;
    let over = shared.store(move |s| Ok(s.get_api_state(&name)?)).await?;
    json(200, &views::api(&config, r, over.as_ref()))
}

pub async fn set_state(shared: &Arc<Shared>, call: Call, name: String) -> Answer {
    let body: NewState = request::json(&call.body)?;
    let config = super::prompts::apis_config(shared).await?;
    let r = api(&config, &name)?;
    if let Some(s) = &body.successor {
        if config.api(s).is_none() {
            return Err(AdminError::BadRequest(format!(
                "body.successor: no API named {s:?}"
            )));
        }
        if s == &name {
            return Err(AdminError::BadRequest(
                "body.successor: an API cannot succeed itself".into(),
            ));
        }
    }
    let sunset = body
        .sunset
        .as_deref()
        .map(|d| date("sunset", d))
        .transpose()?;
    let over = shared
        .store(move |s| {
            Ok(s.set_api_state(
                &call.actor,
                &name,
                body.state,
                body.successor.as_deref(),
                sunset,
            )?)
        })
        .await?;
    json(200, &views::api(&config, r, Some(&over)))
}

pub async fn clear_state(shared: &Arc<Shared>, call: Call, name: String) -> Answer {
    let config = super::prompts::apis_config(shared).await?;
    let r = api(&config, &name)?;
    shared
        .store(move |s| Ok(s.clear_api_state(&call.actor, &name)?))
        .await?;
    json(200, &views::api(&config, r, None))
}

/// Published and deprecated APIs, with their OpenAPI documents (an MCP server: how to reach
/// its tools); with `tenant`, only those it may see. An MCP server is left out while `[mcp]`
/// is off, as nothing serves its tools.
pub async fn catalog(shared: &Arc<Shared>, call: Call) -> Answer {
    only_params(&call.query, &["tenant"])?;
    let tenant = param(&call.query, "tenant").map(String::from);
    let config = super::prompts::apis_config(shared).await?;
    let t = tenant.clone();
    let overrides = shared
        .store(move |s| {
            if let Some(t) = &t {
                s.get_tenant(t)?;
            }
            Ok(s.api_states()?)
        })
        .await?;
    let listed: Vec<ApiRef> = config
        .apis()
        .filter(|a| {
            let state = views::effective_state(a.spec(), find(&overrides, a.name()));
            matches!(state, Lifecycle::Published | Lifecycle::Deprecated)
                && tenant
                    .as_deref()
                    .is_none_or(|t| a.spec().visibility.admits(t))
                && config.api_path(*a).is_some()
        })
        .collect();
    let docs = documents(&config, &listed).await?;
    let models: Vec<&str> = config
        .llm
        .models
        .iter()
        .filter(|m| match tenant.as_deref() {
            Some(t) => m.visibility.admits(t),
            None => m.visibility == Visibility::Public,
        })
        .map(|m| m.name.as_str())
        .collect();
    let out: Vec<_> = listed
        .iter()
        .zip(docs)
        .map(|(&a, doc)| views::CatalogEntry {
            core: views::api_core(&config, a, find(&overrides, a.name())),
            openapi: doc,
            models: (a.kind() == ApiKind::Llm).then(|| models.clone()),
            mcp: views::mcp_entry(&config, a),
        })
        .collect();
    json(200, &out)
}

/// The OpenAPI document of each API, its file read off the async threads; a prompt API with
/// no document of its own has one generated from its schemas.
async fn documents(config: &Config, listed: &[ApiRef<'_>]) -> Result<Vec<Value>, AdminError> {
    let files: Vec<Option<String>> = listed.iter().map(|a| a.spec().openapi.clone()).collect();
    let docs = tokio::task::spawn_blocking(move || {
        files
            .iter()
            .map(|d| openapi(d.as_deref()))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| AdminError::Internal(format!("reading OpenAPI files failed: {e}")))?;
    let generated = |a: ApiRef| match a {
        ApiRef::Route(r) => match r.target {
            RouteTarget::Prompt(i) => config
                .prompts
                .get(i)
                .map_or(Value::Null, |p| crate::llm::prompt::openapi::document(p, r)),
            _ => Value::Null,
        },
        ApiRef::McpServer(_) => Value::Null,
    };
    Ok(listed
        .iter()
        .zip(docs)
        .map(|(&a, doc)| if doc.is_null() { generated(a) } else { doc })
        .collect())
}

/// An API's OpenAPI document: the file parsed as JSON (its text if it is not JSON, e.g.
/// YAML), `{"url": ...}` for a remote one, null when there is none or it cannot be read.
fn openapi(doc: Option<&str>) -> Value {
    let Some(doc) = doc else { return Value::Null };
    if doc.starts_with("http://") || doc.starts_with("https://") {
        return serde_json::json!({ "url": doc });
    }
    match std::fs::read_to_string(doc) {
        Ok(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        Err(e) => {
            tracing::warn!("admin: catalog: cannot read the OpenAPI file {doc}: {e}");
            Value::Null
        }
    }
}

pub async fn audit(shared: &Arc<Shared>, call: Call) -> Answer {
    let q = &call.query;
    only_params(q, &["limit", "target", "action"])?;
    let limit = match param(q, "limit") {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|&n| (1..=crate::store::AUDIT_LIMIT_MAX).contains(&n))
            .ok_or_else(|| {
                AdminError::BadRequest(format!(
                    "limit={l}: give a number from 1 to {}",
                    crate::store::AUDIT_LIMIT_MAX
                ))
            })?,
        None => 100,
    };
    let filter = AuditFilter {
        limit,
        target: param(q, "target").map(String::from),
        action: param(q, "action").map(String::from),
    };
    let rows = shared.store(move |s| Ok(s.audit(&filter)?)).await?;
    json(200, &rows.iter().map(views::audit).collect::<Vec<_>>())
}
