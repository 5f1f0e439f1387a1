//! The most recent chat messages, replayed to a peer that lacks them.
//!
//! Entries are the encoded frames already shared with the peers' queues, so
//! keeping them costs a reference count, not a copy.

use crate::protocol::MsgId;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct History {
    entries: VecDeque<Entry>,
    capacity: usize,
    /// Older entries are not replayed: the receiver may have forgotten that
    /// it saw them, and would show them twice.
    max_age: Duration,
}

struct Entry {
    id: MsgId,
    frame: Arc<[u8]>,
    received: Instant,
}

impl History {
    pub fn new(capacity: usize, max_age: Duration) -> Self {
        History {
            entries: VecDeque::with_capacity(capacity),
            capacity,
            max_age,
        }
    }

    /// Adds a message, forgetting the oldest if full.
    pub fn push(&mut self, id: MsgId, frame: Arc<[u8]>, now: Instant) {
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(Entry {
            id,
            frame,
            received: now,
        });
    }

    /// The ids held, oldest first.
    pub fn ids(&self) -> impl Iterator<Item = MsgId> + '_ {
        self.entries.iter().map(|e| e.id)
    }

    /// The frames a peer holding `have` lacks, oldest first, each with how
    /// long ago this node received it: those received before `since` (later
    /// ones went to that peer live) and young enough to replay.
    pub fn missing_from(
        &self,
        have: &HashSet<MsgId>,
        since: Instant,
        now: Instant,
    ) -> Vec<(Arc<[u8]>, Duration)> {
        self.entries
            .iter()
            .map(|e| (e, now.duration_since(e.received)))
            .filter(|(e, age)| e.received < since && *age < self.max_age && !have.contains(&e.id))
            .map(|(e, age)| (e.frame.clone(), age))
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

    fn frame(n: u8) -> Arc<[u8]> {
        Arc::from(vec![n])
    }

    #[test]
    fn keeps_the_most_recent_in_order() {
        let now = Instant::now();
        let mut h = History::new(3, Duration::from_secs(60));
        for n in 1..=5 {
            h.push(id(n), frame(n as u8), now);
        }
        assert_eq!(h.ids().collect::<Vec<_>>(), [id(3), id(4), id(5)]);
    }

    #[test]
    fn replays_only_what_the_peer_lacks_and_only_recent_entries() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut h = History::new(10, Duration::from_secs(60));
        h.push(id(1), frame(1), t0);
        h.push(id(2), frame(2), at(50));
        h.push(id(3), frame(3), at(50));
        h.push(id(4), frame(4), at(65)); // after the peer joined: sent live
        let have = HashSet::from([id(3)]);
        assert_eq!(
            h.missing_from(&have, at(60), at(70)),
            [(frame(2), Duration::from_secs(20))]
        );
    }
}
