//! Tenants and their apps.

use super::rows::{self, AppRow, TenantRow};
use super::{check_name, check_text, now, Actor, Change, Origin, Result, Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::json;

pub(crate) const DESCRIPTION_MAX: usize = 1024;

/// A partial update of an app: `None` leaves a field as it is. `models: Some(None)` lifts the
/// allow-list (the app may use every model its tenant sees).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppPatch {
    pub description: Option<String>,
    pub models: Option<Option<Vec<String>>>,
}

pub(crate) fn find_tenant(conn: &Connection, name: &str) -> Result<TenantRow> {
    conn.query_row(
        &format!("SELECT {} FROM tenants WHERE name = ?1", rows::TENANT_COLS),
        [name],
        rows::tenant,
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("no tenant {name:?}")))
}

pub(crate) fn find_app(conn: &Connection, tenant: &str, name: &str) -> Result<AppRow> {
    find_tenant(conn, tenant)?;
    conn.query_row(
        &format!(
            "SELECT {} FROM apps WHERE tenant = ?1 AND name = ?2",
            rows::APP_COLS
        ),
        [tenant, name],
        rows::app,
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("tenant {tenant:?} has no app {name:?}")))
}

pub(crate) fn refuse_config(source: Origin, what: String) -> Result<()> {
    match source {
        Origin::Config => Err(StoreError::ManagedByConfig(format!(
            "{what} is declared in the configuration; change it there and reload"
        ))),
        Origin::Admin => Ok(()),
    }
}

pub(crate) fn tenant_target(name: &str) -> String {
    format!("tenant:{name}")
}

pub(crate) fn app_target(tenant: &str, name: &str) -> String {
    format!("app:{tenant}/{name}")
}

impl Store {
    pub fn list_tenants(&self) -> Result<Vec<TenantRow>> {
        super::all(
            &self.conn,
            rows::TENANT_COLS,
            "tenants",
            "name",
            rows::tenant,
        )
    }

    pub fn get_tenant(&self, name: &str) -> Result<TenantRow> {
        find_tenant(&self.conn, name)
    }

    pub fn create_tenant(&self, actor: &Actor, name: &str, description: &str) -> Result<TenantRow> {
        check_name("tenant", name)?;
        check_text("description", description, DESCRIPTION_MAX)?;
        self.mutate(actor, |tx| {
            let created_at = now();
            let n = tx.execute(
                "INSERT INTO tenants (name, description, source, created_at)
                 VALUES (?1, ?2, 'admin', ?3) ON CONFLICT (name) DO NOTHING",
                params![name, description, created_at],
            )?;
            if n == 0 {
                return Err(StoreError::Conflict(format!(
                    "tenant {name:?} already exists"
                )));
            }
            let row = find_tenant(tx, name)?;
            let change = Change::new(
                "tenant.create",
                tenant_target(name),
                json!({"description": description}),
            );
            Ok((row, Some(change)))
        })
    }

    pub fn update_tenant(&self, actor: &Actor, name: &str, description: &str) -> Result<TenantRow> {
        check_text("description", description, DESCRIPTION_MAX)?;
        self.mutate(actor, |tx| {
            let old = find_tenant(tx, name)?;
            refuse_config(old.source, format!("tenant {name:?}"))?;
            tx.execute(
                "UPDATE tenants SET description = ?2 WHERE name = ?1",
                params![name, description],
            )?;
            let change = Change::new(
                "tenant.update",
                tenant_target(name),
                json!({"description": {"from": old.description, "to": description}}),
            );
            Ok((find_tenant(tx, name)?, Some(change)))
        })
    }

