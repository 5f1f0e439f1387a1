//! Which flooded messages this node has already handled.
//!
//! Ids are `(origin, sequence)`, and each origin numbers its messages one
//! after another, so instead of remembering every id the cache keeps, per
//! origin, a floor below which every number counts as seen and the few runs
//! of numbers seen above it. Messages mostly come in order, so a message
//! usually just extends the last run: a repeat is caught without hashing the
//! text, and the memory per origin is a handful of runs. A gap (messages
//! that took another path, or are still to be asked for) stays a gap however
//! late its messages come, until [`MAX_RUNS`] runs force the oldest gap
//! under the floor.
//!
//! Bounds: at most `max_origins` origins, each forgotten after `ttl` without
//! news.

use super::id_hash::BuildIdHasher;
use crate::protocol::{IdRange, MsgId, NodeId};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How far below the first number heard of an origin its older messages
/// still count as new: a history replay to a newcomer is shorter than this.
pub const BACKLOG: u64 = 1024;
/// Runs of seen numbers kept per origin.
pub const MAX_RUNS: usize = 64;

#[derive(Clone)]
pub struct SeenCache {
    origins: HashMap<NodeId, Seen, BuildIdHasher>,
    max_origins: usize,
    ttl: Duration,
}

/// What was seen of one origin.
#[derive(Clone)]
struct Seen {
    /// Every number below it counts as seen.
    floor: u64,
    /// Runs of seen numbers above the floor, inclusive, in order, apart
    /// from each other and from the floor.
    runs: Vec<(u64, u64)>,
    last_used: Instant,
}

impl Seen {
    fn new(seq: u64, now: Instant) -> Self {
        let mut seen = Seen {
            floor: seq.saturating_sub(BACKLOG),
            runs: Vec::new(),
            last_used: now,
        };
        seen.insert(seq);
        seen
    }

    /// Marks `seq`; true if it was not marked before.
    fn insert(&mut self, seq: u64) -> bool {
        if seq < self.floor {
            return false;
        }
        // The common case: the next number after the last run.
        if let Some(last) = self.runs.last_mut() {
            if last.1.checked_add(1) == Some(seq) {
                last.1 = seq;
                return true;
            }
        }
        let i = self.runs.partition_point(|r| r.1 < seq);
        if self.runs.get(i).is_some_and(|r| r.0 <= seq) {
            return false;
        }
        let joins_before = i > 0 && self.runs[i - 1].1 + 1 == seq;
        let joins_after = self
            .runs
            .get(i)
            .is_some_and(|r| Some(r.0) == seq.checked_add(1));
        match (joins_before, joins_after) {
            (true, true) => {
                self.runs[i - 1].1 = self.runs[i].1;
                self.runs.remove(i);
            }
            (true, false) => self.runs[i - 1].1 = seq,
            (false, true) => self.runs[i].0 = seq,
            (false, false) => self.runs.insert(i, (seq, seq)),
        }
        // A run that reaches the floor joins it; too many runs give up the
        // oldest gap.
        while let Some(&(first, last)) = self.runs.first() {
            if first != self.floor && self.runs.len() <= MAX_RUNS {
                break;
            }
            self.floor = last.saturating_add(1);
            self.runs.remove(0);
        }
        true
    }

