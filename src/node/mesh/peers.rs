//! The peer set: who this node is connected to, and whether to admit or
//! refuse a connection. Whom it knows of and whom to dial next is in
//! `dial_book.rs`, on the same set.
//!
//! Pure bookkeeping, no I/O, so every decision is unit-tested.

use crate::node::dense_map::DenseMap;
use crate::node::id_hash::BuildIdHasher;
use crate::node::mesh::dial_book::Known;
use crate::node::mesh::dial_budget::{self, DialBudget};
use crate::node::random::{Keyed, Rng};
use crate::node::spending::Spending;
use crate::node::tree::link::Link;
use crate::protocol::{Need, NodeId};
use crate::queue::Queue;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Encoded frames as a queue holds them: one frame shared by every queue
/// it is fanned out to, or part of a run of small frames gathered for the
/// peers. `Bytes` rather than `Arc<[u8]>` so that a gathered run becomes
/// one without being copied again, and each peer's parts slices of it.
pub type Frame = bytes::Bytes;

/// Identifies one connection, so a replaced connection's clean-up cannot
/// remove its successor.
pub type ConnId = u64;

/// Where a message came from: the peer, and which of its connections. A
/// connection that a newer one replaced may still hand over what it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via {
    pub peer: NodeId,
    pub conn: ConnId,
}

/// A connected, handshaken peer.
pub struct Peer {
    pub conn: ConnId,
    pub name: String,
    /// The other end of the TCP connection.
    pub remote: SocketAddr,
    /// Where the peer accepts connections.
    pub listen: SocketAddr,
    /// True if this node opened the connection.
    pub outbound: bool,
    pub outbox: Arc<Queue<Frame>>,
    /// When it was admitted: from then on, every message went to it live.
    pub since: Instant,
    /// The static key it proved, on an encrypted link.
    pub key: Option<[u8; 32]>,
    /// Which origins' messages go to it whole, and what to announce to it.
    pub link: Link,
    /// The parts of the gathered run that go to it, in order (see
    /// `gather.rs`); queued before the node's lock is released.
    pub taken: Vec<Range<usize>>,
    /// What it has had its one answer to on this link.
    pub answered: Answered,
    /// What waits for this node's first roster.
    pub held: Held,
    /// Chat messages that were new here when it brought them.
    pub delivered: u64,
    /// Entries of its `SUSPECT` lists looked at lately.
    pub suspicions: Spending,
    /// Nodes its `PEERS` said it is linked to (at most
    /// [`LINKED_TO_KEPT`]): if one of them is a peer here too, dropping
    /// this link leaves a way round it. Only its own word counts, so a
    /// peer that lies can only get its own link dropped first, or kept
    /// last.
    pub linked_to: Vec<NodeId>,
}

/// Messages a peer sends once per link, at its start: a repeat is not
/// answered, or it could make the node do the same work again and again.
#[derive(Debug, Default, Clone, Copy)]
pub struct Answered {
    /// Its `HAVE` was answered with the history it lacked.
    pub have: bool,
    /// Its `DIGEST` was answered with the roster entries it lacked.
    pub digest: bool,
}

/// What waits on a link for the node's first roster (see
/// `presence/first_roster.rs`).
#[derive(Debug, Default)]
pub struct Held {
    /// This node's digest, to send.
    pub digest: bool,
    /// The peer's digest, to answer.
    pub answer: Option<Vec<u64>>,
}

/// Nodes a peer said it is linked to, kept at most: more than a node's
/// maximum with its healing surplus.
pub const LINKED_TO_KEPT: usize = 16;

impl Peer {
    /// Notes that the peer said it is linked to `id`.
    pub fn said_linked_to(&mut self, id: NodeId) {
        if self.linked_to.len() < LINKED_TO_KEPT && !self.linked_to.contains(&id) {
            self.linked_to.push(id);
        }
    }

    /// Notes that `part` of the gathered run goes to this peer, after the
    /// parts it already takes.
    pub fn take(&mut self, part: Range<usize>) {
        match self.taken.last_mut() {
            Some(last) if last.end == part.start => last.end = part.end,
            _ => self.taken.push(part),
        }
    }
}

/// Why a handshaken connection is not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The other end is this very node.
    Myself,
    /// A connection to that node exists and is preferred.
    Duplicate,
    /// This node has its maximum of peers and none it can drop.
    Full,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Myself => "connected to itself",
            Refusal::Duplicate => "already connected to this node",
            Refusal::Full => "this node has as many peers as it takes",
        }
    }
}

