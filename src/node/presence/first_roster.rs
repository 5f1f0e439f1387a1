//! How a node learns the roster when it first links: from one peer's
//! answer to its digest. Until that answer ends, its other links wait for
//! its digest, and for its answers to theirs. Its digest then names the
//! room it learned, so each of those peers answers with what differs (in
//! one network, next to nothing) rather than the whole room; and its
//! answers name that room too, so the entries of the first answer need
//! not be passed on as news: a peer that lacks them (one of another part
//! of a split network) finds them in the answer to its digest.
//!
//! Without this, a newcomer was sent the whole room by every peer it
//! linked to at once, and passed the whole room on to each of them as
//! news: a join cost the network a few times the roster in entries.

use crate::node::link::gather::push_now;
use crate::node::mesh::peers::Via;
use crate::node::state::{Shared, State};
use crate::protocol::NodeId;
use std::time::{Duration, Instant};

/// How long the other links wait for the first answer at most: a peer
/// that never ends its answer delays them by this much, no more.
pub const FIRST_ROSTER_WAIT: Duration = Duration::from_secs(2);

/// Where the node is in learning its first roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::node) enum FirstRoster {
    /// No link yet.
    NotAsked,
    /// Its digest went to `peer`, whose answer has not ended; the other
    /// links wait until it ends, the link closes, or `until`.
    Asked { peer: Via, until: Instant },
    /// Learned, or given up waiting for: links carry digests and answers
    /// at once.
    Learned,
}

impl FirstRoster {
    /// Whether the entries `from` lists now are the first answer, which
    /// is not news to the other peers.
    pub fn is_answer_from(&self, from: NodeId) -> bool {
        matches!(self, FirstRoster::Asked { peer, .. } if peer.peer == from)
    }
}

impl Shared {
    /// A link to `new` opened: it gets this node's digest now, unless the
    /// first roster is still on its way from another peer.
    pub(in crate::node) fn digest_for(&self, state: &mut State, new: Via) {
        let now = self.now();
        let send = match state.first_roster {
            FirstRoster::NotAsked => {
                state.first_roster = FirstRoster::Asked {
                    peer: new,
                    until: now + FIRST_ROSTER_WAIT,
                };
                true
            }
            FirstRoster::Asked { .. } => false,
            FirstRoster::Learned => true,
        };
        let digest = send.then(|| self.own_digest(state)).flatten();
        if let Some(peer) = state.peers.current_mut(new) {
            match send {
                true => push_now(&peer.outbox, digest),
                false => peer.held.digest = true,
            }
        }
    }

    /// Whether a digest from `via` is to wait for the first roster (it
    /// then waits, as `hashes`, in its peer's `held`).
    pub(in crate::node) fn hold_answer(&self, state: &mut State, via: Via, hashes: &[u64]) -> bool {
        let hold = match state.first_roster {
            FirstRoster::Asked { peer, .. } => peer != via,
            _ => false,
        };
        if let (true, Some(peer)) = (hold, state.peers.current_mut(via)) {
            peer.held.answer = Some(hashes.to_vec());
        }
        hold
    }

    /// The first roster is learned, or waited for long enough: the links
    /// that waited get this node's digest, and answers to theirs.
    pub(in crate::node) fn first_roster_learned(&self, state: &mut State) {
        if state.first_roster == FirstRoster::Learned {
            return;
        }
        state.first_roster = FirstRoster::Learned;
        let held: Vec<(Via, bool, Option<Vec<u64>>)> = (state.peers.iter_mut())
            .map(|(id, p)| {
                let via = Via {
                    peer: *id,
                    conn: p.conn,
                };
                (
                    via,
                    std::mem::take(&mut p.held.digest),
                    p.held.answer.take(),
                )
            })
            .filter(|(_, digest, answer)| *digest || answer.is_some())
            .collect();
        // Worked out once, and only if a link waits for it.
        let digest = match held.iter().any(|(_, wants_digest, _)| *wants_digest) {
            true => self.own_digest(state),
            false => None,
        };
        for (via, wants_digest, answer) in held {
            if let (true, Some(peer)) = (wants_digest, state.peers.current(via)) {
                push_now(&peer.outbox, digest.clone());
            }
            if let Some(hashes) = answer {
                self.answer_digest(state, via, &hashes);
            }
        }
    }

    /// Ends the wait for the first roster if the peer asked left, or the
    /// wait ran out by `now`.
    pub(in crate::node) fn first_roster_check(&self, state: &mut State, now: Instant) {
        if let FirstRoster::Asked { peer, until } = state.first_roster {
            if now >= until || state.peers.current(peer).is_none() {
                self.first_roster_learned(state);
            }
        }
    }
}
