//! Handlers for tenants, their apps, API keys and provider credentials.

use super::error::AdminError;
use super::request::{self, date, date_in, duration};
use super::shared::{json, no_content, Answer, Call, Shared};
use super::views;
use crate::base::cipher::Cipher;
use crate::base::clock::now_unix;
use crate::config::Config;
use crate::store::AppPatch;
use serde::Deserialize;
use std::sync::Arc;

/// How long a rotated-out key keeps working when the request does not say.
const DEFAULT_OVERLAP: &str = "24h";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantChange {
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApp {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    models: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppChange {
    description: Option<String>,
    /// Absent: unchanged; `null`: no allow-list; a list: the allow-list.
    #[serde(default, deserialize_with = "present")]
    models: Option<Option<Vec<String>>>,
}

/// Tells a field given as `null` (Some(None)) from one left out (None, by `default`).
fn present<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKeyBody {
    #[serde(default)]
    name: String,
    expires_at: Option<String>,
    expires_in: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotate {
    overlap: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCredential {
    api_key: String,
}

/// Checks an app's allow-list names configured public models.
fn check_models(config: &Config, models: Option<&[String]>) -> Result<(), AdminError> {
    for (i, m) in models.unwrap_or_default().iter().enumerate() {
        if !config.llm.models.iter().any(|spec| &spec.name == m) {
            let known: Vec<&str> = config.llm.models.iter().map(|s| s.name.as_str()).collect();
            return Err(AdminError::BadRequest(format!(
                "body.models[{i}]: no model named {m:?} (configured: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    Ok(())
}

pub async fn list_tenants(shared: &Arc<Shared>) -> Answer {
    let rows = shared.store(|s| Ok(s.list_tenants()?)).await?;
    json(200, &rows.iter().map(views::tenant).collect::<Vec<_>>())
}

pub async fn create_tenant(shared: &Arc<Shared>, call: Call) -> Answer {
    let body: NewTenant = request::json(&call.body)?;
    let row = shared
        .store(move |s| Ok(s.create_tenant(&call.actor, &body.name, &body.description)?))
        .await?;
    json(201, &views::tenant(&row))
}

pub async fn get_tenant(shared: &Arc<Shared>, t: String) -> Answer {
    let (tenant, apps, limits) = shared
        .store(move |s| {
            Ok((
                s.get_tenant(&t)?,
                s.list_apps(&t)?,
                s.list_attachments(&t, None)?,
            ))
        })
        .await?;
    json(
        200,
        &views::TenantWithApps {
            tenant: views::tenant(&tenant),
            apps: apps.iter().map(views::app).collect(),
            limits: limits.iter().map(views::attachment).collect(),
        },
    )
}

pub async fn update_tenant(shared: &Arc<Shared>, call: Call, t: String) -> Answer {
    let body: TenantChange = request::json(&call.body)?;
    let row = shared
        .store(move |s| match body.description {
            Some(d) => Ok(s.update_tenant(&call.actor, &t, &d)?),
            None => Ok(s.get_tenant(&t)?),
        })
        .await?;
    json(200, &views::tenant(&row))
}

pub async fn delete_tenant(shared: &Arc<Shared>, call: Call, t: String) -> Answer {
    shared
        .store(move |s| Ok(s.delete_tenant(&call.actor, &t)?))
        .await?;
    no_content()
}

pub async fn list_credentials(shared: &Arc<Shared>, t: String) -> Answer {
    let tenant = t.clone();
    let rows = shared.store(move |s| Ok(s.list_credentials(&t)?)).await?;
    let out: Vec<_> = rows
        .iter()
        .map(|(provider, at)| views::Credential {
            tenant: &tenant,
            provider,
            created_at: crate::base::time::format_date(*at),
        })
        .collect();
    json(200, &out)
}

pub async fn put_credential(shared: &Arc<Shared>, call: Call, t: String, p: String) -> Answer {
    let body: NewCredential = request::json(&call.body)?;
    let config = shared.config.load_full();
    if !config.llm.providers.iter().any(|spec| spec.name == p) {
        return Err(AdminError::NotFound(format!("no provider named {p:?}")));
    }
    let Some(secret) = config.store.as_ref().and_then(|s| s.secret_key.clone()) else {
        return Err(AdminError::Conflict(
            "tenant credentials are stored encrypted: set [store] secret_key first".into(),
        ));
    };
    if body.api_key.trim().is_empty() {
        return Err(AdminError::BadRequest("body.api_key: is empty".into()));
    }
    let cipher = Cipher::from_text(secret.expose())
        .map_err(|e| AdminError::Conflict(format!("[store] secret_key: {e}")))?;
    let sealed = cipher
        .seal(&body.api_key)
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    let row = shared
        .store(move |s| Ok(s.put_credential(&call.actor, &t, &p, &sealed)?))
        .await?;
    json(
        200,
        &views::Credential {
            tenant: &row.tenant,
            provider: &row.provider,
            created_at: crate::base::time::format_date(row.created_at),
        },
    )
}

pub async fn delete_credential(shared: &Arc<Shared>, call: Call, t: String, p: String) -> Answer {
    shared
        .store(move |s| Ok(s.delete_credential(&call.actor, &t, &p)?))
        .await?;
    no_content()
}

pub async fn list_apps(shared: &Arc<Shared>, t: String) -> Answer {
    let rows = shared.store(move |s| Ok(s.list_apps(&t)?)).await?;
    json(200, &rows.iter().map(views::app).collect::<Vec<_>>())
}

pub async fn create_app(shared: &Arc<Shared>, call: Call, t: String) -> Answer {
    let body: NewApp = request::json(&call.body)?;
    check_models(&shared.config.load(), body.models.as_deref())?;
    let row = shared
        .store(move |s| {
            Ok(s.create_app(&call.actor, &t, &body.name, &body.description, body.models)?)
        })
        .await?;
    json(201, &views::app(&row))
}

pub async fn get_app(shared: &Arc<Shared>, t: String, a: String) -> Answer {
    let (row, limits) = shared
        .store(move |s| Ok((s.get_app(&t, &a)?, s.list_attachments(&t, Some(&a))?)))
        .await?;
    json(
        200,
        &views::AppWithLimits {
            app: views::app(&row),
            limits: limits.iter().map(views::attachment).collect(),
        },
    )
}

pub async fn update_app(shared: &Arc<Shared>, call: Call, t: String, a: String) -> Answer {
    let body: AppChange = request::json(&call.body)?;
    if let Some(m) = &body.models {
        check_models(&shared.config.load(), m.as_deref())?;
    }
    let patch = AppPatch {
        description: body.description,
        models: body.models,
    };
    let row = shared
        .store(move |s| {
            if patch == AppPatch::default() {
                return Ok(s.get_app(&t, &a)?);
            }
            Ok(s.update_app(&call.actor, &t, &a, &patch)?)
        })
        .await?;
    json(200, &views::app(&row))
}

pub async fn delete_app(shared: &Arc<Shared>, call: Call, t: String, a: String) -> Answer {
    shared
        .store(move |s| Ok(s.delete_app(&call.actor, &t, &a)?))
        .await?;
    no_content()
}

pub async fn list_keys(shared: &Arc<Shared>, t: String, a: String) -> Answer {
    let rows = shared.store(move |s| Ok(s.list_keys(&t, &a)?)).await?;
    let now = now_unix();
    json(
        200,
        &rows.iter().map(|k| views::key(k, now)).collect::<Vec<_>>(),
    )
}

pub async fn create_key(shared: &Arc<Shared>, call: Call, t: String, a: String) -> Answer {
    let body: NewKeyBody = request::json(&call.body)?;
    let now = now_unix();
    let expires_at = match (&body.expires_at, &body.expires_in) {
        (Some(_), Some(_)) => {
            return Err(AdminError::BadRequest(
                "body: give expires_at or expires_in, not both".into(),
            ))
        }
        (Some(d), None) => Some(date("expires_at", d)?),
        (None, Some(d)) => Some(date_in("expires_in", now, d)?),
        (None, None) => None,
    };
    if expires_at.is_some_and(|e| e <= now) {
        return Err(AdminError::BadRequest(
            "body.expires_at: the date is in the past".into(),
        ));
    }
    let (row, full) = shared
        .store(move |s| Ok(s.create_key(&call.actor, &t, &a, &body.name, expires_at)?))
        .await?;
    json(
        201,
        &views::KeyWithSecret {
            meta: views::key(&row, now),
            key: &full,
        },
    )
}

pub async fn get_key(shared: &Arc<Shared>, id: String) -> Answer {
    let row = shared.store(move |s| Ok(s.get_key(&id)?)).await?;
    json(200, &views::key(&row, now_unix()))
}

pub async fn revoke_key(shared: &Arc<Shared>, call: Call, id: String) -> Answer {
    let row = shared
        .store(move |s| Ok(s.revoke_key(&call.actor, &id)?))
        .await?;
    json(200, &views::key(&row, now_unix()))
}

pub async fn rotate_key(shared: &Arc<Shared>, call: Call, id: String) -> Answer {
    let body: Rotate = request::json(&call.body)?;
    let overlap = duration(
        "overlap",
        body.overlap.as_deref().unwrap_or(DEFAULT_OVERLAP),
    )?;
    let (new, full, old) = shared
        .store(move |s| Ok(s.rotate_key(&call.actor, &id, overlap)?))
        .await?;
    let now = now_unix();
    json(
        201,
        &serde_json::json!({
            "new": views::KeyWithSecret { meta: views::key(&new, now), key: &full },
            "old": views::key(&old, now),
        }),
    )
}
