//! Who is calling the admin API: the holder of `admin.token` (an operator named
//! `admin-token`), a user with a personal token (`Authorization: Bearer tgu_...`), or a user
//! signed in with a session cookie. Only a session needs a CSRF token on state changes: a
//! browser sends the cookie by itself, while a bearer token is sent only by code that holds it.

use super::error::AdminError;
use super::shared::Shared;
use crate::base::api_key::same_bytes;
use crate::config::Secret;
use crate::store::{Actor, Role, UserRow, TOKEN_PREFIX};
use pingora::protocols::http::ServerSession;
use std::sync::Arc;

/// The session cookie's name.
pub const COOKIE: &str = "tollgate_session";
/// The header a session's state changes carry.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The audit name of the admin token's holder.
pub const ADMIN_TOKEN_ACTOR: &str = "admin-token";

#[derive(Debug, Clone)]
pub struct Principal {
    /// The user's name, or `admin-token`.
    pub name: String,
    pub role: Role,
    pub tenant: Option<String>,
    pub via: Via,
    /// The client address, for the audit trail.
    pub remote: Option<String>,
}

/// How the principal proved who it is.
#[derive(Debug, Clone)]
pub enum Via {
    AdminToken {
        /// `X-Tollgate-Actor`: who says they hold the shared token; recorded beside it as a
        /// claim, never as a user.
        claimed: Option<String>,
    },
    Token,
    Session {
        id: Secret,
        csrf: Secret,
        expires_at: i64,
    },
}

impl Principal {
    fn user(u: UserRow, via: Via, remote: Option<String>) -> Principal {
        Principal {
            name: u.name,
            role: u.role,
            tenant: u.tenant,
            via,
            remote,
        }
    }

    /// Who the audit trail names for this principal's changes.
    pub fn actor(&self) -> Actor {
        let name = match &self.via {
            Via::AdminToken { claimed: Some(c) } => format!("{ADMIN_TOKEN_ACTOR} ({c})"),
            _ => self.name.clone(),
        };
        Actor::new(name, self.remote.clone())
    }

    /// A user account (not the admin token), for what belongs to one: personal tokens.
    pub fn is_user(&self) -> bool {
        !matches!(self.via, Via::AdminToken { .. })
    }

    /// Refuses (403) a state change made with a session cookie but without its CSRF token.
    pub fn check_csrf(&self, method: &str, session: &ServerSession) -> Result<(), AdminError> {
        let Via::Session { csrf, .. } = &self.via else {
            return Ok(());
        };
        if matches!(method, "GET" | "HEAD" | "OPTIONS") {
            return Ok(());
        }
        let given = header(session, CSRF_HEADER).unwrap_or("");
        if same_bytes(given.as_bytes(), csrf.expose().as_bytes()) {
            return Ok(());
        }
        Err(AdminError::Forbidden(
            "missing or wrong X-CSRF-Token: a signed-in change carries the csrf_token that \
             POST /admin/login and GET /admin/me answer"
                .into(),
        ))
    }
}

fn header<'a>(session: &'a ServerSession, name: &str) -> Option<&'a str> {
    session
        .req_header()
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
}

/// The session id in the request's `Cookie` headers, if any.
pub fn session_cookie(session: &ServerSession) -> Option<String> {
    session
        .req_header()
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Finds who is calling, or says why no one is (401).
pub async fn authenticate(
    shared: &Arc<Shared>,
    admin_token: &Secret,
    session: &ServerSession,
) -> Result<Principal, AdminError> {
    let remote = session.client_addr().map(|a| a.to_string());
    let bearer = header(session, http::header::AUTHORIZATION.as_str())
        .and_then(crate::auth::directory::bearer)
        .map(str::to_string);
    if let Some(given) = bearer {
        if given.starts_with(TOKEN_PREFIX) {
            let user = shared.store(move |s| Ok(s.token_user(&given)?)).await?;
            return match user {
                Some(u) => Ok(Principal::user(u, Via::Token, remote)),
                None => Err(AdminError::Unauthorized(
                    "unknown, expired or revoked personal token".into(),
                )),
            };
        }
        if admin_token.is_empty() {
            return Err(AdminError::Unauthorized(
                "admin.token is not set; set it (e.g. TOLLGATE_ADMIN_TOKEN) and reload, or \
                 use a personal token"
                    .into(),
            ));
        }
        if !same_bytes(given.as_bytes(), admin_token.expose().as_bytes()) {
            return Err(AdminError::Unauthorized("wrong admin token".into()));
        }
        return Ok(Principal {
            name: ADMIN_TOKEN_ACTOR.into(),
            role: Role::Operator,
            tenant: None,
            via: Via::AdminToken {
                claimed: claimed_actor(session)?,
            },
            remote,
        });
    }
    if let Some(id) = session_cookie(session) {
        let idle = shared.user_settings().session_idle.as_secs() as i64;
        let sid = id.clone();
        let found = shared.store(move |s| Ok(s.session(&sid, idle)?)).await?;
        let Some(row) = found else {
            return Err(AdminError::Unauthorized(
                "the session ended (signed out, expired or idle too long); sign in again".into(),
            ));
        };
        let via = Via::Session {
            id: Secret::new(id),
            csrf: Secret::new(row.csrf),
            expires_at: row.expires_at,
        };
        return Ok(Principal::user(row.user, via, remote));
    }
    Err(AdminError::Unauthorized(
        "missing admin token: send Authorization: Bearer <token> (the admin token or a \
         personal token), or sign in with POST /admin/login"
            .into(),
    ))
}

/// `X-Tollgate-Actor`, which the holder of the shared admin token may send to say who they
/// are; 1 to 128 printable characters.
fn claimed_actor(session: &ServerSession) -> Result<Option<String>, AdminError> {
    let Some(v) = session.req_header().headers.get("x-tollgate-actor") else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("").trim();
    if text.is_empty() || text.len() > 128 || text.chars().any(char::is_control) {
        return Err(AdminError::BadRequest(
            "X-Tollgate-Actor: give a name of 1 to 128 printable characters".into(),
        ));
    }
    Ok(Some(text.to_string()))
}
