//! The per-address limit on sign-in attempts: a fixed one-minute window per client IP, held
//! in the admin process (the only one that serves sign-ins). It bounds password guessing
//! across many user names, which the per-user lockout alone does not.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// More addresses than this in one minute: older windows are dropped first.
const MAX_ADDRESSES: usize = 10_000;

#[derive(Default)]
pub struct Throttle {
    /// Per address: the minute of its window and the attempts in it.
    windows: Mutex<HashMap<IpAddr, (i64, u32)>>,
}

impl Throttle {
    /// Counts an attempt from `ip` at `now` (Unix seconds); `Err(seconds to wait)` once it
    /// made more than `per_minute` in this minute.
    pub fn attempt(&self, ip: IpAddr, now: i64, per_minute: u32) -> Result<(), i64> {
        let minute = now.div_euclid(60);
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= MAX_ADDRESSES {
            windows.retain(|_, (m, _)| *m == minute);
        }
        let slot = windows.entry(ip).or_insert((minute, 0));
        if slot.0 != minute {
            *slot = (minute, 0);
        }
        slot.1 = slot.1.saturating_add(1);
        if slot.1 > per_minute {
            return Err((minute + 1) * 60 - now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_quota_per_minute() {
        let t = Throttle::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(t.attempt(a, 120, 2).is_ok());
        assert!(t.attempt(a, 130, 2).is_ok());
        assert_eq!(t.attempt(a, 150, 2), Err(30));
        assert!(t.attempt(b, 150, 2).is_ok(), "another address has its own");
        assert!(t.attempt(a, 180, 2).is_ok(), "a new minute starts over");
    }
}
