//! Keeps a worker's route table in step with the prompt APIs in the store. Every `[store]
//! refresh` it reads the store's generation (one row) on the blocking pool; when it moved, it
//! reads the prompt rows, and when they differ from the ones the snapshot holds, it swaps in a
//! snapshot with them compiled (`Snapshot::with_stored_prompts`). A change made through the
//! admin API therefore serves on every worker within one refresh period plus one read.
//!
//! The swap is a compare-and-swap, and each tick checks that the snapshot in force holds the
//! rows last read: a reload that raced with a swap (and was built on the rows before it) is
//! followed by another swap rather than leaving a prompt out. Read errors keep the last rows
//! in force; the directory refresh (`auth::refresh`) counts and logs the store's failures.

use super::Snapshot;
use crate::proxy::GatewayState;
use crate::store::{PromptRow, Store};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// `snapshot` with the store's prompts, read now; at worker start, before serving (a stored
/// prompt must not 404 while the worker catches up). A store that cannot be read leaves it as
/// it is: the directory's own load has refused to start already in that case.
pub fn at_start(
    snapshot: Snapshot,
    store: &Store,
    registry: &crate::telemetry::metrics::Registry,
) -> Snapshot {
    match store.prompts() {
        Ok(rows) if rows.is_empty() => snapshot,
        Ok(rows) => snapshot.with_stored_prompts(Arc::new(rows), registry),
        Err(e) => {
            tracing::error!("store: cannot read the prompt APIs: {e}");
            snapshot
        }
    }
}

/// Follows the store at `path` until the task is dropped; its own connection is opened on the
/// blocking pool (and again after a failed open).
pub async fn follow(path: PathBuf, refresh: Duration, state: Arc<GatewayState>) {
    let mut store: Option<Store> = None;
    let mut seen: Option<u64> = None;
    let mut want = state.snapshot.load().stored_prompts.clone();
    let mut ticker = tokio::time::interval(refresh);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let (held, last, path) = (store.take(), seen, path.clone());
        let work = tokio::task::spawn_blocking(move || {
            let s = match held {
                Some(s) => s,
                None => match Store::open(&path) {
                    Ok(s) => s,
                    Err(_) => return (None, None),
                },
            };
            let read = match s.check_file().and_then(|()| s.generation()) {
                Ok(g) if Some(g) == last => None,
                Ok(g) => s.prompts().ok().map(|rows| (g, rows)),
                Err(_) => None,
            };
            (Some(s), read)
        });
        let Ok((s, read)) = work.await else { return };
        store = s;
        if let Some((g, rows)) = read {
            seen = Some(g);
            if rows != *want {
                want = Arc::new(rows);
            }
        }
        if !Arc::ptr_eq(&state.snapshot.load().stored_prompts, &want) {
            apply(&state, want.clone()).await;
        }
    }
}

/// Swaps in the current snapshot with `rows`, on the blocking pool (building a snapshot reads
/// the MCP catalog's OpenAPI files), again if a reload swapped meanwhile.
async fn apply(state: &Arc<GatewayState>, rows: Arc<Vec<PromptRow>>) {
    let state = state.clone();
    let _ = tokio::task::spawn_blocking(move || loop {
        let current = state.snapshot.load_full();
        let next = Arc::new(current.with_stored_prompts(rows.clone(), &state.registry));
        let before = state.snapshot.compare_and_swap(&current, next);
        if Arc::ptr_eq(&before, &current) {
            tracing::debug!("{} stored prompt API versions applied", rows.len());
            return;
        }
    })
    .await;
}
