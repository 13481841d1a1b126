//! `/admin/users`: operators manage every user; tenant admins the members of their tenant
//! (who reaches which user is decided in `scope`, and what role and tenant a tenant admin may
//! give in `scope::member_of`). Passwords are hashed here, on the blocking pool, before the
//! store sees them; no answer ever holds a password or its hash.

use super::error::AdminError;
use super::password;
use super::request::{self, only_params, param};
use super::scope;
use super::shared::{json, no_content, Answer, Call, Shared};
use crate::store::{NewUser, Role, UserPatch};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    name: String,
    #[serde(default)]
    email: String,
    role: Role,
    tenant: Option<String>,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Update {
    email: Option<String>,
    role: Option<Role>,
    tenant: Option<String>,
    disabled: Option<bool>,
    password: Option<String>,
}

/// `GET /admin/users[?tenant=]`: a tenant admin's list is forced to their tenant.
pub async fn list(shared: &Arc<Shared>, call: Call) -> Answer {
    only_params(&call.query, &["tenant"])?;
    let tenant = param(&call.query, "tenant").map(String::from);
    let rows = shared
        .store(move |s| Ok(s.list_users(tenant.as_deref())?))
        .await?;
    json(200, &rows)
}

pub async fn create(shared: &Arc<Shared>, call: Call) -> Answer {
    only_params(&call.query, &["tenant"])?;
    let body: Create = request::json(&call.body)?;
    let tenant = scope::member_of(&call.grant, body.role, body.tenant)?;
    password::check("body.password", &body.password)?;
    let user = NewUser {
        name: body.name,
        email: body.email,
        role: body.role,
        tenant,
        password_hash: password::hash(body.password).await?,
    };
    let row = shared
        .store(move |s| Ok(s.create_user(&call.actor, &user)?))
        .await?;
    json(201, &row)
}

pub async fn get(shared: &Arc<Shared>, name: String) -> Answer {
    let row = shared.store(move |s| Ok(s.get_user(&name)?)).await?;
    json(200, &row)
}

pub async fn update(shared: &Arc<Shared>, call: Call, name: String) -> Answer {
    let body: Update = request::json(&call.body)?;
    let mut patch = UserPatch {
        email: body.email,
        role: body.role,
        disabled: body.disabled,
        ..UserPatch::default()
    };
    if body.role.is_some() || body.tenant.is_some() {
        // A tenant admin's target is in their tenant already; what it becomes must be too.
        let role = body.role.unwrap_or(Role::TenantDeveloper);
        let tenant = scope::member_of(&call.grant, role, body.tenant.clone())?;
        patch.tenant = match (body.role, body.tenant) {
            (Some(Role::Operator), _) => Some(None),
            (_, Some(_)) => Some(tenant),
            _ => None,
        };
    }
    if let Some(p) = body.password {
        password::check("body.password", &p)?;
        patch.password_hash = Some(password::hash(p).await?);
    }
    let row = shared
        .store(move |s| Ok(s.update_user(&call.actor, &name, patch)?))
        .await?;
    json(200, &row)
}

pub async fn delete(shared: &Arc<Shared>, call: Call, name: String) -> Answer {
    if call.who.is_user() && call.who.name == name {
        return Err(AdminError::Conflict(
            "you cannot delete yourself; another admin can".into(),
        ));
    }
    shared
        .store(move |s| Ok(s.delete_user(&call.actor, &name)?))
        .await?;
    no_content()
}