/// Dialing policy.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections a node dials until it has.
    pub target: usize,
    /// Connections beyond which it refuses more.
    pub max: usize,
    /// Addresses remembered.
    pub book_size: usize,
    /// Failed dials after which an address is forgotten.
    pub max_failures: u32,
    /// Longest wait between two dials of one address.
    pub max_backoff: Duration,
    /// How long a node waits before dialing a newly learned node with a
    /// lower id, which is expected to dial it first.
    pub defer: Duration,
    /// How long a node waits, once linked, before it takes a node of the
    /// room missing from its roster as a sign of a split: by then every
    /// node of its part has said it is online (one heartbeat).
    pub settle: Duration,
    /// How long a node heard of must have been known before its absence
    /// from the roster means a split: a newcomer's first link and its
    /// `JOIN` take a moment to reach everyone.
    pub news: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            target: 4,
            max: 8,
            book_size: 256,
            max_failures: 60,
            max_backoff: Duration::from_secs(8),
            defer: Duration::from_secs(1),
            settle: Duration::from_secs(4),
            news: Duration::from_secs(2),
        }
    }
}

pub struct PeerSet {
    pub(in crate::node) me: NodeId,
    pub(in crate::node) limits: Limits,
    pub(in crate::node) peers: HashMap<NodeId, Peer, BuildIdHasher>,
    /// Where known nodes listen, and how dialing them went.
    pub(in crate::node) book: DenseMap<Known>,
    /// Addresses being dialed now.
    pub(in crate::node) dialing: HashSet<SocketAddr, Keyed>,
    /// The last answer of [`takers`](Self::takers). Forgotten by every
    /// way to change a peer but `iter_mut`, which is for sending.
    takers_memo: Option<TakersMemo>,
    /// Dials left to replace links lost at or above the target (see
    /// [`PeerSet::dial_plan`]): [`REPLACE_TRIES`] per link lost, one spent
    /// per dial, and a new link pays for one lost.
    pub(in crate::node) to_replace: u32,
    /// Picks the peer that makes room, and the order of equal addresses.
    pub(in crate::node) rng: Rng,
    /// Since when the node has had at least one link without a break: its
    /// roster has settled a heartbeat after (see [`PeerSet::heal_plan`]).
    pub(in crate::node) linked_since: Option<Instant>,
    /// The address of the healing dial under way, if any: one at a time.
    pub(in crate::node) healing: Option<SocketAddr>,
    /// Where in the book [`PeerSet::heal_plan`] looks next.
    pub(in crate::node) heal_cursor: usize,
    /// When a link was last dropped to make room for a newcomer.
    evicted: Option<Instant>,
    /// Links dropped to make room for newcomers: those whose peer had a
    /// way round them, and those whose peer had none this node knew of.
    pub(in crate::node) made_room: MadeRoom,
    /// What dials to addresses nobody vouched for may still cost.
    pub(in crate::node) budget: DialBudget,
    /// Failed dials to addresses nobody vouched for, by host: a host
    /// that announced made-up nodes is dialed after those that did not.
    pub(in crate::node) failed_hosts: HashMap<std::net::IpAddr, u32, Keyed>,
}

/// Links a node dropped to make room for newcomers, by whether it knew
/// of a way round them (see [`PeerSet::admit`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct MadeRoom {
    pub way_round: u64,
    pub blind: u64,
}

/// The shortest time between two links dropped to make room for newcomers.
pub const EVICTION_GAP: Duration = Duration::from_millis(250);

/// Links a node takes beyond its maximum to heal a split (see
/// [`Need::Heal`]).
pub const HEAL_SURPLUS: usize = 2;

/// Dials made, at most, to replace one lost link beyond the target. Such a
/// dial is refused by a node at its maximum, so a few may be needed; more
/// would keep a node dialing in a network where every node is full.
pub const REPLACE_TRIES: u32 = 3;

/// Which peers, the sender and the origin aside, take an origin's
/// messages whole (see [`PeerSet::takers`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Takers {
    /// Every one: none pruned the origin.
    All,
    /// None from this sequence number on: every one pruned the origin,
    /// from a start no later. Those below it are announced.
    NoneFrom(u64),
    /// Some do and some do not: each link says.
    Some,
}

/// What [`PeerSet::takers`] answered, and for which origin and sender.
#[derive(Clone, Copy)]
struct TakersMemo {
    origin: NodeId,
    from: Option<NodeId>,
    takers: Takers,
}

impl PeerSet {
    pub fn new(me: NodeId, limits: Limits) -> Self {
        PeerSet {
            me,
            limits,
            peers: HashMap::default(),
            book: DenseMap::default(),
            dialing: HashSet::default(),
            takers_memo: None,
            to_replace: 0,
            rng: Rng::default(),
            linked_since: None,
            healing: None,
            heal_cursor: 0,
            evicted: None,
            made_room: MadeRoom::default(),
            budget: DialBudget::new(dial_budget::PER_MINUTE),
            failed_hosts: HashMap::default(),
        }
    }

