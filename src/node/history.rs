//! The most recent chat messages, replayed to a peer that lacks them.
//!
//! Entries are copies of the frames as they came in (or went out, for this
//! node's own), in a [`FrameRing`]; `router::resend` readies one to be
//! sent again.

use super::frame_ring::FrameRing;
use super::peers::Frame;
use crate::protocol::MsgId;
use std::collections::HashSet;
use std::time::{Duration, Instant};

pub struct History {
    ring: FrameRing<(MsgId, Instant)>,
    capacity: usize,
    /// Older entries are not replayed: the receiver may have forgotten that
    /// it saw them, and would show them twice.
    max_age: Duration,
}

impl History {
    /// A history of at most `capacity` messages and `max_bytes` of frames.
    pub fn new(capacity: usize, max_bytes: usize, max_age: Duration) -> Self {
        History {
            ring: FrameRing::new(max_bytes),
            capacity,
            max_age,
        }
    }

    /// Adds a copy of a message's frame, forgetting the oldest as far as
    /// the bounds ask. A frame larger than the whole byte bound is not
    /// kept, and costs no other message its place.
    pub fn push(&mut self, id: MsgId, frame: &[u8], now: Instant) {
        if self.capacity == 0 || !self.ring.can_hold(frame.len()) {
            return;
        }
        while self.ring.len() >= self.capacity {
            self.ring.pop();
        }
        self.ring.push((id, now), frame);
    }

    /// The ids held, oldest first.
    pub fn ids(&self) -> impl Iterator<Item = MsgId> + '_ {
        self.ring.notes().map(|(id, _)| id)
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
        self.ring.copies(|(id, received)| {
            let age = now.duration_since(received);
            (received < since && age < self.max_age && !have.contains(&id)).then_some(age)
        })
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
