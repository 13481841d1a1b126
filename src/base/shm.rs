//! Memory shared by the whole process tree: the crate's one shared-memory type and its one
//! `unsafe` cast.
//!
//! The master maps each shared table before it forks, so every worker and the admin process
//! inherit the same pages (MAP_SHARED): the limit tables, the concurrency table, the most
//! refused buckets and the scoreboard, as nginx does with its shared zones. A mapping is never
//! unmapped, so it lives as long as any process of the tree.
//!
//! What may live here is checked by the types: the elements start as zero bytes, so they must
//! be `FromZeros` (zerocopy's derive proves it field by field), and they are read and written
//! by many threads of many processes through shared references only, so they must be `Sync`,
//! which in practice means atomics (plain fields could only ever be read, as zero). No lock
//! lives in shared memory.

use std::io;
use std::ops::Deref;
use zerocopy::FromZeros;

/// The most workers a gateway runs (`workers` in the configuration).
pub const MAX_WORKERS: usize = 256;

/// Process slots of the tree: one per worker plus the admin process's. Shared tables with a
/// column per process (the scoreboard, the concurrency table) are sized by it.
pub const MAX_SLOTS: usize = MAX_WORKERS + 1;

/// The alignment every mapping has: a page.
const PAGE: usize = 4096;

/// A slice of `T` in memory shared with every process forked after it was mapped.
pub struct SharedSlice<T: 'static> {
    items: &'static [T],
}

impl<T> Clone for SharedSlice<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SharedSlice<T> {}

impl<T: FromZeros + Sync + 'static> SharedSlice<T> {
    /// Maps `len` zeroed elements. Call it before forking the processes that share them.
    pub fn map(len: usize) -> io::Result<SharedSlice<T>> {
        const { assert!(std::mem::align_of::<T>() <= PAGE) };
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .ok_or_else(|| io::Error::other("shared table too large"))?;
        if bytes == 0 {
            return Ok(SharedSlice { items: &[] });
        }
        // SAFETY: a fresh anonymous mapping with no address hint touches no existing memory;
        // the result is checked for MAP_FAILED below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the mapping is `len * size_of::<T>()` bytes, page-aligned (so aligned for
        // `T`, asserted above), zero-filled by the kernel (a valid `T`: `FromZeros`) and never
        // unmapped, so the slice may be 'static. Nothing ever takes a `&mut` into it: every
        // access is through shared references, which `T: Sync` makes sound from many threads;
        // the processes sharing the pages after fork are, to this memory, more such threads.
        let items = unsafe { std::slice::from_raw_parts(ptr.cast::<T>(), len) };
        Ok(SharedSlice { items })
    }

    /// Maps one zeroed `T` (a table with a fixed shape, such as the scoreboard).
    pub fn map_one() -> io::Result<&'static T> {
        Self::map(1)?
            .items
            .first()
            .ok_or_else(|| io::Error::other("empty shared mapping"))
    }
}

impl<T> SharedSlice<T> {
    /// The mapped elements, for as long as the process lives.
    pub fn as_slice(self) -> &'static [T] {
        self.items
    }
}

impl<T> Deref for SharedSlice<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

    #[derive(FromZeros)]
    #[repr(C)]
    struct Pair {
        a: AtomicU64,
        b: [AtomicU32; 3],
    }

    #[test]
    fn a_mapping_starts_zeroed_and_is_writable() {
        let s = SharedSlice::<Pair>::map(1000).unwrap();
        assert_eq!(s.len(), 1000);
        assert!(s
            .iter()
            .all(|p| p.a.load(Relaxed) == 0 && p.b[2].load(Relaxed) == 0));
        s[999].a.store(7, Relaxed);
        assert_eq!(s.as_slice()[999].a.load(Relaxed), 7);
        assert!(SharedSlice::<AtomicU64>::map(0).unwrap().is_empty());
        assert!(SharedSlice::<AtomicU64>::map(usize::MAX).is_err());
        assert_eq!(
            SharedSlice::<AtomicU32>::map_one().unwrap().load(Relaxed),
            0
        );
    }

    /// A child forked after the mapping writes; the parent sees it.
    #[test]
    fn a_forked_child_shares_the_pages() {
        let s = SharedSlice::<AtomicU64>::map(1).unwrap();
        // SAFETY: the child only stores to an atomic and calls `_exit`, both async-signal-safe;
        // it runs no destructor and touches no lock of the (multi-threaded) test process.
        match unsafe { libc::fork() } {
            0 => {
                s[0].store(42, Relaxed);
                // SAFETY: `_exit` ends the child without running the parent's atexit handlers.
                unsafe { libc::_exit(0) }
            }
            pid if pid > 0 => {
                let mut status = 0;
                // SAFETY: waits for the child forked above, writing only our `status`.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                assert_eq!(s[0].load(Relaxed), 42);
            }
            _ => panic!("fork failed"),
        }
    }
}
