//! The gateway's clocks, one of each kind, so that every timestamp of a kind compares with
//! every other.
//!
//! - Monotonic (`now_ns`, `now_ms`): CLOCK_MONOTONIC, the same clock in every process of the
//!   host (the shared limit tables compare times written by different workers), read through
//!   the vDSO without a syscall. Never goes back; for deadlines, cool-downs and rates.
//! - Wall (`now_unix`, `now_unix_ms`, `now_unix_ns`): Unix time, for what users and records
//!   see (key expiry, audit rows, `created` fields). It may step; never use it for rates.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds of CLOCK_MONOTONIC: one clock for every process of the host.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we own; CLOCK_MONOTONIC always exists on
    // Linux, so it cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

/// Milliseconds of the same monotonic clock as `now_ns`.
pub fn now_ms() -> u64 {
    now_ns() / 1_000_000
}

/// The current time in Unix seconds; 0 if the system clock is set before 1970.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The current time in Unix milliseconds; 0 if the system clock is set before 1970.
pub fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The current time in Unix nanoseconds (wrapping past 2554), 0 before 1970: a seed, not a
/// date.
pub fn now_unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_forward() {
        let a = now_ns();
        let b = now_ns();
        assert!(b >= a && a > 0);
        assert!(now_ms() >= a / 1_000_000);
    }

    #[test]
    fn the_wall_clock_agrees_with_itself() {
        let s = now_unix();
        let ms = now_unix_ms();
        assert!(s > 1_600_000_000, "{s}");
        assert!((ms / 1000 - s).abs() <= 1, "{ms} {s}");
    }
}
