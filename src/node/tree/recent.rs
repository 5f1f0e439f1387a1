//! Flooded messages handled lately, kept for a little while so that a peer
//! that heard them announced but lacks them can ask for them (`GRAFT`).
//!
//! Every message is kept, and a request is rare (only when the tree heals),
//! so keeping must be cheap and finding may scan: the frames are copied
//! into a [`FrameRing`], bounded in bytes and by age. A chat message is
//! kept as it came in; the hop is taken off when one is sent again
//! (`state::resend`), which spares encoding every message anew.

use crate::node::mesh::peers::Frame;
use crate::node::store::id_runs::IdRuns;
use crate::node::store::ring::FrameRing;
use crate::protocol::MsgId;
use std::time::{Duration, Instant};

pub struct Recent {
    ring: FrameRing<(MsgId, Instant)>,
    max_age: Duration,
    /// The last `now` inserted at, and what expired by then: a batch of
    /// messages shares one `now`, and works out the cutoff once.
    cutoff: Option<(Instant, Option<Instant>)>,
}

impl Recent {
    pub fn new(max_bytes: usize, max_age: Duration) -> Self {
        Recent {
            ring: FrameRing::new(max_bytes),
            max_age,
            cutoff: None,
        }
    }

    /// Keeps a copy of `frame`, first forgetting the entries that expired,
    /// then the oldest as far as the byte bound asks. A frame larger than
    /// the whole bound is not kept.
    pub fn insert(&mut self, id: MsgId, frame: &[u8], now: Instant) {
        // Compared as instants: cheaper than a duration per entry.
        let cutoff = match self.cutoff {
            Some((at, cutoff)) if at == now => cutoff,
            _ => {
                let cutoff = now.checked_sub(self.max_age);
                self.cutoff = Some((now, cutoff));
                cutoff
            }
        };
        if let Some(cutoff) = cutoff {
            while self.ring.oldest().is_some_and(|((_, at), _)| at < cutoff) {
                self.ring.pop();
            }
        }
        self.ring.push((id, now), frame);
    }

    /// Copies of the frames held of `wanted`, in the order they came, each
    /// with its age, up to `max_bytes` of them.
    pub fn get(&self, wanted: &IdRuns, now: Instant, max_bytes: usize) -> Vec<(Frame, Duration)> {
        self.ring.copies(0, max_bytes, |(id, at)| {
            wanted
                .contains(id)
                .then(|| now.saturating_duration_since(at))
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.ring.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{IdRange, NodeId};
    use std::collections::VecDeque;

    const O: NodeId = NodeId(7);

    fn id(seq: u64) -> MsgId {
        MsgId { origin: O, seq }
    }

    fn frame(len: usize) -> Vec<u8> {
        vec![b'x'; len]
    }

    fn runs(ranges: &[IdRange]) -> IdRuns {
        IdRuns::new(ranges.iter().copied())
    }

    fn range(first: u64, last: u64) -> IdRange {
        IdRange {
            origin: O,
            first,
            last,
        }
    }

    #[test]
    fn copies_stop_at_the_byte_budget() {
        let now = Instant::now();
        let mut r = Recent::new(1 << 20, Duration::from_secs(60));
        for seq in 1..=10 {
            r.insert(id(seq), &frame(100), now);
        }
        let got = r.get(&runs(&[range(1, 10)]), now, 350);
        assert_eq!(got.len(), 3, "three frames of 100 bytes fit in 350");
        assert!(r.get(&runs(&[range(1, 10)]), now, 99).is_empty());
    }

    #[test]
    fn ranges_give_the_frames_held_in_the_order_they_came() {
        let now = Instant::now();
        let mut r = Recent::new(1000, Duration::from_secs(10));
        for seq in [3, 1, 2, 5] {
            r.insert(id(seq), &frame(seq as usize), now);
        }
        let lens: Vec<usize> = r
            .get(&runs(&[range(2, 5)]), now, usize::MAX)
            .iter()
            .map(|(f, _)| f.len())
            .collect();
        assert_eq!(lens, [3, 2, 5]);
        assert!(r
            .get(&runs(&[range(6, u64::MAX)]), now, usize::MAX)
            .is_empty());
        let many = [range(5, 5), range(1, 1), range(0, 1), range(9, 20)];
        let lens: Vec<usize> = r
            .get(&runs(&many), now, usize::MAX)
            .iter()
            .map(|(f, _)| f.len())
            .collect();
        assert_eq!(lens, [1, 5], "overlapping and unsorted ranges");
    }

    #[test]
    fn the_oldest_go_first_when_over_the_byte_bound() {
        let now = Instant::now();
        let mut r = Recent::new(100, Duration::from_secs(10));
        for seq in 0..10 {
            r.insert(id(seq), &frame(30), now);
        }
        assert_eq!(r.len(), 3);
        let kept: Vec<usize> = r
            .get(&runs(&[range(0, 9)]), now, usize::MAX)
            .iter()
            .map(|(f, _)| f.len())
            .collect();
        assert_eq!(kept.len(), 3);
        assert!(
            r.get(&runs(&[range(0, 6)]), now, usize::MAX).is_empty(),
            "the oldest are gone"
        );
    }

    proptest::proptest! {
        /// Whatever the sizes, the ring keeps exactly the newest frames that
        /// fit, byte for byte, as a list of copies would.
        #[test]
        fn the_ring_holds_the_newest_frames_that_fit(
            max in 0usize..300,
            lens in proptest::collection::vec(0usize..120, 0..60),
        ) {
            let now = Instant::now();
            let mut r = Recent::new(max, Duration::from_secs(10));
            let mut model: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
            for (seq, len) in lens.into_iter().enumerate() {
                let bytes: Vec<u8> = (0..len).map(|i| (seq * 7 + i) as u8).collect();
                r.insert(id(seq as u64), &bytes, now);
                if len <= max {
                    while model.iter().map(|(_, b)| b.len()).sum::<usize>() + len > max {
                        model.pop_front();
                    }
                    model.push_back((seq as u64, bytes));
                }
            }
            let got: Vec<Vec<u8>> = r
                .get(&runs(&[range(0, u64::MAX)]), now, usize::MAX)
                .into_iter()
                .map(|(f, _)| f.to_vec())
                .collect();
            let want: Vec<Vec<u8>> = model.into_iter().map(|(_, b)| b).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn old_entries_expire() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(11);
        let mut r = Recent::new(1000, Duration::from_secs(10));
        // Two batches, each of two messages sharing one `now`.
        r.insert(id(1), &frame(1), t0);
        r.insert(id(2), &frame(1), t0);
        r.insert(id(3), &frame(1), t1);
        r.insert(id(4), &frame(1), t1);
        let got = r.get(&runs(&[range(1, 4)]), t1, usize::MAX);
        assert_eq!(got.len(), 2, "the first batch expired by the second");
        assert_eq!(got[0].1, Duration::ZERO);
        assert_eq!(r.len(), 2);
    }
}
