//! The consecutive-failure breaker: after `threshold` failures in a row a thing is skipped for
//! a cool-down. Upstream targets use it for passive ejection (`max_fails`, `fail_timeout`, as
//! nginx), LLM deployments for their cool-down (`failure_threshold`, `cooldown`).
//!
//! Two atomics and no lock: a request reads one of them to know whether the thing is open,
//! and writes only when it fails or ends a run of failures. The state is per process.

use super::clock::now_ms;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Breaker {
    /// Failures in a row since the last success or opening.
    fails: AtomicU32,
    /// Monotonic milliseconds (`clock::now_ms`) until which it is open; 0 when closed.
    open_until_ms: AtomicU64,
}

impl Breaker {
    /// Whether calls may go at `now` (monotonic milliseconds): not in a cool-down.
    pub fn is_closed(&self, now: u64) -> bool {
        self.open_until_ms.load(Relaxed) <= now
    }

    /// When the cool-down ends (monotonic milliseconds); 0 or past when closed.
    pub fn open_until(&self) -> u64 {
        self.open_until_ms.load(Relaxed)
    }

    /// Counts a failure. The `threshold`-th in a row opens the breaker for `cooldown` and
    /// returns that count (for the caller's log line); a threshold of 0 never opens it.
    pub fn failure(&self, threshold: u32, cooldown: Duration) -> Option<u32> {
        if threshold == 0 {
            return None;
        }
        let fails = self.fails.fetch_add(1, Relaxed) + 1;
        if fails < threshold {
            return None;
        }
        self.fails.store(0, Relaxed);
        let until = now_ms() + cooldown.as_millis() as u64;
        self.open_until_ms.store(until, Relaxed);
        Some(fails)
    }

    /// A success ends the run of failures; a cool-down under way runs to its end. Writes only
    /// when there is something to clear, so the common path keeps the cache line shared.
    pub fn success(&self) {
        if self.fails.load(Relaxed) != 0 {
            self.fails.store(0, Relaxed);
        }
    }

    /// Closes the breaker at once: no failures counted, no cool-down.
    pub fn reset(&self) {
        self.fails.store(0, Relaxed);
        self.open_until_ms.store(0, Relaxed);
    }

    /// Takes over the cool-down of `old`, the same thing in the previous configuration.
    pub fn inherit(&self, old: &Breaker) {
        self.open_until_ms.store(old.open_until(), Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn opens_after_threshold_failures_in_a_row() {
        let b = Breaker::default();
        assert_eq!(b.failure(2, MINUTE), None);
        assert!(b.is_closed(now_ms()));
        assert_eq!(b.failure(2, MINUTE), Some(2));
        assert!(!b.is_closed(now_ms()));
        assert!(b.is_closed(now_ms() + 61_000));
        // The run starts again after an opening.
        assert_eq!(b.failure(2, MINUTE), None);
    }

    #[test]
    fn a_success_ends_the_run_but_not_the_cool_down() {
        let b = Breaker::default();
        b.failure(2, MINUTE);
        b.success();
        assert_eq!(b.failure(2, MINUTE), None);
        assert_eq!(b.failure(2, MINUTE), Some(2));
        b.success();
        assert!(!b.is_closed(now_ms()));
        b.reset();
        assert!(b.is_closed(now_ms()));
        assert_eq!(b.open_until(), 0);
    }

    #[test]
    fn threshold_zero_never_opens_and_cool_downs_carry_over() {
        let b = Breaker::default();
        assert!((0..10).all(|_| b.failure(0, MINUTE).is_none()));
        assert!(b.is_closed(now_ms()));
        b.failure(1, MINUTE);
        let next = Breaker::default();
        next.inherit(&b);
        assert!(!next.is_closed(now_ms()));
        assert_eq!(next.open_until(), b.open_until());
    }
}
