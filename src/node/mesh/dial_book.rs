//! The dial book: where the nodes this node has heard of listen, how
//! dialing them went, and whom to dial next. Methods of [`PeerSet`], which
//! also knows who is connected already.
//!
//! Pure bookkeeping, no I/O, so every decision is unit-tested.

use crate::node::mesh::dial_budget::DialBudget;
use crate::node::mesh::peers::{PeerSet, HEAL_SURPLUS};
use crate::protocol::NodeId;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// A node's listening address, and how dialing it went.
pub(in crate::node) struct Known {
    pub(in crate::node) addr: SocketAddr,
    failures: u32,
    retry_at: Instant,
    /// When the node was first heard of at this address.
    learned: Instant,
    /// How this node learned of it.
    pub(in crate::node) source: Source,
    /// The peer whose `PEERS` named it, while nothing vouches for it.
    told_by: Option<NodeId>,
    /// Missing from the roster when [`PeerSet::heal_plan`] last looked
    /// (true until it has).
    apart: bool,
}

/// How a dial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialled {
    /// The node there took the link.
    Connected,
    /// Nobody answered, or the handshake failed or was refused.
    Failed,
}

/// How a node's address came to be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// From a LAN announcement: anyone on the LAN may have sent it.
    Discovery,
    /// From a peer's list: the peer may be lying.
    Exchange,
    /// This node was linked to it there: the address is vouched for.
    Linked,
}

/// Failed dials after which an address nobody vouched for is forgotten.
pub const UNVERIFIED_FAILURES: u32 = 3;

/// Addresses one peer's `PEERS` put in the book, at most, while nothing
/// vouched for them: more than an honest peer names (its own peers, and
/// those it gains), so that a peer naming made-up nodes by the thousand
/// cannot push the others' out.
pub const TOLD_PER_PEER: usize = 32;

/// Nodes heard of by discovery at one host, at most, in the book: more
/// than a host runs, so that a flood of announcements from one address
/// cannot crowd the others out.
pub const DISCOVERED_PER_HOST: usize = 16;

/// How long a connection attempt gets.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one to a node heard of by LAN discovery gets: on the LAN a
/// node answers within milliseconds, and a made-up address must not hold
/// the one discovery dial for long.
pub const LAN_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Book entries [`PeerSet::heal_plan`] looks up in the roster per call,
/// the next ones in turn: in a large network each look is a cache miss,
/// and a full book takes 256. A split shows in many entries at once, so
/// a share of the book finds it as soon as the whole would.
const HEAL_LOOKS: usize = 32;

/// Hosts whose failed dials are remembered, at most.
const FAILED_HOSTS: usize = 1024;

impl PeerSet {
    /// Notes where node `id` accepts connections, learned from `source`.
    ///
    /// Peer exchange introduces two nodes to each other at once; if both
    /// dialed, one of the two connections would be dropped, with whatever was
    /// queued on it. So the node with the lower id dials a newcomer at once and
    /// the other waits [`Limits::defer`](crate::node::mesh::peers::Limits::defer) before it tries.
    /// An address this node was linked to is never replaced by one that
    /// nobody vouched for, nor one nobody vouched for by another before
    /// it failed: an anonymous sender cannot move a node it has heard of.
    /// Returns true if the address is new to the book.
    pub fn remember(&mut self, id: NodeId, addr: SocketAddr, source: Source, now: Instant) -> bool {
        let due = match self.me < id {
            true => now,
            false => now + self.limits.defer,
        };
        if id == self.me || addr.ip().is_unspecified() || addr.port() == 0 {
            return false;
        }
        // A host announcing its share of nodes takes no more, new or moved.
        let counted_there = self
            .book
            .get(&id)
            .is_some_and(|k| k.source == Source::Discovery && k.addr.ip() == addr.ip());
        let crowded = source == Source::Discovery
            && !counted_there
            && self.discovered_at(addr.ip()) >= DISCOVERED_PER_HOST;
        if let Some(k) = self.book.get_mut(&id) {
            let kept = match (k.source, source) {
                (_, Source::Linked) => false,
                (Source::Linked, _) => true,
                _ => k.failures == 0,
            };
            let changed = k.addr != addr && !kept && !crowded && !self.peers.contains_key(&id);
            if changed {
                // Known since then all the same (a node announces itself on
                // IPv4 and IPv6 alike).
                *k = Known::new(addr, source, due, k.learned);
            }
            return changed;
        }
        if crowded {
            return false;
        }
        if self.book.len() >= self.limits.book_size {
            // Make room by forgetting the address that failed most, and
            // among those, one of the host the book holds most of; among
            // equals, one at random, so that the book stays a sample of
            // the network rather than of the nodes first heard of.
            let crowds = self.discovered_by_host();
            let (peers, rng) = (&self.peers, &mut self.rng);
            let worst = (self.book.iter())
                .filter(|(id, _)| !peers.contains_key(id))
                .max_by_key(|(_, k)| (k.failures, k.crowd(&crowds), rng.next_u64()))
                .map(|(id, _)| *id);
            match worst {
                Some(w) => self.book.remove(&w),
                None => return false,
            };
        }
        self.book.insert(id, Known::new(addr, source, due, now));
        true
    }

