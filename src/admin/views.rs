//! The JSON shapes the admin API answers with. Times are RFC 3339 strings; key hashes, sealed
//! credentials and an MCP server's URL and injected headers have no field here, so they cannot
//! leak into an answer.

use crate::base::time::format_date;
use crate::config::{ApiKind, ApiRef, ApiSpec, Config};
use crate::config::{Approval, AuthMode, Lifecycle, Visibility};
use crate::store::{
    ApiStateRow, AppRow, AttachmentRow, AuditRow, KeyRow, Origin, SubState, SubscriptionRow,
    TenantRow,
};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;

#[derive(Serialize)]
pub struct Tenant<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub plan: Option<&'a str>,
    pub source: Origin,
    pub created_at: String,
}

pub fn tenant(t: &TenantRow) -> Tenant<'_> {
    Tenant {
        name: &t.name,
        description: &t.description,
        plan: t.plan.as_deref(),
        source: t.source,
        created_at: format_date(t.created_at),
    }
}

#[derive(Serialize)]
pub struct TenantWithApps<'a> {
    #[serde(flatten)]
    pub tenant: Tenant<'a>,
    pub apps: Vec<App<'a>>,
    /// Limits attached to the whole tenant.
    pub limits: Vec<Attachment<'a>>,
}

#[derive(Serialize)]
pub struct AppWithLimits<'a> {
    #[serde(flatten)]
    pub app: App<'a>,
    /// Limits attached to this app.
    pub limits: Vec<Attachment<'a>>,
}

/// A limit attached to a tenant or an app; `rate` and `burst` null keep the limit's own.
#[derive(Serialize)]
pub struct Attachment<'a> {
    pub limit: &'a str,
    pub rate: Option<f64>,
    pub burst: Option<f64>,
    pub updated_at: String,
}

pub fn attachment(a: &AttachmentRow) -> Attachment<'_> {
    Attachment {
        limit: &a.limit,
        rate: a.rate,
        burst: a.burst,
        updated_at: format_date(a.updated_at),
    }
}

#[derive(Serialize)]
pub struct App<'a> {
    pub tenant: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub models: Option<&'a [String]>,
    pub source: Origin,
    pub created_at: String,
}

pub fn app(a: &AppRow) -> App<'_> {
    App {
        tenant: &a.tenant,
        name: &a.name,
        description: &a.description,
        models: a.models.as_deref(),
        source: a.source,
        created_at: format_date(a.created_at),
    }
}

#[derive(Serialize)]
pub struct Key<'a> {
    pub id: &'a str,
    pub tenant: &'a str,
    pub app: &'a str,
    pub name: &'a str,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub state: &'static str,
    pub source: Origin,
}

pub fn key(k: &KeyRow, now: i64) -> Key<'_> {
    let state = if k.revoked_at.is_some() {
        "revoked"
    } else if k.usable_at(now) {
        "active"
    } else {
        "expired"
    };
    Key {
        id: &k.public_id,
        tenant: &k.tenant,
        app: &k.app,
        name: &k.name,
        created_at: format_date(k.created_at),
        expires_at: k.expires_at.map(format_date),
        revoked_at: k.revoked_at.map(format_date),
        state,
        source: k.source,
    }
}

/// A key just made or rotated in: the only answer that holds the full key.
#[derive(Serialize)]
pub struct KeyWithSecret<'a> {
    #[serde(flatten)]
    pub meta: Key<'a>,
    pub key: &'a str,
}

#[derive(Serialize)]
pub struct Subscription<'a> {
    pub id: i64,
    pub tenant: &'a str,
    pub app: &'a str,
    pub api: &'a str,
    pub state: SubState,
    pub reason: Option<&'a str>,
    pub created_at: String,
    pub updated_at: String,
    pub source: Origin,
}

pub fn subscription(s: &SubscriptionRow) -> Subscription<'_> {
    Subscription {
        id: s.id,
        tenant: &s.tenant,
        app: &s.app,
        api: &s.api,
        state: s.state,
        reason: s.reason.as_deref(),
        created_at: format_date(s.created_at),
        updated_at: format_date(s.updated_at),
        source: s.source,
    }
}

#[derive(Serialize)]
pub struct Credential<'a> {
    pub tenant: &'a str,
    pub provider: &'a str,
    pub created_at: String,
}

#[derive(Serialize)]
pub struct Audit<'a> {
    pub id: i64,
    pub at: String,
    pub actor: &'a str,
    pub remote: Option<&'a str>,
    pub action: &'a str,
    pub target: &'a str,
    pub detail: &'a Value,
}

