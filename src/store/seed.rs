//! The declarative seed: tenants, apps, keys and subscriptions written in TOML. The
//! configuration wins over the admin API for the entries it declares, and takes back only what
//! it wrote: admin rows are never changed or removed here.

use super::keys::key_target;
use super::tenants::{app_target, tenant_target};
use super::{now, rows, Actor, Change, Result, Store};
use crate::config::TenantSeed;
use rusqlite::{params, Transaction};
use serde_json::json;
use std::collections::HashSet;

/// What one application of the seed did, for its audit row.
#[derive(Default)]
struct Report {
    changed: Vec<String>,
    removed: Vec<String>,
    /// Configured entries no longer declared but still holding admin rows: kept, as admin ones.
    kept: Vec<String>,
}

impl Report {
    fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.removed.is_empty() && self.kept.is_empty()
    }
}

fn sub_target(tenant: &str, app: &str, api: &str) -> String {
    format!("subscription:{tenant}/{app}/{api}")
}

impl Store {
    /// Writes the seed in one transaction: upserts what it declares (as `source = config`,
    /// overwriting admin edits of the same entries), removes configured rows it no longer
    /// declares, and audits one `seed.apply` row, only when something changed.
    ///
    /// A configured tenant or app that is no longer declared but still holds admin-made rows
    /// (apps, keys, subscriptions, credentials) is kept and handed to the admin API rather
    /// than deleted with them; a warning says so.
    pub fn apply_seed(&self, tenants: &[TenantSeed]) -> Result<()> {
        self.mutate(&Actor::config(), |tx| {
            let mut report = Report::default();
            upsert(tx, tenants, &mut report)?;
            remove_undeclared(tx, tenants, &mut report)?;
            if report.is_empty() {
                return Ok(((), None));
            }
            for k in &report.kept {
                tracing::warn!(
                    "store: {k} is no longer in the configuration but holds entries made with \
                     the admin API; it is kept as an admin entry (delete it there if unwanted)"
                );
            }
            let change = Change::new(
                "seed.apply",
                "config".into(),
                json!({"changed": report.changed, "removed": report.removed, "kept": report.kept}),
            );
            Ok(((), Some(change)))
        })
    }
}

fn upsert(tx: &Transaction<'_>, tenants: &[TenantSeed], report: &mut Report) -> Result<()> {
    let at = now();
    for t in tenants {
        let n = tx.execute(
            "INSERT INTO tenants (name, description, plan, source, created_at)
             VALUES (?1, ?2, ?3, 'config', ?4)
             ON CONFLICT (name) DO UPDATE SET description = excluded.description,
               plan = excluded.plan, source = 'config'
             WHERE description IS NOT excluded.description OR plan IS NOT excluded.plan
               OR source IS NOT 'config'",
            params![t.name, t.description, t.plan, at],
        )?;
        if n > 0 {
            report.changed.push(tenant_target(&t.name));
        }
        for a in &t.apps {
            let n = tx.execute(
                "INSERT INTO apps (tenant, name, description, models, source, created_at)
                 VALUES (?1, ?2, ?3, ?4, 'config', ?5)
                 ON CONFLICT (tenant, name) DO UPDATE SET description = excluded.description,
                   models = excluded.models, source = 'config'
                 WHERE description IS NOT excluded.description
                   OR models IS NOT excluded.models OR source IS NOT 'config'",
                params![
                    t.name,
                    a.name,
                    a.description,
                    rows::models_json(a.models.as_deref()),
                    at
                ],
            )?;
            if n > 0 {
                report.changed.push(app_target(&t.name, &a.name));
            }
            for k in &a.keys {
                let n = tx.execute(
                    "INSERT INTO api_keys (public_id, tenant, app, name, secret_hash, created_at,
                       expires_at, revoked_at, source)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, 'config')
                     ON CONFLICT (public_id) DO UPDATE SET tenant = excluded.tenant,
                       app = excluded.app, name = excluded.name,
                       secret_hash = excluded.secret_hash, expires_at = excluded.expires_at,
                       revoked_at = NULL, source = 'config'
                     WHERE tenant IS NOT excluded.tenant OR app IS NOT excluded.app
                       OR name IS NOT excluded.name OR secret_hash IS NOT excluded.secret_hash
                       OR expires_at IS NOT excluded.expires_at OR revoked_at IS NOT NULL
                       OR source IS NOT 'config'",
                    params![
                        k.public_id,
                        t.name,
                        a.name,
                        k.name,
                        &k.hash[..],
                        at,
                        k.expires_at
                    ],
                )?;
                if n > 0 {
                    report.changed.push(key_target(&k.public_id));
                }
            }
            for api in &a.subscriptions {
                let n = tx.execute(
                    "INSERT INTO subscriptions (tenant, app, api, state, reason, created_at,
                       updated_at, source)
                     VALUES (?1, ?2, ?3, 'active', NULL, ?4, ?4, 'config')
                     ON CONFLICT (tenant, app, api) DO UPDATE SET state = 'active',
                       reason = NULL, updated_at = excluded.updated_at, source = 'config'
                     WHERE state IS NOT 'active' OR reason IS NOT NULL
                       OR source IS NOT 'config'",
                    params![t.name, a.name, api, at],
                )?;
                if n > 0 {
                    report.changed.push(sub_target(&t.name, &a.name, api));
                }
            }
        }
    }
    Ok(())
}

