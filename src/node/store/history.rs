//! The most recent chat messages, replayed to a peer that lacks them: the
//! history window, set by age and bytes (by default 10 minutes or 8 MiB,
//! whichever is less), so that a split shorter than the window loses
//! nothing.
//!
//! Entries are copies of the frames as they came in (or went out, for this
//! node's own), back to back in a [`FrameRing`]: a message costs one short
//! copy and no allocation. `state::resend` readies one to be sent again.

use crate::node::id_hash::BuildIdHasher;
use crate::node::mesh::peers::Frame;
use crate::node::store::id_runs::IdRuns;
use crate::node::store::ring::FrameRing;
use crate::protocol::{IdRange, MsgId, NodeId};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What an entry costs beyond its frame's bytes (its id, time and place),
/// counted against the byte bound, so that the bound holds for a history
/// of many short lines too.
pub const ENTRY_OVERHEAD: usize = 64;

/// How much history a node keeps and replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Messages older than this are neither kept nor replayed.
    pub age: Duration,
    /// Bytes the entries may take, [`ENTRY_OVERHEAD`] each included.
    pub bytes: usize,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            age: Duration::from_secs(600),
            bytes: 8 << 20,
        }
    }
}

pub struct History {
    ring: FrameRing<(MsgId, Instant)>,
    window: Window,
}

impl History {
    pub fn new(window: Window) -> Self {
        History {
            ring: FrameRing::new(window.bytes),
            window,
        }
    }

    /// Adds a copy of a message's frame, forgetting the oldest as far as
    /// the window asks. A frame larger than the whole byte bound is not
    /// kept, and costs no other message its place.
    pub fn push(&mut self, id: MsgId, frame: &[u8], now: Instant) {
        let cost = frame.len() + ENTRY_OVERHEAD;
        if cost > self.window.bytes || self.window.age.is_zero() {
            return;
        }
        if let Some(cutoff) = now.checked_sub(self.window.age) {
            while self.ring.oldest().is_some_and(|((_, at), _)| at <= cutoff) {
                self.ring.pop();
            }
        }
        while self.held() + cost > self.window.bytes && self.ring.pop().is_some() {}
        self.ring.push((id, now), frame);
    }

    /// Bytes held, [`ENTRY_OVERHEAD`] per entry included.
    fn held(&self) -> usize {
        self.ring.bytes() + self.ring.len() * ENTRY_OVERHEAD
    }

