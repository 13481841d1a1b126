//! A page of shared memory, mapped by the master before it forks, where each child reports its
//! pid and readiness and the master counts restarts. The admin process reads it for `/readyz`
//! and `/metrics`. Only atomics live here, so no lock is shared between processes.

use crate::base::shm::SharedSlice;
pub use crate::base::shm::MAX_SLOTS;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering::Relaxed};

#[derive(zerocopy::FromZeros)]
#[repr(C)]
pub struct Slot {
    pub pid: AtomicI32,
    /// The config generation this child serves; 0 until it is ready.
    pub ready_generation: AtomicU64,
}

#[derive(zerocopy::FromZeros)]
#[repr(C)]
pub struct Scoreboard {
    pub master_pid: AtomicI32,
    /// The generation of the configuration the master last accepted.
    pub generation: AtomicU64,
    pub worker_restarts: AtomicU64,
    pub workers: AtomicU64,
    pub slots: [Slot; MAX_SLOTS],
}

impl Scoreboard {
    /// Maps a zeroed shared anonymous page; it stays mapped for the life of the process tree.
    pub fn map() -> std::io::Result<&'static Scoreboard> {
        SharedSlice::map_one()
    }

    /// Whether every worker slot has a ready child (the admin slot is not counted).
    pub fn all_workers_ready(&self) -> bool {
        let n = self.workers.load(Relaxed) as usize;
        n > 0
            && self.slots[..n.min(MAX_SLOTS - 1)]
                .iter()
                .all(|s| s.pid.load(Relaxed) > 0 && s.ready_generation.load(Relaxed) > 0)
    }

    /// Whether every worker serves the master's current generation.
    pub fn all_workers_current(&self) -> bool {
        let g = self.generation.load(Relaxed);
        let n = self.workers.load(Relaxed) as usize;
        self.all_workers_ready()
            && self.slots[..n]
                .iter()
                .all(|s| s.ready_generation.load(Relaxed) >= g)
    }

    pub fn admin_slot(&self) -> &Slot {
        &self.slots[MAX_SLOTS - 1]
    }
}

/// The abstract Unix socket on which a worker serves its metrics to the admin process.
pub fn metrics_socket_name(master_pid: i32, slot: usize) -> String {
    format!("tollgate-{master_pid}-worker-{slot}-metrics")
}
