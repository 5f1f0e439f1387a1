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
        let keys = std::collections::hash_map::RandomState::new();
        BuildIdHasher {
            xor: keys.hash_one(1u8),
            // Odd, so the multiply loses no bits.
            mul: keys.hash_one(2u8) | 1,
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
        let wide = u128::from(n ^ self.keys.xor ^ self.hash) * u128::from(self.keys.mul);
        // Fold the high half in, so every input bit reaches the low bits
        // that pick the bucket.
        self.hash = (wide as u64) ^ ((wide >> 64) as u64);
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
        // With 4096 buckets, 1000 random-looking hashes fill most of 1000.
        assert!(low_bits.len() > 800, "{}", low_bits.len());
    }

    #[test]
    fn equal_ids_hash_alike() {
        let keys = BuildIdHasher::default();
        assert_eq!(keys.hash_one(42u64), keys.hash_one(42u64));
    }
}
