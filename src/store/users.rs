//! Users of the admin API and the console: operators, and tenant admins and developers who
//! belong to one tenant. The store keeps a password only as an Argon2id PHC string, made and
//! checked by the caller (`admin::password`, on the blocking pool): nothing here hashes.
//! Changes are audited like every other; sign-ins are audited too, but bump no generation
//! (the data plane has nothing to reload for them).

use super::{audit, check_name, check_text, now, Actor, Change, Result, Store, StoreError};
use crate::config::Secret;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::json;

const EMAIL_MAX: usize = 320;

/// What a user may do; see `admin::scope` for what each role reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, for every tenant.
    Operator,
    /// Their tenant: members, apps, keys, subscription requests, credentials, usage.
    TenantAdmin,
    /// Their tenant's catalog, apps and keys, usage and calls.
    TenantDeveloper,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::TenantAdmin => "tenant_admin",
            Role::TenantDeveloper => "tenant_developer",
        }
    }
}

impl ToSql for Role {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Role {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value.as_str()? {
            "operator" => Ok(Role::Operator),
            "tenant_admin" => Ok(Role::TenantAdmin),
            "tenant_developer" => Ok(Role::TenantDeveloper),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

/// One user. The password hash is never serialized and prints redacted.
#[derive(Debug, Clone, Serialize)]
pub struct UserRow {
    pub name: String,
    pub email: String,
    pub role: Role,
    pub tenant: Option<String>,
    pub disabled: bool,
    pub created_at: i64,
    pub last_login: Option<i64>,
    /// Until when (Unix seconds) sign-ins are refused after too many wrong passwords.
    pub locked_until: Option<i64>,
    #[serde(skip)]
    pub password_hash: Secret,
    #[serde(skip)]
    pub failed_logins: u32,
}

const USER_COLS: &str = "name, email, role, tenant, disabled, created_at, last_login, \
    locked_until, password_hash, failed_logins";

fn user(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        name: r.get(0)?,
        email: r.get(1)?,
        role: r.get(2)?,
        tenant: r.get(3)?,
        disabled: r.get(4)?,
        created_at: r.get(5)?,
        last_login: r.get(6)?,
        locked_until: r.get(7)?,
        password_hash: Secret::new(r.get::<_, String>(8)?),
        failed_logins: r.get(9)?,
    })
}

/// A user to make; `password_hash` is a PHC string.
pub struct NewUser {
    pub name: String,
    pub email: String,
    pub role: Role,
    pub tenant: Option<String>,
    pub password_hash: Secret,
}

/// What `update_user` changes; `None` leaves a field as it is.
#[derive(Default)]
pub struct UserPatch {
    pub email: Option<String>,
    pub role: Option<Role>,
    pub tenant: Option<Option<String>>,
    pub disabled: Option<bool>,
    pub password_hash: Option<Secret>,
}

pub(crate) fn user_target(name: &str) -> String {
    format!("user:{name}")
}

pub(crate) fn find_user(conn: &Connection, name: &str) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLS} FROM users WHERE name = ?1");
    Ok(conn.query_row(&sql, [name], user).optional()?)
}

fn must_find(conn: &Connection, name: &str) -> Result<UserRow> {
    find_user(conn, name)?.ok_or_else(|| StoreError::NotFound(format!("no user {name:?}")))
}

/// An operator has no tenant; a tenant member has one, which must exist.
fn check_membership(conn: &Connection, role: Role, tenant: Option<&str>) -> Result<()> {
    match (role, tenant) {
        (Role::Operator, None) => Ok(()),
        (Role::Operator, Some(_)) => Err(StoreError::Invalid(
            "an operator belongs to no tenant; leave tenant out".into(),
        )),
        (r, None) => Err(StoreError::Invalid(format!(
            "a {} belongs to a tenant; give tenant",
            r.as_str()
        ))),
        (_, Some(t)) => {
            let known: Option<i64> = conn
                .query_row("SELECT 1 FROM tenants WHERE name = ?1", [t], |r| r.get(0))
                .optional()?;
            match known {
                Some(_) => Ok(()),
                None => Err(StoreError::NotFound(format!("no tenant {t:?}"))),
            }
        }
    }
}

fn insert(conn: &Connection, u: &NewUser) -> Result<bool> {
    check_name("user", &u.name)?;
    check_text("email", &u.email, EMAIL_MAX)?;
    check_membership(conn, u.role, u.tenant.as_deref())?;
    let n = conn.execute(
        "INSERT INTO users (name, email, password_hash, role, tenant, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO NOTHING",
        params![
            u.name,
            u.email,
            u.password_hash.expose(),
            u.role,
            u.tenant,
            now()
        ],
    )?;
    Ok(n == 1)
}

impl Store {
    pub fn get_user(&self, name: &str) -> Result<UserRow> {
        must_find(&self.conn, name)
    }

    /// The user to sign in, if there is one by that name.
    pub fn find_user(&self, name: &str) -> Result<Option<UserRow>> {
        find_user(&self.conn, name)
    }

