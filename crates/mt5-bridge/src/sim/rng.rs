//! A small, fixed pseudo-random generator whose stream never changes between releases.
//!
//! The simulated prices must be the same for the same seed today and after any dependency
//! upgrade, and the generator's state must be plain numbers that the account file can keep.
//! xoshiro256** (seeded through splitmix64, as its authors recommend) gives both in a few
//! lines.

use serde::{Deserialize, Serialize};

/// One step of splitmix64: a good 64-bit mixer, also used to hash bar coordinates.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes a list of words into one well-mixed word.
pub(crate) fn hash(words: &[u64]) -> u64 {
    let mut state = 0x6A09_E667_F3BC_C908;
    let mut out = 0;
    for word in words {
        state ^= *word;
        out = splitmix64(&mut state);
    }
    out
}

/// xoshiro256** generator state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Rng {
    state: [u64; 4],
}

impl Rng {
    pub(crate) fn seeded(seed: u64) -> Rng {
        let mut mix = seed;
        let state = [
            splitmix64(&mut mix),
            splitmix64(&mut mix),
            splitmix64(&mut mix),
            splitmix64(&mut mix),
        ];
        Rng { state }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform integer in `-bound..=bound`. The modulo bias is below 10^-17 for the small
    /// bounds used here.
    pub(crate) fn symmetric(&mut self, bound: u32) -> i64 {
        let width = 2 * u64::from(bound) + 1;
        let offset = self.next_u64() % width;
        // `offset < width <= 2^33`, so both conversions are exact.
        i64::try_from(offset).unwrap_or(0) - i64::from(bound)
    }
}

/// A uniform integer in `-bound..=bound` taken from a hash value, for stateless draws.
pub(crate) fn symmetric_from(hash_value: u64, bound: u32) -> i64 {
    let width = 2 * u64::from(bound) + 1;
    i64::try_from(hash_value % width).unwrap_or(0) - i64::from(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_fixed_for_a_seed() {
        // Pinned values, checked against an independent implementation: a change here
        // changes every simulated price of every existing paper account.
        let mut rng = Rng::seeded(42);
        let first: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(
            first,
            vec![1_546_998_764_402_558_742, 6_990_951_692_964_543_102, 12_544_586_762_248_559_009]
        );
        assert_ne!(Rng::seeded(43).next_u64(), first[0]);
    }

    #[test]
    fn symmetric_stays_in_bounds_and_reaches_both_ends() {
        let mut rng = Rng::seeded(7);
        let draws: Vec<i64> = (0..10_000).map(|_| rng.symmetric(3)).collect();
        assert!(draws.iter().all(|d| (-3..=3).contains(d)));
        assert!(draws.contains(&-3) && draws.contains(&3));
    }
}
