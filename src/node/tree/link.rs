//! The broadcast tree's bookkeeping per link: which links carry each
//! origin's messages whole and which only announce them, and what to
//! announce. Which announced messages to ask for is in `wants.rs`.
//!
//! This is the eager and lazy push of Plumtree: a link told `PRUNE` for an
//! origin carries that origin's messages as announcements (`IHAVE`, batched
//! runs of sequence numbers), and `GRAFT` asks for announced messages and
//! makes the link carry the origin whole again. When a node prunes, and when
//! it grafts, is decided in `broadcast.rs`.
//!
//! Pure bookkeeping, no I/O.

use crate::node::id_hash::BuildIdHasher;
use crate::node::spending::Spending;
use crate::protocol::{IdRange, MsgId, NodeId};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long announcements gather before they go out, batched.
pub const ANNOUNCE_EVERY: Duration = Duration::from_millis(20);
/// Origins one link remembers as pruned, each way; a bound against a peer
/// that names endless origins.
pub(in crate::node) const MAX_ORIGINS: usize = 4096;
/// Bytes resent to one peer on its requests per [`RESEND_WINDOW`]: enough
/// for a whole cache of recent messages when a link closes, but a peer
/// cannot have this node send megabytes for every few bytes it sends.
pub const RESEND_BYTES: usize = crate::node::state::RECENT_BYTES;
pub const RESEND_WINDOW: Duration = Duration::from_secs(10);
/// Ranges per `IHAVE` or `GRAFT` frame, well inside a frame's size limit.
pub const RANGES_PER_FRAME: usize = 500;
/// Bytes of `IHAVE` a peer may send per [`IHAVE_WINDOW`]; the rest is not
/// looked at. An honest peer announces once per [`ANNOUNCE_EVERY`], one
/// run per origin, so even a full frame each time (about 1.1 MB a second)
/// stays inside it, while each range costs this node lookups under its
/// lock.
pub const IHAVE_BYTES: usize = 2 << 20;
pub const IHAVE_WINDOW: Duration = Duration::from_secs(1);

/// How a message goes to one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Whole,
    Announced,
    /// Not at all: the peer has it from its origin's own link.
    Not,
}

/// The tree's state on one link.
#[derive(Default)]
pub struct Link {
    /// Origins the peer pruned, each with its start on the peer's link to
    /// it: messages below are announced, the others not sent at all.
    pruned_by_peer: HashMap<NodeId, u64, BuildIdHasher>,
    /// Origins this node pruned on the link: a burst of duplicates already
    /// on the way costs one `PRUNE`, not one each.
    pruned_by_us: HashSet<NodeId, BuildIdHasher>,
    /// Messages to announce at the next tick: runs of consecutive sequence
    /// numbers per origin, exactly those handled, so that what is announced
    /// can be asked for.
    pending: HashMap<NodeId, Vec<(u64, u64)>, BuildIdHasher>,
    /// Bytes resent to the peer on its requests, per [`RESEND_WINDOW`].
    resent: Spending,
    /// Bytes of `IHAVE` heard from the peer, per [`IHAVE_WINDOW`].
    announced: Spending,
    /// From which sequence number on the peer's own messages all come over
    /// this link, as its `START` said: other links need not bring them whole.
    own_from: Option<u64>,
}

impl Link {
    /// How message `id` goes to this peer.
    pub fn pass(&self, id: MsgId) -> Pass {
        if self.pruned_by_peer.is_empty() {
            return Pass::Whole;
        }
        match self.peer_pruned_from(id.origin) {
            None => Pass::Whole,
            Some(start) if id.seq < start => Pass::Announced,
            Some(_) => Pass::Not,
        }
    }

    /// Notes a message to announce to this peer.
    pub fn announce(&mut self, id: MsgId) {
        let runs = self.pending.entry(id.origin).or_default();
        match runs.last_mut() {
            Some(run) if run.1.checked_add(1) == Some(id.seq) => run.1 = id.seq,
            _ => runs.push((id.seq, id.seq)),
        }
    }

    /// Where the peer pruned `origin` from, if it did: its messages from
    /// there on do not go to this peer at all.
    pub fn peer_pruned_from(&self, origin: NodeId) -> Option<u64> {
        self.pruned_by_peer.get(&origin).copied()
    }

    /// The peer pruned `origin`, whose own messages from `start` on come
    /// to it over its link to that origin: from now on, announce those
    /// below `start`, and send none whole. Reached through
    /// `PeerSet::current_mut`, which forgets `PeerSet::takers`' answer.
    pub fn pruned_by_peer(&mut self, origin: NodeId, start: u64) {
        if self.pruned_by_peer.len() < MAX_ORIGINS || self.pruned_by_peer.contains_key(&origin) {
            self.pruned_by_peer.insert(origin, start);
        }
    }

    /// The peer grafted `origin`: send its messages whole again. Reached
    /// as [`pruned_by_peer`](Self::pruned_by_peer) is.
    pub fn grafted_by_peer(&mut self, origin: NodeId) {
        self.pruned_by_peer.remove(&origin);
    }

    /// The peer said its own messages come over this link from `seq` on.
    /// Only the first time counts; returns whether this was it.
    pub fn started(&mut self, seq: u64) -> bool {
        let first = self.own_from.is_none();
        self.own_from.get_or_insert(seq);
        first
    }

