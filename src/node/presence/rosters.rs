//! Rosters: what a peer's `ROSTER` tells (users new here, back, or at a
//! newer number, passed on as news), and the digests that let a new link
//! carry only the entries its two ends differ on (`store/digest.rs`).

use super::{list_frames, HeardBy};
use crate::display::Event;
use crate::node::link::gather::push_now;
use crate::node::mesh::peers::{Frame, Via};
use crate::node::state::{encode_with, Shared, State, Waits};
use crate::node::store::digest;
use crate::node::store::roster::Heard;
use crate::protocol::{self, DigestList, MsgId, NodeId, RosterList};

impl Shared {
    /// Adds the users peer `from` knows to be online; those new to this
    /// node were there before it and are added quietly. They are news to
    /// this node's other peers too when two networks have just joined, so
    /// they are passed on in a roster of their own, and so are users listed
    /// at a newer number than this node knew (a user back from a crash who
    /// never dialled out says so only in rosters; a peer may have lost
    /// them). Only what is news to a node is passed on, so the news stops
    /// where it is known. A user
    /// listed at a number this node lost them at is checked with the
    /// network (see the module's notes).
    /// Each entry costs a lookup or two, and the roster is bounded, so
    /// however many rosters a peer sends, the work is in proportion to
    /// their bytes.
    pub fn on_roster(&self, from: NodeId, list: RosterList<'_>) -> Waits {
        let mut state = self.lock();
        let mut waits = Waits::default();
        self.take_entries(&mut state, from, list, HeardBy::Other);
        // An empty roster ends a peer's answer to this node's digest: the
        // first one whole, this node has just met the network. (A news
        // roster from another link may come before it, and an answer may
        // take several frames.)
        let answered = list.iter().next().is_none();
        if answered && state.first_roster.is_answer_from(from) {
            self.first_roster_learned(&mut state);
        }
        if answered && !std::mem::replace(&mut state.greeted, true) {
            let online: Vec<String> = state
                .roster
                .online()
                .into_iter()
                .map(|(id, name)| state.roster.display_name(id, &name))
                .collect();
            self.show(
                &mut state,
                Event::Notice(&crate::node::chat::online_line(&online)),
            );
        }
        self.hand_over(&mut state, &mut waits);
        waits
    }

    /// Takes in a peer's `JOIN` list: users who just joined, each shown
    /// and passed on once, however many ways their join comes; otherwise
    /// as a roster's entries.
    pub fn on_joined(&self, from: NodeId, list: RosterList<'_>) -> Waits {
        let mut state = self.lock();
        let mut waits = Waits::default();
        self.take_entries(&mut state, from, list, HeardBy::Join);
        self.hand_over(&mut state, &mut waits);
        waits
    }

    /// Takes in the entries of a `ROSTER` or a `JOIN` list from `from`, and
    /// gathers what is news for the other peers.
    fn take_entries(&self, state: &mut State, from: NodeId, list: RosterList<'_>, by: HeardBy) {
        let now = self.now();
        let mut stale = Vec::new();
        // The first answer's entries are not news (see `first_roster.rs`).
        let first = by == HeardBy::Other && state.first_roster.is_answer_from(from);
        for (id, name) in list.iter() {
            let origin = id.origin;
            if origin == self.id || !state.departed.may_return(origin, id.seq) {
                continue;
            }
            let heard = state.roster.heard(origin, name, id.seq, now);
            let join = by == HeardBy::Join && state.roster.joined(origin, id.seq);
            match heard {
                _ if join => state.news.joined(id, Some(from)),
                Heard::New if first => {}
                Heard::New | Heard::Back | Heard::Newer => state.news.online(id, Some(from)),
                Heard::Stale => stale.push(id),
                Heard::Same => state.news.told_entry(id, from, by == HeardBy::Join),
                _ => {}
            }
            let shown_as = match join {
                true => HeardBy::Join,
                false => HeardBy::Other,
            };
            self.announce(state, origin, name, heard, shown_as);
        }
        // Asked of every peer, the one that listed them too: it may still
        // link to the part of the network they are in. This also wakes the
        // news task for what was gathered above.
        self.pass_suspicions(state, None, &stale);
    }