    /// The ids held, oldest first.
    #[cfg(test)]
    pub fn ids(&self) -> impl Iterator<Item = MsgId> + '_ {
        self.ring.notes().map(|(id, _)| id)
    }

    /// The ids held, as runs of consecutive numbers of one origin, the
    /// newest messages' runs first: what a `HAVE` lists, as far as a frame
    /// holds.
    pub fn runs(&self) -> Vec<IdRange> {
        let mut by_origin: HashMap<NodeId, Vec<(u64, usize)>, BuildIdHasher> = HashMap::default();
        let newest = self.ring.len();
        for (at, (id, _)) in self.ring.notes().enumerate() {
            by_origin
                .entry(id.origin)
                .or_default()
                .push((id.seq, newest - at));
        }
        // Each run, with how new its newest entry is (0 for the newest).
        let mut runs: Vec<(usize, IdRange)> = Vec::new();
        for (origin, mut seqs) in by_origin {
            seqs.sort_unstable();
            let mut run: Option<(usize, IdRange)> = None;
            for (seq, age) in seqs {
                match &mut run {
                    Some((newest, r)) if r.last.checked_add(1) == Some(seq) || r.last == seq => {
                        r.last = seq;
                        *newest = (*newest).min(age);
                    }
                    _ => {
                        runs.extend(run.take());
                        let r = IdRange {
                            origin,
                            first: seq,
                            last: seq,
                        };
                        run = Some((age, r));
                    }
                }
            }
            runs.extend(run);
        }
        runs.sort_unstable_by_key(|(newest, r)| (*newest, r.origin, r.first));
        runs.into_iter().map(|(_, r)| r).collect()
    }

    /// Copies of the frames of `wanted` received less than `max_age` ago,
    /// in the order they came, each with its age, up to `max_bytes` of
    /// them; only those young enough are looked at.
    pub fn recent(
        &self,
        wanted: &IdRuns,
        now: Instant,
        max_age: Duration,
        max_bytes: usize,
    ) -> Vec<(Frame, Duration)> {
        let first = match now.checked_sub(max_age) {
            Some(cutoff) => self.ring.partition_point(|(_, at)| *at <= cutoff),
            None => 0,
        };
        self.ring.copies(first, max_bytes, |(id, at)| {
            wanted
                .contains(id)
                .then(|| now.saturating_duration_since(at))
        })
    }

    /// The frames a peer holding `have` lacks, oldest first, each with how
    /// long ago this node received it: those received before `since` (later
    /// ones went to that peer live) and within the window.
    pub fn missing_from(
        &self,
        have: &IdRuns,
        since: Instant,
        now: Instant,
    ) -> Vec<(Frame, Duration)> {
        self.ring.copies(0, usize::MAX, |(id, received)| {
            let age = now.duration_since(received);
            (received < since && age < self.window.age && !have.contains(id)).then_some(age)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(seq: u64) -> MsgId {
        MsgId {
            origin: NodeId(1),
            seq,
        }
    }

    fn frame(n: u8) -> Vec<u8> {
        vec![n; usize::from(n)]
    }

    fn window(secs: u64, bytes: usize) -> Window {
        Window {
            age: Duration::from_secs(secs),
            bytes,
        }
    }

    #[test]
    fn keeps_no_more_bytes_than_its_bound() {
        let now = Instant::now();
        let mut h = History::new(window(60, 1000));
        for n in 1..=5 {
            h.push(id(n), &[b'x'; 400 - ENTRY_OVERHEAD], now);
        }
        assert_eq!(h.ids().collect::<Vec<_>>(), [id(4), id(5)]);
        h.push(id(6), &[b'x'; 1001], now);
        assert_eq!(
            h.ids().count(),
            2,
            "a frame over the whole bound is not kept"
        );
    }

    #[test]
    fn keeps_no_older_messages_than_its_age() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut h = History::new(window(60, 1 << 20));
        h.push(id(1), &frame(1), t0);
        h.push(id(2), &frame(2), at(30));
        h.push(id(3), &frame(3), at(61));
        assert_eq!(h.ids().collect::<Vec<_>>(), [id(2), id(3)]);
        let mut none = History::new(window(0, 1 << 20));
        none.push(id(1), &frame(1), t0);
        assert_eq!(none.ids().count(), 0, "a window of 0 keeps nothing");
    }

    #[test]
    fn many_short_lines_count_what_each_entry_costs() {
        let now = Instant::now();
        let mut h = History::new(window(600, 8 << 20));
        for n in 0..200_000 {
            h.push(id(n), b"a short line", now);
        }
        let held = h.ids().count();
        assert_eq!(held, (8 << 20) / (12 + ENTRY_OVERHEAD));
    }

    proptest::proptest! {
        /// Whatever the sizes and bound, the history holds exactly the
        /// newest frames within it, byte for byte, as a list of copies
        /// would.
        #[test]
        fn it_holds_what_a_list_of_copies_would(
            max_bytes in 0usize..600,
            lens in proptest::collection::vec(0usize..120, 0..40),
        ) {
            let now = Instant::now();
            let mut h = History::new(window(60, max_bytes));
            let mut model: std::collections::VecDeque<(MsgId, Vec<u8>)> = Default::default();
            for (n, len) in lens.into_iter().enumerate() {
                let frame: Vec<u8> = (0..len).map(|i| (n * 7 + i) as u8).collect();
                h.push(id(n as u64), &frame, now);
                let cost = |f: &Vec<u8>| f.len() + ENTRY_OVERHEAD;
                if cost(&frame) <= max_bytes {
                    while model.iter().map(|(_, f)| cost(f)).sum::<usize>() + cost(&frame) > max_bytes {
                        model.pop_front();
                    }
                    model.push_back((id(n as u64), frame));
                }
            }
            let ids: Vec<MsgId> = model.iter().map(|(id, _)| *id).collect();
            proptest::prop_assert_eq!(h.ids().collect::<Vec<_>>(), ids);
            let later = now + Duration::from_secs(1);
            let frames: Vec<Vec<u8>> = h
                .missing_from(&IdRuns::default(), later, later)
                .into_iter()
                .map(|(f, _)| f.to_vec())
                .collect();
            let want: Vec<Vec<u8>> = model.into_iter().map(|(_, f)| f).collect();
            proptest::prop_assert_eq!(frames, want);
        }

        /// The runs a history lists hold exactly its ids.
        #[test]
        fn its_runs_hold_exactly_its_ids(
            ids in proptest::collection::vec((0u64..3, 0u64..40), 0..60),
        ) {
            let now = Instant::now();
            let mut h = History::new(window(60, 1 << 20));
            for (origin, seq) in &ids {
                h.push(MsgId { origin: NodeId(*origin), seq: *seq }, b"x", now);
            }
            let held = IdRuns::new(h.runs().into_iter());
            for origin in 0..3 {
                for seq in 0..40 {
                    let id = MsgId { origin: NodeId(origin), seq };
                    proptest::prop_assert_eq!(
                        held.contains(id),
                        ids.contains(&(origin, seq)),
                        "{:?}", id
                    );
                }
            }
        }
    }

    #[test]
    fn the_newest_runs_come_first() {
        let now = Instant::now();
        let mut h = History::new(window(60, 1 << 20));
        let of = |origin, seq| MsgId {
            origin: NodeId(origin),
            seq,
        };
        for seq in 10..20 {
            h.push(of(1, seq), b"x", now);
        }
        h.push(of(2, 5), b"x", now);
        h.push(of(1, 30), b"x", now);
        let runs: Vec<(u64, u64, u64)> = h
            .runs()
            .iter()
            .map(|r| (r.origin.0, r.first, r.last))
            .collect();
        assert_eq!(runs, [(1, 30, 30), (2, 5, 5), (1, 10, 19)]);
    }

    #[test]
    fn a_graft_finds_only_messages_younger_than_asked() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut h = History::new(window(600, 1 << 20));
        for n in 1..=5 {
            h.push(id(n), &frame(n as u8), at(n * 10));
        }
        let all = IdRuns::new(
            [IdRange {
                origin: NodeId(1),
                first: 0,
                last: 99,
            }]
            .into_iter(),
        );
        let found = h.recent(&all, at(60), Duration::from_secs(25), usize::MAX);
        let frames: Vec<Frame> = found.into_iter().map(|(f, _)| f).collect();
        assert_eq!(frames, [Frame::from(frame(4)), Frame::from(frame(5))]);
        assert_eq!(
            h.recent(&all, at(60), Duration::from_secs(25), 4).len(),
            1,
            "up to the bytes asked"
        );
    }

    #[test]
    fn replays_only_what_the_peer_lacks_and_only_recent_entries() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut h = History::new(window(60, 1000));
        h.push(id(1), &frame(1), t0);
        h.push(id(2), &frame(2), at(50));
        h.push(id(3), &frame(3), at(50));
        h.push(id(4), &frame(4), at(65)); // after the peer joined: sent live
        let have = IdRuns::new(
            [IdRange {
                origin: NodeId(1),
                first: 3,
                last: 3,
            }]
            .into_iter(),
        );
        assert_eq!(
            h.missing_from(&have, at(60), at(70)),
            [(Frame::from(frame(2)), Duration::from_secs(20))]
        );
    }
}