    /// Decides whether to keep a handshaken connection to `id`. If that
    /// closes an existing connection, it is returned for closing: either the
    /// one it replaces, or one dropped to make room.
    ///
    /// Two nodes that dial each other at once end up with two connections;
    /// both keep the one opened by the node with the lower id, so they agree
    /// without talking.
    ///
    /// A node at its maximum still takes a link that the other end
    /// [`Need::Needed`] (it has fewer than its target: a newcomer that may
    /// know no other node, or a node that lost its links), and drops one of
    /// its own, at random, instead (as HyParView does). The dropped peer has
    /// other links, and replaces the lost one (see [`PeerSet::dial_plan`]).
    /// A link that joins two parts of a split network ([`Need::Heal`]) is
    /// taken beyond the maximum, up to [`HEAL_SURPLUS`] more, without
    /// dropping any: the surplus is pruned once the parts are one (see
    /// [`PeerSet::surplus`]). A link the other end merely wants
    /// ([`Need::Spare`]) is refused: making room for it would only move the
    /// shortage elsewhere.
    pub fn admit(
        &mut self,
        id: NodeId,
        peer: Peer,
        need: Need,
        now: Instant,
    ) -> Result<Option<(NodeId, Peer)>, Refusal> {
        if id == self.me {
            return Err(Refusal::Myself);
        }
        let heal_room = need == Need::Heal && self.peers.len() < self.limits.max + HEAL_SURPLUS;
        let closed = if let Some(old) = self.peers.get(&id) {
            let opener = |outbound: bool| if outbound { self.me } else { id };
            let preferred = self.me.min(id);
            if opener(peer.outbound) != preferred || opener(old.outbound) == preferred {
                return Err(Refusal::Duplicate);
            }
            self.peers.remove(&id).map(|p| (id, p))
        } else if self.peers.len() >= self.limits.max && !heal_room {
            if need == Need::Spare {
                return Err(Refusal::Full);
            }
            // Room is made at most every EVICTION_GAP, never by dropping a
            // link this node dialed (a crowd of newcomers that all say they
            // need a link must not cut the node off from the peers it
            // chose), and by dropping a peer with a way round the link if
            // there is one (a newcomer whose one link this is, or a link
            // that is the last between two parts, has none); among those,
            // the peer that brought the least news, at random among
            // equals: not the longest-standing, for links between nodes
            // that joined at different times would go first, and a network
            // whose newcomers all join through one node would drift into an
            // old part and a new one.
            if self.evicted.is_some_and(|t| now < t + EVICTION_GAP) {
                return Err(Refusal::Full);
            }
            let mut inbound: Vec<(NodeId, u64, bool)> = (self.peers.iter())
                .filter(|(_, p)| !p.outbound)
                .map(|(id, p)| (*id, p.delivered, self.way_round(p)))
                .collect();
            if inbound.iter().any(|(_, _, round)| *round) {
                inbound.retain(|(_, _, round)| *round);
                self.made_room.way_round += 1;
            } else if !inbound.is_empty() {
                self.made_room.blind += 1;
            }
            let least = inbound
                .iter()
                .map(|(_, d, _)| *d)
                .min()
                .ok_or(Refusal::Full)?;
            let candidates: Vec<NodeId> = inbound
                .iter()
                .filter(|(_, d, _)| *d == least)
                .map(|(id, _, _)| *id)
                .collect();
            let victim = candidates[self.rng.below(candidates.len())];
            self.evicted = Some(now);
            self.peers.remove(&victim).map(|p| (victim, p))
        } else {
            // A link more: it stands for one lost, if any.
            self.to_replace = self.to_replace.saturating_sub(REPLACE_TRIES);
            None
        };
        self.takers_memo = None;
        self.connected(id, peer.listen, now);
        if self.peers.is_empty() {
            self.linked_since = Some(now);
        }
        self.peers.insert(id, peer);
        Ok(closed)
    }

