//! Who this node is linked to: admitting a handshaken peer and introducing
//! it to the others, forgetting one whose link ended, and the addresses and
//! history inventories that peers exchange so the mesh heals and fills in.

use crate::node::link::connection::{Ended, Ending};
use crate::node::link::gather::{push, push_now};
use crate::node::mesh::dial_book::{Heal, Source};
use crate::node::mesh::peers::{ConnId, Frame, Peer, Refusal, Via, LINKED_TO_KEPT};
use crate::node::state::{encode_with, resend, Shared, Waits};
use crate::node::store::id_runs::IdRuns;
use crate::protocol::{self, Message, Need, NodeId, PeerList, RangeList};
use crate::queue::Queue;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

/// New addresses taken from one `PEERS` frame, at most: an honest peer has
/// at most its maximum of links to tell of.
pub const NEW_PER_PEERS: usize = 8;

impl Shared {
    /// Registers a handshaken peer and introduces it to the others: it gets
    /// our peers' addresses, our history inventory and who is online; they
    /// get its address. Returns true for this node's first connection ever.
    /// `need`: how much the link is needed (see [`crate::node::mesh::peers::PeerSet::admit`]).
    pub fn admit(&self, id: NodeId, mut peer: Peer, need: Need) -> Result<bool, Refusal> {
        let mut state = self.lock();
        // Taken under the lock: every message handled after this instant is
        // fanned out to the new peer, every one before it is in the history.
        peer.since = self.now();
        let (name, remote, listen) = (peer.name.clone(), peer.remote, peer.listen);
        let new_outbox = peer.outbox.clone();
        let closed = state.peers.admit(id, peer, need, self.now())?;
        // Said first, under the same lock as everything fanned out to the
        // new peer: from this number on, every message of this node's own
        // goes to it.
        let next_seq = state.next_seq();
        push_now(&new_outbox, state.encode(&Message::Start(next_seq)).ok());
        if let Some((closed_id, closed)) = closed {
            // What was on its way to this node over the closed link may be
            // lost, even when a new link to the same node replaces it.
            self.origin_gone(&mut state, closed_id, closed.link.own_from());
            if closed_id == id {
                // What was queued on the old link goes out on the new one,
                // in order.
                closed.outbox.move_into(&new_outbox);
            } else {
                // Dropped to make room: say so, so it looks elsewhere.
                let error = state.encode(&Message::Error(
                    "this node has as many peers as it takes, and made room for a newcomer",
                ));
                push_now(&closed.outbox, error.ok());
            }
            closed.outbox.close();
        }
        let send = |p: &Peer, frame: Option<Frame>| push_now(&p.outbox, frame);
        self.prune_new_link(&mut state, id);
        if let Some(new) = state.peers.get(&id) {
            let others = state
                .peers
                .iter()
                .filter(|(other, p)| **other != id && shareable(p.listen, remote))
                .map(|(other, p)| (*other, p.listen));
            send(new, encode_with(|out| protocol::encode_peers(others, out)));
            let runs = state.history.runs().into_iter();
            send(new, encode_with(|out| protocol::encode_have(runs, out)));
            let conn = new.conn;
            self.digest_for(&mut state, Via { peer: id, conn });
        }
        if let Some(new) = state.peers.get(&id) {
            send(new, self.own_join(&state));
        }
        let intro = encode_with(|out| protocol::encode_peers([(id, listen)].into_iter(), out));
        for (other, p) in state.peers.iter() {
            if *other != id && shareable(listen, p.remote) {
                send(p, intro.clone());
            }
        }
        drop(state);
        self.link_event(format!("connected to {name} ({remote})"));
        Ok(!self.connected_once.swap(true, Ordering::SeqCst))
    }

    /// Forgets connection `conn` to `id` after it ended. A link that ended
    /// without a word from the peer makes its user suspected.
    pub fn depart(&self, id: NodeId, conn: ConnId, outbox: &Queue<Frame>, ended: &Ended) {
        let reason = ended.reason.as_str();
        outbox.close();
        let mut state = self.lock();
        // A link closed before its START came was never taken: the other
        // end turned it down.
        let started = state
            .peers
            .current(Via { peer: id, conn })
            .map(|p| p.link.own_from().is_some());
        let removed = match started {
            Some(false) => {
                state.note_refusal(id, reason);
                state.peers.turned_down(id, conn, self.now())
            }
            _ => state.peers.remove(id, conn),
        };
        if let Some(peer) = &removed {
            self.origin_gone(&mut state, id, peer.link.own_from());
            if ended.ending == Ending::Unexplained && !self.is_quitting() {
                self.suspect_lost_link(&mut state, id);
            }
        }
        drop(state);
        if let Some(peer) = &removed {
            tracing::debug!(node = %id, name = %peer.name, remote = %peer.remote, "link closed: {reason}");
        }
        if let Some(peer) = removed {
            if !self.is_quitting() {
                self.link_event(format!(
                    "connection to {} ({}) closed: {reason}",
                    peer.name, peer.remote
                ));
            }
            self.wake_dialer();
        }
    }
    /// Sends peer `to` the history messages its `HAVE` list lacks.
    /// Answered once per link: a repeat would queue the history again.
    pub fn on_have(&self, to: Via, have: RangeList<'_>) -> Waits {
        let mut state = self.lock();
        let mut waits = Waits::default();
        let Some(peer) = state.peers.current_mut(to) else {
            return waits;
        };
        if std::mem::replace(&mut peer.answered.have, true) {
            tracing::debug!(node = %to.peer, "a second HAVE on one link: not answered");
            return waits;
        }
        let have = IdRuns::new(have.iter());
        let Some(peer) = state.peers.current(to) else {
            return waits;
        };
        let missing = state.history.missing_from(&have, peer.since, self.now());
        for (frame, age) in missing {
            if let Some(replay) = resend(frame, age, self.id) {
                push(peer, replay, &mut waits);
            }
        }
        waits
    }

