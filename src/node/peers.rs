//! The peer set: who this node is connected to, whom it knows of, and the
//! decisions about both (admit or refuse a connection, whom to dial next).
//!
//! Pure bookkeeping, no I/O, so every decision is unit-tested.

use super::id_hash::BuildIdHasher;
use super::queue::Queue;
use super::tree::Link;
use crate::protocol::NodeId;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One encoded frame, shared by every queue it is fanned out to.
pub type Frame = Arc<[u8]>;

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
        }
    }
}

struct Known {
    addr: SocketAddr,
    failures: u32,
    retry_at: Instant,
}

pub struct PeerSet {
    me: NodeId,
    limits: Limits,
    peers: HashMap<NodeId, Peer, BuildIdHasher>,
    book: HashMap<NodeId, Known>,
    dialing: HashSet<SocketAddr>,
}

impl PeerSet {
    pub fn new(me: NodeId, limits: Limits) -> Self {
        PeerSet {
            me,
            limits,
            peers: HashMap::default(),
            book: HashMap::new(),
            dialing: HashSet::new(),
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
    /// A node at its maximum still takes a newcomer and drops one of its
    /// links instead (as HyParView does): refusing would leave a newcomer
    /// that only knows busy nodes with no link at all, while the dropped
    /// peer has others and dials again if it falls below its target.
    pub fn admit(
        &mut self,
        id: NodeId,
        peer: Peer,
        now: Instant,
    ) -> Result<Option<(NodeId, Peer)>, Refusal> {
        if id == self.me {
            return Err(Refusal::Myself);
        }
        let closed = if let Some(old) = self.peers.get(&id) {
            let opener = |outbound: bool| if outbound { self.me } else { id };
            let preferred = self.me.min(id);
            if opener(peer.outbound) != preferred || opener(old.outbound) == preferred {
                return Err(Refusal::Duplicate);
            }
            self.peers.remove(&id).map(|p| (id, p))
        } else if self.peers.len() >= self.limits.max {
            // The longest-standing link: its peer has had time to make others.
            let victim = self
                .peers
                .iter()
                .min_by_key(|(_, p)| p.since)
                .map(|(id, _)| *id)
                .ok_or(Refusal::Full)?;
            self.peers.remove(&victim).map(|p| (victim, p))
        } else {
            None
        };
        self.remember(id, peer.listen, now);
        if let Some(k) = self.book.get_mut(&id) {
            k.failures = 0;
        }
        self.peers.insert(id, peer);
        Ok(closed)
    }

    /// Forgets the connection `conn` to `id`, if it is still the current one.
    pub fn remove(&mut self, id: NodeId, conn: ConnId) -> Option<Peer> {
        match self.peers.get(&id) {
            Some(p) if p.conn == conn => self.peers.remove(&id),
            _ => None,
        }
    }

    pub fn get(&self, id: &NodeId) -> Option<&Peer> {
        self.peers.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&NodeId, &Peer)> {
        self.peers.iter()
    }

    pub fn get_mut(&mut self, id: &NodeId) -> Option<&mut Peer> {
        self.peers.get_mut(id)
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&NodeId, &mut Peer)> {
        self.peers.iter_mut()
    }

    /// Notes where node `id` accepts connections (from peer exchange).
    ///
    /// Peer exchange introduces two nodes to each other at once; if both
    /// dialed, one of the two connections would be dropped, with whatever was
    /// queued on it. So the node with the lower id dials a newcomer at once and
    /// the other waits [`Limits::defer`] before it tries.
    /// Returns true if the address is new to the book.
    pub fn remember(&mut self, id: NodeId, addr: SocketAddr, now: Instant) -> bool {
        let now = match self.me < id {
            true => now,
            false => now + self.limits.defer,
        };
        if id == self.me || addr.ip().is_unspecified() || addr.port() == 0 {
            return false;
        }
        if let Some(k) = self.book.get_mut(&id) {
            let changed = k.addr != addr && !self.peers.contains_key(&id);
            if changed {
                *k = Known::new(addr, now);
            }
            return changed;
        }
        if self.book.len() >= self.limits.book_size {
            // Make room by forgetting the address that failed most.
            let worst = self
                .book
                .iter()
                .filter(|(id, _)| !self.peers.contains_key(id))
                .max_by_key(|(_, k)| k.failures)
                .map(|(id, _)| *id);
            match worst {
                Some(w) => self.book.remove(&w),
                None => return false,
            };
        }
        self.book.insert(id, Known::new(addr, now));
        true
    }

    /// Forgets where node `id` listens: it left on purpose, so dialing it
    /// again would only fail.
    pub fn forget(&mut self, id: NodeId) {
        self.book.remove(&id);
    }

    /// Addresses to dial now to approach the target, marked as being dialed.
    pub fn dial_plan(&mut self, now: Instant) -> Vec<SocketAddr> {
        let wanted = self
            .limits
            .target
            .saturating_sub(self.peers.len() + self.dialing.len());
        let mut due: Vec<(&NodeId, &Known)> = self
            .book
            .iter()
            .filter(|(id, k)| {
                !self.peers.contains_key(id) && !self.dialing.contains(&k.addr) && k.retry_at <= now
            })
            .collect();
        // Fresh addresses first, then those that failed least.
        due.sort_by_key(|(id, k)| (k.failures, **id));
        let plan: Vec<SocketAddr> = due.iter().take(wanted).map(|(_, k)| k.addr).collect();
        self.dialing.extend(plan.iter().copied());
        plan
    }

    /// An address to try among nodes `ids` (users seen lost), even at the
    /// target: a split leaves two parts whose nodes all have enough links,
    /// and only such a dial joins them again. Marked as being dialed.
    pub fn explore(&mut self, ids: &[NodeId], now: Instant) -> Option<SocketAddr> {
        if self.peers.len() >= self.limits.max {
            return None;
        }
        let addr = ids
            .iter()
            .filter(|id| !self.peers.contains_key(id))
            .filter_map(|id| self.book.get(id))
            .find(|k| k.retry_at <= now && !self.dialing.contains(&k.addr))
            .map(|k| k.addr)?;
        self.dialing.insert(addr);
        Some(addr)
    }

    /// Marks the start of a dial that is not in the plan (the join address).
    pub fn dialing(&mut self, addr: SocketAddr) {
        self.dialing.insert(addr);
    }

    /// Records how a dial ended; a failure backs the address off exponentially.
    pub fn dial_done(&mut self, addr: SocketAddr, ok: bool, now: Instant) {
        self.dialing.remove(&addr);
        if ok {
            return;
        }
        let max_failures = self.limits.max_failures;
        let max_backoff = self.limits.max_backoff;
        self.book.retain(|_, k| {
            if k.addr != addr {
                return true;
            }
            k.failures += 1;
            let backoff = Duration::from_millis(250 << k.failures.min(8)).min(max_backoff);
            k.retry_at = now + backoff;
            k.failures < max_failures
        });
    }

    /// When the next backed-off address becomes due, if any is waiting.
    pub fn next_retry(&self) -> Option<Instant> {
        self.book
            .iter()
            .filter(|(id, k)| !self.peers.contains_key(id) && !self.dialing.contains(&k.addr))
            .map(|(_, k)| k.retry_at)
            .min()
    }

    /// True if the node wants more connections than it has or is making.
    pub fn wants_more(&self) -> bool {
        self.peers.len() + self.dialing.len() < self.limits.target
    }
}

impl Known {
    fn new(addr: SocketAddr, now: Instant) -> Self {
        Known {
            addr,
            failures: 0,
            retry_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: NodeId = NodeId(50);

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn peer(conn: ConnId, port: u16, outbound: bool) -> Peer {
        Peer {
            conn,
            name: format!("p{port}"),
            remote: addr(port),
            listen: addr(port),
            outbound,
            outbox: Arc::new(Queue::new(100)),
            // Later connections are newer.
            since: Instant::now() + Duration::from_millis(conn),
            key: None,
            link: Default::default(),
        }
    }

    fn set(target: usize, max: usize) -> PeerSet {
        PeerSet::new(
            ME,
            Limits {
                target,
                max,
                ..Limits::default()
            },
        )
    }

    #[test]
    fn refuses_itself_and_makes_room_beyond_the_maximum() {
        let now = Instant::now();
        let mut s = set(1, 2);
        assert_eq!(
            s.admit(ME, peer(1, 1, true), now).err(),
            Some(Refusal::Myself)
        );
        assert!(s.admit(NodeId(1), peer(2, 1, true), now).is_ok());
        assert!(s.admit(NodeId(2), peer(3, 2, false), now).is_ok());
        // Full: the newcomer is taken and the longest-standing link dropped.
        let dropped = s.admit(NodeId(3), peer(4, 3, false), now).unwrap();
        assert_eq!(dropped.map(|(id, p)| (id, p.conn)), Some((NodeId(1), 2)));
        assert_eq!(s.iter().count(), 2);
        assert!(s.get(&NodeId(3)).is_some());
    }

    #[test]
    fn duplicate_connections_resolve_alike_on_both_sides() {
        // Nodes 50 (me) and 60 dial each other at once: both keep the
        // connection opened by 50, the lower id.
        let mut mine = set(4, 8);
        assert!(mine
            .admit(NodeId(60), peer(1, 60, true), Instant::now())
            .is_ok());
        assert_eq!(
            mine.admit(NodeId(60), peer(2, 60, false), Instant::now())
                .err(),
            Some(Refusal::Duplicate)
        );

        let mut theirs = PeerSet::new(NodeId(60), Limits::default());
        assert!(theirs.admit(ME, peer(3, 50, true), Instant::now()).is_ok());
        let replaced = theirs
            .admit(ME, peer(4, 50, false), Instant::now())
            .unwrap();
        assert_eq!(replaced.map(|(_, p)| p.conn), Some(3));
        assert_eq!(theirs.get(&ME).map(|p| p.conn), Some(4));

        // With a lower-id peer (40), the connection it opened is kept.
        let mut s = set(4, 8);
        assert!(s
            .admit(NodeId(40), peer(5, 40, true), Instant::now())
            .is_ok());
        assert!(s
            .admit(NodeId(40), peer(6, 40, false), Instant::now())
            .unwrap()
            .is_some());
    }

    #[test]
    fn a_stale_connection_cannot_remove_its_successor() {
        let mut s = set(4, 8);
        s.admit(NodeId(40), peer(1, 40, true), Instant::now())
            .unwrap();
        s.admit(NodeId(40), peer(2, 40, false), Instant::now())
            .unwrap();
        assert!(s.remove(NodeId(40), 1).is_none());
        assert!(s.remove(NodeId(40), 2).is_some());
        assert_eq!(s.iter().count(), 0);
    }

    #[test]
    fn dials_known_addresses_up_to_the_target() {
        let now = Instant::now();
        let mut s = set(2, 8);
        for p in 101..=105 {
            s.remember(NodeId(p), addr(p as u16), now);
        }
        s.remember(ME, addr(99), now); // never dial myself
        let plan = s.dial_plan(now);
        assert_eq!(plan.len(), 2);
        assert!(!plan.contains(&addr(99)));
        // Those being dialed count toward the target.
        assert!(s.dial_plan(now).is_empty());
        s.dial_done(plan[0], false, now);
        s.dial_done(plan[1], true, now);
        let again = s.dial_plan(now);
        assert_eq!(again.len(), 2);
        assert!(
            !again.contains(&plan[0]),
            "a failed address waits for its back-off"
        );
    }

    #[test]
    fn failing_addresses_back_off_then_are_forgotten() {
        let t0 = Instant::now();
        let mut s = PeerSet::new(
            ME,
            Limits {
                target: 1,
                max_failures: 3,
                ..Limits::default()
            },
        );
        s.remember(NodeId(101), addr(1), t0);
        let mut now = t0;
        for _ in 0..3 {
            let plan = s.dial_plan(now);
            assert_eq!(plan, [addr(1)]);
            s.dial_done(addr(1), false, now);
            assert!(s.dial_plan(now).is_empty());
            now = s.next_retry().unwrap_or(now);
        }
        assert!(s.next_retry().is_none(), "forgotten after 3 failures");
    }

    #[test]
    fn of_two_nodes_introduced_to_each_other_the_lower_id_dials_first() {
        let now = Instant::now();
        let mut s = set(4, 8);
        s.remember(NodeId(60), addr(60), now); // higher than ME: dial now
        s.remember(NodeId(40), addr(40), now); // lower: it will dial us
        assert_eq!(s.dial_plan(now), [addr(60)]);
        let later = now + Limits::default().defer;
        assert_eq!(s.dial_plan(later), [addr(40)]);
    }

    #[test]
    fn lost_nodes_are_explored_even_at_the_target() {
        let now = Instant::now();
        let mut s = set(1, 3);
        s.admit(NodeId(101), peer(1, 101, true), now).unwrap();
        s.remember(NodeId(102), addr(102), now);
        assert!(s.dial_plan(now).is_empty(), "at the target");
        assert_eq!(s.explore(&[NodeId(101), NodeId(102)], now), Some(addr(102)));
        assert_eq!(s.explore(&[NodeId(102)], now), None, "already being dialed");
    }

    #[test]
    fn a_node_that_left_is_not_dialed_again() {
        let now = Instant::now();
        let mut s = set(4, 8);
        s.remember(NodeId(101), addr(1), now);
        s.forget(NodeId(101));
        assert!(s.dial_plan(now).is_empty());
        assert!(s.next_retry().is_none());
    }

    #[test]
    fn connected_peers_are_not_dialed() {
        let now = Instant::now();
        let mut s = set(4, 8);
        s.admit(NodeId(1), peer(1, 1, false), Instant::now())
            .unwrap();
        s.remember(NodeId(1), addr(1), now);
        assert!(s.dial_plan(now).is_empty());
        assert!(s.wants_more());
    }
}
