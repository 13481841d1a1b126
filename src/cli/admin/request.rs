//! Each `tollgate admin` command as the one admin API request it stands for.

use super::{
    AdminCommand, ApisCommand, AppsCommand, BucketArgs, CallsCommand, CredentialsCommand,
    KeysCommand, LimitsCommand, SubscriptionsCommand, TenantsCommand,
};
use crate::cli::secret::SecretSource;
use crate::cli::CliError;
use serde_json::{json, Map, Value};

/// One request: `path` holds the query, `body` is sent as JSON.
#[derive(Debug, PartialEq)]
pub struct ApiCall {
    pub method: &'static str,
    pub path: String,
    pub body: Option<Value>,
    /// Said on stderr after a success, e.g. for a deletion, which prints nothing else.
    pub note: Option<String>,
}

impl ApiCall {
    pub(super) fn get(path: String) -> ApiCall {
        ApiCall {
            method: "GET",
            path,
            body: None,
            note: None,
        }
    }

    pub(super) fn with(method: &'static str, path: String, body: Value) -> ApiCall {
        ApiCall {
            method,
            path,
            body: Some(body),
            note: None,
        }
    }

    pub(super) fn delete(path: String, note: String) -> ApiCall {
        ApiCall {
            method: "DELETE",
            path,
            body: None,
            note: Some(note),
        }
    }

    pub(super) fn note(mut self, note: impl Into<String>) -> ApiCall {
        self.note = Some(note.into());
        self
    }
}

/// The request for `cmd`, or `None` for a command that needs no server. `secret` reads a key
/// that must not come from the command line.
pub fn call(
    cmd: &AdminCommand,
    secret: &mut dyn FnMut(&SecretSource) -> Result<String, CliError>,
) -> Result<Option<ApiCall>, CliError> {
    Ok(Some(match cmd {
        AdminCommand::Tenants(c) => tenants(c),
        AdminCommand::Credentials(c) => credentials(c, secret)?,
        AdminCommand::Apps(c) => apps(c),
        AdminCommand::Keys(c) => keys(c),
        AdminCommand::Subscriptions(c) => subscriptions(c),
        AdminCommand::Apis(c) => apis(c),
        AdminCommand::Prompts(c) => super::prompts::call(c)?,
        AdminCommand::Upstreams(c) => super::live::call("upstreams", c)?,
        AdminCommand::Routes(c) => super::live::call("routes", c)?,
        AdminCommand::Providers(c) => super::live::call("providers", c)?,
        AdminCommand::Models(c) => super::live::call("models", c)?,
        AdminCommand::Users(c) => super::users::users(c, secret)?,
        AdminCommand::Tokens(c) => super::users::tokens(c),
        AdminCommand::Me => ApiCall::get("/admin/me".into()),
        AdminCommand::Limits(c) => limits(c),
        AdminCommand::Catalog { tenant } => ApiCall::get(format!(
            "/admin/catalog{}",
            query(&[("tenant", tenant.clone())])
        )),
        AdminCommand::Audit {
            limit,
            target,
            action,
        } => ApiCall::get(format!(
            "/admin/audit{}",
            query(&[
                ("limit", limit.map(|l| l.to_string())),
                ("target", target.clone()),
                ("action", action.clone()),
            ])
        )),
        AdminCommand::Calls(c) => calls(c),
        AdminCommand::Usage {
            tenant,
            group_by,
            bucket,
            from,
            to,
        } => ApiCall::get(format!(
            "{}/usage{}",
            scope(tenant.as_deref()),
            query(&[
                ("group_by", group_by.clone()),
                ("bucket", bucket.clone()),
                ("from", from.clone()),
                ("to", to.clone()),
            ])
        )),
        AdminCommand::Openapi => ApiCall::get("/admin/openapi.json".into()),
        AdminCommand::Keygen { .. } => return Ok(None),
    }))
}

/// `/admin`, or `/admin/tenants/{tenant}` for a query restricted to one tenant.
fn scope(tenant: Option<&str>) -> String {
    match tenant {
        Some(t) => tenant_path(t),
        None => "/admin".into(),
    }
}

fn calls(c: &CallsCommand) -> ApiCall {
    match c {
        CallsCommand::List { filter: f } => ApiCall::get(format!(
            "{}/calls{}",
            scope(f.tenant.as_deref()),
            query(&[
                ("from", f.from.clone()),
                ("to", f.to.clone()),
                ("app", f.app.clone()),
                ("key", f.key.clone()),
                ("route", f.route.clone()),
                ("model", f.model.clone()),
                ("provider", f.provider.clone()),
                ("status", f.status.clone()),
                ("error_code", f.error_code.clone()),
                ("limit", f.limit.map(|l| l.to_string())),
                ("cursor", f.cursor.clone()),
            ])
        )),
        CallsCommand::Show { request_id, tenant } => ApiCall::get(format!(
            "{}/calls/{}",
            scope(tenant.as_deref()),
            seg(request_id)
        )),
    }
}

