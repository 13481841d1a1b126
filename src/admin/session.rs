//! Signing in and out, the caller's own account (`/admin/me`) and their personal tokens.
//!
//! A sign-in is limited per client address (`throttle`) and per user (after
//! `login_max_failures` wrong passwords in a row the account is locked for `login_lockout`;
//! both answer 429 with `Retry-After`). An unknown name costs the same Argon2 check as a known
//! one and gets the same answer as a wrong password. The session id goes in a cookie that is
//! `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page or link sends it,
//! which also stops cross-site requests before the CSRF check does; the console is served from
//! the same origin, so it loses nothing) and `Secure` when `[admin] secure_cookies` is on.

use super::error::AdminError;
use super::password;
use super::principal::{Principal, Via, COOKIE};
use super::request::{self, only_params};
use super::shared::{json, no_content, Answer, Call, Shared};
use crate::base::clock::now_unix;
use crate::store::Actor;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    name: String,
    password: String,
}

const WRONG: &str = "wrong name or password";

/// `POST /admin/login`: checks the password and starts a session.
pub async fn login(shared: &Arc<Shared>, body: Vec<u8>, remote: Option<String>) -> Answer {
    let settings = shared.user_settings();
    let now = now_unix();
    let ip = remote.as_deref().and_then(|r| r.parse::<SocketAddr>().ok());
    if let Some(ip) = ip {
        if let Err(wait) = shared
            .logins
            .attempt(ip.ip(), now, settings.per_ip_per_minute)
        {
            return Err(AdminError::TooManyAttempts {
                message: format!("too many sign-in attempts from this address; wait {wait}s"),
                retry_after: wait,
            });
        }
    }
    let Login { name, password } = request::json(&body)?;
    if password.len() > password::MAX_PASSWORD {
        return Err(AdminError::Unauthorized(WRONG.into()));
    }
    let wanted = name.clone();
    let user = shared.store(move |s| Ok(s.find_user(&wanted)?)).await?;
    if let Some(until) = user.as_ref().and_then(|u| u.locked_until) {
        if until > now {
            return Err(locked(until - now));
        }
    }
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let actor = Actor::new(name.clone(), remote);
    if !password::verify(password, hash).await {
        let (max, lockout) = (settings.max_failures, settings.lockout.as_secs() as i64);
        let who = actor.clone();
        let locked_until = shared
            .store(move |s| Ok(s.login_failed(&who, &name, max, lockout)?))
            .await?;
        // The password check takes long enough to cross a second: the lockout counts from the
        // store's clock, so the wait does too.
        return Err(match locked_until {
            Some(until) => locked(until - now_unix()),
            None => AdminError::Unauthorized(WRONG.into()),
        });
    }
    let Some(user) = user else {
        return Err(AdminError::Unauthorized(WRONG.into()));
    };
    if user.disabled {
        return Err(AdminError::Forbidden("this account is disabled".into()));
    }
    let ttl = settings.session_ttl.as_secs() as i64;
    let who = user.name.clone();
    let (id, csrf, expires_at) = shared
        .store(move |s| {
            s.login_succeeded(&actor, &who)?;
            Ok(s.create_session(&who, ttl)?)
        })
        .await?;
    let answer = serde_json::json!({
        "user": user, "csrf_token": csrf, "expires_at": expires_at,
    });
    let cookie = cookie(&id, ttl, settings.secure_cookies);
    with_cookie(json(200, &answer)?, &cookie)
}

fn locked(wait: i64) -> AdminError {
    AdminError::TooManyAttempts {
        message: format!("too many wrong passwords; this account is locked for {wait}s"),
        retry_after: wait,
    }
}

