//! The consecutive-failure breaker: after `threshold` failures in a row a thing is skipped for
//! a cool-down. Upstream targets use it for passive ejection (`max_fails`, `fail_timeout`, as
//! nginx), LLM deployments for their cool-down (`failure_threshold`, `cooldown`), and each
//! worker's Redis link (`breaker_failures`, `breaker_cooldown`), which after a cool-down lets
//! one probe through (`admit_or_probe`) rather than every caller.
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

    /// Closes the breaker at once: no failures counted, no cool-down. Like `success`, it writes
    /// only what is not already clear, since the Redis link calls it after every decision.
    pub fn reset(&self) {
        self.success();
        if self.open_until_ms.load(Relaxed) != 0 {
            self.open_until_ms.store(0, Relaxed);
        }
    }

    /// Whether a call may go at `now`, letting one caller through once a cool-down has ended:
    /// the caller that wins moves the cool-down on, so the others keep skipping while it
    /// probes, and its success `reset`s the breaker. For one shared dependency (Redis), where
    /// every worker's requests rushing back at once on recovery would hurt.
    pub fn admit_or_probe(&self, now: u64, cooldown: Duration) -> bool {
        let until = self.open_until_ms.load(Relaxed);
        if until == 0 {
            return true;
        }
        let next = now + cooldown.as_millis() as u64;
        now >= until
            && self
                .open_until_ms
                .compare_exchange(until, next, Relaxed, Relaxed)
                .is_ok()
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
    fn once_open_one_caller_probes_and_a_success_closes() {
        let b = Breaker::default();
        assert!(b.admit_or_probe(now_ms(), MINUTE));
        assert_eq!(b.failure(3, MINUTE), None);
        assert_eq!(b.failure(3, MINUTE), None);
        assert_eq!(b.failure(3, MINUTE), Some(3));
        assert!(!b.admit_or_probe(now_ms(), MINUTE));
        // After the cool-down one caller probes; the others keep skipping while it does.
        let later = b.open_until();
        assert!(b.admit_or_probe(later, MINUTE));
        assert!(!b.admit_or_probe(later, MINUTE));
        b.reset();
        assert!(b.admit_or_probe(later, MINUTE));
    }

    #[test]
    fn an_open_breaker_lets_no_probe_through_before_the_cool_down_ends() {
        let b = Breaker::default();
        b.failure(1, MINUTE);
        let now = now_ms();
        assert!(!b.admit_or_probe(now, MINUTE));
        assert!(!b.admit_or_probe(now + 59_000, MINUTE));
        assert!(!b.is_closed(now));
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