    /// A link to close because the node has more than its maximum, taken
    /// on to heal a split (see [`Need::Heal`]): one at random among those
    /// older than [`Limits::settle`] twice over, so that the links that
    /// just joined two parts stay while the parts mix, and with a way
    /// round it, so that closing it splits nothing. `None` at or below
    /// the maximum, or if no link can go.
    pub fn surplus(&mut self, now: Instant) -> Option<NodeId> {
        if self.peers.len() <= self.limits.max {
            return None;
        }
        let old: Vec<NodeId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.since + 2 * self.limits.settle <= now && self.way_round(p))
            .map(|(id, _)| *id)
            .collect();
        let pick = *old.get(self.rng.below(old.len().max(1)))?;
        Some(pick)
    }

    /// Forgets the connection `conn` to `id`, if it is still the current
    /// one. The link is lost, and is to be replaced, even at the target.
    pub fn remove(&mut self, id: NodeId, conn: ConnId) -> Option<Peer> {
        self.takers_memo = None;
        match self.peers.get(&id) {
            Some(p) if p.conn == conn => {
                let most = REPLACE_TRIES * self.limits.max as u32;
                self.to_replace = (self.to_replace + REPLACE_TRIES).min(most);
                let removed = self.peers.remove(&id);
                if self.peers.is_empty() {
                    self.linked_since = None;
                }
                removed
            }
            _ => None,
        }
    }

    /// Forgets connection `conn` to `id`, which the other end closed before
    /// taking it (it said `ERROR` where `START` was due): not a link lost,
    /// so not replaced, but a dial that failed, so its address backs off.
    pub fn turned_down(&mut self, id: NodeId, conn: ConnId, now: Instant) -> Option<Peer> {
        if !self.peers.get(&id).is_some_and(|p| p.conn == conn) {
            return None;
        }
        self.takers_memo = None;
        let peer = self.peers.remove(&id);
        if self.peers.is_empty() {
            self.linked_since = None;
        }
        self.turned_down_by(id, now);
        peer
    }

    /// Forgets the link to `id`, closed as a surplus (see
    /// [`surplus`](Self::surplus)): not a link lost, so not replaced.
    pub fn drop_surplus(&mut self, id: NodeId) -> Option<Peer> {
        self.takers_memo = None;
        self.peers.remove(&id)
    }

    /// True if `peer` said it is linked to another of this node's peers:
    /// without the link to it, the two would still be two hops apart.
    fn way_round(&self, peer: &Peer) -> bool {
        (peer.linked_to.iter()).any(|n| *n != self.me && self.peers.contains_key(n))
    }

    /// A number below `n`, which must not be zero, from the set's
    /// generator.
    pub fn random_below(&mut self, n: usize) -> usize {
        self.rng.below(n)
    }

    /// True while the node has fewer links than it aims for: it needs each
    /// new one, and says so in its `HELLO`.
    pub fn needs_links(&self) -> bool {
        self.peers.len() < self.limits.target
    }

    pub fn get(&self, id: &NodeId) -> Option<&Peer> {
        self.peers.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&NodeId, &Peer)> {
        self.peers.iter()
    }

    pub fn get_mut(&mut self, id: &NodeId) -> Option<&mut Peer> {
        self.takers_memo = None;
        self.peers.get_mut(id)
    }

    /// The peer `via` names, if that connection is still its current one.
    /// What a replaced connection still hands over speaks of that link's
    /// state, not of its successor's: a `PRUNE` from it must not prune the
    /// new link.
    pub fn current(&self, via: Via) -> Option<&Peer> {
        self.peers.get(&via.peer).filter(|p| p.conn == via.conn)
    }

    /// [`current`](Self::current), to change: the way to change what a
    /// link takes (`PRUNE`, `GRAFT`).
    pub fn current_mut(&mut self, via: Via) -> Option<&mut Peer> {
        self.takers_memo = None;
        self.peers.get_mut(&via.peer).filter(|p| p.conn == via.conn)
    }

    /// Every peer, to send or announce to. Not to change what a link
    /// takes: that keeps [`takers`](Self::takers)' answer.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&NodeId, &mut Peer)> {
        self.peers.iter_mut()
    }

    /// Which peers but `from` and the origin take `origin`'s messages
    /// whole. Remembered until a peer changes, so that a run of messages from one
    /// origin needs no lookup in each link's state: over the origin's own
    /// link once the tree has formed, every other peer has pruned it and
    /// is passed by in one comparison; from this node itself, no peer has.
    pub fn takers(&mut self, origin: NodeId, from: Option<NodeId>) -> Takers {
        if let Some(k) = self
            .takers_memo
            .filter(|k| k.origin == origin && k.from == from)
        {
            debug_assert_eq!(k.takers, self.work_out_takers(origin, from));
            return k.takers;
        }
        let takers = self.work_out_takers(origin, from);
        self.takers_memo = Some(TakersMemo {
            origin,
            from,
            takers,
        });
        takers
    }

    fn work_out_takers(&self, origin: NodeId, from: Option<NodeId>) -> Takers {
        let (mut whole, mut pruned, mut latest) = (0, 0, 0);
        let others = self
            .peers
            .iter()
            .filter(|(id, _)| Some(**id) != from && **id != origin);
        for (_, p) in others {
            match p.link.peer_pruned_from(origin) {
                Some(start) => (pruned, latest) = (pruned + 1, latest.max(start)),
                None => whole += 1,
            }
        }
        match (whole, pruned) {
            (0, _) => Takers::NoneFrom(latest),
            (_, 0) => Takers::All,
            _ => Takers::Some,
        }
    }
}

#[cfg(test)]
pub(in crate::node) mod tests;