    /// Notes the addresses peer `teller`'s `PEERS` names: at most `most`
    /// new ones, and no more than [`TOLD_PER_PEER`] of `teller`'s in the
    /// book at once while nothing else vouches for them. One pass over the
    /// book, then a lookup per name until no more can be taken. Returns
    /// how many were new.
    pub fn remember_told(
        &mut self,
        teller: NodeId,
        named: impl Iterator<Item = (NodeId, SocketAddr)>,
        most: usize,
        now: Instant,
    ) -> usize {
        let told = self
            .book
            .values()
            .filter(|k| k.source == Source::Exchange && k.told_by == Some(teller))
            .count();
        let room = TOLD_PER_PEER.saturating_sub(told).min(most);
        let mut new = 0;
        for (id, addr) in named {
            if new == room {
                break;
            }
            if self.remember(id, addr, Source::Exchange, now) {
                if let Some(k) = self.book.get_mut(&id) {
                    k.told_by = Some(teller);
                }
                new += 1;
            }
        }
        new
    }

    /// Notes that node `id`, listening at `listen`, is now connected: its
    /// address is vouched for. Its failures count on until the link is
    /// taken at the other end too (see [`link_taken`](Self::link_taken)).
    pub(in crate::node) fn connected(&mut self, id: NodeId, listen: SocketAddr, now: Instant) {
        self.remember(id, listen, Source::Linked, now);
        if let Some(k) = self.book.get_mut(&id) {
            k.source = Source::Linked;
        }
    }

    /// Notes that peer `id` took the link (its `START` came): dialing its
    /// address works.
    pub fn link_taken(&mut self, id: NodeId) {
        if let Some(k) = self.book.get_mut(&id) {
            k.failures = 0;
        }
    }

    /// Nodes heard of by discovery at host `ip`, not linked.
    pub(in crate::node) fn discovered_at(&self, ip: IpAddr) -> usize {
        self.book
            .values()
            .filter(|k| k.source == Source::Discovery && k.addr.ip() == ip)
            .count()
    }

    /// [`discovered_at`](Self::discovered_at) for every host at once.
    fn discovered_by_host(&self) -> HashMap<IpAddr, usize> {
        let mut crowds = HashMap::new();
        for k in self.book.values() {
            if k.source == Source::Discovery {
                *crowds.entry(k.addr.ip()).or_insert(0) += 1;
            }
        }
        crowds
    }

    /// Takes the dial budget for `k`'s address if nobody vouched for it;
    /// false if there is none left now (see [`DialBudget`](crate::node::mesh::dial_budget::DialBudget)).
    fn afford(budget: &mut DialBudget, k: &Known, now: Instant) -> bool {
        match k.source {
            Source::Linked => true,
            source => budget.take(k.addr, source, now),
        }
    }

    /// Forgets where node `id` listens: it left on purpose, so dialing it
    /// again would only fail.
    pub fn forget(&mut self, id: NodeId) {
        self.book.remove(&id);
    }

    /// Addresses to dial now, marked as being dialed: enough to reach the
    /// target, or, at the target, one to replace a link lost (a peer that
    /// crashed, or dropped this node to make room), while below the
    /// maximum. Links lost are replaced even at the target because the
    /// target alone would let a network drift apart: when a node drops a
    /// link to take a newcomer, the other end may still have its target
    /// and never dial again, though that link was the last between two
    /// parts. Such a dial says it is not needed (see
    /// [`PeerSet::needs_links`]), so a node at its maximum refuses it
    /// rather than drop another link in turn.
    ///
    /// Below the target, a node does not wait out the deferral of nodes
    /// it learned of by peer exchange (see [`remember`](Self::remember)): a
    /// newcomer with one link, or none, is cut off if that link is dropped
    /// to make room, and the nodes it would wait for, which have enough
    /// links, never dial it.
    pub fn dial_plan(&mut self, now: Instant) -> Vec<SocketAddr> {
        let needy = self.needs_links();
        let busy = self.peers.len() + self.dialing.len();
        let wanted = match self.limits.target.saturating_sub(busy) {
            0 if self.replacing() => 1,
            wanted => wanted,
        };
        let crowds = self.discovered_by_host();
        let mut due: Vec<(u32, usize, u32, u64, NodeId)> = Vec::new();
        for (id, k) in self.book.iter() {
            if !self.peers.contains_key(id) && !self.dialing.contains(&k.addr) && k.due(needy, now)
            {
                let host_failed = match k.source {
                    Source::Linked => 0,
                    _ => self.failed_hosts.get(&k.addr.ip()).copied().unwrap_or(0),
                };
                let crowd = k.crowd(&crowds);
                due.push((host_failed, crowd, k.failures, self.rng.next_u64(), *id));
            }
        }
        // Hosts that never failed first, then those announcing fewest
        // nodes (a host announcing hundreds is lying), then fresh
        // addresses, then those that failed least; among equals, at random,
        // or nodes that learned the same addresses would all dial the same
        // few. Those nobody vouched for only while the budget lasts.
        due.sort_unstable();
        let mut plan: Vec<SocketAddr> = Vec::new();
        for (_, _, _, _, id) in due {
            if plan.len() == wanted {
                break;
            }
            if let Some(k) = self.book.get(&id) {
                if Self::afford(&mut self.budget, k, now) {
                    plan.push(k.addr);
                }
            }
        }
        if busy >= self.limits.target {
            self.to_replace = self.to_replace.saturating_sub(plan.len() as u32);
        }
        self.dialing.extend(plan.iter().copied());
        plan
    }

