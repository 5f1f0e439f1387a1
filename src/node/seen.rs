//! Which flooded messages this node has already handled.
//!
//! Ids are `(origin, sequence)`, and each origin numbers its messages in
//! increasing order, so instead of remembering every id the cache keeps, per
//! origin, the highest sequence seen and a bitmap of the [`WINDOW`] numbers
//! below it. A repeat is caught in O(1) without hashing the text, and the
//! memory is fixed per origin.
//!
//! Bounds: at most `max_origins` origins, each forgotten after `ttl` without
//! news. A sequence number more than [`WINDOW`] below the highest one is too
//! old to tell apart from a repeat and is treated as seen; history replays are
//! far shorter than the window, so no real message falls there.

use super::id_hash::BuildIdHasher;
use crate::protocol::{MsgId, NodeId};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Sequence numbers remembered below the highest one seen, per origin.
pub const WINDOW: u64 = 1024;
const WORDS: usize = (WINDOW / 64) as usize;

pub struct SeenCache {
    origins: HashMap<NodeId, Window, BuildIdHasher>,
    max_origins: usize,
    ttl: Duration,
}

struct Window {
    /// The highest sequence number seen.
    top: u64,
    /// Bit `d` is set when `top - d` was seen.
    bits: [u64; WORDS],
    last_used: Instant,
}

impl Window {
    fn new(seq: u64, now: Instant) -> Self {
        let mut bits = [0; WORDS];
        bits[0] = 1;
        Window {
            top: seq,
            bits,
            last_used: now,
        }
    }

    /// Marks `seq`; true if it was not marked before.
    fn insert(&mut self, seq: u64) -> bool {
        if seq > self.top {
            self.shift(seq - self.top);
            self.top = seq;
            self.bits[0] |= 1;
            return true;
        }
        let d = self.top - seq;
        if d >= WINDOW {
            return false;
        }
        let (word, bit) = ((d / 64) as usize, d % 64);
        let was = self.bits[word] & (1 << bit) != 0;
        self.bits[word] |= 1 << bit;
        !was
    }

    /// Moves every mark `n` places further from the top.
    fn shift(&mut self, n: u64) {
        if n >= WINDOW {
            self.bits = [0; WORDS];
            return;
        }
        let (words, bits) = ((n / 64) as usize, (n % 64) as u32);
        for i in (0..WORDS).rev() {
            let src = i.checked_sub(words);
            let hi = src.map_or(0, |s| self.bits[s] << bits);
            let lo = match (src.and_then(|s| s.checked_sub(1)), bits) {
                (Some(s), 1..) => self.bits[s] >> (64 - bits),
                _ => 0,
            };
            self.bits[i] = hi | lo;
        }
    }
}

impl SeenCache {
    pub fn new(max_origins: usize, ttl: Duration) -> Self {
        SeenCache {
            origins: HashMap::default(),
            max_origins,
            ttl,
        }
    }

    /// Records `id`; true if it is new and should be handled.
    pub fn insert(&mut self, id: MsgId, now: Instant) -> bool {
        if let Some(w) = self.origins.get_mut(&id.origin) {
            if now.duration_since(w.last_used) < self.ttl {
                w.last_used = now;
                return w.insert(id.seq);
            }
            // Expired: forget what was seen, as if the origin were new.
            *w = Window::new(id.seq, now);
            return true;
        }
        if self.origins.len() >= self.max_origins {
            self.evict(now);
        }
        self.origins.insert(id.origin, Window::new(id.seq, now));
        true
    }

    /// Drops expired origins, and if none had expired, the least recently used.
    fn evict(&mut self, now: Instant) {
        let ttl = self.ttl;
        self.origins
            .retain(|_, w| now.duration_since(w.last_used) < ttl);
        if self.origins.len() >= self.max_origins {
            let oldest = self
                .origins
                .iter()
                .min_by_key(|(_, w)| w.last_used)
                .map(|(id, _)| *id);
            if let Some(id) = oldest {
                self.origins.remove(&id);
            }
        }
    }

    /// Origins remembered now.
    #[cfg(test)]
    pub fn origins(&self) -> usize {
        self.origins.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn id(origin: u64, seq: u64) -> MsgId {
        MsgId {
            origin: NodeId(origin),
            seq,
        }
    }

    fn cache() -> SeenCache {
        SeenCache::new(100, Duration::from_secs(60))
    }

    #[test]
    fn first_time_is_new_and_repeats_are_not() {
        let now = Instant::now();
        let mut c = cache();
        assert!(c.insert(id(1, 5), now));
        assert!(!c.insert(id(1, 5), now));
        assert!(c.insert(id(2, 5), now), "another origin is another message");
        assert!(
            c.insert(id(1, 6), now),
            "the same origin's next message is new"
        );
    }

    #[test]
    fn late_arrivals_inside_the_window_are_new_once() {
        let now = Instant::now();
        let mut c = cache();
        assert!(c.insert(id(1, 5000), now));
        assert!(c.insert(id(1, 4990), now));
        assert!(!c.insert(id(1, 4990), now));
        assert!(c.insert(id(1, 5000 - (WINDOW - 1)), now));
        assert!(
            !c.insert(id(1, 5000 - WINDOW), now),
            "beyond the window counts as seen"
        );
    }

    #[test]
    fn big_jumps_clear_the_window() {
        let now = Instant::now();
        let mut c = cache();
        c.insert(id(1, 1), now);
        assert!(c.insert(id(1, 1 + 5 * WINDOW), now));
        assert!(
            !c.insert(id(1, 1), now),
            "far below the top: treated as seen"
        );
        assert!(c.insert(id(1, 1 + 5 * WINDOW - 3), now));
    }

    #[test]
    fn origins_expire_after_the_ttl() {
        let t0 = Instant::now();
        let mut c = SeenCache::new(100, Duration::from_secs(10));
        c.insert(id(1, 1), t0);
        assert!(!c.insert(id(1, 1), t0 + Duration::from_secs(9)));
        assert!(c.insert(id(1, 1), t0 + Duration::from_secs(20)));
    }

    #[test]
    fn origin_count_is_bounded() {
        let t0 = Instant::now();
        let mut c = SeenCache::new(3, Duration::from_secs(60));
        for o in 0..10 {
            c.insert(id(o, 1), t0 + Duration::from_millis(o));
            assert!(c.origins() <= 3);
        }
        // The most recent origins are still remembered.
        assert!(!c.insert(id(9, 1), t0 + Duration::from_millis(20)));
    }

    proptest! {
        /// Against a plain set of every id: identical answers while the
        /// sequence numbers stay within the window of each other.
        #[test]
        fn matches_an_exact_set_within_the_window(
            ops in proptest::collection::vec((0u64..3, 0u64..(WINDOW + WINDOW / 2)), 0..600)
        ) {
            let now = Instant::now();
            let mut c = cache();
            let mut exact = HashSet::new();
            let mut top = std::collections::HashMap::new();
            for (origin, seq) in ops {
                let t = top.entry(origin).or_insert(seq);
                *t = (*t).max(seq);
                let expected = exact.insert((origin, seq));
                let got = c.insert(id(origin, seq), now);
                if *t - seq < WINDOW {
                    prop_assert_eq!(got, expected, "origin {} seq {}", origin, seq);
                } else {
                    prop_assert!(!got, "too old must count as seen");
                }
            }
        }
    }
}
