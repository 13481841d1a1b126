//! GCRA, the generic cell rate algorithm: a token bucket kept as one number per key, the
//! theoretical arrival time (TAT). A limit of `rate` per `period` with capacity `burst`
//! admits `burst` at once and then one every `period / rate`, and in any window of length `t`
//! at most `burst + rate * t / period`. Nothing resets on a clock boundary, and a key whose
//! TAT is in the past is in exactly the state of a key never seen (which is what lets the
//! shared table evict idle keys without losing anything).
//!
//! Pure integer math on nanoseconds: the same code runs in the shared-memory table, and its
//! Lua twin in Redis follows it line by line.

/// A limit in the units GCRA works in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Nanoseconds between two units at the steady rate (`period / rate`).
    pub interval: u64,
    /// Nanoseconds of credit a full bucket holds: `interval * burst`.
    pub capacity: u64,
}

impl Rate {
    /// `rate` units per `period`, at most `burst` at once; `None` for a zero rate or burst.
    pub fn new(rate: u64, period: std::time::Duration, burst: u64) -> Option<Rate> {
        let period = u64::try_from(period.as_nanos()).ok()?;
        if rate == 0 || burst == 0 {
            return None;
        }
        let interval = (period / rate).max(1);
        Some(Rate {
            interval,
            capacity: interval.checked_mul(burst)?,
        })
    }

    pub fn burst(&self) -> u64 {
        self.capacity / self.interval
    }
}

/// The answer to one request for `cost` units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The key's TAT after the decision (unchanged when refused).
    pub tat: u64,
    /// Whole units still available right after the decision.
    pub remaining: u64,
    /// Nanoseconds until `cost` units would be admitted (0 when allowed).
    pub retry_after: u64,
    /// Nanoseconds until the bucket is full again.
    pub reset_after: u64,
}

/// Decides a request for `cost` units at time `now` against a key whose TAT is `tat` (0 for a
/// key never seen). A clock that went backwards is treated as standing still.
pub fn decide(rate: Rate, tat: u64, now: u64, cost: u64) -> Decision {
    let base = tat.max(now);
    let new_tat = base.saturating_add(rate.interval.saturating_mul(cost));
    // How far into the future the bucket would be drawn; more than its capacity is refused.
    let debt = new_tat - now;
    if debt > rate.capacity {
        let held = base - now;
        return Decision {
            allowed: false,
            tat,
            remaining: (rate.capacity.saturating_sub(held)) / rate.interval,
            retry_after: debt - rate.capacity,
            reset_after: held,
        };
    }
    Decision {
        allowed: true,
        tat: new_tat,
        remaining: (rate.capacity - debt) / rate.interval,
        retry_after: 0,
        reset_after: debt,
    }
}

