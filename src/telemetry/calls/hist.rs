//! Latency histograms of the usage totals: 96 buckets, four per doubling from 50 µs (about
//! 19% apart, so a percentile read from them is within 10% of the true one) up to about 15
//! minutes. Kept as 384 bytes in each total's row, added bucket by bucket when totals merge.

pub const BUCKETS: usize = 96;

/// The smallest bucket's upper bound, in milliseconds.
const FIRST_MS: f64 = 0.05;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hist(pub [u32; BUCKETS]);

impl Default for Hist {
    fn default() -> Self {
        Hist([0; BUCKETS])
    }
}

/// The bucket of a duration in milliseconds: bucket `i` holds values up to `upper(i)`.
fn bucket(ms: f64) -> usize {
    if ms.is_nan() || ms <= FIRST_MS {
        return 0;
    }
    let i = ((ms / FIRST_MS).log2() * 4.0).ceil();
    (i as usize).min(BUCKETS - 1)
}

fn upper(i: usize) -> f64 {
    FIRST_MS * (i as f64 / 4.0).exp2()
}

impl Hist {
    pub fn observe(&mut self, ms: f64) {
        let b = &mut self.0[bucket(ms)];
        *b = b.saturating_add(1);
    }

    pub fn merge(&mut self, other: &Hist) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    pub fn count(&self) -> u64 {
        self.0.iter().map(|&n| u64::from(n)).sum()
    }

    /// The `q` quantile (0..=1) in milliseconds, as the upper bound of the bucket it falls
    /// in; `None` with no observation.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &n) in self.0.iter().enumerate() {
            seen += u64::from(n);
            if seen >= rank {
                return Some(upper(i));
            }
        }
        Some(upper(BUCKETS - 1))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|n| n.to_le_bytes()).collect()
    }

    /// Reads what `to_bytes` wrote; anything else (a foreign or damaged value) reads as empty.
    pub fn from_bytes(bytes: &[u8]) -> Hist {
        let mut h = Hist::default();
        if bytes.len() == BUCKETS * 4 {
            for (n, chunk) in h.0.iter_mut().zip(bytes.chunks_exact(4)) {
                *n = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            }
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_fall_within_a_bucket_of_the_truth() {
        let mut h = Hist::default();
        for ms in 1..=1000 {
            h.observe(ms as f64);
        }
        for (q, truth) in [(0.5, 500.0), (0.95, 950.0), (0.99, 990.0)] {
            let got = h.quantile(q).unwrap();
            assert!(
                got >= truth && got <= truth * 1.19,
                "q{q}: {got} vs {truth}"
            );
        }
        assert_eq!(Hist::default().quantile(0.5), None);
    }

    #[test]
    fn extremes_land_in_the_end_buckets_and_bytes_round_trip() {
        let mut h = Hist::default();
        h.observe(0.0);
        h.observe(f64::NAN);
        h.observe(1e12);
        assert_eq!(h.0[0], 2);
        assert_eq!(h.0[BUCKETS - 1], 1);
        assert_eq!(Hist::from_bytes(&h.to_bytes()), h);
        assert_eq!(Hist::from_bytes(b"junk"), Hist::default());
        let mut sum = h.clone();
        sum.merge(&h);
        assert_eq!(sum.count(), 6);
    }
}
