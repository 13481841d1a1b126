//! The most refused buckets of the host, for `GET /admin/limits/top`: a small fixed table in
//! shared memory (mapped by the master before it forks, like the limit table), written only
//! when a request is refused, so the allowed path never touches it.
//!
//! It runs the space-saving algorithm (Metwally et al.) over `ENTRIES` counters: a refused
//! bucket that holds an entry adds one to it; one that does not takes the entry with the
//! smallest count and starts from that count plus one. So every bucket refused more than
//! `total refusals / ENTRIES` times is in the table, and an entry's count is at most
//! `floor` (the count it started from, also shown) above its true count. Concurrent
//! refusals across workers are counted with atomics and no lock; two buckets racing for the
//! same entry lose one of the two counts, which the approximation absorbs.
//!
//! Each entry keeps a short text of the bucket's key parts (`LABEL_BYTES`, cut at a
//! character boundary), written by the process that claimed the entry under a per-entry flag;
//! a reader that catches it mid-write shows no label rather than a torn one.

use super::vocab::{label, Caller, Draw, Limited};
use crate::base::shm::SharedSlice;
use crate::config::LimitSpec;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

/// Counters in the table.
pub const ENTRIES: usize = 256;
/// Bytes of key-part text kept per entry.
pub const LABEL_BYTES: usize = 96;
const WORDS: usize = LABEL_BYTES / 8;

#[derive(zerocopy::FromZeros)]
#[repr(C)]
struct Entry {
    /// The bucket's key hash; 0 when the entry is free.
    key: AtomicU64,
    count: AtomicU64,
    /// The count the bucket started from when it took the entry (the overestimate bound).
    floor: AtomicU64,
    /// 1 while a process writes the label.
    writing: AtomicU64,
    /// The key the label was written for: 0 while being written.
    label_key: AtomicU64,
    /// The label's length in bytes.
    label_len: AtomicU64,
    label: [AtomicU64; WORDS],
}

/// One bucket of the table, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedBucket {
    pub key: u64,
    pub count: u64,
    /// At most this much of `count` may belong to buckets the entry held before.
    pub overcount: u64,
    /// The bucket's limit and key parts; `None` while it is being written.
    pub label: Option<String>,
}

#[derive(Clone, Copy)]
pub struct TopTable {
    entries: &'static [Entry],
}

impl TopTable {
    /// Maps the zeroed shared table (32 KiB); it stays mapped for the life of the process tree.
    pub fn map() -> std::io::Result<TopTable> {
        let entries = SharedSlice::map(ENTRIES)?.as_slice();
        Ok(TopTable { entries })
    }

    /// Counts one refusal of bucket `key`; `label` makes its text, only when the bucket takes
    /// an entry.
    pub fn record(&self, key: u64, label: impl FnOnce() -> String) {
        let key = key.max(1);
        let mut smallest: Option<(&Entry, u64, u64)> = None;
        for e in self.entries {
            let held = e.key.load(Acquire);
            if held == key {
                e.count.fetch_add(1, Relaxed);
                return;
            }
            let count = if held == 0 { 0 } else { e.count.load(Relaxed) };
            if smallest.is_none_or(|(_, _, c)| count < c) {
                smallest = Some((e, held, count));
            }
        }
        let Some((e, held, floor)) = smallest else {
            return;
        };
        if e.key.compare_exchange(held, key, AcqRel, Acquire).is_err() {
            return; // Another process took the entry first: this count is lost.
        }
        e.floor.store(floor, Relaxed);
        e.count.store(floor + 1, Relaxed);
        if e.writing.compare_exchange(0, 1, AcqRel, Acquire).is_ok() {
            e.label_key.store(0, Release);
            let text = label();
            let mut len = text.len().min(LABEL_BYTES);
            while !text.is_char_boundary(len) {
                len -= 1;
            }
            let mut bytes = [0u8; LABEL_BYTES];
            bytes[..len].copy_from_slice(&text.as_bytes()[..len]);
            for (w, chunk) in e.label.iter().zip(bytes.chunks_exact(8)) {
                let mut word = [0u8; 8];
                word.copy_from_slice(chunk);
                w.store(u64::from_le_bytes(word), Relaxed);
            }
            e.label_len.store(len as u64, Relaxed);
            e.label_key.store(key, Release);
            e.writing.store(0, Release);
        }
    }

    /// The `n` most refused buckets, most refused first.
    pub fn top(&self, n: usize) -> Vec<RefusedBucket> {
        let mut out: Vec<RefusedBucket> = self
            .entries
            .iter()
            .filter_map(|e| {
                let key = e.key.load(Acquire);
                if key == 0 {
                    return None;
                }
                Some(RefusedBucket {
                    key,
                    count: e.count.load(Relaxed),
                    overcount: e.floor.load(Relaxed),
                    label: read_label(e, key),
                })
            })
            .collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
        out.truncate(n);
        out
    }
}

/// The entry's label, if it was written for `key` and did not change while read.
fn read_label(e: &Entry, key: u64) -> Option<String> {
    if e.label_key.load(Acquire) != key {
        return None;
    }
    let len = (e.label_len.load(Relaxed) as usize).min(LABEL_BYTES);
    let mut bytes = Vec::with_capacity(LABEL_BYTES);
    for w in &e.label {
        bytes.extend_from_slice(&w.load(Relaxed).to_le_bytes());
    }
    std::sync::atomic::fence(Acquire);
    if e.label_key.load(Relaxed) != key {
        return None;
    }
    bytes.truncate(len);
    String::from_utf8(bytes).ok()
}

/// Counts a refusal of one of `draws` in `top`, labelled with `caller`'s key parts. A
/// refusal because Redis could not answer refused no bucket, and is not counted.
pub fn note(
    top: &TopTable,
    specs: &[LimitSpec],
    draws: &[Draw],
    limited: &Limited,
    caller: &Caller,
) {
    if limited.unavailable {
        return;
    }
    if let Some(d) = draws.iter().find(|d| specs[d.limit].name == limited.limit) {
        let spec = &specs[d.limit];
        top.record(d.key, || label(spec, caller));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_refused_bucket_comes_first_with_its_label() {
        let top = TopTable::map().unwrap();
        for _ in 0..5 {
            top.record(42, || "per-ip client_ip=10.0.0.1".into());
        }
        top.record(7, || "per-ip client_ip=10.0.0.2".into());
        let t = top.top(10);
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].key, t[0].count, t[0].overcount), (42, 5, 0));
        assert_eq!(t[0].label.as_deref(), Some("per-ip client_ip=10.0.0.1"));
        assert_eq!(t[1].count, 1);
        assert_eq!(top.top(1).len(), 1);
    }

    #[test]
    fn a_full_table_gives_the_smallest_entry_away_and_cuts_long_labels() {
        let top = TopTable::map().unwrap();
        for k in 1..=ENTRIES as u64 {
            top.record(k, || format!("k{k}"));
            top.record(k, || unreachable!("labelled once"));
        }
        top.record(1, String::new);
        // Every entry is taken; the new bucket replaces one with count 2 and starts at 3.
        top.record(10_000, || "é".repeat(LABEL_BYTES));
        let t = top.top(ENTRIES);
        let new = t.iter().find(|r| r.key == 10_000).unwrap();
        assert_eq!((new.count, new.overcount), (3, 2));
        assert_eq!(new.label.as_ref().unwrap().len(), LABEL_BYTES);
        assert_eq!(t[0].key, 1);
        assert_eq!(t.len(), ENTRIES);
    }
}
