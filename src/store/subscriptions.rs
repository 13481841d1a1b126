//! Subscriptions of apps to APIs, and their approval state machine:
//!
//! ```text
//! request ──auto──> active ──revoke──> revoked ──request──> (again, through approval)
//!    └──manual──> pending ──approve──> active
//!                    ├──reject──> rejected ──request──> (again)
//!                    └──revoke──> revoked
//! ```
//! Whether the API exists, admits the tenant and takes keys is the admin API's check: the store
//! only knows route names as text.

use super::rows::{self, SubState, SubscriptionRow};
use super::tenants::{find_app, refuse_config};
use super::{check_text, now, Actor, Change, Origin, Result, Store, StoreError};
use crate::config::Approval;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::json;

const REASON_MAX: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubDecision {
    Approve,
    Reject,
    Revoke,
}

impl SubDecision {
    fn action(self) -> &'static str {
        match self {
            SubDecision::Approve => "subscription.approve",
            SubDecision::Reject => "subscription.reject",
            SubDecision::Revoke => "subscription.revoke",
        }
    }
}

/// Which subscriptions to list; `None` fields match anything.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionFilter {
    pub state: Option<SubState>,
    pub tenant: Option<String>,
    pub app: Option<String>,
    pub api: Option<String>,
}

pub(crate) fn find_subscription(conn: &Connection, id: i64) -> Result<SubscriptionRow> {
    conn.query_row(
        &format!("SELECT {} FROM subscriptions WHERE id = ?1", rows::SUB_COLS),
        [id],
        rows::subscription,
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("no subscription {id}")))
}

fn find_by_triple(
    conn: &Connection,
    tenant: &str,
    app: &str,
    api: &str,
) -> Result<Option<SubscriptionRow>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {} FROM subscriptions WHERE tenant = ?1 AND app = ?2 AND api = ?3",
                rows::SUB_COLS
            ),
            [tenant, app, api],
            rows::subscription,
        )
        .optional()?)
}

pub(crate) fn subscription_target(id: i64) -> String {
    format!("subscription:{id}")
}

impl Store {
    pub fn list_subscriptions(&self, filter: &SubscriptionFilter) -> Result<Vec<SubscriptionRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} FROM subscriptions
             WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR tenant = ?2)
               AND (?3 IS NULL OR app = ?3) AND (?4 IS NULL OR api = ?4)
             ORDER BY id",
            rows::SUB_COLS
        ))?;
        let subs = stmt
            .query_map(
                params![filter.state, filter.tenant, filter.app, filter.api],
                rows::subscription,
            )?
            .collect::<rusqlite::Result<_>>()?;
        Ok(subs)
    }

    pub fn get_subscription(&self, id: i64) -> Result<SubscriptionRow> {
        find_subscription(&self.conn, id)
    }

    /// Subscribes an app to an API: active at once when `approval` is auto, else pending. A
    /// rejected or revoked subscription may be requested again, and goes through approval again.
    pub fn request_subscription(
        &self,
        actor: &Actor,
        tenant: &str,
        app: &str,
        api: &str,
        approval: Approval,
    ) -> Result<SubscriptionRow> {
        if api.is_empty() {
            return Err(StoreError::Invalid("the api name is empty".into()));
        }
        let state = match approval {
            Approval::Auto => SubState::Active,
            Approval::Manual => SubState::Pending,
        };
        self.mutate(actor, |tx| {
            find_app(tx, tenant, app)?;
            let at = now();
            let id = match find_by_triple(tx, tenant, app, api)? {
                Some(old) if old.source == Origin::Config => {
                    return Err(StoreError::ManagedByConfig(format!(
                        "app {tenant}/{app} is subscribed to {api} in the configuration"
                    )))
                }
                Some(old) if matches!(old.state, SubState::Active | SubState::Pending) => {
                    return Err(StoreError::Conflict(format!(
                        "app {tenant}/{app} already has a {} subscription to {api} (id {})",
                        old.state.as_str(),
                        old.id
                    )))
                }
                Some(old) => {
                    tx.execute(
                        "UPDATE subscriptions SET state = ?2, reason = NULL, updated_at = ?3
                         WHERE id = ?1",
                        params![old.id, state, at],
                    )?;
                    old.id
                }
                None => {
                    tx.execute(
                        "INSERT INTO subscriptions
                           (tenant, app, api, state, created_at, updated_at, source)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?5, 'admin')",
                        params![tenant, app, api, state, at],
                    )?;
                    tx.last_insert_rowid()
                }
            };
            let change = Change::new(
                "subscription.request",
                subscription_target(id),
                json!({"tenant": tenant, "app": app, "api": api, "state": state}),
            );
            Ok((find_subscription(tx, id)?, Some(change)))
        })
    }

    /// Approves or rejects a pending subscription, or revokes a pending or active one.
    pub fn decide_subscription(
        &self,
        actor: &Actor,
        id: i64,
        decision: SubDecision,
        reason: Option<&str>,
    ) -> Result<SubscriptionRow> {
        if let Some(r) = reason {
            check_text("reason", r, REASON_MAX)?;
        }
        self.mutate(actor, |tx| {
            let old = find_subscription(tx, id)?;
            refuse_config(old.source, format!("subscription {id}"))?;
            let next = match (decision, old.state) {
                (SubDecision::Approve, SubState::Pending) => SubState::Active,
                (SubDecision::Reject, SubState::Pending) => SubState::Rejected,
                (SubDecision::Revoke, SubState::Pending | SubState::Active) => SubState::Revoked,
                (SubDecision::Revoke, s) => {
                    return Err(StoreError::Conflict(format!(
                        "subscription {id} is {}; only a pending or active one can be revoked",
                        s.as_str()
                    )))
                }
                (d, s) => {
                    return Err(StoreError::Conflict(format!(
                        "subscription {id} is {}; only a pending one can be {}",
                        s.as_str(),
                        if d == SubDecision::Approve {
                            "approved"
                        } else {
                            "rejected"
                        }
                    )))
                }
            };
            tx.execute(
                "UPDATE subscriptions SET state = ?2, reason = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, next, reason, now()],
            )?;
            let change = Change::new(
                decision.action(),
                subscription_target(id),
                json!({
                    "tenant": old.tenant, "app": old.app, "api": old.api,
                    "from": old.state, "to": next, "reason": reason,
                }),
            );
            Ok((find_subscription(tx, id)?, Some(change)))
        })
    }
}
