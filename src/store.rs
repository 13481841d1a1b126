//! The control-plane store: tenants, apps, API keys, subscriptions, API lifecycle overrides,
//! tenants' provider credentials, plans and limit attachments, prompt APIs made through the
//! admin API, users of the admin API with their sessions and personal tokens, and the audit
//! trail, in one SQLite file (WAL mode, so the workers read while the
//! admin process writes).
//!
//! Everything here is synchronous: callers run it off the request path (`spawn_blocking`, a
//! refresh task). Every change is one `BEGIN IMMEDIATE` transaction that also writes an audit
//! row and bumps `meta.generation`, which is how the workers notice there is something new to
//! load. Rows carry a `source`: the TOML seed (`apply_seed`) owns the `config` ones and the admin
//! API may not change them; admin rows are never touched by the seed.

mod apis;
mod audit;
mod entries;
mod keys;
mod limits;
pub mod migrations;
mod prompts;
pub mod rows;
mod seed;
mod sessions;
mod subscriptions;
mod tenants;
#[cfg(test)]
mod tests;
mod users;

pub use audit::{AuditFilter, AUDIT_LIMIT_MAX};
pub use entries::{EntryRow, NewEntry};
pub use limits::Override;
pub use prompts::PromptRow;
pub use rows::{
    ApiStateRow, AppRow, AttachmentRow, AuditRow, CredentialRow, KeyRow, Origin, Rows, SubState,
    SubscriptionRow, TenantRow,
};
pub use sessions::{SessionRow, TokenRow, TOKEN_PREFIX};
pub use subscriptions::{SubDecision, SubscriptionFilter};
pub use tenants::AppPatch;
pub use users::{NewUser, Role, UserPatch, UserRow};

use crate::config::valid_name;
use migrations::MigrateError;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file cannot be used at all; `reason` says why in plain words. Callers add that it
    /// is the store ("store: ...").
    #[error("{}: {reason}", path.display())]
    Open { path: PathBuf, reason: String },
    /// The file was deleted or replaced since the gateway started: nothing is read from or
    /// written to it until a restart (see `Store::check_file`).
    #[error("store unavailable: {}: {reason}", path.display())]
    Unavailable { path: PathBuf, reason: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The admin API tried to change an entry declared in the configuration.
    #[error("{0}")]
    ManagedByConfig(String),
    #[error("{0}")]
    Invalid(String),
    /// Something that is nobody's input: the random source failed.
    #[error("{0}")]
    Internal(String),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Who makes a change, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    /// The client address, when the change came over the network.
    pub remote: Option<String>,
}

impl Actor {
    pub fn new(name: impl Into<String>, remote: Option<String>) -> Actor {
        Actor {
            name: name.into(),
            remote,
        }
    }

    /// The configuration seed.
    pub fn config() -> Actor {
        Actor::new("config", None)
    }
}

/// One audit row to write with a change.
pub(crate) struct Change {
    pub action: &'static str,
    pub target: String,
    pub detail: serde_json::Value,
}

impl Change {
    pub fn new(action: &'static str, target: String, detail: serde_json::Value) -> Change {
        Change {
            action,
            target,
            detail,
        }
    }
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The file the connection opened, to notice the path naming another one later.
    id: FileId,
}

/// Which file a path names: its device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

// The store is used by the admin process, the CLI and the directory refresh (in
// `spawn_blocking`); no request touches it.
#[allow(clippy::disallowed_methods)]
fn file_id(path: &Path) -> std::io::Result<FileId> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok(FileId {
        dev: m.dev(),
        ino: m.ino(),
    })
}

/// The file `tollgate run` created or migrated, set in the master before it forks, so every
/// child, a restarted one too, refuses a file that replaced it at the same path.
static PINNED: OnceLock<(PathBuf, FileId)> = OnceLock::new();

const DELETED: &str = "the file was deleted while the gateway runs; keys keep working as last \
    loaded and changes are refused until the file is restored and the gateway restarted \
    (only `tollgate run` makes a new, empty store)";
