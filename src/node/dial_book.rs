//! The dial book: where the nodes this node has heard of listen, how
//! dialing them went, and whom to dial next. Methods of [`PeerSet`], which
//! also knows who is connected already.
//!
//! Pure bookkeeping, no I/O, so every decision is unit-tested.

use super::peers::PeerSet;
use crate::protocol::NodeId;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A node's listening address, and how dialing it went.
pub(super) struct Known {
    addr: SocketAddr,
    failures: u32,
    retry_at: Instant,
}

impl PeerSet {
    /// Notes where node `id` accepts connections (from peer exchange).
    ///
    /// Peer exchange introduces two nodes to each other at once; if both
    /// dialed, one of the two connections would be dropped, with whatever was
    /// queued on it. So the node with the lower id dials a newcomer at once and
    /// the other waits [`Limits::defer`](super::peers::Limits::defer) before it tries.
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

    /// Notes that node `id`, listening at `listen`, is now connected: its
    /// address works.
    pub(super) fn connected(&mut self, id: NodeId, listen: SocketAddr, now: Instant) {
        self.remember(id, listen, now);
        if let Some(k) = self.book.get_mut(&id) {
            k.failures = 0;
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
    pub fn dial_plan(&mut self, now: Instant) -> Vec<SocketAddr> {
        let busy = self.peers.len() + self.dialing.len();
        let wanted = match self.limits.target.saturating_sub(busy) {
            0 if self.replacing() => 1,
            wanted => wanted,
        };
        let mut due: Vec<(u32, u64, SocketAddr)> = Vec::new();
        for (id, k) in &self.book {
            if !self.peers.contains_key(id) && !self.dialing.contains(&k.addr) && k.retry_at <= now
            {
                due.push((k.failures, self.rng.next_u64(), k.addr));
            }
        }
        // Fresh addresses first, then those that failed least; among equals,
        // at random, or nodes that learned the same addresses would all dial
        // the same few.
        due.sort_unstable();
        let plan: Vec<SocketAddr> = due.iter().take(wanted).map(|d| d.2).collect();
        if busy >= self.limits.target {
            self.to_replace = self.to_replace.saturating_sub(plan.len() as u32);
        }
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
    use super::super::peers::tests::{addr, peer, set, ME};
    use super::super::peers::{Limits, REPLACE_TRIES};
    use super::*;
    use std::collections::HashSet;

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
    fn a_link_lost_at_the_target_is_replaced_one_dial_at_a_time_a_few_times() {
        let t0 = Instant::now();
        let mut s = set(2, 4);
        for p in 1..=3 {
            s.admit(NodeId(p), peer(p, p as u16, true), true, t0)
                .unwrap();
        }
        for p in 101..=110 {
            s.remember(NodeId(p), addr(p as u16), t0);
        }
        assert!(!s.wants_more(), "above the target, nothing lost");
        assert!(s.dial_plan(t0).is_empty());
        // Still at the target after the loss, yet it is replaced.
        s.remove(NodeId(1), 1);
        let mut now = t0;
        let mut tries = 0;
        loop {
            let plan = s.dial_plan(now);
            assert!(plan.len() <= 1, "one at a time: {plan:?}");
            assert!(s.dial_plan(now).is_empty(), "not while one is on its way");
            let Some(&dialed) = plan.first() else { break };
            tries += 1;
            s.dial_done(dialed, false, now);
            now += Duration::from_millis(1);
        }
        assert_eq!(tries, REPLACE_TRIES, "then it gives up");
        assert!(!s.wants_more());
    }

    #[test]
    fn a_new_link_stands_for_a_lost_one() {
        let now = Instant::now();
        let mut s = set(1, 4);
        s.admit(NodeId(1), peer(1, 1, true), true, now).unwrap();
        s.admit(NodeId(2), peer(2, 2, true), true, now).unwrap();
        s.remember(NodeId(101), addr(101), now);
        s.remove(NodeId(1), 1);
        assert!(s.wants_more());
        let plan = s.dial_plan(now);
        assert_eq!(plan, [addr(101)]);
        s.dial_done(addr(101), true, now);
        s.admit(NodeId(101), peer(3, 101, true), false, now)
            .unwrap();
        assert!(!s.wants_more(), "replaced");
    }

    #[test]
    fn nodes_that_know_the_same_addresses_do_not_all_dial_the_same_one() {
        let now = Instant::now();
        let mut first = HashSet::new();
        for _ in 0..30 {
            let mut s = set(1, 8);
            for p in 101..=110 {
                s.remember(NodeId(p), addr(p as u16), now);
            }
            first.extend(s.dial_plan(now));
        }
        assert!(first.len() > 1, "{first:?}");
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
        s.admit(NodeId(101), peer(1, 101, true), true, now).unwrap();
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
        s.admit(NodeId(1), peer(1, 1, false), true, Instant::now())
            .unwrap();
        s.remember(NodeId(1), addr(1), now);
        assert!(s.dial_plan(now).is_empty());
        assert!(s.wants_more());
    }
}
