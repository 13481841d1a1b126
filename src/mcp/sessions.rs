//! MCP sessions, shared by every worker: a fixed table in shared memory, mapped by the master
//! before it forks, so a session made by one worker is known to all (a client's next POST may
//! land on any of them), and ended for all by a `DELETE`.
//!
//! A session id names its slot and carries two random numbers the slot keeps: 128 bits a
//! client cannot guess. A session belongs to the API key that opened it (a hash of the key's
//! public id): presented with another key it is unknown. It ends after `session_idle`
//! without use, on `DELETE`, or when the table is full and a new session takes the least
//! recently used slot. The table costs its memory only (32 bytes a slot), no lock: a slot is
//! claimed with one compare-and-swap of its tag, and read by checking the tag before and
//! after its other fields.

use crate::base::shm::SharedSlice;
use std::sync::atomic::{AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};
use std::time::Duration;

/// A slot's tag while its other fields are being written.
const BUSY: u64 = u64::MAX;

#[derive(zerocopy::FromZeros)]
#[repr(C)]
struct Slot {
    /// 0: free; `BUSY`: being claimed; else the session's first random number.
    tag: AtomicU64,
    secret: AtomicU64,
    /// The hash of the key the session belongs to.
    owner: AtomicU64,
    /// When the session was last used, in ms of the host's monotonic clock.
    seen: AtomicU64,
}

#[derive(Clone, Copy)]
pub struct SessionTable {
    slots: &'static [Slot],
}

/// A session's id, as parsed from `Mcp-Session-Id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Id {
    slot: usize,
    tag: u64,
    secret: u64,
}

impl Id {
    fn parse(text: &str) -> Option<Id> {
        if text.len() != 40 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(Id {
            slot: usize::from_str_radix(&text[..8], 16).ok()?,
            tag: u64::from_str_radix(&text[8..24], 16).ok()?,
            secret: u64::from_str_radix(&text[24..], 16).ok()?,
        })
    }

    fn text(&self) -> String {
        format!("{:08x}{:016x}{:016x}", self.slot, self.tag, self.secret)
    }
}

/// Why no session could be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open an MCP session: no random numbers from the system")]
    NoRandom,
    #[error("cannot open an MCP session: every slot is being claimed; try again")]
    Busy,
}

/// Slots looked at to open a session.
const PROBES: usize = 4096;

/// Claims tried before giving up: a claim lasts a few atomic operations, so this is only
/// reached when far more sessions open at once than the table has slots.
const TRIES: usize = 64;

impl SessionTable {
    /// Maps a table of `slots` sessions; call it before forking the workers.
    pub fn map(slots: usize) -> std::io::Result<SessionTable> {
        Ok(SessionTable {
            slots: SharedSlice::map(slots.max(1))?.as_slice(),
        })
    }

