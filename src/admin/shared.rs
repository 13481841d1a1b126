//! What every admin handler shares: the admin process's state (`Shared`: the configuration, the
//! store, the limit tables, the Redis link), one parsed request (`Call`) and the answer helpers.

use super::error::AdminError;
use super::Tables;
use crate::config::{Config, UserSettings};
use crate::limits::redis::RedisLink;
use crate::store::{Actor, Store};
use crate::telemetry::calls::SqliteCalls;
use arc_swap::ArcSwap;
use http::Response;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// What an admin handler answers: a response, or an error `AdminError` turns into one.
pub type Answer = Result<Response<Vec<u8>>, AdminError>;

/// What every admin request shares: the current configuration (swapped on SIGHUP) and the one
/// store connection of the admin process.
pub struct Shared {
    pub config: Arc<ArcSwap<Config>>,
    /// `[store] path` as the process started with it: like the master and the workers, the
    /// admin process takes a changed path on restart only.
    store_path: Option<PathBuf>,
    /// Opened on first use, and again after a failed open or a failed file check, so a store
    /// that was briefly unusable answers 503 until it works rather than for the life of the
    /// process. It is never created here (see `Store::open`).
    store: Mutex<Option<Store>>,
    /// The host's limit table and its most-refused table, shared with the workers.
    pub tables: Tables,
    /// The link to `[redis]`, made on first use and again when the settings change.
    redis: Mutex<Option<Arc<RedisLink>>>,
    /// The call store's connection, opened on first use (and again after a failure).
    calls: Mutex<Option<SqliteCalls>>,
    /// Sign-in attempts per client address.
    pub logins: super::throttle::Throttle,
}

impl Shared {
    pub fn new(config: Arc<ArcSwap<Config>>, tables: Tables) -> Arc<Shared> {
        let store_path = config.load().store.as_ref().map(|s| s.path.clone());
        Arc::new(Shared {
            config,
            store_path,
            store: Mutex::new(None),
            tables,
            redis: Mutex::new(None),
            calls: Mutex::new(None),
            logins: Default::default(),
        })
    }

    /// How users sign in, as the current configuration says.
    pub fn user_settings(&self) -> UserSettings {
        match &self.config.load().admin {
            Some(a) => a.users.clone(),
            None => UserSettings::default(),
        }
    }

    /// The link to the current `[redis]`, waiting (up to its connect timeout) for a first
    /// connection; `None` without `[redis]`.
    pub async fn redis(&self) -> Option<Arc<RedisLink>> {
        let settings = self.config.load().redis.clone()?;
        let link = {
            let mut held = self.redis.lock().unwrap_or_else(|e| e.into_inner());
            match held.as_ref() {
                Some(l) if *l.settings() == settings => Arc::clone(l),
                _ => {
                    let link = RedisLink::start(settings).ok()?;
                    *held = Some(Arc::clone(&link));
                    link
                }
            }
        };
        link.ready().await;
        Some(link)
    }

    /// Runs `f` on the store in a blocking thread, opening the store first if needed.
    pub async fn store<T, F>(self: &Arc<Self>, f: F) -> Result<T, AdminError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, AdminError> + Send + 'static,
    {
        let Some(path) = self.store_path.clone() else {
            return Err(AdminError::Unavailable("no [store] configured".into()));
        };
        // A deleted or replaced file is neither read nor written (503): the connection would
        // still reach the old inode, and what is written there is lost.
        let check = |s: &Store| Ok(s.check_file()?);
        on_connection(
            self,
            |s| &s.store,
            move || Ok(Store::open(&path)?),
            check,
            f,
        )
        .await
    }

    /// Runs `f` on the call store in a blocking thread, opening it first if needed.
    pub async fn calls<T, F>(self: &Arc<Self>, f: F) -> Result<T, AdminError>
    where
        T: Send + 'static,
        F: FnOnce(&SqliteCalls) -> Result<T, AdminError> + Send + 'static,
    {
        let Some(settings) = self.config.load().log.store.clone() else {
            return Err(AdminError::Unavailable("no [log.store] configured".into()));
        };
        // Made here if no call was written yet; read-only when it cannot be written.
        let open = move || {
            Ok(SqliteCalls::open(&settings, u8::MAX)
                .or_else(|_| SqliteCalls::open_read_only(&settings))?)
        };
        on_connection(self, |s| &s.calls, open, |_| Ok(()), f).await
    }
}

/// Runs `f` in a blocking thread on the connection `slot` holds, opened by `open` when there
/// is none. A connection that fails `check`, or with which `f` finds the file unusable (503),
/// is dropped, so the next call opens the file again: a file that was briefly unusable answers
/// 503 until it works rather than for the life of the process.
async fn on_connection<C, T, F>(
    shared: &Arc<Shared>,
    slot: fn(&Shared) -> &Mutex<Option<C>>,
    open: impl FnOnce() -> Result<C, AdminError> + Send + 'static,
    check: fn(&C) -> Result<(), AdminError>,
    f: F,
) -> Result<T, AdminError>
where
    C: Send + 'static,
    T: Send + 'static,
    F: FnOnce(&C) -> Result<T, AdminError> + Send + 'static,
{
    let shared = shared.clone();
    let work = move || {
        // A panic under the lock cannot leave the connection half-changed: SQLite rolls back
        // an unfinished transaction, so a poisoned lock is safe to take.
        let mut held = slot(&shared).lock().unwrap_or_else(|p| p.into_inner());
        let conn = match held.take() {
            Some(c) => c,
            None => open()?,
        };
        check(&conn)?;
        let out = f(&conn);
        if !matches!(out, Err(AdminError::Unavailable(_))) {
            *held = Some(conn);
        }
        out
    };
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AdminError::Internal(format!("a store call failed: {e}")))?
}

/// One admin request, parsed and authorized.
pub struct Call {
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub actor: Actor,
    /// Who is calling.
    pub who: super::principal::Principal,
    /// What `scope::authorize` allowed: everything, or one tenant.
    pub grant: super::scope::Grant,
}

/// A JSON answer.
pub fn json(status: u16, value: &impl Serialize) -> Answer {
    let body = serde_json::to_string(value)
        .map_err(|e| AdminError::Internal(format!("cannot write the answer: {e}")))?;
    Ok(super::reply(status, "application/json", body))
}

/// `204 No Content`, with neither a body nor its headers.
pub fn no_content() -> Answer {
    Response::builder()
        .status(204)
        .body(Vec::new())
        .map_err(|e| AdminError::Internal(e.to_string()))
}
