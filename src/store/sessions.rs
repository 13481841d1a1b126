//! Sign-in sessions and personal API tokens of users. Only SHA-256 hashes of session ids and
//! token secrets are stored (both carry about 190 random bits, so a fast hash is enough, as
//! for API keys); whoever reads the file cannot sign in with what it holds. A session's CSRF
//! token is not stored either: it is a hash of the session id, so only the holder of the
//! cookie can compute it, and the server recomputes it from the cookie.

use super::users::{find_user, user_target, UserRow};
use super::{now, Actor, Change, Result, Store, StoreError};
use crate::base::api_key::{self, SecretHash};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::json;

/// The prefix of personal tokens, so one is never mistaken for an API key (`tg_`).
pub const TOKEN_PREFIX: &str = "tgu_";
const TOKEN_NAME_MAX: usize = 200;

/// A live session: whose it is and the CSRF token its state changes must carry.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub user: UserRow,
    pub csrf: String,
    pub expires_at: i64,
}

/// A personal token as listed: never its secret.
#[derive(Debug, Clone, Serialize)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used: Option<i64>,
}

fn token(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: r.get(0)?,
        name: r.get(1)?,
        created_at: r.get(2)?,
        expires_at: r.get(3)?,
        last_used: r.get(4)?,
    })
}

const TOKEN_COLS: &str = "public_id, name, created_at, expires_at, last_used";

/// The CSRF token of the session with id `id`: a one-way function of it, so it reveals
/// nothing of the id.
fn csrf_of(id: &str) -> String {
    api_key::to_hex(&api_key::hash_secret(&format!("tollgate-csrf:{id}")))
}

fn random() -> Result<String> {
    api_key::random_secret()
        .map_err(|e| StoreError::Internal(format!("cannot read random bytes: {e}")))
}

impl Store {
    /// Starts a session for `user`, valid for `ttl` seconds at most; returns its id and its
    /// CSRF token (the id is not stored, only its hash).
    pub fn create_session(&self, user: &str, ttl: i64) -> Result<(String, String, i64)> {
        let id = random()?;
        let csrf = csrf_of(&id);
        let now = now();
        let expires_at = now.saturating_add(ttl);
        // Expired sessions go whenever a new one is made, so the table stays small.
        self.conn
            .execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
        self.conn.execute(
            "INSERT INTO sessions (id_hash, user, created_at, last_seen, expires_at)
             VALUES (?1, ?2, ?3, ?3, ?4)",
            params![&api_key::hash_secret(&id)[..], user, now, expires_at],
        )?;
        Ok((id, csrf, expires_at))
    }

    /// The session with this id if it is live: not past its expiry, used within `idle`
    /// seconds, and its user not disabled. A live session's use is noted; a dead one deleted.
    pub fn session(&self, id: &str, idle: i64) -> Result<Option<SessionRow>> {
        let hash = api_key::hash_secret(id);
        let found: Option<(String, i64, i64)> = self
            .conn
            .query_row(
                "SELECT user, last_seen, expires_at FROM sessions WHERE id_hash = ?1",
                [&hash[..]],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((name, last_seen, expires_at)) = found else {
            return Ok(None);
        };
        let now = now();
        let user = find_user(&self.conn, &name)?.filter(|u| !u.disabled);
        let Some(user) = user.filter(|_| now < expires_at && now - last_seen < idle) else {
            self.end_session(id)?;
            return Ok(None);
        };
        if now > last_seen {
            self.conn.execute(
                "UPDATE sessions SET last_seen = ?2 WHERE id_hash = ?1",
                params![&hash[..], now],
            )?;
        }
        Ok(Some(SessionRow {
            user,
            csrf: csrf_of(id),
            expires_at,
        }))
    }

    pub fn end_session(&self, id: &str) -> Result<()> {
        let hash = api_key::hash_secret(id);
        self.conn
            .execute("DELETE FROM sessions WHERE id_hash = ?1", [&hash[..]])?;
        Ok(())
    }

    /// Makes a personal token for `user`; returns it listed and in full (shown once).
    pub fn create_token(
        &self,
        actor: &Actor,
        user: &str,
        name: &str,
        expires_at: Option<i64>,
    ) -> Result<(TokenRow, String)> {
        super::check_text("token name", name, TOKEN_NAME_MAX)?;
        self.mutate_private(actor, |tx| {
            let k = api_key::generate_with(TOKEN_PREFIX)
                .map_err(|e| StoreError::Internal(format!("cannot read random bytes: {e}")))?;
            tx.execute(
                "INSERT INTO user_tokens (public_id, user, name, secret_hash, created_at,
                   expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![k.public_id, user, name, &k.hash[..], now(), expires_at],
            )?;
            let row = tx.query_row(
                &format!("SELECT {TOKEN_COLS} FROM user_tokens WHERE public_id = ?1"),
                [&k.public_id],
                token,
            )?;
            let detail = json!({"token": k.public_id, "name": name});
            let change = Change::new("user.token.create", user_target(user), detail);
            Ok(((row, k.full), Some(change)))
        })
    }

    pub fn list_tokens(&self, user: &str) -> Result<Vec<TokenRow>> {
        let sql = format!(
            "SELECT {TOKEN_COLS} FROM user_tokens WHERE user = ?1 ORDER BY created_at, public_id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let out = stmt
            .query_map([user], token)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(out)
    }

    /// Deletes one of `user`'s tokens; another user's token is "not found", like a missing one.
    pub fn revoke_token(&self, actor: &Actor, user: &str, id: &str) -> Result<()> {
        self.mutate_private(actor, |tx| {
            let n = tx.execute(
                "DELETE FROM user_tokens WHERE public_id = ?1 AND user = ?2",
                params![id, user],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("you have no token {id:?}")));
            }
            let change = Change::new("user.token.revoke", user_target(user), json!({"token": id}));
            Ok(((), Some(change)))
        })
    }

    /// The user a presented personal token belongs to, if it is valid now and the user is
    /// not disabled; its use is noted.
    pub fn token_user(&self, presented: &str) -> Result<Option<UserRow>> {
        let Some((id, secret)) = api_key::parse_with(TOKEN_PREFIX, presented) else {
            return Ok(None);
        };
        let found: Option<(String, Vec<u8>, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT user, secret_hash, expires_at FROM user_tokens WHERE public_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let now = now();
        let Some((user, hash, expires_at)) = found else {
            return Ok(None);
        };
        let expected: Option<SecretHash> = hash.try_into().ok();
        let valid = expected.is_some_and(|h| api_key::verify(secret, &h))
            && expires_at.is_none_or(|e| now < e);
        if !valid {
            return Ok(None);
        }
        self.conn.execute(
            "UPDATE user_tokens SET last_used = ?2 WHERE public_id = ?1",
            params![id, now],
        )?;
        Ok(find_user(&self.conn, &user)?.filter(|u| !u.disabled))
    }
}