/// Removes configured rows the seed no longer declares, children first.
fn remove_undeclared(
    tx: &Transaction<'_>,
    tenants: &[TenantSeed],
    report: &mut Report,
) -> Result<()> {
    let mut d_tenants = HashSet::new();
    let mut d_apps = HashSet::new();
    let mut d_keys = HashSet::new();
    let mut d_subs = HashSet::new();
    for t in tenants {
        d_tenants.insert(t.name.clone());
        for a in &t.apps {
            d_apps.insert((t.name.clone(), a.name.clone()));
            d_keys.extend(a.keys.iter().map(|k| k.public_id.clone()));
            d_subs.extend(
                a.subscriptions
                    .iter()
                    .map(|s| (t.name.clone(), a.name.clone(), s.clone())),
            );
        }
    }

    let subs: Vec<(i64, String, String, String)> = select(
        tx,
        "SELECT id, tenant, app, api FROM subscriptions WHERE source = 'config'",
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    for (id, tenant, app, api) in subs {
        if !d_subs.contains(&(tenant.clone(), app.clone(), api.clone())) {
            tx.execute("DELETE FROM subscriptions WHERE id = ?1", [id])?;
            report.removed.push(sub_target(&tenant, &app, &api));
        }
    }

    let keys: Vec<String> = select(
        tx,
        "SELECT public_id FROM api_keys WHERE source = 'config'",
        |r| r.get(0),
    )?;
    for id in keys.into_iter().filter(|k| !d_keys.contains(k)) {
        tx.execute("DELETE FROM api_keys WHERE public_id = ?1", [&id])?;
        report.removed.push(key_target(&id));
    }

    let apps: Vec<(String, String)> = select(
        tx,
        "SELECT tenant, name FROM apps WHERE source = 'config'",
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    for (tenant, app) in apps {
        if d_apps.contains(&(tenant.clone(), app.clone())) {
            continue;
        }
        let held: i64 = tx.query_row(
            "SELECT (SELECT count(*) FROM api_keys WHERE tenant = ?1 AND app = ?2)
                  + (SELECT count(*) FROM subscriptions WHERE tenant = ?1 AND app = ?2)
                  + (SELECT count(*) FROM limit_attachments WHERE tenant = ?1 AND app = ?2)",
            [&tenant, &app],
            |r| r.get(0),
        )?;
        if held > 0 {
            tx.execute(
                "UPDATE apps SET source = 'admin' WHERE tenant = ?1 AND name = ?2",
                [&tenant, &app],
            )?;
            report.kept.push(app_target(&tenant, &app));
        } else {
            tx.execute(
                "DELETE FROM apps WHERE tenant = ?1 AND name = ?2",
                [&tenant, &app],
            )?;
            report.removed.push(app_target(&tenant, &app));
        }
    }

    let names: Vec<String> = select(
        tx,
        "SELECT name FROM tenants WHERE source = 'config'",
        |r| r.get(0),
    )?;
    for name in names.into_iter().filter(|n| !d_tenants.contains(n)) {
        let held: i64 = tx.query_row(
            "SELECT (SELECT count(*) FROM apps WHERE tenant = ?1)
                  + (SELECT count(*) FROM tenant_credentials WHERE tenant = ?1)
                  + (SELECT count(*) FROM limit_attachments WHERE tenant = ?1)",
            [&name],
            |r| r.get(0),
        )?;
        if held > 0 {
            tx.execute(
                "UPDATE tenants SET source = 'admin' WHERE name = ?1",
                [&name],
            )?;
            report.kept.push(tenant_target(&name));
        } else {
            tx.execute("DELETE FROM tenants WHERE name = ?1", [&name])?;
            report.removed.push(tenant_target(&name));
        }
    }
    Ok(())
}

fn select<T>(
    tx: &Transaction<'_>,
    sql: &str,
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = tx.prepare(sql)?;
    let out = stmt.query_map([], map)?.collect::<rusqlite::Result<_>>()?;
    Ok(out)
}
