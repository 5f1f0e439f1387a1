//! The most recent chat messages, replayed to a peer that lacks them.
//!
//! Entries are copies of the frames as they came in (or went out, for this
//! node's own); `router::resend` readies one to be sent again. The history
//! is a ring of slots, each with a buffer of its own that the entry
//! replacing it reuses: a message costs one short copy, with no allocation
//! and nothing to let go.

use super::peers::Frame;
use crate::protocol::MsgId;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// The largest buffer a slot keeps for the next entry; a larger one, left
/// by a big frame, is given back when its entry goes.
const REUSED_BYTES: usize = 4 << 10;

pub struct History {
    /// The entries, oldest at `oldest`, `len` of them, wrapping around.
    slots: Vec<Slot>,
    oldest: usize,
    len: usize,
    /// Bytes of the frames held.
    bytes: usize,
    capacity: usize,
    max_bytes: usize,
    /// Older entries are not replayed: the receiver may have forgotten that
    /// it saw them, and would show them twice.
    max_age: Duration,
}

struct Slot {
    id: MsgId,
    received: Instant,
    frame: Vec<u8>,
}

impl History {
    /// A history of at most `capacity` messages and `max_bytes` of frames.
    pub fn new(capacity: usize, max_bytes: usize, max_age: Duration) -> Self {
        History {
            slots: Vec::new(),
            oldest: 0,
            len: 0,
            bytes: 0,
            capacity,
            max_bytes,
            max_age,
        }
    }

    /// Adds a copy of a message's frame, forgetting the oldest as far as
    /// the bounds ask. A frame larger than the whole byte bound is not
    /// kept, and costs no other message its place.
    pub fn push(&mut self, id: MsgId, frame: &[u8], now: Instant) {
        if self.capacity == 0 || frame.len() > self.max_bytes {
            return;
        }
        while self.len == self.capacity || self.bytes + frame.len() > self.max_bytes {
            self.forget_oldest();
        }
        let at = self.slot(self.len);
        if at == self.slots.len() {
            self.slots.push(Slot {
                id,
                received: now,
                frame: Vec::new(),
            });
        }
        let slot = &mut self.slots[at];
        (slot.id, slot.received) = (id, now);
        slot.frame.clear();
        slot.frame.extend_from_slice(frame);
        self.len += 1;
        self.bytes += frame.len();
    }

    /// The slot `i` places after the oldest, `i` at most the capacity: a
    /// wrap by subtraction, as a division would cost more than the copy.
    fn slot(&self, i: usize) -> usize {
        let at = self.oldest + i;
        if at >= self.capacity {
            at - self.capacity
        } else {
            at
        }
    }

    fn forget_oldest(&mut self) {
        let slot = &mut self.slots[self.oldest];
        self.bytes -= slot.frame.len();
        if slot.frame.capacity() > REUSED_BYTES {
            slot.frame = Vec::new();
        }
        self.oldest = self.slot(1);
        self.len -= 1;
    }

    /// The entries, oldest first.
    fn entries(&self) -> impl Iterator<Item = &Slot> + '_ {
        (0..self.len).map(|i| &self.slots[self.slot(i)])
    }

    /// The ids held, oldest first.
    pub fn ids(&self) -> impl Iterator<Item = MsgId> + '_ {
        self.entries().map(|slot| slot.id)
    }

    /// The frames a peer holding `have` lacks, oldest first, each with how
    /// long ago this node received it: those received before `since` (later
    /// ones went to that peer live) and young enough to replay.
    pub fn missing_from(
        &self,
        have: &HashSet<MsgId>,
        since: Instant,
        now: Instant,
    ) -> Vec<(Frame, Duration)> {
        self.entries()
            .filter_map(|slot| {
                let age = now.duration_since(slot.received);
                (slot.received < since && age < self.max_age && !have.contains(&slot.id))
                    .then(|| (Frame::copy_from_slice(&slot.frame), age))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::NodeId;

    fn id(seq: u64) -> MsgId {
        MsgId {
            origin: NodeId(1),
            seq,
        }
    }

    fn frame(n: u8) -> Vec<u8> {
        vec![n; usize::from(n)]
    }

    #[test]
    fn keeps_the_most_recent_in_order() {
        let now = Instant::now();
        let mut h = History::new(3, 1000, Duration::from_secs(60));
        for n in 1..=5 {
            h.push(id(n), &frame(n as u8), now);
        }
        assert_eq!(h.ids().collect::<Vec<_>>(), [id(3), id(4), id(5)]);
    }

    #[test]
    fn keeps_no_more_bytes_than_its_bound() {
        let now = Instant::now();
        let mut h = History::new(10, 1000, Duration::from_secs(60));
        for n in 1..=5 {
            h.push(id(n), &[b'x'; 400], now);
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
    fn big_buffers_are_given_back_when_their_entries_go() {
        let now = Instant::now();
        let mut h = History::new(4, 1 << 20, Duration::from_secs(60));
        for n in 0..4 {
            h.push(id(n), &[b'x'; 60_000], now);
        }
        for n in 4..8 {
            h.push(id(n), b"an ordinary line", now);
        }
        let held: usize = h.slots.iter().map(|s| s.frame.capacity()).sum();
        assert!(held <= 4 * REUSED_BYTES, "{held}");
    }

    proptest::proptest! {
        /// Whatever the sizes and bounds, the history holds exactly the
        /// newest frames within both bounds, byte for byte, as a list of
        /// copies would.
        #[test]
        fn it_holds_what_a_list_of_copies_would(
            capacity in 0usize..6,
            max_bytes in 0usize..300,
            lens in proptest::collection::vec(0usize..120, 0..40),
        ) {
            let now = Instant::now();
            let mut h = History::new(capacity, max_bytes, Duration::from_secs(60));
            let mut model: std::collections::VecDeque<(MsgId, Vec<u8>)> = Default::default();
            for (n, len) in lens.into_iter().enumerate() {
                let frame: Vec<u8> = (0..len).map(|i| (n * 7 + i) as u8).collect();
                h.push(id(n as u64), &frame, now);
                if capacity > 0 && len <= max_bytes {
                    while model.len() == capacity
                        || model.iter().map(|(_, f)| f.len()).sum::<usize>() + len > max_bytes
                    {
                        model.pop_front();
                    }
                    model.push_back((id(n as u64), frame));
                }
            }
            let ids: Vec<MsgId> = model.iter().map(|(id, _)| *id).collect();
            proptest::prop_assert_eq!(h.ids().collect::<Vec<_>>(), ids);
            let later = now + Duration::from_secs(1);
            let frames: Vec<Vec<u8>> = h
                .missing_from(&HashSet::new(), later, later)
                .into_iter()
                .map(|(f, _)| f.to_vec())
                .collect();
            let want: Vec<Vec<u8>> = model.into_iter().map(|(_, f)| f).collect();
            proptest::prop_assert_eq!(frames, want);
        }
    }

    #[test]
    fn replays_only_what_the_peer_lacks_and_only_recent_entries() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut h = History::new(10, 1000, Duration::from_secs(60));
        h.push(id(1), &frame(1), t0);
        h.push(id(2), &frame(2), at(50));
        h.push(id(3), &frame(3), at(50));
        h.push(id(4), &frame(4), at(65)); // after the peer joined: sent live
        let have = HashSet::from([id(3)]);
        assert_eq!(
            h.missing_from(&have, at(60), at(70)),
            [(Frame::from(frame(2)), Duration::from_secs(20))]
        );
    }
}
