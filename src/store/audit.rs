//! The audit trail: one row per change, written in the change's own transaction.

use super::rows::{self, AuditRow};
use super::{Actor, Change, Result, Store};
use rusqlite::{params, Connection};

/// Which audit rows to read, newest first. `action` matches exactly or as a dotted prefix
/// (`"key"` finds `key.create`, `key.rotate`...); `target` matches exactly (`"tenant:acme"`).
#[derive(Debug, Clone)]
pub struct AuditFilter {
    pub limit: usize,
    pub target: Option<String>,
    pub action: Option<String>,
}

impl Default for AuditFilter {
    fn default() -> Self {
        AuditFilter {
            limit: 100,
            target: None,
            action: None,
        }
    }
}

/// At most this many rows per read, whatever the filter asks.
pub const AUDIT_LIMIT_MAX: usize = 10_000;

pub(crate) fn record(conn: &Connection, actor: &Actor, change: &Change) -> Result<()> {
    conn.execute(
        "INSERT INTO audit (at, actor, remote, action, target, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            crate::base::clock::now_unix_ms(),
            actor.name,
            actor.remote,
            change.action,
            change.target,
            change.detail.to_string()
        ],
    )?;
    Ok(())
}

impl Store {
    pub fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>> {
        let limit = filter.limit.min(AUDIT_LIMIT_MAX) as i64;
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} FROM audit
             WHERE (?1 IS NULL OR target = ?1)
               AND (?2 IS NULL OR action = ?2 OR substr(action, 1, length(?2) + 1) = ?2 || '.')
             ORDER BY id DESC LIMIT ?3",
            rows::AUDIT_COLS
        ))?;
        let out = stmt
            .query_map(params![filter.target, filter.action, limit], rows::audit)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(out)
    }
}