    /// Every user, or a tenant's members only, by name.
    pub fn list_users(&self, tenant: Option<&str>) -> Result<Vec<UserRow>> {
        let sql = format!(
            "SELECT {USER_COLS} FROM users WHERE (?1 IS NULL OR tenant = ?1) ORDER BY name"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let out = stmt
            .query_map([tenant], user)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(out)
    }

    pub fn create_user(&self, actor: &Actor, u: &NewUser) -> Result<UserRow> {
        self.mutate_private(actor, |tx| {
            if !insert(tx, u)? {
                return Err(StoreError::Conflict(format!(
                    "user {:?} exists already",
                    u.name
                )));
            }
            let detail = json!({"role": u.role, "tenant": u.tenant, "email": u.email});
            let change = Change::new("user.create", user_target(&u.name), detail);
            Ok((must_find(tx, &u.name)?, Some(change)))
        })
    }

    /// Makes the user unless one by that name exists (the bootstrap operator); whether it did.
    pub fn ensure_user(&self, u: &NewUser) -> Result<bool> {
        self.mutate_private(&Actor::config(), |tx| {
            let made = insert(tx, u)?;
            let detail = json!({"role": u.role, "tenant": u.tenant, "bootstrap": true});
            let change = made.then(|| Change::new("user.create", user_target(&u.name), detail));
            Ok((made, change))
        })
    }

    pub fn update_user(&self, actor: &Actor, name: &str, p: UserPatch) -> Result<UserRow> {
        self.mutate_private(actor, |tx| {
            let old = must_find(tx, name)?;
            let role = p.role.unwrap_or(old.role);
            let tenant = p.tenant.clone().unwrap_or(old.tenant.clone());
            check_membership(tx, role, tenant.as_deref())?;
            let email = p.email.clone().unwrap_or(old.email.clone());
            check_text("email", &email, EMAIL_MAX)?;
            let hash = p.password_hash.as_ref().unwrap_or(&old.password_hash);
            let disabled = p.disabled.unwrap_or(old.disabled);
            tx.execute(
                "UPDATE users SET email = ?2, role = ?3, tenant = ?4, disabled = ?5,
                   password_hash = ?6 WHERE name = ?1",
                params![name, email, role, tenant, disabled, hash.expose()],
            )?;
            // A new password, a new role or a disabled account ends every session.
            if p.password_hash.is_some() || role != old.role || tenant != old.tenant || disabled {
                tx.execute("DELETE FROM sessions WHERE user = ?1", [name])?;
            }
            if p.password_hash.is_some() {
                tx.execute(
                    "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE name = ?1",
                    [name],
                )?;
            }
            let detail = json!({
                "email": p.email, "role": p.role, "tenant": p.tenant,
                "disabled": p.disabled, "password_changed": p.password_hash.is_some(),
            });
            let change = Change::new("user.update", user_target(name), detail);
            Ok((must_find(tx, name)?, Some(change)))
        })
    }

    /// Deletes a user with its sessions and tokens.
    pub fn delete_user(&self, actor: &Actor, name: &str) -> Result<()> {
        self.mutate_private(actor, |tx| {
            must_find(tx, name)?;
            tx.execute("DELETE FROM users WHERE name = ?1", [name])?;
            let change = Change::new("user.delete", user_target(name), json!({}));
            Ok(((), Some(change)))
        })
    }

    /// A wrong password for `name`: counts it, and after `max` in a row locks the account for
    /// `lockout` seconds. Returns until when it is locked, if it now is. The failure is audited
    /// (never the password).
    pub fn login_failed(
        &self,
        remote: &Actor,
        name: &str,
        max: u32,
        lockout: i64,
    ) -> Result<Option<i64>> {
        let now = now();
        let found: Option<Option<i64>> = self
            .conn
            .query_row(
                "UPDATE users SET
                   failed_logins = CASE WHEN failed_logins + 1 >= ?2 THEN 0
                                        ELSE failed_logins + 1 END,
                   locked_until = CASE WHEN failed_logins + 1 >= ?2 THEN ?3
                                       ELSE locked_until END
                 WHERE name = ?1 RETURNING locked_until",
                params![name, max, now + lockout],
                |r| r.get(0),
            )
            .optional()?;
        // An unknown name is not audited: it may be a password typed in the wrong field.
        let Some(locked) = found else {
            return Ok(None);
        };
        let locked = locked.filter(|&l| l > now);
        let detail = json!({"locked_until": locked});
        let change = Change::new("user.login_failed", user_target(name), detail);
        audit::record(&self.conn, remote, &change)?;
        Ok(locked)
    }

    /// A good password: clears the failure count and notes the time.
    pub fn login_succeeded(&self, actor: &Actor, name: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE users SET failed_logins = 0, locked_until = NULL, last_login = ?2
             WHERE name = ?1",
            params![name, now()],
        )?;
        let change = Change::new("user.login", user_target(name), json!({}));
        audit::record(&self.conn, actor, &change)?;
        Ok(())
    }
}
