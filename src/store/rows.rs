//! What the store holds, one struct per table. These are plain data: the data plane builds its
//! lookup tables from `Rows`, the admin API turns them into its JSON views. Key hashes and
//! sealed credentials are never serialized and print redacted.

use crate::base::api_key::SecretHash;
use crate::config::Lifecycle;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

/// Who wrote a row: the TOML seed (`config`, which wins) or the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Config,
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubState {
    Pending,
    Active,
    Rejected,
    Revoked,
}

/// Everything the data plane needs, read in one transaction so it is consistent.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    pub generation: u64,
    pub tenants: Vec<TenantRow>,
    pub apps: Vec<AppRow>,
    pub keys: Vec<KeyRow>,
    pub subscriptions: Vec<SubscriptionRow>,
    pub api_states: Vec<ApiStateRow>,
    pub credentials: Vec<CredentialRow>,
    pub attachments: Vec<AttachmentRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantRow {
    pub name: String,
    pub description: String,
    /// A `[[plans]]` name; the plan may have left the configuration since.
    pub plan: Option<String>,
    pub source: Origin,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppRow {
    pub tenant: String,
    pub name: String,
    pub description: String,
    /// Public models the app may use; every model its tenant sees when `None`.
    pub models: Option<Vec<String>>,
    pub source: Origin,
    pub created_at: i64,
}

#[derive(Clone, PartialEq, Serialize)]
pub struct KeyRow {
    pub public_id: String,
    pub tenant: String,
    pub app: String,
    pub name: String,
    #[serde(skip)]
    pub hash: SecretHash,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub source: Origin,
}

impl KeyRow {
    /// Whether the key opens anything at `now` (Unix seconds).
    pub fn usable_at(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow")
            .field("public_id", &self.public_id)
            .field("tenant", &self.tenant)
            .field("app", &self.app)
            .field("name", &self.name)
            .field("hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .field("source", &self.source)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubscriptionRow {
    pub id: i64,
    pub tenant: String,
    pub app: String,
    /// The route name of the API.
    pub api: String,
    pub state: SubState,
    pub reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub source: Origin,
}

/// An admin override of a route's configured lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiStateRow {
    pub api: String,
    pub state: Lifecycle,
    pub successor: Option<String>,
    pub sunset: Option<i64>,
    pub updated_at: i64,
}

/// A `[[limits]]` entry attached to a tenant (`app` None) or to one of its apps, with its own
/// rate and burst when they are set (an override).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttachmentRow {
    pub tenant: String,
    pub app: Option<String>,
    pub limit: String,
    pub rate: Option<f64>,
    pub burst: Option<f64>,
    pub updated_at: i64,
}

/// A tenant's own key for an LLM provider, sealed with `[store] secret_key`.
#[derive(Clone, PartialEq, Serialize)]
pub struct CredentialRow {
    pub tenant: String,
    pub provider: String,
    #[serde(skip)]
    pub sealed: Vec<u8>,
    pub created_at: i64,
}

impl std::fmt::Debug for CredentialRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialRow")
            .field("tenant", &self.tenant)
            .field("provider", &self.provider)
            .field("sealed", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Who changed what and when; `detail` never holds a secret, a hash or a sealed value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    pub id: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub actor: String,
    pub remote: Option<String>,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
}

// The enums are stored as their snake_case names, as the CHECK constraints spell them.

fn text_enum<T>(v: ValueRef<'_>, parse: fn(&str) -> Option<T>) -> FromSqlResult<T> {
    let s = v.as_str()?;
    parse(s).ok_or_else(|| FromSqlError::Other(format!("unexpected value {s:?}").into()))
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Config => "config",
            Origin::Admin => "admin",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "config" => Some(Origin::Config),
            "admin" => Some(Origin::Admin),
            _ => None,
        }
    }
}

impl SubState {
    pub fn as_str(self) -> &'static str {
        match self {
            SubState::Pending => "pending",
            SubState::Active => "active",
            SubState::Rejected => "rejected",
            SubState::Revoked => "revoked",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(SubState::Pending),
            "active" => Some(SubState::Active),
            "rejected" => Some(SubState::Rejected),
            "revoked" => Some(SubState::Revoked),
            _ => None,
        }
    }
}

pub(crate) fn lifecycle_str(l: Lifecycle) -> &'static str {
    match l {
        Lifecycle::Draft => "draft",
        Lifecycle::Published => "published",
        Lifecycle::Deprecated => "deprecated",
        Lifecycle::Retired => "retired",
    }
}