    /// What to do about a split, if this node sees one: a node it knows
    /// of that is not a peer and not `online` in the roster belongs to
    /// another part of the network (or crashed). Such a node is dialed with
    /// [`Need::Heal`](crate::protocol::Need::Heal), even at or above the
    /// target, up to [`HEAL_SURPLUS`] beyond the maximum, one at a time.
    /// The roster must have settled first: the node has been linked for
    /// [`Limits::settle`](crate::node::mesh::peers::Limits::settle), by when every
    /// node of its part has said it is online; and the node must have been
    /// known for [`Limits::news`](crate::node::mesh::peers::Limits::news), since a
    /// newcomer's `JOIN` takes a moment to spread.
    /// With nothing to heal and more links than the maximum, a surplus link
    /// is pruned instead.
    pub fn heal_plan(&mut self, online: impl Fn(NodeId) -> bool, now: Instant) -> Heal {
        let (settle, news) = (self.limits.settle, self.limits.news);
        let settled = self.linked_since.is_some_and(|t| t + settle <= now);
        if !settled {
            return Heal::Nothing;
        }
        // Looks up the next entries in turn; those missing and due are the
        // ones to dial.
        let len = self.book.len();
        let start = self.heal_cursor % len.max(1);
        self.heal_cursor = start + HEAL_LOOKS;
        // The next entries after the last look, and from the first again
        // if they run past the end: only these are read.
        let wrapped = (start + HEAL_LOOKS).saturating_sub(len).min(start);
        let mut due = Vec::new();
        let mut look = |(id, k): (&NodeId, &mut Known)| {
            k.apart = !online(*id);
            if k.apart && k.learned + news <= now && k.retry_at <= now {
                due.push((*id, k.addr));
            }
        };
        self.book
            .iter_mut()
            .skip(start)
            .take(HEAL_LOOKS)
            .for_each(&mut look);
        self.book.iter_mut().take(wrapped).for_each(&mut look);
        due.retain(|(id, addr)| !self.peers.contains_key(id) && !self.dialing.contains(addr));
        let room = self.peers.len() < self.limits.max + HEAL_SURPLUS;
        if room && self.healing.is_none() && !due.is_empty() {
            let (id, addr) = due[self.rng.below(due.len())];
            let affordable = match self.book.get(&id) {
                Some(k) => Self::afford(&mut self.budget, k, now),
                None => false,
            };
            if affordable {
                self.dialing.insert(addr);
                self.healing = Some(addr);
                return Heal::Dial(id, addr);
            }
        }
        // Whole when no entry was missing as last looked up.
        let whole = || {
            (self.book.iter())
                .all(|(id, k)| !k.apart || self.peers.contains_key(id) || k.learned + news > now)
        };
        if self.peers.len() > self.limits.max && whole() {
            if let Some(id) = self.surplus(now) {
                return Heal::Prune(id);
            }
        }
        Heal::Nothing
    }

    /// How long a connection attempt to `addr` gets.
    pub fn connect_timeout(&self, addr: SocketAddr) -> Duration {
        match self.source_of(addr) {
            Some(Source::Discovery) => LAN_CONNECT_TIMEOUT,
            _ => CONNECT_TIMEOUT,
        }
    }

    /// How this node learned of the node at `addr`, if it knows one there.
    pub(in crate::node) fn source_of(&self, addr: SocketAddr) -> Option<Source> {
        self.book
            .values()
            .find(|k| k.addr == addr)
            .map(|k| k.source)
    }

    /// Marks the start of a dial that is not in the plan (the join address).
    pub fn dialing(&mut self, addr: SocketAddr) {
        self.dialing.insert(addr);
    }

