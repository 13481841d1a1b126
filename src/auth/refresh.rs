//! Keeps a worker's `Directory` current: every `[store] refresh` it reads the store's
//! generation (one indexed row) on the blocking pool, and when it moved, reads everything and
//! swaps a new directory in. A change made through the admin API therefore reaches every
//! worker within one refresh period plus one read. A reloaded configuration also rebuilds it,
//! since the keys' limits (plans, overrides) are made against the configuration's limits.
//!
//! Each tick also checks that the path still names the file the worker opened. When the file
//! was deleted or replaced, the worker keeps its last directory (every worker then answers
//! alike), counts the failure in `StoreHealth` (exported on `/metrics`) and logs once per
//! change of state. A worker never creates or migrates the store: one that cannot open it at
//! start exits (and is restarted with a pause), rather than serve with an empty directory.

use super::directory::Directory;
use super::plans::Catalog;
use crate::base::cipher::Cipher;
use crate::config::Config;
use crate::config::StoreSettings;
use crate::store::Store;
use arc_swap::ArcSwap;
use std::collections::HashSet;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// How a worker's store reads go, for `/metrics`.
#[derive(Debug, Default)]
pub struct StoreHealth {
    /// Refresh ticks that could not read the store (file deleted or replaced, SQLite error).
    errors: AtomicU64,
    /// Set while the worker serves on its last directory because the store cannot be read.
    failing: AtomicBool,
}

impl StoreHealth {
    /// Appends the store series in Prometheus text (summed over workers by the admin process).
    pub fn render(&self, out: &mut String) {
        let _ = write!(
            out,
            "# HELP tollgate_store_errors_total Store refreshes that failed (file deleted or \
             replaced, or a read error); keys stay as last loaded.\n\
             # TYPE tollgate_store_errors_total counter\n\
             tollgate_store_errors_total {}\n\
             # HELP tollgate_store_unavailable Workers serving on their last keys because the \
             store cannot be read.\n\
             # TYPE tollgate_store_unavailable gauge\n\
             tollgate_store_unavailable {}\n",
            self.errors.load(Relaxed),
            u8::from(self.failing.load(Relaxed)),
        );
    }
}

/// Opens the store and builds the first directory; run at worker start, before serving.
pub fn load_now(settings: &StoreSettings, config: &Config) -> Result<(Store, Directory), String> {
    let store = Store::open(&settings.path).map_err(|e| e.to_string())?;
    let (dir, problems) = build(&store, settings, config)?;
    for p in problems {
        tracing::warn!("store: {p}");
    }
    Ok((store, dir))
}

fn build(
    store: &Store,
    settings: &StoreSettings,
    config: &Config,
) -> Result<(Directory, Vec<String>), String> {
    let rows = store.rows().map_err(|e| e.to_string())?;
    let cipher = settings
        .secret_key
        .as_ref()
        .and_then(|k| Cipher::from_text(k.expose()).ok());
    let catalog = Catalog {
        limits: &config.limits,
        plans: &config.plans,
    };
    Ok(Directory::build(rows, cipher.as_ref(), catalog))
}

/// Polls the store until the task is dropped; `config` reads the worker's current
/// configuration. Errors are logged once per kind and retried: the last good directory stays
/// in force meanwhile. A problem of a build (a limit a reload removed) is logged once, not on
/// every rebuild.
pub async fn follow(
    store: Store,
    settings: StoreSettings,
    target: Arc<ArcSwap<Directory>>,
    config: impl Fn() -> Arc<Config>,
    health: Arc<StoreHealth>,
) {
    let mut store = Some(store);
    let mut last_error = String::new();
    let mut built_for = config();
    let mut said: HashSet<String> = HashSet::new();
    let mut ticker = tokio::time::interval(settings.refresh);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(s) = store.take() else { return };
        let current = config();
        let seen = target.load().generation;
        let stale = !Arc::ptr_eq(&current, &built_for);
        let (settings, cfg) = (settings.clone(), current.clone());
        let work = tokio::task::spawn_blocking(move || {
            // A gone file is not read: the last directory is what every worker holds.
            let result = match s.check_file().and_then(|()| s.generation()) {
                Ok(g) if g == seen && !stale => Ok(None),
                Ok(_) => build(&s, &settings, &cfg).map(Some),
                Err(e) => Err(e.to_string()),
            };
            (s, result)
        });
        let Ok((s, result)) = work.await else { return };
        store = Some(s);
        health.failing.store(result.is_err(), Relaxed);
        if result.is_err() {
            health.errors.fetch_add(1, Relaxed);
        } else if !last_error.is_empty() {
            tracing::info!("store: readable again; keys and subscriptions follow it");
        }
        match result {
            Ok(Some((dir, problems))) => {
                for p in problems {
                    if !said.contains(&p) {
                        tracing::warn!("store: {p}");
                        said.insert(p);
                    }
                }
                tracing::debug!("store generation {} loaded", dir.generation);
                target.store(Arc::new(dir));
                built_for = current;
                last_error.clear();
            }
            Ok(None) => last_error.clear(),
            Err(e) if e != last_error => {
                tracing::error!(
                    "store: cannot refresh keys and subscriptions, the last ones loaded stay \
                     in force: {e}"
                );
                last_error = e;
            }
            Err(_) => {}
        }
    }
}
