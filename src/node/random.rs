//! Cheap randomness for choices that only need to differ from node to node:
//! which peer makes room for a newcomer, and which of several equally good
//! addresses to dial. Nodes that choose alike would all drop the same kind
//! of link, or all dial the same few nodes; random choices keep the mesh
//! mixed. Nothing here needs to be secret.

use std::hash::BuildHasher;

/// A xorshift64* generator, seeded from this process's random hash keys.
pub struct Rng(u64);

impl Default for Rng {
    fn default() -> Self {
        let keys = std::collections::hash_map::RandomState::new();
        Rng::seeded(keys.hash_one(0u8))
    }
}

impl Rng {
    /// A generator that gives the same numbers for the same seed.
    pub fn seeded(seed: u64) -> Self {
        // Xorshift never leaves zero.
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n`, which must not be zero. Its slight bias towards
    /// low numbers is far below what these choices could notice.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_below_a_bound_cover_it_evenly() {
        let mut rng = Rng::seeded(7);
        let mut counts = [0u32; 8];
        for _ in 0..8000 {
            counts[rng.below(8)] += 1;
        }
        // Each expected 1000, standard deviation about 30.
        assert!(counts.iter().all(|c| (850..1150).contains(c)), "{counts:?}");
    }

    #[test]
    fn generators_of_different_processes_or_nodes_differ() {
        let (mut a, mut b) = (Rng::default(), Rng::default());
        assert_ne!(a.next_u64(), b.next_u64());
    }
}