    /// Records how a dial ended; a failure backs the address off exponentially.
    /// An address nobody vouched for is forgotten after
    /// [`UNVERIFIED_FAILURES`].
    pub fn dial_done(&mut self, addr: SocketAddr, ended: Dialled, now: Instant) {
        self.dialing.remove(&addr);
        self.budget.done(addr);
        if self.healing == Some(addr) {
            self.healing = None;
        }
        let vouched = self
            .book
            .values()
            .any(|k| k.addr == addr && k.source == Source::Linked);
        if ended == Dialled::Connected {
            self.failed_hosts.remove(&addr.ip());
            return;
        }
        if !vouched {
            if self.failed_hosts.len() >= FAILED_HOSTS
                && !self.failed_hosts.contains_key(&addr.ip())
            {
                // Forget the host that failed least.
                let least = self.failed_hosts.iter().min_by_key(|(_, n)| **n);
                if let Some(ip) = least.map(|(ip, _)| *ip) {
                    self.failed_hosts.remove(&ip);
                }
            }
            *self.failed_hosts.entry(addr.ip()).or_insert(0) += 1;
        }
        let limits = self.limits;
        self.book.retain(|_, k| {
            k.addr != addr || k.failed(limits.max_failures, limits.max_backoff, now)
        });
    }

    /// Notes that node `id` turned down a link this node had taken (it
    /// was full, say): as a failed dial, its address backs off, or a node
    /// would dial it again at once, and again.
    pub(in crate::node) fn turned_down_by(&mut self, id: NodeId, now: Instant) {
        let limits = self.limits;
        if let Some(k) = self.book.get_mut(&id) {
            if !k.failed(limits.max_failures, limits.max_backoff, now) {
                self.book.remove(&id);
            }
        }
    }

    /// When the next address waiting can be dialed: its back-off over, and
    /// the dial budget with room for it if it needs any. An address learned
    /// by discovery waits for the discovery dial under way, whose end wakes
    /// the dialer; so never a time that has passed already, or the dialer
    /// would spin.
    pub fn next_retry(&self) -> Option<Instant> {
        let room = self.budget.next_room();
        self.book
            .iter()
            .filter(|(id, k)| !self.peers.contains_key(id) && !self.dialing.contains(&k.addr))
            .filter_map(|(_, k)| match k.source {
                Source::Linked => Some(k.retry_at),
                Source::Discovery if self.budget.discovery_busy() => None,
                _ => Some(room.map_or(k.retry_at, |r| r.max(k.retry_at))),
            })
            .min()
    }

    /// True if the node wants more connections than it has or is making:
    /// to reach its target, or to replace a link it lost.
    pub fn wants_more(&self) -> bool {
        self.peers.len() + self.dialing.len() < self.limits.target || self.replacing()
    }

    /// True if a lost link is to be replaced now: one dial at a time, and
    /// only below the maximum.
    fn replacing(&self) -> bool {
        self.to_replace > 0 && self.dialing.is_empty() && self.peers.len() < self.limits.max
    }
}

impl Known {
    /// True if the address may be dialed now: its back-off is over, or it
    /// never failed and the node needs links, which cannot wait for a
    /// deferral to end.
    fn due(&self, needy: bool, now: Instant) -> bool {
        self.retry_at <= now || (needy && self.failures == 0)
    }

    /// How many nodes discovery heard of at this address's host, if this
    /// one was heard of there too; else 0.
    fn crowd(&self, crowds: &HashMap<IpAddr, usize>) -> usize {
        match self.source {
            Source::Discovery => crowds.get(&self.addr.ip()).copied().unwrap_or(0),
            _ => 0,
        }
    }

    /// Counts a failure and backs the address off exponentially; false if
    /// it is to be forgotten.
    fn failed(&mut self, max_failures: u32, max_backoff: Duration, now: Instant) -> bool {
        self.failures += 1;
        let backoff = Duration::from_millis(250 << self.failures.min(8)).min(max_backoff);
        self.retry_at = now + backoff;
        let most = match self.source {
            Source::Linked => max_failures,
            _ => max_failures.min(UNVERIFIED_FAILURES),
        };
        self.failures < most
    }

    fn new(addr: SocketAddr, source: Source, due: Instant, now: Instant) -> Self {
        Known {
            addr,
            failures: 0,
            retry_at: due,
            learned: now,
            source,
            told_by: None,
            apart: true,
        }
    }
}

/// What [`PeerSet::heal_plan`] found to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heal {
    /// Dial this node, which is in another part of the network.
    Dial(NodeId, SocketAddr),
    /// Close the link to this peer: the node has more than its maximum,
    /// and no part of the network is missing.
    Prune(NodeId),
    Nothing,
}

#[cfg(test)]
mod tests;
