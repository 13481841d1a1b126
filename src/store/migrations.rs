//! The schema, as an ordered list of migrations. `PRAGMA user_version` holds how many have been
//! applied; each one runs once, all pending ones in a single `BEGIN IMMEDIATE` transaction, so
//! two processes opening the same new file cannot both apply them. Never edit a shipped
//! migration: append a new one.

use rusqlite::{Connection, Transaction, TransactionBehavior};

pub const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO meta (key, value) VALUES ('generation', 0);

CREATE TABLE tenants (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    source      TEXT NOT NULL CHECK (source IN ('config', 'admin')),
    created_at  INTEGER NOT NULL
);

CREATE TABLE apps (
    tenant      TEXT NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    models      TEXT,
    source      TEXT NOT NULL CHECK (source IN ('config', 'admin')),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE api_keys (
    public_id   TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    app         TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    secret_hash BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER,
    source      TEXT NOT NULL CHECK (source IN ('config', 'admin')),
    FOREIGN KEY (tenant, app) REFERENCES apps (tenant, name) ON DELETE CASCADE
);
CREATE INDEX api_keys_by_app ON api_keys (tenant, app);

CREATE TABLE subscriptions (
    id         INTEGER PRIMARY KEY,
    tenant     TEXT NOT NULL,
    app        TEXT NOT NULL,
    api        TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'active', 'rejected', 'revoked')),
    reason     TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('config', 'admin')),
    UNIQUE (tenant, app, api),
    FOREIGN KEY (tenant, app) REFERENCES apps (tenant, name) ON DELETE CASCADE
);

CREATE TABLE api_states (
    api        TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('draft', 'published', 'deprecated', 'retired')),
    successor  TEXT,
    sunset     INTEGER,
    updated_at INTEGER NOT NULL
);

CREATE TABLE tenant_credentials (
    tenant     TEXT NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    provider   TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, provider)
);

CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    remote TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_target ON audit (target);
"#,
    // 2: plans and limit attachments. A row with `app` NULL attaches the limit to the whole
    // tenant; the composite foreign key is not enforced then (SQL ignores a key with a NULL),
    // and an app row goes with its app. `rate`/`burst` NULL keep the limit's own numbers.
    r#"
ALTER TABLE tenants ADD COLUMN plan TEXT;

CREATE TABLE limit_attachments (
    tenant     TEXT NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    app        TEXT,
    limit_name TEXT NOT NULL,
    rate       REAL,
    burst      REAL,
    updated_at INTEGER NOT NULL,
    FOREIGN KEY (tenant, app) REFERENCES apps (tenant, name) ON DELETE CASCADE
);
CREATE UNIQUE INDEX limit_attachments_by_owner
    ON limit_attachments (tenant, ifnull(app, ''), limit_name);
"#,
    // 3: prompt APIs managed through the admin API, one row per version. `definition` is the
    // prompt as JSON in the shape of a `[[prompts]]` entry (see `store::prompts`).
    r#"
CREATE TABLE prompts (
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);
"#,
    // 4: users of the admin API and the console, their sessions and personal tokens. An
    // operator has no tenant; a tenant member has one and goes with it. Only hashes of
    // passwords (Argon2id PHC strings), session ids and token secrets are kept.
    r#"
CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    email         TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('operator', 'tenant_admin', 'tenant_developer')),
    tenant        TEXT REFERENCES tenants (name) ON DELETE CASCADE,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    last_login    INTEGER,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER,
    CHECK ((role = 'operator') = (tenant IS NULL))
);
CREATE INDEX users_by_tenant ON users (tenant);

CREATE TABLE sessions (
    id_hash    BLOB PRIMARY KEY,
    user       TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user);

CREATE TABLE user_tokens (
    public_id   TEXT PRIMARY KEY,
    user        TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    name        TEXT NOT NULL DEFAULT '',
    secret_hash BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    last_used   INTEGER
);
CREATE INDEX user_tokens_by_user ON user_tokens (user);
"#,
    // 5: upstreams, routes, providers and models made through the admin API: each the JSON of
    // its TOML table, a provider's literal secrets sealed apart with `[store] secret_key`.
    r#"
CREATE TABLE config_entries (
    section    TEXT NOT NULL CHECK (section IN ('upstreams', 'routes', 'providers', 'models')),
    name       TEXT NOT NULL,
    definition TEXT NOT NULL,
    sealed     BLOB,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (section, name)
);
"#,
];

/// What `migrate` found: the schema version the file had before, and the one it has now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    pub from: usize,
    pub to: usize,
}

#[derive(Debug)]
pub enum MigrateError {
    /// The file was written by a newer Tollgate, whose schema this one does not know.
    TooNew {
        found: usize,
        known: usize,
    },
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sqlite(e)
    }
}

/// The schema version of the file: how many migrations it has had (0 for an empty file).
pub fn version(conn: &Connection) -> rusqlite::Result<usize> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok(v.max(0) as usize)
}

/// Applies the pending migrations. It also writes to the file even when none is pending, so an
/// unwritable file or directory is found at start-up rather than at the first admin change.
pub fn migrate(conn: &Connection) -> Result<Migrated, MigrateError> {
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let from = version(&tx)?;
    if from > MIGRATIONS.len() {
        return Err(MigrateError::TooNew {
            found: from,
            known: MIGRATIONS.len(),
        });
    }
    for sql in &MIGRATIONS[from..] {
        tx.execute_batch(sql)?;
    }
    tx.execute_batch(&format!("PRAGMA user_version = {}", MIGRATIONS.len()))?;
    tx.commit()?;
    Ok(Migrated {
        from,
        to: MIGRATIONS.len(),
    })
}