fn tenants(c: &TenantsCommand) -> ApiCall {
    match c {
        TenantsCommand::List => ApiCall::get("/admin/tenants".into()),
        TenantsCommand::Show { tenant } => ApiCall::get(tenant_path(tenant)),
        TenantsCommand::Create {
            tenant,
            description,
        } => ApiCall::with(
            "POST",
            "/admin/tenants".into(),
            object([
                ("name", Some(json!(tenant))),
                ("description", description.as_ref().map(|d| json!(d))),
            ]),
        ),
        TenantsCommand::Update {
            tenant,
            description,
        } => ApiCall::with(
            "PATCH",
            tenant_path(tenant),
            json!({ "description": description }),
        ),
        TenantsCommand::Delete { tenant } => ApiCall::delete(
            tenant_path(tenant),
            format!("deleted tenant {tenant:?} with its apps, keys and subscriptions"),
        ),
        TenantsCommand::SetPlan { tenant, plan } => ApiCall::with(
            "PUT",
            format!("{}/plan", tenant_path(tenant)),
            json!({ "plan": plan }),
        ),
        TenantsCommand::ClearPlan { tenant } => ApiCall {
            method: "DELETE",
            path: format!("{}/plan", tenant_path(tenant)),
            body: None,
            note: None,
        },
    }
}

fn limits(c: &LimitsCommand) -> ApiCall {
    let bucket = |b: &BucketArgs| {
        format!(
            "/admin/limits/{}/bucket{}",
            seg(&b.limit),
            query(&[
                ("tenant", b.tenant.clone()),
                ("app", b.app.clone()),
                ("api_key", b.api_key.clone()),
                ("route", b.route.clone()),
                ("model", b.model.clone()),
                ("client_ip", b.client_ip.clone()),
            ])
        )
    };
    let attached = |tenant: &str, app: &Option<String>, limit: &str| {
        let owner = match app {
            Some(a) => app_path(tenant, a),
            None => tenant_path(tenant),
        };
        format!("{owner}/limits/{}", seg(limit))
    };
    match c {
        LimitsCommand::List => ApiCall::get("/admin/limits".into()),
        LimitsCommand::Bucket(b) => ApiCall::get(bucket(b)),
        LimitsCommand::Reset(b) => ApiCall {
            method: "DELETE",
            path: bucket(b),
            body: None,
            note: None,
        },
        LimitsCommand::Top { n } => ApiCall::get(format!(
            "/admin/limits/top{}",
            query(&[("n", n.map(|n| n.to_string()))])
        )),
        LimitsCommand::Attach {
            tenant,
            limit,
            app,
            rate,
            burst,
        } => ApiCall::with(
            "PUT",
            attached(tenant, app, limit),
            object([
                ("rate", rate.map(|r| json!(r))),
                ("burst", burst.map(|b| json!(b))),
            ]),
        ),
        LimitsCommand::Detach { tenant, limit, app } => ApiCall::delete(
            attached(tenant, app, limit),
            format!("detached limit {limit:?}"),
        ),
    }
}

fn credentials(
    c: &CredentialsCommand,
    secret: &mut dyn FnMut(&SecretSource) -> Result<String, CliError>,
) -> Result<ApiCall, CliError> {
    let path = |tenant: &str, provider: &str| {
        format!("{}/credentials/{}", tenant_path(tenant), seg(provider))
    };
    Ok(match c {
        CredentialsCommand::List { tenant } => {
            ApiCall::get(format!("{}/credentials", tenant_path(tenant)))
        }
        CredentialsCommand::Set {
            tenant,
            provider,
            key_env,
        } => {
            let source = match key_env {
                Some(var) => SecretSource::Env(var.clone()),
                None => SecretSource::Stdin {
                    prompt: format!("{provider} API key for tenant {tenant}"),
                },
            };
            let key = secret(&source)?;
            ApiCall::with("PUT", path(tenant, provider), json!({ "api_key": key }))
        }
        CredentialsCommand::Delete { tenant, provider } => ApiCall::delete(
            path(tenant, provider),
            format!("deleted tenant {tenant:?}'s key for {provider:?}"),
        ),
    })
}

fn apps(c: &AppsCommand) -> ApiCall {
    match c {
        AppsCommand::List { tenant } => ApiCall::get(format!("{}/apps", tenant_path(tenant))),
        AppsCommand::Show { tenant, app } => ApiCall::get(app_path(tenant, app)),
        AppsCommand::Create {
            tenant,
            app,
            description,
            models,
        } => ApiCall::with(
            "POST",
            format!("{}/apps", tenant_path(tenant)),
            object([
                ("name", Some(json!(app))),
                ("description", description.as_ref().map(|d| json!(d))),
                ("models", models.as_deref().map(model_list)),
            ]),
        ),
        AppsCommand::Update {
            tenant,
            app,
            description,
            models,
            all_models,
        } => {
            let models = match (models, all_models) {
                (Some(m), _) => Some(model_list(m)),
                (None, true) => Some(Value::Null),
                (None, false) => None,
            };
            ApiCall::with(
                "PATCH",
                app_path(tenant, app),
                object([
                    ("description", description.as_ref().map(|d| json!(d))),
                    ("models", models),
                ]),
            )
        }
        AppsCommand::Delete { tenant, app } => ApiCall::delete(
            app_path(tenant, app),
            format!("deleted app {tenant}/{app} with its keys and subscriptions"),
        ),
    }
}

