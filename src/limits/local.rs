//! The host-wide limiter: a fixed table of (key, TAT) pairs in shared memory, mapped by the
//! master before it forks, so every worker decides against the same buckets. A decision is a
//! few atomic loads and one compare-and-swap: no lock, no syscall (the clock is read through
//! the vDSO), no allocation.
//!
//! Memory is fixed: `slots` entries of 16 bytes. A key lives in one of `PROBE` slots after its
//! hash. When all of them are taken, the slot with the oldest TAT is given to the new key:
//! first one whose TAT has passed, which loses nothing (a GCRA key with a past TAT is a full
//! bucket, exactly like a new key); only when every slot of the window holds a key that is
//! still limited does a busy key lose its state. Size the table above the number of keys
//! active within one period to keep limits exact.

use crate::base::gcra::{self, Decision, Rate};
use crate::base::shm::SharedSlice;
use std::sync::atomic::{AtomicU64, Ordering::AcqRel, Ordering::Acquire, Ordering::Relaxed};

/// Slots a key may occupy, starting at its hash.
pub const PROBE: usize = 8;

#[derive(zerocopy::FromZeros)]
#[repr(C)]
struct Slot {
    /// The key's 64-bit hash; 0 marks an empty slot.
    key: AtomicU64,
    tat: AtomicU64,
}

#[derive(Clone, Copy)]
pub struct LocalTable {
    slots: &'static [Slot],
}

