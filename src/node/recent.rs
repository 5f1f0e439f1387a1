//! Flooded messages handled lately, kept for a little while so that a peer
//! that heard them announced but lacks them can ask for them (`GRAFT`).
//!
//! The frames are the ones already shared with the peers' queues, so keeping
//! one costs a reference count, not a copy. Bounded by bytes and by age.

use super::id_hash::BuildIdHasher;
use super::peers::Frame;
use crate::protocol::{IdRange, MsgId, NodeId};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Entries in the order they came. A request (`GRAFT`) is rare, only when
/// the tree heals, so it scans; every message, though, is kept, so keeping
/// is a push and a pop, with no index to update.
pub struct Recent {
    entries: VecDeque<(MsgId, Frame, Instant)>,
    bytes: usize,
    max_bytes: usize,
    max_age: Duration,
}

impl Recent {
    pub fn new(max_bytes: usize, max_age: Duration) -> Self {
        Recent {
            entries: VecDeque::new(),
            bytes: 0,
            max_bytes,
            max_age,
        }
    }

    /// Keeps `frame`, forgetting the oldest entries beyond the bounds.
    pub fn insert(&mut self, id: MsgId, frame: Frame, now: Instant) {
        self.bytes += frame.len();
        self.entries.push_back((id, frame, now));
        // Compared as instants: cheaper than a duration per entry.
        let cutoff = now.checked_sub(self.max_age);
        while let Some((_, frame, at)) = self.entries.front() {
            let expired = cutoff.is_some_and(|cutoff| *at < cutoff);
            if self.bytes <= self.max_bytes && !expired {
                break;
            }
            self.bytes -= frame.len();
            self.entries.pop_front();
        }
    }

    /// The frames held of `ranges`, in the order they came, each with its age.
    pub fn get(&self, ranges: &[IdRange], now: Instant) -> Vec<(Frame, Duration)> {
        let wanted = Wanted::new(ranges);
        self.entries
            .iter()
            .filter(|(id, _, _)| wanted.contains(id))
            .map(|(_, frame, at)| (frame.clone(), now.saturating_duration_since(*at)))
            .collect()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Requested ranges, merged and sorted per origin, so that checking an
/// entry costs a lookup and a binary search however many ranges came.
struct Wanted(HashMap<NodeId, Vec<(u64, u64)>, BuildIdHasher>);

impl Wanted {
    fn new(ranges: &[IdRange]) -> Self {
        let mut by_origin: HashMap<NodeId, Vec<(u64, u64)>, BuildIdHasher> = HashMap::default();
        for r in ranges {
            by_origin
                .entry(r.origin)
                .or_default()
                .push((r.first, r.last));
        }
        for list in by_origin.values_mut() {
            list.sort_unstable();
            let mut merged: Vec<(u64, u64)> = Vec::with_capacity(list.len());
            for &(first, last) in list.iter() {
                match merged.last_mut() {
                    Some(prev) if first <= prev.1.saturating_add(1) => prev.1 = prev.1.max(last),
                    _ => merged.push((first, last)),
                }
            }
            *list = merged;
        }
        Wanted(by_origin)
    }

    fn contains(&self, id: &MsgId) -> bool {
        let Some(list) = self.0.get(&id.origin) else {
            return false;
        };
        let i = list.partition_point(|r| r.1 < id.seq);
        list.get(i).is_some_and(|r| r.0 <= id.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::NodeId;

    const O: NodeId = NodeId(7);

    fn id(seq: u64) -> MsgId {
        MsgId { origin: O, seq }
    }

    fn frame(len: usize) -> Frame {
        vec![b'x'; len].into()
    }

    fn range(first: u64, last: u64) -> IdRange {
        IdRange {
            origin: O,
            first,
            last,
        }
    }

    #[test]
    fn ranges_give_the_frames_held_in_the_order_they_came() {
        let now = Instant::now();
        let mut r = Recent::new(1000, Duration::from_secs(10));
        for seq in [3, 1, 2, 5] {
            r.insert(id(seq), frame(seq as usize), now);
        }
        let lens: Vec<usize> = r
            .get(&[range(2, 5)], now)
            .iter()
            .map(|(f, _)| f.len())
            .collect();
        assert_eq!(lens, [3, 2, 5]);
        assert!(r.get(&[range(6, u64::MAX)], now).is_empty());
        let many = [range(5, 5), range(1, 1), range(0, 1), range(9, 20)];
        let lens: Vec<usize> = r.get(&many, now).iter().map(|(f, _)| f.len()).collect();
        assert_eq!(lens, [1, 5], "overlapping and unsorted ranges");
    }

    #[test]
    fn the_oldest_go_first_when_over_the_byte_bound() {
        let now = Instant::now();
        let mut r = Recent::new(100, Duration::from_secs(10));
        for seq in 0..10 {
            r.insert(id(seq), frame(30), now);
        }
        assert_eq!(r.len(), 3);
        let kept: Vec<usize> = r
            .get(&[range(0, 9)], now)
            .iter()
            .map(|(f, _)| f.len())
            .collect();
        assert_eq!(kept.len(), 3);
        assert!(r.get(&[range(0, 6)], now).is_empty(), "the oldest are gone");
    }

    #[test]
    fn old_entries_expire() {
        let t0 = Instant::now();
        let mut r = Recent::new(1000, Duration::from_secs(10));
        r.insert(id(1), frame(1), t0);
        r.insert(id(2), frame(1), t0 + Duration::from_secs(11));
        let got = r.get(&[range(1, 2)], t0 + Duration::from_secs(11));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, Duration::ZERO);
    }
}