    /// Notes whom peer `from` says it is linked to, and remembers the
    /// addresses it shared, to dial them when needed: at most
    /// [`NEW_PER_PEERS`] new ones per frame, and at most
    /// [`TOLD_PER_PEER`](crate::node::mesh::dial_book::TOLD_PER_PEER) of
    /// its in the book, so that made-up lists cannot fill the book, nor
    /// push out what other peers named.
    pub fn on_peers(&self, from: NodeId, list: PeerList<'_>) {
        let now = self.now();
        let mut state = self.lock();
        if let Some(peer) = state.peers.get_mut(&from) {
            for (id, _) in list.iter().take(LINKED_TO_KEPT) {
                peer.said_linked_to(id);
            }
        }
        let new = (state.peers).remember_told(from, list.iter(), NEW_PER_PEERS, now);
        if new > 0 {
            tracing::debug!("PEERS: {new} new addresses");
        }
        if state.peers.wants_more() {
            self.wake_dialer();
        }
    }

    /// Notes a node of this room heard of on the LAN (twice, at one
    /// address), to dial it when this node wants more connections, or to
    /// heal a split if it is missing from the roster. True if it was news:
    /// not connected, and its address not known already.
    pub fn discovered(&self, id: NodeId, addr: SocketAddr) -> bool {
        let mut state = self.lock();
        if state.peers.get(&id).is_some() {
            tracing::trace!(node = %id, %addr, "announcement ignored: already a peer");
            return false;
        }
        let new = state
            .peers
            .remember(id, addr, Source::Discovery, self.now());
        match new {
            true => tracing::debug!(node = %id, %addr, "announcement: a new node of the room"),
            false => tracing::trace!(node = %id, %addr, "announcement ignored: address known"),
        }
        if new && state.peers.wants_more() {
            self.wake_dialer();
        }
        new
    }

    /// A `PEERS` frame naming up to [`NEW_PER_PEERS`] of this node's peers,
    /// for a newcomer at `remote` that a full node turns down: it has
    /// somewhere else to go.
    pub fn addresses_for(&self, remote: SocketAddr) -> Option<Frame> {
        let state = self.lock();
        let others = state
            .peers
            .iter()
            .filter(|(_, p)| shareable(p.listen, remote))
            .map(|(id, p)| (*id, p.listen))
            .take(NEW_PER_PEERS);
        encode_with(|out| protocol::encode_peers(others, out))
    }

    /// What to do about a split now (see [`PeerSet::heal_plan`]).
    pub fn heal_plan(&self) -> Heal {
        let mut state = self.lock();
        let state = &mut *state;
        let roster = &state.roster;
        state.peers.heal_plan(|id| roster.is_online(id), self.now())
    }

    /// Closes the link to `id`, one more than the node keeps now that the
    /// split it healed is gone.
    pub fn prune_surplus(&self, id: NodeId) {
        let mut state = self.lock();
        let Some(peer) = state.peers.drop_surplus(id) else {
            return;
        };
        self.origin_gone(&mut state, id, peer.link.own_from());
        let error = state.encode(&Message::Error(
            "this node has more peers than it keeps, and closed a surplus link",
        ));
        push_now(&peer.outbox, error.ok());
        peer.outbox.close();
        drop(state);
        tracing::debug!(node = %id, name = %peer.name, "closed a surplus link");
    }
}

/// Whether `addr` means something to the peer at `with`: a loopback address
/// means nothing on another machine, and an IPv6 link-local one carries an
/// interface number that is only valid on this machine.
fn shareable(addr: SocketAddr, with: SocketAddr) -> bool {
    let link_local = match addr.ip() {
        std::net::IpAddr::V6(ip) => ip.segments()[0] & 0xffc0 == 0xfe80,
        std::net::IpAddr::V4(_) => false,
    };
    let loopback = addr.ip().to_canonical().is_loopback();
    !link_local && (!loopback || with.ip().to_canonical().is_loopback())
}

#[cfg(test)]
mod tests;
