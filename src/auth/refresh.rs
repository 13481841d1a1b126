//! Keeps a worker's `Directory` current: every `[store] refresh` it reads the store's
//! generation (one indexed row) on the blocking pool, and when it moved, reads everything and
//! swaps a new directory in. A change made through the admin API therefore reaches every
//! worker within one refresh period plus one read. A reloaded configuration also rebuilds it,
//! since the keys' limits (plans, overrides) are made against the configuration's limits.

use super::crypto::Cipher;
use super::directory::Directory;
use crate::config::compile::StoreSettings;
use crate::config::Config;
use crate::limits::plans::Catalog;
use crate::store::Store;
use arc_swap::ArcSwap;
use std::collections::HashSet;
use std::sync::Arc;

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
            let result = match s.generation() {
                Ok(g) if g == seen && !stale => Ok(None),
                Ok(_) => build(&s, &settings, &cfg).map(Some),
                Err(e) => Err(e.to_string()),
            };
            (s, result)
        });
        let Ok((s, result)) = work.await else { return };
        store = Some(s);
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
                tracing::error!("store: cannot refresh keys and subscriptions: {e}");
                last_error = e;
            }
            Err(_) => {}
        }
    }
}