pub(crate) fn parse_lifecycle(s: &str) -> Option<Lifecycle> {
    match s {
        "draft" => Some(Lifecycle::Draft),
        "published" => Some(Lifecycle::Published),
        "deprecated" => Some(Lifecycle::Deprecated),
        "retired" => Some(Lifecycle::Retired),
        _ => None,
    }
}

impl ToSql for Origin {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for Origin {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        text_enum(v, Origin::parse)
    }
}

impl ToSql for SubState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for SubState {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        text_enum(v, SubState::parse)
    }
}

// Column lists and row readers, shared by the single-row and list queries.

pub(crate) const TENANT_COLS: &str = "name, description, source, created_at, plan";

pub(crate) fn tenant(r: &rusqlite::Row<'_>) -> rusqlite::Result<TenantRow> {
    Ok(TenantRow {
        name: r.get(0)?,
        description: r.get(1)?,
        source: r.get(2)?,
        created_at: r.get(3)?,
        plan: r.get(4)?,
    })
}

pub(crate) const ATTACHMENT_COLS: &str = "tenant, app, limit_name, rate, burst, updated_at";

pub(crate) fn attachment(r: &rusqlite::Row<'_>) -> rusqlite::Result<AttachmentRow> {
    Ok(AttachmentRow {
        tenant: r.get(0)?,
        app: r.get(1)?,
        limit: r.get(2)?,
        rate: r.get(3)?,
        burst: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

pub(crate) const APP_COLS: &str = "tenant, name, description, models, source, created_at";

pub(crate) fn app(r: &rusqlite::Row<'_>) -> rusqlite::Result<AppRow> {
    let models: Option<String> = r.get(3)?;
    let models = match models {
        Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, e.into())
        })?),
        None => None,
    };
    Ok(AppRow {
        tenant: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        models,
        source: r.get(4)?,
        created_at: r.get(5)?,
    })
}

/// An app's model allow-list as stored: a JSON array, or NULL for "no restriction".
pub(crate) fn models_json(models: Option<&[String]>) -> Option<String> {
    models.map(|m| serde_json::Value::from(m.to_vec()).to_string())
}

pub(crate) const KEY_COLS: &str =
    "public_id, tenant, app, name, secret_hash, created_at, expires_at, revoked_at, source";

pub(crate) fn key(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRow> {
    let hash: Vec<u8> = r.get(4)?;
    let hash: SecretHash = hash.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            4,
            rusqlite::types::Type::Blob,
            "a key hash is not 32 bytes".into(),
        )
    })?;
    Ok(KeyRow {
        public_id: r.get(0)?,
        tenant: r.get(1)?,
        app: r.get(2)?,
        name: r.get(3)?,
        hash,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
        revoked_at: r.get(7)?,
        source: r.get(8)?,
    })
}

pub(crate) const SUB_COLS: &str =
    "id, tenant, app, api, state, reason, created_at, updated_at, source";

pub(crate) fn subscription(r: &rusqlite::Row<'_>) -> rusqlite::Result<SubscriptionRow> {
    Ok(SubscriptionRow {
        id: r.get(0)?,
        tenant: r.get(1)?,
        app: r.get(2)?,
        api: r.get(3)?,
        state: r.get(4)?,
        reason: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
        source: r.get(8)?,
    })
}

pub(crate) const API_STATE_COLS: &str = "api, state, successor, sunset, updated_at";

pub(crate) fn api_state(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiStateRow> {
    Ok(ApiStateRow {
        api: r.get(0)?,
        state: text_enum(r.get_ref(1)?, parse_lifecycle).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, e.into())
        })?,
        successor: r.get(2)?,
        sunset: r.get(3)?,
        updated_at: r.get(4)?,
    })
}

pub(crate) const CREDENTIAL_COLS: &str = "tenant, provider, sealed, created_at";

pub(crate) fn credential(r: &rusqlite::Row<'_>) -> rusqlite::Result<CredentialRow> {
    Ok(CredentialRow {
        tenant: r.get(0)?,
        provider: r.get(1)?,
        sealed: r.get(2)?,
        created_at: r.get(3)?,
    })
}

pub(crate) const AUDIT_COLS: &str = "id, at, actor, remote, action, target, detail";

pub(crate) fn audit(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRow> {
    let detail: String = r.get(6)?;
    Ok(AuditRow {
        id: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        remote: r.get(3)?,
        action: r.get(4)?,
        target: r.get(5)?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
    })
}