    /// Opens a session for `owner` (a hash of its key) at `now` (ms, monotonic); returns its id.
    pub fn open(&self, owner: u64, now: u64, idle: Duration) -> Result<String, OpenError> {
        let mut random = [0u8; 24];
        getrandom::fill(&mut random).map_err(|_| OpenError::NoRandom)?;
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&random[i * 8..i * 8 + 8]);
            u64::from_le_bytes(b)
        };
        let tag = match word(0) {
            0 | BUSY => 1,
            t => t,
        };
        let secret = word(1);
        let n = self.slots.len();
        let start = (word(2) % n as u64) as usize;
        for _ in 0..TRIES {
            let i = self.victim(start, now, idle);
            let slot = &self.slots[i];
            let old = slot.tag.load(Acquire);
            if old == BUSY {
                continue;
            }
            // Another worker may have taken the same slot since it was chosen: then choose again.
            if slot
                .tag
                .compare_exchange(old, BUSY, Acquire, Relaxed)
                .is_err()
            {
                continue;
            }
            slot.secret.store(secret, Relaxed);
            slot.owner.store(owner, Relaxed);
            slot.seen.store(now, Relaxed);
            slot.tag.store(tag, Release);
            return Ok(Id {
                slot: i,
                tag,
                secret,
            }
            .text());
        }
        Err(OpenError::Busy)
    }

    /// A free or idle slot if there is one, else the least recently used, among at most
    /// `PROBES` slots from a random start: opening a session costs the same in a table of any
    /// size (the whole table, at the default size).
    fn victim(&self, start: usize, now: u64, idle: Duration) -> usize {
        let n = self.slots.len();
        let mut oldest = (start, u64::MAX);
        for k in 0..n.min(PROBES) {
            let i = (start + k) % n;
            let slot = &self.slots[i];
            match slot.tag.load(Acquire) {
                0 => return i,
                BUSY => continue,
                _ => {}
            }
            let seen = slot.seen.load(Relaxed);
            if expired(seen, now, idle) {
                return i;
            }
            if seen < oldest.1 {
                oldest = (i, seen);
            }
        }
        oldest.0
    }

    /// Whether `id` is a live session of `owner`; using it keeps it alive.
    pub fn touch(&self, id: &str, owner: u64, now: u64, idle: Duration) -> bool {
        match self.find(id, owner, now, idle) {
            Some((slot, _)) => {
                slot.seen.store(now, Relaxed);
                true
            }
            None => false,
        }
    }

    /// Ends `id`; false when it was not a live session of `owner`.
    pub fn close(&self, id: &str, owner: u64, now: u64, idle: Duration) -> bool {
        match self.find(id, owner, now, idle) {
            Some((slot, tag)) => slot.tag.compare_exchange(tag, 0, Release, Relaxed).is_ok(),
            None => false,
        }
    }

    fn find(&self, id: &str, owner: u64, now: u64, idle: Duration) -> Option<(&Slot, u64)> {
        let id = Id::parse(id)?;
        let slot = self.slots.get(id.slot)?;
        if id.tag == 0 || id.tag == BUSY || slot.tag.load(Acquire) != id.tag {
            return None;
        }
        let (secret, who, seen) = (
            slot.secret.load(Relaxed),
            slot.owner.load(Relaxed),
            slot.seen.load(Relaxed),
        );
        // Fields read while another worker re-claimed the slot are thrown away.
        if slot.tag.load(Acquire) != id.tag {
            return None;
        }
        (secret == id.secret && who == owner && !expired(seen, now, idle)).then_some((slot, id.tag))
    }
}

fn expired(seen: u64, now: u64, idle: Duration) -> bool {
    now.saturating_sub(seen) > idle.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(60);

    #[test]
    fn a_session_is_its_owners_until_it_ends() {
        let t = SessionTable::map(4).unwrap();
        let id = t.open(7, 1000, IDLE).unwrap();
        assert_eq!(id.len(), 40);
        assert!(t.touch(&id, 7, 2000, IDLE));
        // Another key, a forged id, a malformed one: unknown.
        assert!(!t.touch(&id, 8, 2000, IDLE));
        let mut forged = id.clone();
        forged.replace_range(39..40, if id.ends_with('0') { "1" } else { "0" });
        assert!(!t.touch(&forged, 7, 2000, IDLE));
        assert!(!t.touch("nope", 7, 2000, IDLE));
        assert!(!t.touch(&"f".repeat(40), 7, 2000, IDLE));
        assert!(t.close(&id, 7, 3000, IDLE));
        assert!(!t.touch(&id, 7, 3000, IDLE));
        assert!(!t.close(&id, 7, 3000, IDLE));
    }

    #[test]
    fn idle_sessions_end() {
        let t = SessionTable::map(4).unwrap();
        let id = t.open(1, 1000, IDLE).unwrap();
        assert!(t.touch(&id, 1, 61_000, IDLE));
        assert!(!t.touch(&id, 1, 121_001, IDLE));
    }

    #[test]
    fn a_full_table_ends_the_least_recently_used() {
        let t = SessionTable::map(2).unwrap();
        let a = t.open(1, 1000, IDLE).unwrap();
        let b = t.open(1, 2000, IDLE).unwrap();
        assert!(t.touch(&a, 1, 3000, IDLE));
        let c = t.open(1, 4000, IDLE).unwrap();
        assert!(t.touch(&a, 1, 5000, IDLE));
        assert!(!t.touch(&b, 1, 5000, IDLE), "b was the least recently used");
        assert!(t.touch(&c, 1, 5000, IDLE));
    }
}