impl LocalTable {
    /// Maps a zeroed shared table of `slots` entries (rounded up to a power of two, at least
    /// `PROBE`); it stays mapped for the life of the process tree.
    pub fn map(slots: usize) -> std::io::Result<LocalTable> {
        let n = slots.max(PROBE).next_power_of_two();
        let slots = SharedSlice::map(n)?.as_slice();
        Ok(LocalTable { slots })
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Decides `cost` units for `key` (a hash; see `key_hash`) at `now` (nanoseconds of the
    /// host's monotonic clock, `base::clock::now_ns`).
    pub fn decide(&self, key: u64, rate: Rate, now: u64, cost: u64) -> Decision {
        let slot = self.slot(key, now);
        loop {
            let tat = slot.tat.load(Acquire);
            let d = gcra::decide(rate, tat, now, cost);
            if !d.allowed {
                return d;
            }
            if slot
                .tat
                .compare_exchange_weak(tat, d.tat, AcqRel, Relaxed)
                .is_ok()
            {
                return d;
            }
        }
    }

    /// Gives back `units` reserved by an earlier decision for `key`.
    pub fn refund(&self, key: u64, rate: Rate, now: u64, units: u64) {
        let slot = self.slot(key, now);
        let _ = slot.tat.fetch_update(AcqRel, Relaxed, |tat| {
            Some(gcra::refund(rate, tat, now, units))
        });
    }

    /// Takes `units` whatever the bucket holds: the settlement of a call that used more than
    /// it reserved. The key may go into debt, which later requests wait out.
    pub fn charge(&self, key: u64, rate: Rate, now: u64, units: u64) {
        let slot = self.slot(key, now);
        let _ = slot.tat.fetch_update(AcqRel, Relaxed, |tat| {
            Some(
                tat.max(now)
                    .saturating_add(rate.interval.saturating_mul(units)),
            )
        });
    }

    /// The key's TAT, if it holds a slot.
    pub fn peek(&self, key: u64) -> Option<u64> {
        let key = nonzero(key);
        self.window(key)
            .find(|s| s.key.load(Acquire) == key)
            .map(|s| s.tat.load(Acquire))
    }

    /// Empties the key's bucket debt: its next request sees a full bucket.
    pub fn reset(&self, key: u64) {
        let key = nonzero(key);
        if let Some(s) = self.window(key).find(|s| s.key.load(Acquire) == key) {
            s.tat.store(0, Relaxed);
        }
    }

    fn window(&self, key: u64) -> impl Iterator<Item = &Slot> {
        let mask = self.slots.len() - 1;
        let start = key as usize & mask;
        (0..PROBE).map(move |i| &self.slots[(start + i) & mask])
    }

    /// The key's slot: the one it holds, else an empty one it claims, else the window's
    /// oldest, which it takes over.
    fn slot(&self, key: u64, now: u64) -> &Slot {
        let key = nonzero(key);
        let mut oldest: Option<(&Slot, u64, u64)> = None;
        for s in self.window(key) {
            let held = s.key.load(Acquire);
            if held == key {
                return s;
            }
            if held == 0 {
                match s.key.compare_exchange(0, key, AcqRel, Acquire) {
                    Ok(_) => return s,
                    // Another worker claimed it at the same moment, maybe for this key.
                    Err(k) if k == key => return s,
                    Err(_) => continue,
                }
            }
            let tat = s.tat.load(Acquire);
            if oldest.is_none_or(|(_, _, t)| tat < t) {
                oldest = Some((s, held, tat));
            }
        }
        let Some((s, held, tat)) = oldest else {
            return &self.slots[key as usize & (self.slots.len() - 1)];
        };
        if s.key.compare_exchange(held, key, AcqRel, Acquire).is_ok() {
            // A past TAT is a full bucket already; a future one belonged to the evicted key.
            let _ = s.tat.compare_exchange(tat, tat.min(now), AcqRel, Relaxed);
        }
        s
    }
}

/// 0 marks an empty slot, so no key may hash to it.
fn nonzero(key: u64) -> u64 {
    key.max(1)
}

/// The same 64-bit hash of a limit's key in every worker (fixed seeds).
pub fn key_hash(parts: &[&[u8]]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = ahash::RandomState::with_seeds(7, 11, 13, 17).build_hasher();
    for p in parts {
        h.write(p);
        h.write_u8(0xff);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::clock::now_ns;
    use std::sync::Arc;
    use std::time::Duration;

    fn rate(n: u64) -> Rate {
        Rate::new(n, Duration::from_secs(60), n).unwrap()
    }

    #[test]
    fn threads_sharing_the_table_admit_exactly_the_burst() {
        let table = Arc::new(LocalTable::map(1024).unwrap());
        let key = key_hash(&[b"per-ip", b"127.0.0.1"]);
        let now = now_ns();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let t = table.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|_| t.decide(key, rate(100), now, 1).allowed)
                        .count()
                })
            })
            .collect();
        let admitted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(admitted, 100);
    }

    #[test]
    fn keys_are_independent_and_refunds_and_resets_work() {
        let table = LocalTable::map(64).unwrap();
        let (a, b) = (key_hash(&[b"a"]), key_hash(&[b"b"]));
        let now = 1_000_000_000_000;
        assert!(table.decide(a, rate(2), now, 2).allowed);
        assert!(!table.decide(a, rate(2), now, 1).allowed);
        assert!(table.decide(b, rate(2), now, 1).allowed);
        table.refund(a, rate(2), now, 1);
        assert!(table.decide(a, rate(2), now, 1).allowed);
        assert!(table.peek(a).unwrap() > now);
        table.reset(a);
        assert_eq!(table.decide(a, rate(2), now, 2).remaining, 0);
        assert_eq!(table.peek(key_hash(&[b"never"])), None);
    }

    #[test]
    fn a_full_window_gives_an_idle_slot_to_a_new_key_first() {
        let table = LocalTable::map(PROBE).unwrap();
        let now = 1_000_000_000_000;
        let r = rate(1);
        // Fill every slot; key 0 stays busy (TAT in the future), the others go idle.
        for k in 1..=PROBE as u64 {
            table.decide(k, r, now - 120_000_000_000, 1);
        }
        table.decide(1, r, now, 1);
        assert!(!table.decide(1, r, now, 1).allowed);
        // A new key takes an idle slot: key 1 keeps its state and stays limited.
        assert!(table.decide(999, r, now, 1).allowed);
        assert!(!table.decide(1, r, now, 1).allowed);
        assert_eq!(table.capacity(), PROBE);
    }
}
