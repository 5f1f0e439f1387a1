//! Cheap randomness for choices that only need to differ from node to node:
//! which peer makes room for a newcomer, and which of several equally good
//! addresses to dial. Nodes that choose alike would all drop the same kind
//! of link, or all dial the same few nodes; random choices keep the mesh
//! mixed. Nothing here needs to be secret.

//!
//! The simulator makes these choices repeatable: [`repeatable`] gives the
//! thread a seed, from which every generator and hash key made on it
//! afterwards is drawn, in turn.

use std::cell::RefCell;
use std::hash::{BuildHasher, DefaultHasher, Hasher};

thread_local! {
    /// Where seeds come from on this thread: the system's randomness
    /// unless [`repeatable`] set a generator.
    static SEEDS: RefCell<Option<Rng>> = const { RefCell::new(None) };
}

/// Makes every seed drawn on this thread from now on follow from `seed`.
pub fn repeatable(seed: u64) {
    SEEDS.with(|s| *s.borrow_mut() = Some(Rng::seeded(seed)));
}

/// A seed for a generator or a hash key: random, or the next of the
/// thread's repeatable ones.
pub fn seed() -> u64 {
    let repeatable = SEEDS.with(|s| s.borrow_mut().as_mut().map(Rng::next_u64));
    repeatable.unwrap_or_else(|| std::collections::hash_map::RandomState::new().hash_one(0u8))
}

/// A xorshift64* generator, seeded by [`seed`].
pub struct Rng(u64);

impl Default for Rng {
    fn default() -> Self {
        Rng::seeded(seed())
    }
}

impl Rng {
    /// A generator that gives the same numbers for the same seed, and
    /// unrelated ones for seeds that differ in a single bit: the seed is
    /// spread over all 64 bits first (SplitMix64's step), since a start of
    /// `seed | 1` made each even seed the odd one after it.
    pub fn seeded(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // Xorshift never leaves zero, nor reaches it: the one seed spread
        // to zero starts elsewhere.
        Rng(if z == 0 { 0x9e37_79b9_7f4a_7c15 } else { z })
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

/// Hash keys for maps whose keys are not node ids (addresses), drawn by
/// [`seed`]: SipHash behind a secret prefix, so a peer cannot choose keys
/// that collide, and the simulator's runs repeat.
#[derive(Clone, Copy)]
pub struct Keyed(u64);

impl Default for Keyed {
    fn default() -> Self {
        Keyed(seed())
    }
}

impl BuildHasher for Keyed {
    type Hasher = DefaultHasher;

    fn build_hasher(&self) -> DefaultHasher {
        let mut hasher = DefaultHasher::new();
        hasher.write_u64(self.0);
        hasher
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
    fn neighbouring_seeds_give_different_numbers() {
        let firsts: std::collections::HashSet<u64> =
            (0..1024).map(|s| Rng::seeded(s).next_u64()).collect();
        assert_eq!(firsts.len(), 1024, "two seeds started alike");
    }

    #[test]
    fn generators_of_different_processes_or_nodes_differ() {
        let (mut a, mut b) = (Rng::default(), Rng::default());
        assert_ne!(a.next_u64(), b.next_u64());
    }
}