/// The `Set-Cookie` value of a session (an empty value with `max_age` 0 clears it).
pub fn cookie(id: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

fn with_cookie(mut resp: http::Response<Vec<u8>>, cookie: &str) -> Answer {
    let value = http::HeaderValue::from_str(cookie)
        .map_err(|e| AdminError::Internal(format!("cannot write the cookie: {e}")))?;
    resp.headers_mut().insert(http::header::SET_COOKIE, value);
    Ok(resp)
}

/// `POST /admin/logout`: ends the session and clears its cookie.
pub async fn logout(shared: &Arc<Shared>, call: Call) -> Answer {
    let Via::Session { id, .. } = &call.who.via else {
        return Err(AdminError::BadRequest(
            "only a session signs out; a personal token is revoked with \
             DELETE /admin/me/tokens/{id}"
                .into(),
        ));
    };
    let id = id.expose().to_string();
    shared.store(move |s| Ok(s.end_session(&id)?)).await?;
    let secure = shared.user_settings().secure_cookies;
    with_cookie(no_content()?, &cookie("", 0, secure))
}

/// `GET /admin/me`: who is calling, how, and (for a session) its CSRF token.
pub async fn me(shared: &Arc<Shared>, call: Call) -> Answer {
    let who = call.who;
    let user = match who.is_user() {
        true => {
            let name = who.name.clone();
            Some(shared.store(move |s| Ok(s.get_user(&name)?)).await?)
        }
        false => None,
    };
    let mut answer = serde_json::json!({
        "name": who.name, "role": who.role, "tenant": who.tenant, "user": user,
    });
    match &who.via {
        Via::AdminToken { .. } => answer["via"] = "admin_token".into(),
        Via::Token => answer["via"] = "token".into(),
        Via::Session {
            csrf, expires_at, ..
        } => {
            answer["via"] = "session".into();
            answer["csrf_token"] = csrf.expose().into();
            answer["expires_at"] = (*expires_at).into();
        }
    }
    json(200, &answer)
}

fn account(who: &Principal) -> Result<String, AdminError> {
    match who.is_user() {
        true => Ok(who.name.clone()),
        false => Err(AdminError::BadRequest(
            "the admin token is no user's and has no personal tokens; sign in as a user".into(),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    #[serde(default)]
    name: String,
    /// Valid for this long, e.g. `"90d"`; forever when left out.
    expires_in: Option<String>,
}

/// `GET /admin/me/tokens`: the caller's personal tokens, without their secrets.
pub async fn list_tokens(shared: &Arc<Shared>, call: Call) -> Answer {
    let user = account(&call.who)?;
    let rows = shared.store(move |s| Ok(s.list_tokens(&user)?)).await?;
    json(200, &rows)
}

/// `POST /admin/me/tokens`: a new personal token, shown in this answer only.
pub async fn create_token(shared: &Arc<Shared>, call: Call) -> Answer {
    let user = account(&call.who)?;
    only_params(&call.query, &[])?;
    let body: NewToken = request::json(&call.body)?;
    let expires_at = match &body.expires_in {
        Some(d) => Some(request::date_in("expires_in", now_unix(), d)?),
        None => None,
    };
    let (row, full) = shared
        .store(move |s| Ok(s.create_token(&call.actor, &user, &body.name, expires_at)?))
        .await?;
    let mut answer = serde_json::to_value(&row)
        .map_err(|e| AdminError::Internal(format!("cannot write the answer: {e}")))?;
    answer["token"] = full.into();
    json(201, &answer)
}

/// `DELETE /admin/me/tokens/{id}`: revokes one of the caller's tokens.
pub async fn revoke_token(shared: &Arc<Shared>, call: Call, id: String) -> Answer {
    let user = account(&call.who)?;
    shared
        .store(move |s| Ok(s.revoke_token(&call.actor, &user, &id)?))
        .await?;
    no_content()
}

#[cfg(test)]
mod tests {
    use super::cookie;

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_when_asked() {
        let c = cookie("abc", 60, false);
        assert_eq!(
            c,
            "tollgate_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        assert!(cookie("abc", 60, true).ends_with("; Secure"));
        assert!(cookie("", 0, false).contains("Max-Age=0"));
    }
}
