//! Latency histograms of the usage totals: 96 buckets, four per doubling from 50 µs (about
//! 19% apart, so a percentile read from them is at most 19% above the true one) up to about 12
//! minutes. Kept in each total's row as its non-empty buckets only (a bucket's index and its
//! count, a few bytes for the few calls of a minute), added bucket by bucket when totals merge.

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

    /// The non-empty buckets: for each, its index (one byte) and its count (LEB128).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, &n) in self.0.iter().enumerate().filter(|(_, &n)| n > 0) {
            out.push(i as u8);
            let mut n = n;
            while n >= 0x80 {
                out.push((n as u8) | 0x80);
                n >>= 7;
            }
            out.push(n as u8);
        }
        out
    }

    /// Reads what `to_bytes` wrote; what cannot be read (a foreign or damaged value) is
    /// dropped from the first bad byte on.
    pub fn from_bytes(bytes: &[u8]) -> Hist {
        let mut h = Hist::default();
        h.add_bytes(bytes);
        h
    }

    /// Adds what `to_bytes` wrote, as `merge(&from_bytes(bytes))` does, touching only the
    /// buckets written: a usage query adds up thousands of rows of a few buckets each.
    pub fn add_bytes(&mut self, bytes: &[u8]) {
        let mut at = bytes.iter();
        while let Some(&i) = at.next() {
            let (mut n, mut shift) = (0u32, 0);
            loop {
                let Some(&b) = at.next() else { return };
                n |= u32::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
                shift += 7;
                if b & 0x80 == 0 {
                    break;
                }
            }
            if let Some(slot) = self.0.get_mut(usize::from(i)) {
                *slot = slot.saturating_add(n);
            }
        }
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
        assert_eq!(h.to_bytes().len(), 4, "two non-empty buckets, small counts");
        let mut big = Hist::default();
        big.0[7] = u32::MAX;
        assert_eq!(Hist::from_bytes(&big.to_bytes()), big);
        // A cut or foreign value reads as far as it can, never panics.
        assert_eq!(Hist::from_bytes(&[7, 0x80]), Hist::default());
        assert_eq!(Hist::from_bytes(&[200, 5]), Hist::default());
        let mut sum = h.clone();
        sum.merge(&h);
        assert_eq!(sum.count(), 6);
        let mut added = h.clone();
        added.add_bytes(&h.to_bytes());
        assert_eq!(added, sum, "adding the bytes is merging what they hold");
        added.add_bytes(&[7, 0x80]);
        assert_eq!(added, sum, "a cut value adds nothing");
    }
}
