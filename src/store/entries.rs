//! Upstreams, routes, providers and models made through the admin API: one row per entry, its
//! definition the JSON of its TOML table. A provider's literal secrets are not in it: they are
//! sealed apart (`sealed`, with `[store] secret_key`), as tenants' provider keys are. The store
//! only keeps the rows; the admin API checks an entry with the configuration's compiler before
//! it is written, and every worker compiles the rows when the generation moves (`snapshot`).

use super::{now, Actor, Change, Result, Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::json;

/// One stored entry.
#[derive(Clone, PartialEq)]
pub struct EntryRow {
    /// `upstreams`, `routes`, `providers` or `models`.
    pub section: String,
    pub name: String,
    /// The table in JSON, without the secrets that are sealed.
    pub definition: serde_json::Value,
    /// A JSON object of the provider's literal secret fields, sealed; never shown.
    pub sealed: Option<Vec<u8>>,
    pub updated_at: i64,
    /// Who made the last change.
    pub updated_by: String,
}

impl std::fmt::Debug for EntryRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryRow")
            .field("section", &self.section)
            .field("name", &self.name)
            .field("definition", &self.definition)
            .field("sealed", &self.sealed.as_ref().map(|_| "<redacted>"))
            .field("updated_at", &self.updated_at)
            .field("updated_by", &self.updated_by)
            .finish()
    }
}

/// An entry to write.
pub struct NewEntry<'a> {
    pub section: &'a str,
    pub name: &'a str,
    pub definition: &'a serde_json::Value,
    pub sealed: Option<&'a [u8]>,
}

const COLS: &str = "section, name, definition, sealed, updated_at, updated_by";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EntryRow> {
    let text: String = r.get(2)?;
    Ok(EntryRow {
        section: r.get(0)?,
        name: r.get(1)?,
        definition: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        sealed: r.get(3)?,
        updated_at: r.get(4)?,
        updated_by: r.get(5)?,
    })
}

/// The audit action of a change to `section` (`"route.create"`...).
fn action(section: &str, verb: &str) -> &'static str {
    match (section, verb) {
        ("upstreams", "create") => "upstream.create",
        ("upstreams", "update") => "upstream.update",
        ("upstreams", _) => "upstream.delete",
        ("routes", "create") => "route.create",
        ("routes", "update") => "route.update",
        ("routes", _) => "route.delete",
        ("providers", "create") => "provider.create",
        ("providers", "update") => "provider.update",
        ("providers", _) => "provider.delete",
        (_, "create") => "model.create",
        (_, "update") => "model.update",
        _ => "model.delete",
    }
}

/// The audit target: `route:orders`.
fn target(section: &str, name: &str) -> String {
    format!("{}:{name}", section.trim_end_matches('s'))
}

fn exists(conn: &Connection, section: &str, name: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM config_entries WHERE section = ?1 AND name = ?2",
            params![section, name],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// A name the admin API can put in a path: model names have dots (`gpt-4.1`), so more is
/// allowed than for tenants.
fn check_entry_name(section: &str, name: &str) -> Result<()> {
    let ok = (1..=128).contains(&name.len())
        && !name.starts_with('.')
        && (name.bytes()).all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        return Ok(());
    }
    Err(StoreError::Invalid(format!(
        "name: {name:?} is not a {} name; use 1 to 128 of A-Z, a-z, 0-9, '-', '_' and '.'",
        section.trim_end_matches('s')
    )))
}

impl Store {
    /// Every stored entry, by section then name.
    pub fn entries(&self) -> Result<Vec<EntryRow>> {
        super::all(&self.conn, COLS, "config_entries", "section, name", row)
    }

    /// Writes an entry: a new one when `create` (an existing name is a conflict), else a
    /// replacement of one that exists (a missing one is a 404). The audit row names the entry,
    /// never its definition (a header may hold a secret).
    pub fn put_entry(&self, actor: &Actor, e: NewEntry<'_>, create: bool) -> Result<EntryRow> {
        check_entry_name(e.section, e.name)?;
        self.mutate(actor, |tx| {
            let found = exists(tx, e.section, e.name)?;
            let what = e.section.trim_end_matches('s');
            if create && found {
                return Err(StoreError::Conflict(format!(
                    "{what} {:?} exists; PUT /admin/{}/{} replaces it",
                    e.name, e.section, e.name
                )));
            }
            if !create && !found {
                return Err(StoreError::NotFound(format!(
                    "no {what} named {:?}",
                    e.name
                )));
            }
            let at = now();
            tx.execute(
                "INSERT OR REPLACE INTO config_entries (section, name, definition, sealed,
                 updated_at, updated_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    e.section,
                    e.name,
                    e.definition.to_string(),
                    e.sealed,
                    at,
                    actor.name
                ],
            )?;
            let verb = if create { "create" } else { "update" };
            let change = Change::new(
                action(e.section, verb),
                target(e.section, e.name),
                json!({}),
            );
            let row = EntryRow {
                section: e.section.to_string(),
                name: e.name.to_string(),
                definition: e.definition.clone(),
                sealed: e.sealed.map(<[u8]>::to_vec),
                updated_at: at,
                updated_by: actor.name.clone(),
            };
            Ok((row, Some(change)))
        })
    }

    /// Deletes an entry; a missing one is a 404.
    pub fn delete_entry(&self, actor: &Actor, section: &str, name: &str) -> Result<()> {
        self.mutate(actor, |tx| {
            let n = tx.execute(
                "DELETE FROM config_entries WHERE section = ?1 AND name = ?2",
                params![section, name],
            )?;
            if n == 0 {
                let what = section.trim_end_matches('s');
                return Err(StoreError::NotFound(format!("no {what} named {name:?}")));
            }
            let change = Change::new(action(section, "delete"), target(section, name), json!({}));
            Ok(((), Some(change)))
        })
    }
}
