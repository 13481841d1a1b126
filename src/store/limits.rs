//! Tenants' plans and the limits attached to tenants and apps. Plan and limit names are
//! checked against the configuration by the caller (the admin API): the store keeps names, so
//! a reload that drops a limit leaves the rows, which then simply match nothing.

use super::rows::{self, AttachmentRow, TenantRow};
use super::tenants::{app_target, find_app, find_tenant, refuse_config, tenant_target};
use super::{now, Actor, Change, Result, Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::json;

/// An attachment's own numbers; `None` keeps the limit's.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Override {
    pub rate: Option<f64>,
    pub burst: Option<f64>,
}

fn owner_target(tenant: &str, app: Option<&str>) -> String {
    match app {
        Some(a) => app_target(tenant, a),
        None => tenant_target(tenant),
    }
}

/// Checks the owner exists: the tenant, and the app when one is named.
fn find_owner(conn: &Connection, tenant: &str, app: Option<&str>) -> Result<()> {
    match app {
        Some(a) => find_app(conn, tenant, a).map(|_| ()),
        None => find_tenant(conn, tenant).map(|_| ()),
    }
}

fn find_attachment(
    conn: &Connection,
    tenant: &str,
    app: Option<&str>,
    limit: &str,
) -> Result<Option<AttachmentRow>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {} FROM limit_attachments
                 WHERE tenant = ?1 AND app IS ?2 AND limit_name = ?3",
                rows::ATTACHMENT_COLS
            ),
            params![tenant, app, limit],
            rows::attachment,
        )
        .optional()?)
}

impl Store {
    /// Puts a tenant on `plan`, or on none. A configured tenant's plan is the configuration's.
    pub fn set_plan(&self, actor: &Actor, tenant: &str, plan: Option<&str>) -> Result<TenantRow> {
        self.mutate(actor, |tx| {
            let old = find_tenant(tx, tenant)?;
            refuse_config(old.source, format!("tenant {tenant:?}"))?;
            if old.plan.as_deref() == plan {
                return Ok((old, None));
            }
            tx.execute(
                "UPDATE tenants SET plan = ?2 WHERE name = ?1",
                params![tenant, plan],
            )?;
            let action = if plan.is_some() {
                "plan.set"
            } else {
                "plan.clear"
            };
            let change = Change::new(
                action,
                tenant_target(tenant),
                json!({"plan": {"from": old.plan, "to": plan}}),
            );
            Ok((find_tenant(tx, tenant)?, Some(change)))
        })
    }

    /// Attaches `limit` to the tenant (`app` None) or to one app, with `over`'s numbers; an
    /// existing attachment is replaced. Allowed on configured tenants and apps too: overrides
    /// per tenant are what attachments are for.
    pub fn attach_limit(
        &self,
        actor: &Actor,
        tenant: &str,
        app: Option<&str>,
        limit: &str,
        over: Override,
    ) -> Result<AttachmentRow> {
        for (field, v) in [("rate", over.rate), ("burst", over.burst)] {
            if v.is_some_and(|v| !(v.is_finite() && v > 0.0)) {
                return Err(StoreError::Invalid(format!(
                    "body.{field}: must be a number above 0"
                )));
            }
        }
        self.mutate(actor, |tx| {
            find_owner(tx, tenant, app)?;
            let old = find_attachment(tx, tenant, app, limit)?;
            if let Some(o) = old
                .as_ref()
                .filter(|o| o.rate == over.rate && o.burst == over.burst)
            {
                return Ok((o.clone(), None));
            }
            tx.execute(
                "DELETE FROM limit_attachments WHERE tenant = ?1 AND app IS ?2 AND limit_name = ?3",
                params![tenant, app, limit],
            )?;
            tx.execute(
                "INSERT INTO limit_attachments (tenant, app, limit_name, rate, burst, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![tenant, app, limit, over.rate, over.burst, now()],
            )?;
            let row = find_attachment(tx, tenant, app, limit)?
                .ok_or_else(|| StoreError::Internal("the attachment was not written".into()))?;
            let change = Change::new(
                "limit.attach",
                owner_target(tenant, app),
                json!({
                    "limit": limit,
                    "from": old.map(|o| json!({"rate": o.rate, "burst": o.burst})),
                    "to": {"rate": over.rate, "burst": over.burst},
                }),
            );
            Ok((row, Some(change)))
        })
    }

    pub fn detach_limit(
        &self,
        actor: &Actor,
        tenant: &str,
        app: Option<&str>,
        limit: &str,
    ) -> Result<()> {
        self.mutate(actor, |tx| {
            find_owner(tx, tenant, app)?;
            let target = owner_target(tenant, app);
            let Some(old) = find_attachment(tx, tenant, app, limit)? else {
                let owner = target.replace(':', " ");
                return Err(StoreError::NotFound(format!(
                    "limit {limit:?} is not attached to {owner}"
                )));
            };
            tx.execute(
                "DELETE FROM limit_attachments WHERE tenant = ?1 AND app IS ?2 AND limit_name = ?3",
                params![tenant, app, limit],
            )?;
            let change = Change::new(
                "limit.detach",
                target,
                json!({"limit": limit, "rate": old.rate, "burst": old.burst}),
            );
            Ok(((), Some(change)))
        })
    }

    /// The limits attached to the tenant itself (`app` None) or to one app.
    pub fn list_attachments(&self, tenant: &str, app: Option<&str>) -> Result<Vec<AttachmentRow>> {
        find_owner(&self.conn, tenant, app)?;
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} FROM limit_attachments WHERE tenant = ?1 AND app IS ?2
             ORDER BY limit_name",
            rows::ATTACHMENT_COLS
        ))?;
        let out = stmt
            .query_map(params![tenant, app], rows::attachment)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(out)
    }

    /// Writes an audit row for an action that changes nothing in the store (a bucket reset),
    /// without moving the generation.
    pub fn audit_only(
        &self,
        actor: &Actor,
        action: &'static str,
        target: String,
        detail: serde_json::Value,
    ) -> Result<()> {
        super::audit::record(&self.conn, actor, &Change::new(action, target, detail))
    }
}
