//! A fast hasher for maps keyed by node id, looked up for every message.
//!
//! Node ids are random 64-bit numbers, so SipHash's work buys nothing for
//! spread. A folded multiply by per-process random factors is a few
//! instructions, and a peer that does not know the factors cannot choose
//! ids that collide.

use std::hash::{BuildHasher, Hasher};

/// Makes [`IdHasher`]s with this process's random factors.
#[derive(Clone, Copy)]
pub struct BuildIdHasher {
    xor: u64,
    mul: u64,
}

impl Default for BuildIdHasher {
    fn default() -> Self {
        BuildIdHasher {
            xor: crate::node::random::seed(),
            // Odd, so the multiply loses no bits.
            mul: crate::node::random::seed() | 1,
        }
    }
}

impl BuildHasher for BuildIdHasher {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher {
            keys: *self,
            hash: 0,
        }
    }
}

pub struct IdHasher {
    keys: BuildIdHasher,
    hash: u64,
}

impl Hasher for IdHasher {
    fn write_u64(&mut self, n: u64) {
        // Two rounds of a folded multiply: the fold brings the high half
        // down, so every input bit reaches the low bits that pick the bucket.
        let fold = |x: u64, m: u64| {
            let wide = u128::from(x) * u128::from(m);
            (wide as u64) ^ ((wide >> 64) as u64)
        };
        let once = fold(n ^ self.keys.xor ^ self.hash, self.keys.mul);
        self.hash = fold(once ^ self.keys.mul.rotate_left(32), 0x9e37_79b9_7f4a_7c15);
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_that_differ_only_in_high_bits_land_apart() {
        let keys = BuildIdHasher::default();
        let low_bits: HashSet<u64> = (0..1000u64)
            .map(|i| keys.hash_one(i << 40) & 0xfff)
            .collect();
        // 1000 random values in 4096 buckets fill about 887 (sd about 10).
        assert!(low_bits.len() > 840, "{}", low_bits.len());
    }

    #[test]
    fn equal_ids_hash_alike() {
        let keys = BuildIdHasher::default();
        assert_eq!(keys.hash_one(42u64), keys.hash_one(42u64));
    }
}
