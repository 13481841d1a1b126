//! Prompt APIs managed through the admin API: one row per version, the definition kept as JSON
//! in the shape of a `[[prompts]]` entry. The store only keeps them; the admin API checks a
//! definition with the configuration's own compiler before it is written, and every worker
//! compiles the rows into its route table when the generation moves (see `snapshot`).

use super::{now, Actor, Change, Result, Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::json;

/// One version of a stored prompt API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptRow {
    pub name: String,
    pub version: u32,
    /// The definition as JSON (a `[[prompts]]` entry without `name`).
    pub definition: serde_json::Value,
    pub created_at: i64,
}

const COLS: &str = "name, version, definition, created_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PromptRow> {
    let text: String = r.get(2)?;
    Ok(PromptRow {
        name: r.get(0)?,
        version: r.get(1)?,
        definition: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        created_at: r.get(3)?,
    })
}

fn latest(conn: &Connection, name: &str) -> Result<Option<u32>> {
    Ok(conn
        .query_row(
            "SELECT max(version) FROM prompts WHERE name = ?1",
            [name],
            |r| r.get::<_, Option<u32>>(0),
        )
        .optional()?
        .flatten())
}

fn target(name: &str) -> String {
    format!("prompt:{name}")
}

impl Store {
    /// Every stored version, by name then version.
    pub fn prompts(&self) -> Result<Vec<PromptRow>> {
        super::all(&self.conn, COLS, "prompts", "name, version", row)
    }

    /// Stores version 1 of a new prompt API; a name already stored is a conflict.
    pub fn create_prompt(
        &self,
        actor: &Actor,
        name: &str,
        definition: &serde_json::Value,
    ) -> Result<PromptRow> {
        super::check_name("prompt", name)?;
        self.mutate(actor, |tx| {
            if latest(tx, name)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "prompt {name:?} exists; PUT /admin/prompts/{name} adds a version"
                )));
            }
            let row = insert(tx, name, 1, definition)?;
            let change = Change::new("prompt.create", target(name), json!({"version": 1}));
            Ok((row, Some(change)))
        })
    }

    /// Stores the next version of an existing prompt API; the earlier ones stay.
    pub fn add_prompt_version(
        &self,
        actor: &Actor,
        name: &str,
        definition: &serde_json::Value,
    ) -> Result<PromptRow> {
        self.mutate(actor, |tx| {
            let Some(last) = latest(tx, name)? else {
                return Err(StoreError::NotFound(format!("no prompt named {name:?}")));
            };
            let row = insert(tx, name, last + 1, definition)?;
            let change = Change::new(
                "prompt.version",
                target(name),
                json!({"version": row.version}),
            );
            Ok((row, Some(change)))
        })
    }

    /// Deletes one version, or all of them; deleting nothing is a 404.
    pub fn delete_prompt(&self, actor: &Actor, name: &str, version: Option<u32>) -> Result<usize> {
        self.mutate(actor, |tx| {
            let n = match version {
                Some(v) => tx.execute(
                    "DELETE FROM prompts WHERE name = ?1 AND version = ?2",
                    params![name, v],
                )?,
                None => tx.execute("DELETE FROM prompts WHERE name = ?1", [name])?,
            };
            if n == 0 {
                let what = match version {
                    Some(v) => format!("prompt {name:?} has no version {v}"),
                    None => format!("no prompt named {name:?}"),
                };
                return Err(StoreError::NotFound(what));
            }
            let change = Change::new(
                "prompt.delete",
                target(name),
                json!({"version": version, "deleted": n}),
            );
            Ok((n, Some(change)))
        })
    }
}

fn insert(
    tx: &Connection,
    name: &str,
    version: u32,
    definition: &serde_json::Value,
) -> Result<PromptRow> {
    let created_at = now();
    tx.execute(
        "INSERT INTO prompts (name, version, definition, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![name, version, definition.to_string(), created_at],
    )?;
    Ok(PromptRow {
        name: name.to_string(),
        version,
        definition: definition.clone(),
        created_at,
    })
}
