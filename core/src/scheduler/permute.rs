//! Seeded pseudo-random visiting orders, computed in O(1) per step: the
//! scheduler walks candidate nodes in a shuffled order without shuffling
//! (and so without touching) the whole node list.

/// SplitMix64: a fast, well-mixed 64-bit hash used for seeds and tie-breaks.
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// FNV-1a over bytes, then mixed: a stable hash of names.
pub fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01B3);
    }
    mix64(h)
}

/// A bijection on `0..len` from a balanced Feistel network over the next
/// even power of two, with cycle-walking to stay in range (fewer than four
/// steps on average).
#[derive(Debug, Clone)]
pub struct Permutation {
    len: u64,
    half_bits: u32,
    keys: [u64; 4],
}

impl Permutation {
    pub fn new(len: usize, seed: u64) -> Self {
        let len = len as u64;
        let bits = (64 - len.saturating_sub(1).leading_zeros()).max(2);
        let half_bits = bits.div_ceil(2);
        let mut keys = [0; 4];
        let mut k = seed;
        for key in &mut keys {
            k = mix64(k);
            *key = k;
        }
        Self {
            len,
            half_bits,
            keys,
        }
    }

    /// The `i`-th element of the order; `i < len`.
    pub fn at(&self, i: usize) -> usize {
        debug_assert!((i as u64) < self.len);
        let mut x = i as u64;
        loop {
            x = self.feistel(x);
            if x < self.len {
                // The result is below `len`, which came from a usize.
                return usize::try_from(x).unwrap_or(usize::MAX);
            }
        }
    }

    fn feistel(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let mut left = x >> self.half_bits;
        let mut right = x & mask;
        for key in self.keys {
            let f = mix64(right ^ key) & mask;
            (left, right) = (right, left ^ f);
        }
        (left << self.half_bits) | right
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_permutation_for_every_small_length() {
        for len in 1..300 {
            let p = Permutation::new(len, 42);
            let mut seen = vec![false; len];
            for i in 0..len {
                let j = p.at(i);
                assert!(!seen[j], "len {len}: {j} twice");
                seen[j] = true;
            }
        }
    }

    #[test]
    fn seeds_give_different_orders() {
        let a: Vec<usize> = (0..50).map(|i| Permutation::new(50, 1).at(i)).collect();
        let b: Vec<usize> = (0..50).map(|i| Permutation::new(50, 2).at(i)).collect();
        assert_ne!(a, b);
    }
}