    /// This node's roster entries: every online user it does not suspect,
    /// with the newest number heard of them, its own user at its newest.
    pub(super) fn own_entries<'s>(
        &self,
        state: &'s State,
    ) -> impl Iterator<Item = (MsgId, &'s str)> + Clone + 's {
        let own = MsgId {
            origin: self.id,
            seq: state.next_seq().saturating_sub(1),
        };
        let entries = state.roster.entries();
        entries.map(move |(id, name)| match id.origin == own.origin {
            true => (own, name),
            false => (id, name),
        })
    }

    /// This node's roster digest as a `DIGEST` frame, for a peer that has
    /// just linked: its answer brings only what differs (see
    /// `store/digest.rs`).
    pub(in crate::node) fn own_digest(&self, state: &State) -> Option<Frame> {
        let entries = self.own_entries(state);
        let buckets = digest::bucket_count(entries.clone().count());
        let hashes = digest::digest(entries, buckets);
        encode_with(|out| protocol::encode_digest(hashes.into_iter(), out))
    }

    /// Answers a peer's `DIGEST` with a `ROSTER` of this node's entries in
    /// the buckets that differ, if any, and then an empty `ROSTER` that
    /// ends the answer, so that the peer always hears back and knows when
    /// it has heard all. A link gets one answer: each costs a pass
    /// over the roster and up to its whole size in bytes queued.
    pub fn on_digest(&self, via: Via, list: DigestList<'_>) {
        let mut state = self.lock();
        match state.peers.current_mut(via) {
            Some(peer) if !peer.answered.digest => peer.answered.digest = true,
            _ => return,
        }
        let hashes: Vec<u64> = list.iter().collect();
        if !self.hold_answer(&mut state, via, &hashes) {
            self.answer_digest(&state, via, &hashes);
        }
    }

    /// Sends peer `via` a `ROSTER` of this node's entries in the buckets of
    /// `hashes` (its digest) that differ from this node's, then an empty
    /// `ROSTER` that ends the answer, then a `SUSPECT` of the users this
    /// node doubts in those buckets: where the buckets agree, the peer
    /// lists none of them online (see [`Shared::own_doubts`]).
    pub(in crate::node) fn answer_digest(&self, state: &State, via: Via, hashes: &[u64]) {
        let entries = self.own_entries(state);
        // A power of two from 1 to the most, as the parser checked.
        let buckets = hashes.len().clamp(1, digest::MAX_BUCKETS);
        let ours = digest::digest(entries.clone(), buckets);
        let differ = digest::differing(&ours, hashes.iter().copied());
        // The parser checked the count; a bucket missing all the same
        // counts as different.
        let differs = |id: &MsgId| {
            let bucket = digest::bucket_of(id.origin, buckets);
            differ.get(bucket).copied().unwrap_or(true)
        };
        let sent: Vec<(MsgId, &str)> = entries.filter(|(id, _)| differs(id)).collect();
        // Then an empty one, which ends the answer.
        let mut frames = roster_frames(&sent);
        frames.extend(encode_with(|out| {
            protocol::encode_roster([].into_iter(), out)
        }));
        frames.extend(self.own_doubts(state, differs));
        if let Some(peer) = state.peers.current(via) {
            for frame in frames {
                push_now(&peer.outbox, Some(frame));
            }
        }
    }
}

/// `ROSTER` frames listing `entries`, as many frames as it takes.
pub(super) fn roster_frames(entries: &[(MsgId, &str)]) -> Vec<Frame> {
    list_frames(entries, |chunk, out| {
        protocol::encode_roster(chunk.iter().copied(), out)
    })
}

/// `JOIN` frames listing `entries`, as many frames as it takes.
pub(super) fn joined_frames(entries: &[(MsgId, &str)]) -> Vec<Frame> {
    list_frames(entries, |chunk, out| {
        protocol::encode_joined(chunk.iter().copied(), out)
    })
}