/// Gives back `units` a request reserved but did not use (an LLM call that used fewer tokens
/// than it reserved): the TAT moves back, never before `now`.
pub fn refund(rate: Rate, tat: u64, now: u64, units: u64) -> u64 {
    tat.saturating_sub(rate.interval.saturating_mul(units))
        .max(now.min(tat))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const SEC: u64 = 1_000_000_000;

    fn per_minute(rate: u64, burst: u64) -> Rate {
        Rate::new(rate, Duration::from_secs(60), burst).unwrap()
    }

    #[test]
    fn a_burst_is_admitted_at_once_then_nothing() {
        let r = per_minute(10, 10);
        let (mut tat, now) = (0, 1_000 * SEC);
        for i in 0..10 {
            let d = decide(r, tat, now, 1);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 9 - i);
            tat = d.tat;
        }
        let d = decide(r, tat, now, 1);
        assert!(!d.allowed);
        assert_eq!(d.retry_after, 6 * SEC);
        assert_eq!(d.reset_after, 60 * SEC);
        assert_eq!(d.tat, tat);
    }

    #[test]
    fn the_steady_rate_is_one_per_interval() {
        let r = per_minute(60, 1);
        let mut tat = 0;
        for s in 0..100 {
            let d = decide(r, tat, (1_000 + s) * SEC, 1);
            assert!(d.allowed, "second {s}");
            tat = d.tat;
            assert!(!decide(r, tat, (1_000 + s) * SEC + SEC / 2, 1).allowed);
        }
    }

    #[test]
    fn an_idle_key_refills_to_its_burst_and_no_more() {
        let r = per_minute(10, 5);
        let now = 1_000 * SEC;
        let mut tat = 0;
        for _ in 0..5 {
            tat = decide(r, tat, now, 1).tat;
        }
        // After one interval (6 s) one unit is back; after an hour, exactly the burst.
        assert_eq!(decide(r, tat, now + 6 * SEC, 1).remaining, 0);
        assert!(decide(r, tat, now + 6 * SEC, 1).allowed);
        assert!(!decide(r, tat, now + 5 * SEC, 1).allowed);
        let later = now + 3_600 * SEC;
        let mut allowed = 0;
        for _ in 0..10 {
            let d = decide(r, tat, later, 1);
            if d.allowed {
                allowed += 1;
                tat = d.tat;
            }
        }
        assert_eq!(allowed, 5);
    }

    #[test]
    fn a_clock_going_backwards_admits_nothing_extra() {
        let r = per_minute(10, 2);
        let now = 1_000 * SEC;
        let tat = decide(r, decide(r, 0, now, 1).tat, now, 1).tat;
        assert!(!decide(r, tat, now - 30 * SEC, 1).allowed);
        assert!(!decide(r, tat, now - 900 * SEC, 1).allowed);
    }

    #[test]
    fn costs_and_refunds_move_the_tat_by_whole_units() {
        let r = per_minute(60, 100);
        let now = 1_000 * SEC;
        let d = decide(r, 0, now, 40);
        assert!(d.allowed && d.remaining == 60);
        assert!(!decide(r, d.tat, now, 61).allowed);
        let tat = refund(r, d.tat, now, 30);
        assert_eq!(decide(r, tat, now, 0).remaining, 90);
        // A refund never makes the key richer than a full bucket.
        assert_eq!(refund(r, tat, now, 1_000), now);
        assert!(!decide(r, 0, now, 101).allowed);
    }

    #[test]
    fn zero_rates_and_bursts_are_refused() {
        assert!(Rate::new(0, Duration::from_secs(1), 1).is_none());
        assert!(Rate::new(1, Duration::from_secs(1), 0).is_none());
        assert_eq!(per_minute(10, 7).burst(), 7);
    }

    /// A small deterministic generator, so the property test needs no extra crate and
    /// replays the same cases on every run.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn no_window_admits_more_than_burst_plus_rate_times_its_length() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for case in 0..200 {
            let rate = 1 + rng.next() % 50;
            let burst = 1 + rng.next() % 20;
            let period = Duration::from_secs(1 + rng.next() % 60);
            let r = Rate::new(rate, period, burst).unwrap();
            let mut now = 1_000 * SEC;
            let mut tat = 0;
            let mut admitted = Vec::new();
            for _ in 0..500 {
                // Bursts of arrivals at one instant, and gaps from zero to two intervals.
                now += match rng.next() % 4 {
                    0 => 0,
                    _ => rng.next() % (2 * r.interval + 1),
                };
                let d = decide(r, tat, now, 1);
                if d.allowed {
                    tat = d.tat;
                    admitted.push(now);
                }
            }
            // Every window [admitted[i], admitted[j]] holds j - i + 1 admissions.
            for i in 0..admitted.len() {
                for j in i..admitted.len() {
                    let t = admitted[j] - admitted[i];
                    let bound = burst as f64 + t as f64 / r.interval as f64;
                    assert!(
                        (j - i + 1) as f64 <= bound + 1e-9,
                        "case {case}: {} admitted in {t} ns with rate {rate}/{period:?} burst {burst}",
                        j - i + 1
                    );
                }
            }
        }
    }
}
