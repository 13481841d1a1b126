//! API keys: made here (the full key is returned once and never stored), revoked, rotated.

use super::rows::{self, KeyRow};
use super::tenants::{find_app, refuse_config};
use super::{check_text, now, Actor, Change, Result, Store, StoreError};
use crate::base::api_key;
use crate::base::time::{MAX_DURATION, MAX_UNIX};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::json;

const KEY_NAME_MAX: usize = 200;

pub(crate) fn find_key(conn: &Connection, id: &str) -> Result<KeyRow> {
    conn.query_row(
        &format!(
            "SELECT {} FROM api_keys WHERE public_id = ?1",
            rows::KEY_COLS
        ),
        [id],
        rows::key,
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("no key {id:?}")))
}

pub(crate) fn key_target(id: &str) -> String {
    format!("key:{id}")
}

/// Makes a key and inserts it as an admin row; returns the row and the full key.
fn insert_new(
    conn: &Connection,
    tenant: &str,
    app: &str,
    name: &str,
    expires_at: Option<i64>,
) -> Result<(KeyRow, String)> {
    // A public id collision is about one in 36^12 per key; retrying once more is cheap.
    for _ in 0..3 {
        let k = api_key::generate()
            .map_err(|e| StoreError::Internal(format!("cannot read random bytes: {e}")))?;
        let n = conn.execute(
            "INSERT INTO api_keys
               (public_id, tenant, app, name, secret_hash, created_at, expires_at, source)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'admin') ON CONFLICT (public_id) DO NOTHING",
            params![
                k.public_id,
                tenant,
                app,
                name,
                &k.hash[..],
                now(),
                expires_at
            ],
        )?;
        if n == 1 {
            return Ok((find_key(conn, &k.public_id)?, k.full));
        }
    }
    Err(StoreError::Internal(
        "could not find an unused key id".into(),
    ))
}

impl Store {
    /// The keys of an app, newest first.
    pub fn list_keys(&self, tenant: &str, app: &str) -> Result<Vec<KeyRow>> {
        find_app(&self.conn, tenant, app)?;
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} FROM api_keys WHERE tenant = ?1 AND app = ?2
             ORDER BY created_at DESC, public_id",
            rows::KEY_COLS
        ))?;
        let keys = stmt
            .query_map([tenant, app], rows::key)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(keys)
    }

    pub fn get_key(&self, id: &str) -> Result<KeyRow> {
        find_key(&self.conn, id)
    }

    /// Makes a key for an app (a configured app too: the key is an admin row). The full key
    /// is in the answer only; the store keeps its hash.
    pub fn create_key(
        &self,
        actor: &Actor,
        tenant: &str,
        app: &str,
        name: &str,
        expires_at: Option<i64>,
    ) -> Result<(KeyRow, String)> {
        check_text("key name", name, KEY_NAME_MAX)?;
        if expires_at.is_some_and(|e| e > MAX_UNIX) {
            return Err(StoreError::Invalid(
                "the expiry is after the year 9999".into(),
            ));
        }
        self.mutate(actor, |tx| {
            find_app(tx, tenant, app)?;
            let (row, full) = insert_new(tx, tenant, app, name, expires_at)?;
            let change = Change::new(
                "key.create",
                key_target(&row.public_id),
                json!({"tenant": tenant, "app": app, "name": name, "expires_at": expires_at}),
            );
            Ok(((row, full), Some(change)))
        })
    }

    /// Revokes an admin key at once; a revoked key stays listed.
    pub fn revoke_key(&self, actor: &Actor, id: &str) -> Result<KeyRow> {
        self.mutate(actor, |tx| {
            let old = find_key(tx, id)?;
            refuse_config(old.source, format!("key {id}"))?;
            if old.revoked_at.is_some() {
                return Err(StoreError::Conflict(format!("key {id} is already revoked")));
            }
            tx.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE public_id = ?1",
                params![id, now()],
            )?;
            let change = Change::new(
                "key.revoke",
                key_target(id),
                json!({"tenant": old.tenant, "app": old.app}),
            );
            Ok((find_key(tx, id)?, Some(change)))
        })
    }

    /// Makes a new key for the same app and name, and lets the old one live `overlap_secs`
    /// more (or less, if it expired sooner anyway), so clients can switch without an outage.
    /// Returns (new key, its full text, old key).
    pub fn rotate_key(
        &self,
        actor: &Actor,
        id: &str,
        overlap_secs: i64,
    ) -> Result<(KeyRow, String, KeyRow)> {
        if !(0..=MAX_DURATION.as_secs() as i64).contains(&overlap_secs) {
            return Err(StoreError::Invalid(
                "the overlap must be between 0 and 100 years".into(),
            ));
        }
        self.mutate(actor, |tx| {
            let old = find_key(tx, id)?;
            refuse_config(old.source, format!("key {id}"))?;
            let at = now();
            if !old.usable_at(at) {
                return Err(StoreError::Conflict(format!(
                    "key {id} is already {}; create a new key instead",
                    if old.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "expired"
                    }
                )));
            }
            let until = at.saturating_add(overlap_secs);
            let until = old.expires_at.map_or(until, |e| e.min(until));
            tx.execute(
                "UPDATE api_keys SET expires_at = ?2 WHERE public_id = ?1",
                params![id, until],
            )?;
            let (new, full) = insert_new(tx, &old.tenant, &old.app, &old.name, None)?;
            let change = Change::new(
                "key.rotate",
                key_target(id),
                json!({
                    "tenant": old.tenant, "app": old.app,
                    "new_key": new.public_id, "old_expires_at": until,
                }),
            );
            Ok(((new, full, find_key(tx, id)?), Some(change)))
        })
    }
}