    /// Deletes the tenant with its apps, keys, subscriptions and credentials.
    pub fn delete_tenant(&self, actor: &Actor, name: &str) -> Result<()> {
        self.mutate(actor, |tx| {
            let old = find_tenant(tx, name)?;
            refuse_config(old.source, format!("tenant {name:?}"))?;
            let apps: i64 =
                tx.query_row("SELECT count(*) FROM apps WHERE tenant = ?1", [name], |r| {
                    r.get(0)
                })?;
            tx.execute("DELETE FROM tenants WHERE name = ?1", [name])?;
            let change = Change::new(
                "tenant.delete",
                tenant_target(name),
                json!({"apps_deleted": apps}),
            );
            Ok(((), Some(change)))
        })
    }

    /// The apps of a tenant (`NotFound` when the tenant does not exist).
    pub fn list_apps(&self, tenant: &str) -> Result<Vec<AppRow>> {
        find_tenant(&self.conn, tenant)?;
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} FROM apps WHERE tenant = ?1 ORDER BY name",
            rows::APP_COLS
        ))?;
        let apps = stmt
            .query_map([tenant], rows::app)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(apps)
    }

    pub fn get_app(&self, tenant: &str, name: &str) -> Result<AppRow> {
        find_app(&self.conn, tenant, name)
    }

    /// Creates an admin app; the tenant may be a configured one.
    pub fn create_app(
        &self,
        actor: &Actor,
        tenant: &str,
        name: &str,
        description: &str,
        models: Option<Vec<String>>,
    ) -> Result<AppRow> {
        check_name("app", name)?;
        check_text("description", description, DESCRIPTION_MAX)?;
        self.mutate(actor, |tx| {
            find_tenant(tx, tenant)?;
            let n = tx.execute(
                "INSERT INTO apps (tenant, name, description, models, source, created_at)
                 VALUES (?1, ?2, ?3, ?4, 'admin', ?5) ON CONFLICT (tenant, name) DO NOTHING",
                params![
                    tenant,
                    name,
                    description,
                    rows::models_json(models.as_deref()),
                    now()
                ],
            )?;
            if n == 0 {
                return Err(StoreError::Conflict(format!(
                    "tenant {tenant:?} already has an app {name:?}"
                )));
            }
            let change = Change::new(
                "app.create",
                app_target(tenant, name),
                json!({"description": description, "models": models}),
            );
            Ok((find_app(tx, tenant, name)?, Some(change)))
        })
    }

    pub fn update_app(
        &self,
        actor: &Actor,
        tenant: &str,
        name: &str,
        patch: &AppPatch,
    ) -> Result<AppRow> {
        if let Some(d) = &patch.description {
            check_text("description", d, DESCRIPTION_MAX)?;
        }
        self.mutate(actor, |tx| {
            let old = find_app(tx, tenant, name)?;
            refuse_config(old.source, format!("app {tenant}/{name}"))?;
            let description = patch.description.as_deref().unwrap_or(&old.description);
            let models = match &patch.models {
                Some(m) => m.as_deref(),
                None => old.models.as_deref(),
            };
            tx.execute(
                "UPDATE apps SET description = ?3, models = ?4 WHERE tenant = ?1 AND name = ?2",
                params![tenant, name, description, rows::models_json(models)],
            )?;
            let change = Change::new(
                "app.update",
                app_target(tenant, name),
                json!({
                    "description": {"from": old.description, "to": description},
                    "models": {"from": old.models, "to": models},
                }),
            );
            Ok((find_app(tx, tenant, name)?, Some(change)))
        })
    }

    /// Deletes the app with its keys and subscriptions.
    pub fn delete_app(&self, actor: &Actor, tenant: &str, name: &str) -> Result<()> {
        self.mutate(actor, |tx| {
            let old = find_app(tx, tenant, name)?;
            refuse_config(old.source, format!("app {tenant}/{name}"))?;
            tx.execute(
                "DELETE FROM apps WHERE tenant = ?1 AND name = ?2",
                [tenant, name],
            )?;
            Ok((
                (),
                Some(Change::new(
                    "app.delete",
                    app_target(tenant, name),
                    json!({}),
                )),
            ))
        })
    }
}