fn keys(c: &KeysCommand) -> ApiCall {
    match c {
        KeysCommand::List { tenant, app } => {
            ApiCall::get(format!("{}/keys", app_path(tenant, app)))
        }
        KeysCommand::Create {
            tenant,
            app,
            name,
            expires_in,
            expires_at,
        } => ApiCall::with(
            "POST",
            format!("{}/keys", app_path(tenant, app)),
            object([
                ("name", name.as_ref().map(|n| json!(n))),
                ("expires_in", expires_in.as_ref().map(|d| json!(d))),
                ("expires_at", expires_at.as_ref().map(|d| json!(d))),
            ]),
        )
        .note("The \"key\" above is shown only this once: only its hash is kept."),
        KeysCommand::Show { id } => ApiCall::get(key_path(id)),
        KeysCommand::Revoke { id } => ApiCall {
            method: "DELETE",
            path: key_path(id),
            body: None,
            note: None,
        },
        KeysCommand::Rotate { id, overlap } => ApiCall::with(
            "POST",
            format!("{}/rotate", key_path(id)),
            object([("overlap", overlap.as_ref().map(|o| json!(o)))]),
        )
        .note(
            "The new \"key\" above is shown only this once; the old key works until its \
             expires_at.",
        ),
    }
}

fn subscriptions(c: &SubscriptionsCommand) -> ApiCall {
    let decide = |id: &u64, verb: &str, reason: &Option<String>| {
        ApiCall::with(
            "POST",
            format!("/admin/subscriptions/{id}/{verb}"),
            object([("reason", reason.as_ref().map(|r| json!(r)))]),
        )
    };
    match c {
        SubscriptionsCommand::List {
            state,
            tenant,
            app,
            api,
        } => ApiCall::get(format!(
            "/admin/subscriptions{}",
            query(&[
                ("state", state.clone()),
                ("tenant", tenant.clone()),
                ("app", app.clone()),
                ("api", api.clone()),
            ])
        )),
        SubscriptionsCommand::Show { id } => ApiCall::get(format!("/admin/subscriptions/{id}")),
        SubscriptionsCommand::Request { tenant, app, api } => ApiCall::with(
            "POST",
            format!("{}/subscriptions", app_path(tenant, app)),
            json!({ "api": api }),
        ),
        SubscriptionsCommand::Approve { id, reason } => decide(id, "approve", reason),
        SubscriptionsCommand::Reject { id, reason } => decide(id, "reject", reason),
        SubscriptionsCommand::Revoke { id, reason } => decide(id, "revoke", reason),
    }
}

fn apis(c: &ApisCommand) -> ApiCall {
    let state_path = |name: &str| format!("/admin/apis/{}/state", seg(name));
    match c {
        ApisCommand::List => ApiCall::get("/admin/apis".into()),
        ApisCommand::Show { name } => ApiCall::get(format!("/admin/apis/{}", seg(name))),
        ApisCommand::SetState {
            name,
            state,
            successor,
            sunset,
        } => ApiCall::with(
            "PUT",
            state_path(name),
            object([
                ("state", Some(json!(state))),
                ("successor", successor.as_ref().map(|s| json!(s))),
                ("sunset", sunset.as_ref().map(|s| json!(s))),
            ]),
        ),
        ApisCommand::ClearState { name } => ApiCall {
            method: "DELETE",
            path: state_path(name),
            body: None,
            note: None,
        },
    }
}

fn tenant_path(tenant: &str) -> String {
    format!("/admin/tenants/{}", seg(tenant))
}

fn app_path(tenant: &str, app: &str) -> String {
    format!("{}/apps/{}", tenant_path(tenant), seg(app))
}

fn key_path(id: &str) -> String {
    format!("/admin/keys/{}", seg(id))
}

/// `--models a,b`: the names, without the empty ones a stray comma leaves.
fn model_list(models: &[String]) -> Value {
    json!(models
        .iter()
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
        .collect::<Vec<_>>())
}

/// A JSON object of the fields that are given.
fn object<const N: usize>(fields: [(&str, Option<Value>); N]) -> Value {
    let map: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_string(), v?)))
        .collect();
    Value::Object(map)
}

/// `?a=1&b=2` of the parameters that are given, or nothing.
pub(super) fn query(params: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = params
        .iter()
        .filter_map(|(k, v)| Some(format!("{k}={}", seg(v.as_deref()?))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Percent-encodes all but the unreserved characters, so a name cannot change the path.
pub fn seg(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