pub fn audit(a: &AuditRow) -> Audit<'_> {
    Audit {
        id: a.id,
        at: crate::base::time::format_date_millis(a.at),
        actor: &a.actor,
        remote: a.remote.as_deref(),
        action: &a.action,
        target: &a.target,
        detail: &a.detail,
    }
}

/// What an API is, as the catalog and the admin API show it.
#[derive(Serialize)]
pub struct ApiCore<'a> {
    pub name: &'a str,
    pub kind: ApiKind,
    /// A route's path; an MCP server's endpoint (null while `[mcp]` is off).
    pub path: Option<Cow<'a, str>>,
    pub methods: Vec<&'a str>,
    pub description: &'a str,
    pub version: Option<&'a str>,
    pub owner: Option<&'a str>,
    pub auth: AuthMode,
    pub visibility: Value,
    pub approval: Approval,
    /// The effective state: the admin override if any, else the configured one.
    pub state: Lifecycle,
    pub successor: Option<&'a str>,
    pub sunset: Option<String>,
}

#[derive(Serialize)]
pub struct Override<'a> {
    pub state: Lifecycle,
    pub successor: Option<&'a str>,
    pub sunset: Option<String>,
}

#[derive(Serialize)]
pub struct Api<'a> {
    #[serde(flatten)]
    pub core: ApiCore<'a>,
    pub configured_state: Lifecycle,
    #[serde(rename = "override")]
    pub over: Option<Override<'a>>,
}

#[derive(Serialize)]
pub struct CatalogEntry<'a> {
    #[serde(flatten)]
    pub core: ApiCore<'a>,
    /// The OpenAPI document, `{"url": ...}` for a remote one, or null.
    pub openapi: Value,
    /// For LLM APIs: the public models the tenant (or everyone) may see.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<&'a str>>,
    /// For MCP servers: how an MCP client reaches their tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcp: Option<McpEntry<'a>>,
}

/// An MCP server's tools are offered at its own endpoint (`path`) as the server names them,
/// and at the gateway's `endpoint` prefixed with `tool_prefix`. Nothing of the upstream (its
/// URL, its injected headers) is shown.
#[derive(Serialize)]
pub struct McpEntry<'a> {
    pub endpoint: &'a str,
    pub tool_prefix: String,
}

/// How an MCP client reaches an MCP server's tools; `None` for other APIs and while `[mcp]`
/// is off.
pub fn mcp_entry<'a>(config: &'a Config, api: ApiRef<'a>) -> Option<McpEntry<'a>> {
    let ApiRef::McpServer(s) = api else {
        return None;
    };
    let mcp = config.mcp.as_ref()?;
    Some(McpEntry {
        endpoint: &mcp.path,
        tool_prefix: format!("{}.", s.name),
    })
}

/// The state an API is in, an admin override winning over the configuration.
pub fn effective_state(api: &ApiSpec, over: Option<&ApiStateRow>) -> Lifecycle {
    over.map_or(api.state, |o| o.state)
}

pub fn api_core<'a>(
    config: &'a Config,
    api: ApiRef<'a>,
    over: Option<&'a ApiStateRow>,
) -> ApiCore<'a> {
    let spec = api.spec();
    let visibility = match &spec.visibility {
        Visibility::Public => Value::from("public"),
        Visibility::Tenants(t) => Value::from(t.clone()),
    };
    let successor = over
        .and_then(|o| o.successor.as_deref())
        .or(spec.successor.as_deref());
    let sunset = over.and_then(|o| o.sunset).or(spec.sunset);
    ApiCore {
        name: api.name(),
        kind: api.kind(),
        path: config.api_path(api),
        methods: api.methods(),
        description: &spec.description,
        version: spec.version.as_deref(),
        owner: spec.owner.as_deref(),
        auth: spec.auth,
        visibility,
        approval: spec.approval,
        state: effective_state(spec, over),
        successor,
        sunset: sunset.map(format_date),
    }
}

pub fn api<'a>(config: &'a Config, api: ApiRef<'a>, over: Option<&'a ApiStateRow>) -> Api<'a> {
    Api {
        core: api_core(config, api, over),
        configured_state: api.spec().state,
        over: over.map(|o| Override {
            state: o.state,
            successor: o.successor.as_deref(),
            sunset: o.sunset.map(format_date),
        }),
    }
}
