//! The host-wide concurrency table: how many requests (or streams) each key has in flight,
//! across every worker of the host. Mapped by the master before it forks, like the rate table.
//!
//! Each key has a row, and each row one counter per worker slot (a column). A request adds one
//! to its own worker's counter, then sums the row; when the sum is above the cap it takes its
//! one back and is refused. Two requests racing for the last place may both be refused, but
//! the cap can never be passed: every admitted request was counted before it looked.
//!
//! A worker's column is zeroed by the master when the worker starts, when it is restarted
//! after a crash and when it is reaped: a dead worker's in-flight requests are gone with it,
//! so they must not keep holding places. Only the master writes another worker's column, and
//! only while no process owns it.
//!
//! Memory is fixed: `slots` rows (rounded up to a power of two) of an 8-byte key plus 4 bytes
//! per worker slot, laid out by column so that only the columns of running workers are ever
//! touched. A key lives in one of `PROBE` rows after its hash. A row whose counters are all
//! zero is idle and goes to the next key that needs one; when all rows of a window hold
//! requests in flight, a new key is refused (fail closed: never more than the cap). Size the
//! table above the number of keys with requests in flight at the same time. The header, the
//! keys and the counters are three shared mappings (`base::shm`), each page-aligned.
//!
//! Giving a row to another key: the claimer locks the row (its key word becomes `LOCK` plus
//! the claimer's column), checks again that it is idle and that no other row of the window
//! holds or is claiming the key, then writes the new key. A request that counted itself in a
//! row re-reads the row's key afterwards and backs out when it changed; with sequentially
//! consistent atomics either the claimer sees the count or the request sees the lock. A row
//! left locked by a worker that died in those few instructions is freed when it is reaped.

use super::vocab::{bucket, Caller, Headers, Limited, Refusal};
use crate::base::shm::{SharedSlice, MAX_WORKERS};
use crate::config::LimitSpec;
use crate::telemetry::metrics::LimitMetrics;
use http::HeaderValue;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::Arc;

/// Rows a key may occupy, starting at its hash.
pub const PROBE: usize = 8;

/// Worker columns: one per worker slot of the process tree.
const COLUMNS: usize = MAX_WORKERS;

/// A key word with this bit set is a row being given to another key; the low bits name the
/// claiming worker's column.
const LOCK: u64 = 1 << 63;

/// How often a request retries a window that is being claimed before it gives up (and is
/// refused): a claim lasts a few atomic operations, so this is only reached under a storm.
const RETRIES: u32 = 10_000;

#[derive(zerocopy::FromZeros)]
#[repr(C)]
struct Header {
    /// Columns that may hold counts: one past the highest worker slot ever started.
    columns: AtomicU32,
}

#[derive(Clone, Copy)]
pub struct ConcurrencyTable {
    header: &'static Header,
    keys: &'static [AtomicU64],
    /// Column-major: worker `c`'s counter of row `r` is at `c * rows + r`.
    counts: &'static [AtomicU32],
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The key has `max` requests in flight.
    AtCap,
    /// No row could be had for the key: the table is too small for the keys in flight.
    TableFull,
}

/// One place held by a request; dropping it gives the place back.
pub struct Held {
    table: ConcurrencyTable,
    cell: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.table.counts[self.cell].fetch_sub(1, SeqCst);
    }
}

enum Found {
    Row(usize),
    /// A row of the window is being claimed: try again.
    Busy,
    Full,
}

impl ConcurrencyTable {
    /// Maps a zeroed shared table of `slots` rows (rounded up to a power of two, at least
    /// `PROBE`); it stays mapped for the life of the process tree.
    pub fn map(slots: usize) -> std::io::Result<ConcurrencyTable> {
        let rows = slots.max(PROBE).next_power_of_two();
        Ok(ConcurrencyTable {
            header: SharedSlice::<Header>::map_one()?,
            keys: SharedSlice::map(rows)?.as_slice(),
            counts: SharedSlice::map(rows * COLUMNS)?.as_slice(),
        })
    }

    pub fn rows(&self) -> usize {
        self.keys.len()
    }

