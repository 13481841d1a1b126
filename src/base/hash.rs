//! A cheap, well-spread 64-bit mix, for what needs spreading rather than security: consistent
//! hashing of upstream targets, weighted picks of LLM deployments, request ids, the mock
//! provider's seeded answers.

/// splitmix64's finaliser: every input bit moves about half the output bits.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first output of splitmix64 seeded with 0, as published with the algorithm: the
    /// values every worker and every release derive from it stay the same.
    #[test]
    fn mix_is_splitmix64() {
        assert_eq!(mix(0), 0xe220_a839_7b1d_cdaf);
    }
}
