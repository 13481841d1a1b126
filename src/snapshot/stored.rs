//! Keeps a worker's configuration in step with the store's: the upstreams, routes, providers
//! and models made through the admin API, and its prompt APIs. Every `[store] refresh` it reads
//! the store's generation (one row) on the blocking pool; when it moved, it reads those rows,
//! and when they differ from the ones the snapshot holds, it swaps in a snapshot with them
//! compiled (`Snapshot::with_stored`). A change made through the admin API therefore serves on
//! every worker within one refresh period plus one read.
//!
//! The swap is a compare-and-swap, and each tick checks that the snapshot in force holds the
//! rows last read: a reload that raced with a swap (and was built on the rows before it) is
//! followed by another swap rather than leaving an entry out. Read errors keep the last rows
//! in force; the directory refresh (`auth::refresh`) counts and logs the store's failures.
//!
//! `merge` is the one way a configuration and the store's rows become the configuration in
//! force: the workers serve it and the admin API answers from it.

use super::Snapshot;
use crate::base::cipher::Cipher;
use crate::config::live::{with_stored_entries, EntryLeftOut, StoredEntry};
use crate::config::{with_stored_prompts, Config, LeftOut};
use crate::proxy::GatewayState;
use crate::store::{EntryRow, PromptRow, Store};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What the store adds to the configuration files.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Stored {
    pub entries: Vec<EntryRow>,
    pub prompts: Vec<PromptRow>,
}

impl Stored {
    /// Reads the rows.
    pub fn read(store: &Store) -> crate::store::Result<Stored> {
        Ok(Stored {
            entries: store.entries()?,
            prompts: store.prompts()?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.prompts.is_empty()
    }
}

/// What `merge` left out, and why.
#[derive(Debug, Default)]
pub struct LeftOuts {
    pub entries: Vec<EntryLeftOut>,
    pub prompts: Vec<LeftOut>,
}

/// `file` (compiled from the files) with the stored entries, then the stored prompt APIs,
/// compiled in; each one that does not compile is left out, and said why.
pub fn merge(file: &Arc<Config>, stored: &Stored) -> (Arc<Config>, LeftOuts) {
    if stored.is_empty() {
        return (file.clone(), LeftOuts::default());
    }
    let cipher = (file.store.as_ref())
        .and_then(|s| s.secret_key.as_ref())
        .and_then(|k| Cipher::from_text(k.expose()).ok());
    let entries = opened(&stored.entries, cipher.as_ref());
    let (config, entries) = with_stored_entries(file, &entries);
    let rows = (stored.prompts.iter()).map(|r| (r.name.as_str(), r.version, &r.definition));
    let (config, prompts) = with_stored_prompts(&config, rows);
    (Arc::new(config), LeftOuts { entries, prompts })
}

/// The rows as the compiler takes them, each one's sealed secrets opened into its definition.
pub fn opened(rows: &[EntryRow], cipher: Option<&Cipher>) -> Vec<StoredEntry> {
    rows.iter()
        .filter_map(|r| {
            let section = crate::config::live::section(&r.section)?;
            let definition = match (&r.sealed, cipher) {
                (None, _) => Ok(r.definition.clone()),
                (Some(_), None) => Err(format!(
                    "{section}[{}]: its secrets are sealed with [store] secret_key, which is not set",
                    r.name
                )),
                (Some(sealed), Some(c)) => unseal(&r.definition, sealed, c)
                    .map_err(|e| format!("{section}[{}]: {e}", r.name)),
            };
            Some(StoredEntry {
                section,
                name: r.name.clone(),
                definition,
            })
        })
        .collect()
}

/// The definition with the sealed fields (a JSON object) put back.
fn unseal(
    definition: &serde_json::Value,
    sealed: &[u8],
    cipher: &Cipher,
) -> Result<serde_json::Value, String> {
    let text = cipher.open(sealed).map_err(|e| e.to_string())?;
    let fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| format!("sealed secrets: {e}"))?;
    let mut out = definition.clone();
    if let Some(obj) = out.as_object_mut() {
        obj.extend(fields);
    }
    Ok(out)
}

/// `snapshot` with the store's entries and prompts, read now; at worker start, before serving
/// (a stored route must not 404 while the worker catches up). A store that cannot be read
/// leaves it as it is: the directory's own load has refused to start already in that case.
pub fn at_start(
    snapshot: Snapshot,
    store: &Store,
    registry: &crate::telemetry::metrics::Registry,
) -> Snapshot {
    match Stored::read(store) {
        Ok(rows) if rows.is_empty() => snapshot,
        Ok(rows) => snapshot.with_stored(Arc::new(rows), registry),
        Err(e) => {
            tracing::error!("store: cannot read the stored configuration: {e}");
            snapshot
        }
    }
}

/// Follows the store at `path` until the task is dropped; its own connection is opened on the
/// blocking pool (and again after a failed open).
pub async fn follow(path: PathBuf, refresh: Duration, state: Arc<GatewayState>) {
    let mut store: Option<Store> = None;
    let mut seen: Option<u64> = None;
    let mut want = state.snapshot.load().stored.clone();
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
                Ok(g) => Stored::read(&s).ok().map(|rows| (g, rows)),
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
        if !Arc::ptr_eq(&state.snapshot.load().stored, &want) {
            apply(&state, want.clone()).await;
        }
    }
}

/// Swaps in the current snapshot with `rows`, on the blocking pool (compiling reads the
/// files a configuration names, building a snapshot the MCP catalog's OpenAPI files), again if
/// a reload swapped meanwhile; then starts the new upstreams' health checks.
async fn apply(state: &Arc<GatewayState>, rows: Arc<Stored>) {
    let state = state.clone();
    let swapped = tokio::task::spawn_blocking(move || loop {
        let current = state.snapshot.load_full();
        let next = Arc::new(current.with_stored(rows.clone(), &state.registry));
        let before = state.snapshot.compare_and_swap(&current, next.clone());
        if Arc::ptr_eq(&before, &current) {
            tracing::debug!(
                "{} stored entries and {} prompt API versions applied",
                rows.entries.len(),
                rows.prompts.len()
            );
            return next;
        }
    })
    .await;
    if let Ok(next) = swapped {
        next.start_health_checks();
    }
}
