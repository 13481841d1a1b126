//! Keeps a worker's `Directory` current: every `[store] refresh` it reads the store's
//! generation (one indexed row) on the blocking pool, and when it moved, reads everything and
//! swaps a new directory in. A change made through the admin API therefore reaches every
//! worker within one refresh period plus one read.

use super::crypto::Cipher;
use super::directory::Directory;
use crate::config::compile::StoreSettings;
use crate::store::Store;
use arc_swap::ArcSwap;
use std::sync::Arc;

/// Opens the store and builds the first directory; run at worker start, before serving.
pub fn load_now(settings: &StoreSettings) -> Result<(Store, Directory), String> {
    let store = Store::open(&settings.path).map_err(|e| e.to_string())?;
    let dir = build(&store, settings)?;
    Ok((store, dir))
}

fn build(store: &Store, settings: &StoreSettings) -> Result<Directory, String> {
    let rows = store.rows().map_err(|e| e.to_string())?;
    let cipher = settings
        .secret_key
        .as_ref()
        .and_then(|k| Cipher::from_text(k.expose()).ok());
    let (dir, problems) = Directory::build(rows, cipher.as_ref());
    for p in problems {
        tracing::warn!("store: {p}");
    }
    Ok(dir)
}

/// Polls the store until the task is dropped. Errors are logged once per kind and retried:
/// the last good directory stays in force meanwhile.
pub async fn follow(store: Store, settings: StoreSettings, target: Arc<ArcSwap<Directory>>) {
    let mut store = Some(store);
    let mut last_error = String::new();
    let mut ticker = tokio::time::interval(settings.refresh);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(s) = store.take() else { return };
        let seen = target.load().generation;
        let settings = settings.clone();
        let work = tokio::task::spawn_blocking(move || {
            let result = match s.generation() {
                Ok(g) if g == seen => Ok(None),
                Ok(_) => build(&s, &settings).map(Some),
                Err(e) => Err(e.to_string()),
            };
            (s, result)
        });
        let Ok((s, result)) = work.await else { return };
        store = Some(s);
        match result {
            Ok(Some(dir)) => {
                tracing::debug!("store generation {} loaded", dir.generation);
                target.store(Arc::new(dir));
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