    /// Zeroes worker `slot`'s column: called by the master when no process owns the slot
    /// (before it forks the slot's worker, and after reaping it).
    pub fn reset_worker(&self, slot: usize) {
        if slot >= COLUMNS {
            return;
        }
        let rows = self.rows();
        for cell in &self.counts[slot * rows..(slot + 1) * rows] {
            if cell.load(SeqCst) != 0 {
                cell.store(0, SeqCst);
            }
        }
        // A claim the dead worker left half done.
        let lock = LOCK | slot as u64;
        for k in self.keys {
            let _ = k.compare_exchange(lock, 0, SeqCst, SeqCst);
        }
        self.header.columns.fetch_max(slot as u32 + 1, SeqCst);
    }

    /// Counts one request of `key` (a hash; see `local::key_hash`) in worker `column`, unless
    /// the key already has `max` in flight on the host.
    pub fn acquire(&self, column: usize, key: u64, max: u64) -> Result<Held, Refused> {
        let column = column.min(COLUMNS - 1);
        let key = tag(key);
        for attempt in 0..RETRIES {
            let row = match self.find_or_claim(key, column) {
                Found::Row(r) => r,
                Found::Full => return Err(Refused::TableFull),
                Found::Busy => {
                    back_off(attempt);
                    continue;
                }
            };
            let cell = column * self.rows() + row;
            self.counts[cell].fetch_add(1, SeqCst);
            let held = Held { table: *self, cell };
            if self.keys[row].load(SeqCst) != key {
                // The row went to another key between finding and counting.
                drop(held);
                continue;
            }
            if self.sum(row) > max {
                return Err(Refused::AtCap);
            }
            return Ok(held);
        }
        Err(Refused::TableFull)
    }

    /// Requests of `key` in flight on the host.
    pub fn in_flight(&self, key: u64) -> u64 {
        let key = tag(key);
        self.window(key)
            .find(|&r| self.keys[r].load(SeqCst) == key)
            .map_or(0, |r| self.sum(r))
    }

    fn sum(&self, row: usize) -> u64 {
        let rows = self.rows();
        let columns = (self.header.columns.load(SeqCst) as usize).clamp(1, COLUMNS);
        (0..columns)
            .map(|c| u64::from(self.counts[c * rows + row].load(SeqCst)))
            .sum()
    }

    fn window(&self, key: u64) -> impl Iterator<Item = usize> {
        let mask = self.rows() - 1;
        let start = key as usize & mask;
        (0..PROBE).map(move |i| (start + i) & mask)
    }

    fn find_or_claim(&self, key: u64, column: usize) -> Found {
        let mut claiming = false;
        for r in self.window(key) {
            match self.keys[r].load(SeqCst) {
                k if k == key => return Found::Row(r),
                k if k & LOCK != 0 => claiming = true,
                _ => {}
            }
        }
        if claiming {
            // The key may be being given this very row: wait rather than claim a second one.
            return Found::Busy;
        }
        for r in self.window(key) {
            let k = self.keys[r].load(SeqCst);
            if k == key {
                return Found::Row(r);
            }
            if k & LOCK != 0 {
                return Found::Busy;
            }
            if k == 0 || self.sum(r) == 0 {
                return self.claim(r, k, key, column);
            }
        }
        Found::Full
    }

    /// Gives idle row `r` (now holding key word `was`) to `key`, under a lock.
    fn claim(&self, r: usize, was: u64, key: u64, column: usize) -> Found {
        let lock = LOCK | column as u64;
        if self.keys[r]
            .compare_exchange(was, lock, SeqCst, SeqCst)
            .is_err()
        {
            return Found::Busy;
        }
        let contested = self.window(key).any(|x| {
            let k = self.keys[x].load(SeqCst);
            x != r && (k == key || k & LOCK != 0)
        });
        if self.sum(r) == 0 && !contested {
            self.keys[r].store(key, SeqCst);
            return Found::Row(r);
        }
        self.keys[r].store(was, SeqCst);
        Found::Busy
    }
}

