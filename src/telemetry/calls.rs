//! The call store: every call record kept and queryable (`/admin/calls`, `/admin/usage`), with
//! totals per minute, hour and day kept beside the calls so that usage queries read a few
//! rows per bucket however many calls there were.
//!
//! Everything goes through the `CallStore` trait, so that another backend (a database shared by
//! several gateways) can replace the embedded SQLite file without touching the request path:
//! requests only ever push their record into a `Batcher`; the sink's writer thread decodes a
//! batch and hands it to the store in one transaction.

pub mod hist;
mod query;
mod rollup;
mod sqlite;

pub use query::{Bucket, CallFilter, CallPage, Cursor, GroupBy, UsageQuery, UsageRow};
pub use rollup::Counts;
pub use sqlite::SqliteCalls;

use crate::config::CallStoreSettings;
use crate::telemetry::batch::{Batcher, Lost, Sink, SinkStats, BATCH_BYTES};
use crate::telemetry::record::Record;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum CallStoreError {
    #[error("call store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("call store: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    BadQuery(String),
}

/// What deletion by age and size removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub calls: u64,
    pub totals: u64,
}

/// A call as the store receives it: the record, and its JSON as the sink read it.
pub struct Call<'a> {
    pub record: Record<'a>,
    pub json: &'a str,
}

/// A backend of the call store.
pub trait CallStore: Send {
    /// Stores `calls` (and adds them to the totals), all or none.
    fn insert(&mut self, calls: &[Call<'_>]) -> Result<(), CallStoreError>;
    /// Deletes calls and totals past their retention, then the oldest calls while the store
    /// is larger than its cap; `now_ms` is the wall clock in Unix milliseconds.
    fn prune(&mut self, now_ms: i64) -> Result<Pruned, CallStoreError>;
    /// Calls matching `filter`, newest first.
    fn calls(&self, filter: &CallFilter) -> Result<CallPage, CallStoreError>;
    /// One call's whole record; `tenant` restricts it to that tenant's calls.
    fn call(
        &self,
        request_id: &str,
        tenant: Option<&str>,
    ) -> Result<Option<serde_json::Value>, CallStoreError>;
    fn usage(&self, q: &UsageQuery) -> Result<Vec<UsageRow>, CallStoreError>;
}

/// How often the writer that prunes does so.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// How long a store that could not be opened is left before the next try.
const REOPEN_AFTER: Duration = Duration::from_secs(5);

/// The batcher's sink: decodes each line and writes a batch in one go.
struct CallSink {
    settings: CallStoreSettings,
    store: Option<SqliteCalls>,
    /// When the last open failed, and why.
    failed: Option<(Instant, String)>,
    /// The worker's slot: its place in the row ids; worker 0 deletes old calls for the host.
    slot: u8,
    pruned_at: Option<Instant>,
}

impl CallSink {
    /// The store, opened if it is not yet (and not tried within `REOPEN_AFTER`).
    fn store(&mut self) -> Result<&mut SqliteCalls, String> {
        if self.store.is_none() {
            if let Some((at, why)) = &self.failed {
                if at.elapsed() < REOPEN_AFTER {
                    return Err(why.clone());
                }
            }
            match SqliteCalls::open(&self.settings, self.slot) {
                Ok(s) => {
                    self.store = Some(s);
                    self.failed = None;
                }
                Err(e) => {
                    let why = format!("cannot open {}: {e}", self.settings.path.display());
                    self.failed = Some((Instant::now(), why.clone()));
                    return Err(why);
                }
            }
        }
        self.store.as_mut().ok_or_else(String::new)
    }

    fn prune_if_due(&mut self) {
        let due = self
            .pruned_at
            .is_none_or(|t| t.elapsed() >= self.prune_every());
        if self.slot != 0 || !due {
            return;
        }
        self.pruned_at = Some(Instant::now());
        if let Ok(store) = self.store() {
            if let Err(e) = store.prune(crate::base::clock::now_unix_ms()) {
                tracing::warn!("cannot delete old calls: {e}");
            }
        }
    }

    /// Short retentions (tests, small hosts) are honoured within a quarter of themselves.
    fn prune_every(&self) -> Duration {
        PRUNE_EVERY.min(self.settings.retention / 4)
    }
}

impl Sink for CallSink {
    const FAILURE: &'static str = "cannot write the call store";
    const DROPPED_METRIC: &'static str = "tollgate_call_store_dropped_total";
    /// About 1500 records: a transaction's cost (its commit, the WAL frames of the pages it
    /// touched) is shared by many. Measured no slower than 4 MiB, and it keeps the writer's
    /// batch small beside the worker's own memory.
    const WRITE_BYTES: usize = 512 << 10;

    fn write(&mut self, lines: &[u8]) -> Result<(), Lost> {
        let mut calls = Vec::new();
        let mut unreadable = 0;
        for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let read = std::str::from_utf8(line)
                .ok()
                .and_then(|json| Some((serde_json::from_str::<Record<'_>>(json).ok()?, json)));
            match read {
                Some((record, json)) => calls.push(Call { record, json }),
                None => unreadable += 1,
            }
        }
        let result = match self.store() {
            Ok(store) => store.insert(&calls).map_err(|e| {
                // A store that fails may be a file deleted or replaced: open it again.
                self.store = None;
                e.to_string()
            }),
            Err(e) => Err(e),
        };
        match (result, unreadable) {
            (Ok(()), 0) => Ok(()),
            (Ok(()), n) => Err(Lost {
                error: "a record could not be read back".into(),
                records: n,
            }),
            (Err(error), n) => Err(Lost {
                error,
                records: calls.len() as u64 + n,
            }),
        }
    }

    fn tick(&mut self) {
        self.prune_if_due();
    }
}

/// Starts the call store's writer thread for the worker in `slot`.
pub fn start(
    settings: &CallStoreSettings,
    slot: u8,
    stats: Arc<SinkStats>,
) -> std::io::Result<Batcher> {
    let sink = CallSink {
        settings: settings.clone(),
        store: None,
        failed: None,
        slot,
        pruned_at: None,
    };
    Batcher::start("call-store", sink, settings.queue, BATCH_BYTES, stats)
}

#[cfg(test)]
mod tests;
