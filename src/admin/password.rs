//! Passwords of admin users: Argon2id (the `argon2` crate's defaults, 19 MiB and 2 passes,
//! OWASP's minimum), stored as PHC strings. Hashing takes tens of milliseconds of CPU on
//! purpose, so it runs on the blocking pool (`spawn_blocking`), never on the admin's async
//! thread. An unknown user is checked against a dummy hash, so a sign-in takes as long
//! whether or not the name exists.

use super::error::AdminError;
use crate::config::{Secret, MIN_PASSWORD};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::OnceLock;

/// Longer passwords are refused: hashing one costs the same, but reading it need not.
pub const MAX_PASSWORD: usize = 1024;

/// Checks a new password's length; the message names `field`.
pub fn check(field: &str, password: &str) -> Result<(), AdminError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD || password.len() > MAX_PASSWORD {
        return Err(AdminError::BadRequest(format!(
            "{field}: use {MIN_PASSWORD} to {MAX_PASSWORD} characters"
        )));
    }
    Ok(())
}

/// The PHC string of `password` with a fresh random salt (blocking: start-up and the pool).
pub fn hash_blocking(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("cannot read random bytes: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches the PHC string (blocking).
fn verify_blocking(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash of a random password, made once, to check unknown users' passwords against.
fn dummy() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = crate::base::api_key::random_secret().unwrap_or_default();
        hash_blocking(&random).unwrap_or_default()
    })
}

/// `hash_blocking` on the blocking pool.
pub async fn hash(password: String) -> Result<Secret, AdminError> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|e| AdminError::Internal(format!("the password hasher failed: {e}")))?
        .map(Secret::new)
        .map_err(AdminError::Internal)
}

/// Whether `password` matches `phc`; with no user (`None`), the dummy hash is checked and the
/// answer is false, in about the same time.
pub async fn verify(password: String, phc: Option<Secret>) -> bool {
    let work = move || {
        // Made on the first check of either kind, so that one costs the same for both.
        let dummy = dummy();
        match &phc {
            Some(h) => verify_blocking(&password, h.expose()),
            None => {
                let _ = verify_blocking(&password, dummy);
                false
            }
        }
    };
    tokio::task::spawn_blocking(work).await.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_blocking("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_blocking("correct horse battery", &h));
        assert!(!verify_blocking("correct horse battery!", &h));
        assert!(!verify_blocking("x", "not a phc string"));
        assert_ne!(h, hash_blocking("correct horse battery").unwrap(), "salted");
    }

    #[tokio::test]
    async fn unknown_users_never_verify() {
        assert!(!verify("anything at all".into(), None).await);
        assert!(check("password", "short").is_err());
        assert!(check("password", "long enough pass").is_ok());
    }
}