    /// From which sequence number on this link brings all the peer's own
    /// messages; `None` until the peer has said.
    pub fn own_from(&self) -> Option<u64> {
        self.own_from
    }

    /// Whether this node told the peer to announce `origin`'s messages only.
    pub fn pruned_by_us(&self, origin: NodeId) -> bool {
        !self.pruned_by_us.is_empty() && self.pruned_by_us.contains(&origin)
    }

    /// `origin`'s messages come over a shorter path than this link: true if
    /// this node should now tell the peer `PRUNE` (it has not yet).
    pub fn prune_by_us(&mut self, origin: NodeId) -> bool {
        self.pruned_by_us.len() < MAX_ORIGINS && self.pruned_by_us.insert(origin)
    }

    /// This node asked the peer for `origin`'s messages whole again.
    pub fn graft_by_us(&mut self, origin: NodeId) {
        self.pruned_by_us.remove(&origin);
    }

    /// Bytes that may still be resent to this peer now.
    pub fn resend_allowance(&mut self, now: Instant) -> usize {
        self.resent.left(RESEND_BYTES, RESEND_WINDOW, now)
    }

    /// Counts `bytes` resent to this peer.
    pub fn resent(&mut self, bytes: usize) {
        self.resent.spend(bytes);
    }

    /// Counts an `IHAVE` of `bytes` from this peer; false, with nothing
    /// counted, if it is over the peer's allowance and is to be ignored.
    pub fn may_announce(&mut self, bytes: usize, now: Instant) -> bool {
        let allowed = self.announced.left(IHAVE_BYTES, IHAVE_WINDOW, now) >= bytes;
        if allowed {
            self.announced.spend(bytes);
        }
        allowed
    }

    pub fn has_announcements(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The announcements gathered since the last call.
    pub fn take_announcements(&mut self) -> Vec<IdRange> {
        self.pending
            .drain()
            .flat_map(|(origin, runs)| {
                runs.into_iter().map(move |(first, last)| IdRange {
                    origin,
                    first,
                    last,
                })
            })
            .collect()
    }
}

#[cfg(test)]
pub(in crate::node) mod tests {
    use super::*;

    const A: NodeId = NodeId(0xa);
    const O: NodeId = NodeId(0x0);

    pub fn range(origin: NodeId, first: u64, last: u64) -> IdRange {
        IdRange {
            origin,
            first,
            last,
        }
    }

    #[test]
    fn a_link_is_eager_until_pruned_and_again_after_a_graft() {
        let id = |origin, seq| MsgId { origin, seq };
        let mut link = Link::default();
        assert_eq!(link.pass(id(O, 9)), Pass::Whole);
        link.pruned_by_peer(O, 5);
        assert_eq!(link.pass(id(O, 4)), Pass::Announced, "below the start");
        assert_eq!(
            link.pass(id(O, 5)),
            Pass::Not,
            "the origin's link brings it"
        );
        assert_eq!(link.pass(id(A, 9)), Pass::Whole, "only the pruned origin");
        link.grafted_by_peer(O);
        assert_eq!(link.pass(id(O, 9)), Pass::Whole);
    }

    #[test]
    fn the_own_messages_start_where_the_peer_first_said() {
        let mut link = Link::default();
        assert_eq!(link.own_from(), None);
        assert!(link.started(7));
        assert!(!link.started(3));
        assert_eq!(link.own_from(), Some(7), "the first one counts");
    }

    #[test]
    fn a_burst_of_duplicates_prunes_once() {
        let mut link = Link::default();
        assert!(link.prune_by_us(O));
        assert!(!link.prune_by_us(O));
        assert!(link.prune_by_us(A));
        link.graft_by_us(O);
        assert!(
            link.prune_by_us(O),
            "after a graft, a new duplicate prunes again"
        );
    }

    #[test]
    fn resending_is_bounded_per_window() {
        let t0 = Instant::now();
        let mut link = Link::default();
        assert_eq!(link.resend_allowance(t0), RESEND_BYTES);
        link.resent(RESEND_BYTES - 10);
        assert_eq!(link.resend_allowance(t0 + RESEND_WINDOW / 2), 10);
        link.resent(10);
        assert_eq!(link.resend_allowance(t0 + RESEND_WINDOW / 2), 0);
        assert_eq!(link.resend_allowance(t0 + RESEND_WINDOW), RESEND_BYTES);
    }

    #[test]
    fn announcements_heard_are_bounded_per_window() {
        let t0 = Instant::now();
        let mut link = Link::default();
        assert!(link.may_announce(IHAVE_BYTES - 100, t0));
        assert!(!link.may_announce(101, t0), "over the allowance: ignored");
        assert!(link.may_announce(100, t0), "what is left still counts");
        assert!(link.may_announce(IHAVE_BYTES, t0 + IHAVE_WINDOW));
    }

    #[test]
    fn announcements_are_the_exact_runs_handled() {
        let mut link = Link::default();
        for seq in [3, 4, 5, 9, 10] {
            link.announce(MsgId { origin: O, seq });
        }
        link.announce(MsgId { origin: A, seq: 1 });
        let mut got = link.take_announcements();
        got.sort_by_key(|r| (r.origin, r.first));
        assert_eq!(got, [range(O, 3, 5), range(O, 9, 10), range(A, 1, 1)]);
        assert!(!link.has_announcements());
    }
}