const REPLACED: &str = "the file was replaced since the gateway started; a store is swapped \
    with the gateway stopped (the -wal file belongs to the old one), so restart it to use the \
    new file";

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) and migrates the file: `tollgate run` does this, once, before
    /// it forks; every other process uses `open`. Fails with `StoreError::Open` saying in plain
    /// words what is wrong: no such directory, not a database, not writable, newer schema.
    pub fn create(path: &Path) -> Result<Store> {
        let fail = |reason: String| StoreError::Open {
            path: path.to_path_buf(),
            reason,
        };
        if path.is_dir() {
            return Err(fail("this is a directory, not a file".into()));
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !parent.is_dir() {
            return Err(fail(format!(
                "the directory {} does not exist; create it first",
                parent.display()
            )));
        }
        let conn = connect(path, OpenFlags::SQLITE_OPEN_CREATE)?;
        match migrations::migrate(&conn) {
            Ok(m) if m.from < m.to => tracing::info!(
                "store {}: schema migrated from version {} to {}",
                path.display(),
                m.from,
                m.to
            ),
            Ok(_) => {}
            Err(MigrateError::TooNew { found, known }) => return Err(fail(too_new(found, known))),
            Err(MigrateError::Sqlite(e)) => return Err(fail(open_reason(&e))),
        }
        let id = file_id(path).map_err(|e| fail(format!("cannot stat the file: {e}")))?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            id,
        })
    }

    /// Makes this the file every process of the gateway uses (see `PINNED`); the master calls
    /// it once, before the fork.
    pub fn pin(&self) {
        let _ = PINNED.set((self.path.clone(), self.id));
    }

    /// Opens the existing file, which must have the current schema: workers and the admin
    /// process never create or migrate a store, so a deleted file is never silently replaced
    /// by an empty one. Refuses (`Unavailable`) a file that replaced the pinned one.
    pub fn open(path: &Path) -> Result<Store> {
        let unavailable = |reason: &str| StoreError::Unavailable {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let id = match file_id(path) {
            Ok(id) => id,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(unavailable(match PINNED.get() {
                    Some((p, _)) if p == path => DELETED,
                    _ => "the file does not exist; `tollgate run` creates it at start",
                }))
            }
            Err(e) => return Err(unavailable(&format!("cannot stat the file: {e}"))),
        };
        if PINNED
            .get()
            .is_some_and(|(p, pinned)| p == path && *pinned != id)
        {
            return Err(unavailable(REPLACED));
        }
        let conn = connect(path, OpenFlags::empty())?;
        let fail = |reason: String| StoreError::Open {
            path: path.to_path_buf(),
            reason,
        };
        let found = migrations::version(&conn).map_err(|e| fail(open_reason(&e)))?;
        let known = migrations::MIGRATIONS.len();
        if found > known {
            return Err(fail(too_new(found, known)));
        } else if found < known {
            return Err(fail(format!(
                "the file has schema version {found} and this Tollgate needs {known}: only \
                 `tollgate run` migrates it, at start"
            )));
        }
        let store = Store {
            conn,
            path: path.to_path_buf(),
            id,
        };
        // Replaced between the stat and the open: refuse rather than guess which was opened.
        store.check_file()?;
        Ok(store)
    }

    /// Whether the path still names the file this connection opened; `Unavailable` when it
    /// was deleted or replaced. A stat, cheap enough for every refresh tick and admin call.
    pub fn check_file(&self) -> Result<()> {
        let reason = match file_id(&self.path) {
            Ok(id) if id == self.id => return Ok(()),
            Ok(_) => REPLACED.to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => DELETED.to_string(),
            Err(e) => format!("cannot stat the file: {e}"),
        };
        Err(StoreError::Unavailable {
            path: self.path.clone(),
            reason,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bumped by every change; the data plane reloads its tables when it moves.
    pub fn generation(&self) -> Result<u64> {
        read_generation(&self.conn)
    }

    /// Everything the data plane needs, from one consistent snapshot.
    pub fn rows(&self) -> Result<Rows> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Deferred)?;
        let rows = Rows {
            generation: read_generation(&tx)?,
            tenants: all(&tx, rows::TENANT_COLS, "tenants", "name", rows::tenant)?,
            apps: all(&tx, rows::APP_COLS, "apps", "tenant, name", rows::app)?,
            keys: all(&tx, rows::KEY_COLS, "api_keys", "public_id", rows::key)?,
            subscriptions: all(
                &tx,
                rows::SUB_COLS,
                "subscriptions",
                "id",
                rows::subscription,
            )?,
            api_states: all(
                &tx,
                rows::API_STATE_COLS,
                "api_states",
                "api",
                rows::api_state,
            )?,
            credentials: all(
                &tx,
                rows::CREDENTIAL_COLS,
                "tenant_credentials",
                "tenant, provider",
                rows::credential,
            )?,
            attachments: all(
                &tx,
                rows::ATTACHMENT_COLS,
                "limit_attachments",
                "tenant, app, limit_name",
                rows::attachment,
            )?,
        };
        tx.commit()?;
        Ok(rows)
    }

    /// Runs `f` in a write transaction. When it reports a change, the change is audited and the
    /// generation bumped in the same transaction; when it reports none, nothing is written.
    pub(crate) fn mutate<T>(
        &self,
        actor: &Actor,
        f: impl FnOnce(&Transaction<'_>) -> Result<(T, Option<Change>)>,
    ) -> Result<T> {
        self.change(actor, true, f)
    }

    /// `mutate` for what the data plane does not read (users, their tokens): audited, but the
    /// generation stays, so no worker reloads for it.
    pub(crate) fn mutate_private<T>(
        &self,
        actor: &Actor,
        f: impl FnOnce(&Transaction<'_>) -> Result<(T, Option<Change>)>,
    ) -> Result<T> {
        self.change(actor, false, f)
    }

    fn change<T>(
        &self,
        actor: &Actor,
        bump: bool,
        f: impl FnOnce(&Transaction<'_>) -> Result<(T, Option<Change>)>,
    ) -> Result<T> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let (value, change) = f(&tx)?;
        if let Some(change) = change {
            audit::record(&tx, actor, &change)?;
            if bump {
                tx.execute(
                    "UPDATE meta SET value = value + 1 WHERE key = 'generation'",
                    [],
                )?;
            }
        }
        tx.commit()?;
        Ok(value)
    }
}

/// A read-write connection in WAL mode; `extra` adds `SQLITE_OPEN_CREATE` for `create`.
// The store is used by the admin process, the CLI and the directory refresh (in
// `spawn_blocking`); no request touches it.
#[allow(clippy::disallowed_methods)]
fn connect(path: &Path, extra: OpenFlags) -> Result<Connection> {
    let fail = |e: rusqlite::Error| StoreError::Open {
        path: path.to_path_buf(),
        reason: open_reason(&e),
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | extra;
    let conn = Connection::open_with_flags(path, flags).map_err(fail)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(fail)?;
    // journal_mode answers with a row; the others are plain settings.
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .map_err(fail)?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
        .map_err(fail)?;
    Ok(conn)
}

fn too_new(found: usize, known: usize) -> String {
    format!(
        "the file has schema version {found}, written by a newer Tollgate; this one knows up to \
         {known}"
    )
}

fn read_generation(conn: &Connection) -> Result<u64> {
    let g: i64 = conn.query_row("SELECT value FROM meta WHERE key = 'generation'", [], |r| {
        r.get(0)
    })?;
    Ok(g.max(0) as u64)
}

fn all<T>(
    conn: &Connection,
    cols: &str,
    table: &str,
    order: &str,
    map: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare(&format!("SELECT {cols} FROM {table} ORDER BY {order}"))?;
    let rows = stmt.query_map([], map)?.collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Plain words for why a file cannot be opened or written.
fn open_reason(e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::NotADatabase) => {
            "the file is not a SQLite database (corrupt, or some other file); move it away or \
             point [store] path elsewhere"
                .into()
        }
        Some(C::DatabaseCorrupt) => {
            "the database is corrupt; restore it from a backup or move it away".into()
        }
        Some(C::ReadOnly) => "the database is read-only: this user cannot write the file or \
                              its directory (SQLite also writes -wal and -shm files beside it)"
            .into(),
        Some(C::CannotOpen) | Some(C::PermissionDenied) => {
            "cannot open the file: check that this user may read and write it and its directory"
                .into()
        }
        Some(C::DatabaseBusy) | Some(C::DatabaseLocked) => {
            "the database stayed locked by another process for 5s".into()
        }
        Some(C::DiskFull) => "the disk is full".into(),
        _ => e.to_string(),
    }
}

/// Checks a tenant or app name as the configuration does.
pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{what} name {name:?}: use 1 to 64 of a-z, 0-9, '-' and '_'"
        )))
    }
}

/// Free text (descriptions, key names): bounded, so the store stays small.
pub(crate) fn check_text(what: &str, text: &str, max: usize) -> Result<()> {
    if text.len() > max {
        return Err(StoreError::Invalid(format!(
            "{what} is {} bytes long; at most {max}",
            text.len()
        )));
    }
    Ok(())
}

pub(crate) fn now() -> i64 {
    crate::base::clock::now_unix()
}