    /// Appends to `out` the parts of `range` not seen.
    fn missing(&self, range: IdRange, out: &mut Vec<IdRange>) {
        let mut gap = |first: u64, last: u64| {
            if first <= last {
                out.push(IdRange {
                    origin: range.origin,
                    first,
                    last,
                });
            }
        };
        let mut next = range.first.max(self.floor);
        for &(first, last) in &self.runs {
            if last < next {
                continue;
            }
            if first > range.last {
                break;
            }
            if first > next {
                gap(next, first - 1);
            }
            match last.checked_add(1) {
                Some(after) => next = after,
                None => return,
            }
        }
        gap(next, range.last);
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
            // The same `now` as the last message's, in a batch: no
            // subtraction needed.
            if w.last_used == now || now.duration_since(w.last_used) < self.ttl {
                w.last_used = now;
                return w.insert(id.seq);
            }
            // Expired: forget what was seen, as if the origin were new.
            *w = Seen::new(id.seq, now);
            return true;
        }
        if self.origins.len() >= self.max_origins {
            self.evict(now);
        }
        self.origins.insert(id.origin, Seen::new(id.seq, now));
        true
    }

    /// Appends to `out` the parts of `range` not seen yet, in order.
    pub fn missing(&self, range: IdRange, out: &mut Vec<IdRange>) {
        match self.origins.get(&range.origin) {
            Some(seen) => seen.missing(range, out),
            None => out.push(range),
        }
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
    fn older_messages_of_a_new_origin_are_new_within_the_backlog() {
        let now = Instant::now();
        let mut c = cache();
        assert!(c.insert(id(1, 5000), now));
        assert!(c.insert(id(1, 4990), now));
        assert!(!c.insert(id(1, 4990), now));
        assert!(c.insert(id(1, 5000 - BACKLOG), now));
        assert!(
            !c.insert(id(1, 5000 - BACKLOG - 1), now),
            "below the backlog counts as seen"
        );
    }

    #[test]
    fn a_gap_stays_open_however_late_its_messages_come() {
        let now = Instant::now();
        let mut c = cache();
        c.insert(id(1, 10_000), now);
        for seq in 10_100..200_000 {
            assert!(c.insert(id(1, seq), now));
        }
        for seq in 10_001..10_100 {
            assert!(c.insert(id(1, seq), now), "{seq} came late but is new");
        }
        for seq in 10_000..200_000 {
            assert!(!c.insert(id(1, seq), now));
        }
        assert_eq!(c.origins[&NodeId(1)].runs.len(), 1, "the runs joined");
    }

    #[test]
    fn too_many_gaps_give_up_the_oldest() {
        let now = Instant::now();
        let mut c = cache();
        for k in 0..(MAX_RUNS as u64 + 10) {
            c.insert(id(1, 10_000 + 2 * k), now);
        }
        assert!(c.origins[&NodeId(1)].runs.len() <= MAX_RUNS);
        assert!(
            !c.insert(id(1, 10_001), now),
            "the oldest gap now counts as seen"
        );
        let newest_gap = 10_000 + 2 * (MAX_RUNS as u64 + 8) + 1;
        assert!(c.insert(id(1, newest_gap), now));
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

    #[test]
    fn missing_parts_of_a_range_come_back_as_ranges() {
        let now = Instant::now();
        let mut c = cache();
        for seq in [10, 11, 13, 20] {
            c.insert(id(1, seq), now);
        }
        let range = |first, last| IdRange {
            origin: NodeId(1),
            first,
            last,
        };
        let mut out = Vec::new();
        c.missing(range(9, 25), &mut out);
        assert_eq!(
            out,
            [range(9, 9), range(12, 12), range(14, 19), range(21, 25)]
        );
        out.clear();
        c.missing(range(10, 11), &mut out);
        assert!(out.is_empty());
        let unknown = IdRange {
            origin: NodeId(2),
            first: 0,
            last: u64::MAX,
        };
        c.missing(unknown, &mut out);
        assert_eq!(out, [unknown], "an origin never heard of lacks it all");
    }

    proptest! {
        /// `missing` agrees with asking `insert` about each number in turn.
        #[test]
        fn missing_agrees_with_insert(
            seqs in proptest::collection::vec(0u64..3000, 0..300),
            first in 0u64..3200,
            len in 0u64..400,
        ) {
            let now = Instant::now();
            let mut c = cache();
            for seq in &seqs {
                c.insert(id(1, *seq), now);
            }
            let mut out = Vec::new();
            c.missing(IdRange { origin: NodeId(1), first, last: first + len }, &mut out);
            let got: Vec<u64> = out.iter().flat_map(|r| r.first..=r.last).collect();
            prop_assert!(out.windows(2).all(|w| w[0].last + 1 < w[1].first), "ranges are apart and in order");
            let expected: Vec<u64> = (first..=first + len)
                .filter(|seq| c.clone().insert(id(1, *seq), now))
                .collect();
            prop_assert_eq!(got, expected);
        }

        /// Against a plain set of every id: identical answers as long as
        /// the gaps are few and nothing falls below the backlog.
        #[test]
        fn matches_an_exact_set(
            ops in proptest::collection::vec((0u64..3, 0u64..60), 0..600)
        ) {
            let now = Instant::now();
            let mut c = cache();
            let mut exact = HashSet::new();
            for (origin, seq) in ops {
                let seq = 100_000 + seq;
                let expected = exact.insert((origin, seq));
                prop_assert_eq!(c.insert(id(origin, seq), now), expected, "origin {} seq {}", origin, seq);
            }
        }
    }
}