/// Takes one place from each of a route's concurrency caps (`limits`, indexes into `specs`),
/// or none: the places are held until the returned guards drop, when the request ends. A
/// refusal says `Retry-After: 1`: places free up as requests end, not on a schedule.
pub fn hold(
    table: &ConcurrencyTable,
    column: usize,
    specs: &[LimitSpec],
    metrics: &[Arc<LimitMetrics>],
    limits: &[usize],
    caller: &Caller,
    headers: &mut Headers,
) -> Result<Vec<Held>, Limited> {
    let mut held = Vec::with_capacity(limits.len());
    for &i in limits {
        let spec = &specs[i];
        match table.acquire(column, bucket(spec, caller), spec.max) {
            Ok(h) => held.push(h),
            Err(why) => {
                metrics[i].limited.fetch_add(1, Relaxed);
                if why == Refused::TableFull {
                    tracing::warn!(
                        "concurrency limit {}: no free row for its key; raise server.concurrency_slots",
                        spec.name
                    );
                }
                headers.push((http::header::RETRY_AFTER, HeaderValue::from_static("1")));
                return Err(Limited {
                    limit: spec.name.clone(),
                    retry_after: 1,
                    unavailable: false,
                    kind: Refusal::Concurrency,
                });
            }
        }
    }
    for &i in limits {
        metrics[i].allowed.fetch_add(1, Relaxed);
    }
    Ok(held)
}

/// A key word for `hash`: never 0 (an empty row) and never with the lock bit.
fn tag(hash: u64) -> u64 {
    (hash & !LOCK).max(1)
}

fn back_off(attempt: u32) {
    if attempt < 64 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn never_more_than_the_cap_across_threads() {
        let table = ConcurrencyTable::map(64).unwrap();
        for c in 0..4 {
            table.reset_worker(c);
        }
        let key = 0xfeed;
        // Requests holding a place right now, counted apart from the table.
        let (holding, peak) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let handles: Vec<_> = (0..4)
            .map(|c| {
                let (holding, peak) = (holding.clone(), peak.clone());
                std::thread::spawn(move || {
                    let mut admitted = 0;
                    for _ in 0..2_000 {
                        if let Ok(held) = table.acquire(c, key, 3) {
                            admitted += 1;
                            peak.fetch_max(holding.fetch_add(1, SeqCst) + 1, SeqCst);
                            std::hint::spin_loop();
                            holding.fetch_sub(1, SeqCst);
                            drop(held);
                        }
                    }
                    admitted
                })
            })
            .collect();
        let admitted: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert!(admitted > 0);
        assert!(peak.load(SeqCst) <= 3, "{}", peak.load(SeqCst));
        assert_eq!(table.in_flight(key), 0);
    }

    #[test]
    fn places_are_held_until_dropped_and_a_reset_column_lets_go() {
        let table = ConcurrencyTable::map(64).unwrap();
        table.reset_worker(0);
        table.reset_worker(1);
        let a = table.acquire(0, 7, 2).unwrap();
        let _b = table.acquire(1, 7, 2).unwrap();
        assert_eq!(table.acquire(1, 7, 2).err(), Some(Refused::AtCap));
        assert!(table.acquire(0, 8, 2).is_ok(), "other keys are apart");
        drop(a);
        let a = table.acquire(0, 7, 2).unwrap();
        // Worker 0 died holding `a`: its restart zeroes its column.
        std::mem::forget(a);
        table.reset_worker(0);
        assert_eq!(table.in_flight(7), 1);
        assert!(table.acquire(0, 7, 2).is_ok());
    }

    #[test]
    fn idle_rows_go_to_new_keys_and_a_busy_window_refuses() {
        let table = ConcurrencyTable::map(PROBE).unwrap();
        table.reset_worker(0);
        let held: Vec<_> = (1..=PROBE as u64)
            .map(|k| table.acquire(0, k, 1).unwrap())
            .collect();
        assert_eq!(table.acquire(0, 99, 1).err(), Some(Refused::TableFull));
        drop(held);
        assert!(table.acquire(0, 99, 1).is_ok());
        assert_eq!(table.rows(), PROBE);
    }

    #[test]
    fn a_claim_left_by_a_dead_worker_is_undone() {
        let table = ConcurrencyTable::map(PROBE).unwrap();
        table.reset_worker(0);
        table.reset_worker(3);
        table.keys[2].store(LOCK | 3, SeqCst);
        assert!(matches!(table.find_or_claim(tag(5), 0), Found::Busy));
        table.reset_worker(3);
        assert!(table.acquire(0, 5, 1).is_ok());
    }
}
