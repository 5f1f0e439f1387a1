//! The budget for dials to addresses that nobody has vouched for: those
//! learned from LAN announcements or from peers' lists, never yet
//! connected to. Anyone can make those up, so without a budget every node
//! would become a scanner pointed wherever an attacker likes.
//!
//! At most [`PER_MINUTE`] such dials in any minute, and one at a time of
//! those learned by discovery. Addresses this node has been linked to
//! before are not limited.

use crate::node::mesh::dial_book::Source;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Dials to unverified addresses in any minute, at most.
pub const PER_MINUTE: u32 = 60;
const MINUTE: Duration = Duration::from_secs(60);

pub struct DialBudget {
    per_minute: u32,
    /// When the dials of the last minute were made, oldest first.
    recent: VecDeque<Instant>,
    /// The discovery dial under way, if any.
    discovery: Option<SocketAddr>,
}

impl DialBudget {
    pub fn new(per_minute: u32) -> Self {
        DialBudget {
            per_minute,
            recent: VecDeque::new(),
            discovery: None,
        }
    }

    /// Takes the budget for a dial to unverified `addr`, learned from
    /// `source`; false if there is none left now.
    pub fn take(&mut self, addr: SocketAddr, source: Source, now: Instant) -> bool {
        let discovered = source == Source::Discovery;
        while self.recent.front().is_some_and(|t| *t + MINUTE <= now) {
            self.recent.pop_front();
        }
        let spent = self.recent.len() >= self.per_minute as usize;
        if spent || (discovered && self.discovery.is_some()) {
            return false;
        }
        self.recent.push_back(now);
        if discovered {
            self.discovery = Some(addr);
        }
        true
    }

    /// Notes that the dial to `addr` ended.
    pub fn done(&mut self, addr: SocketAddr) {
        if self.discovery == Some(addr) {
            self.discovery = None;
        }
    }

    /// True while a discovery dial is under way.
    pub fn discovery_busy(&self) -> bool {
        self.discovery.is_some()
    }

    /// When the budget has room again, if it has none now.
    pub fn next_room(&self) -> Option<Instant> {
        match self.recent.len() >= self.per_minute as usize {
            true => self.recent.front().map(|t| *t + MINUTE),
            false => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    #[test]
    fn at_most_the_budget_in_any_minute() {
        let t0 = Instant::now();
        let mut b = DialBudget::new(60);
        for p in 0..30 {
            assert!(b.take(addr(p), Source::Exchange, t0));
        }
        let t1 = t0 + Duration::from_secs(30);
        for p in 0..30 {
            assert!(b.take(addr(p), Source::Exchange, t1));
        }
        assert!(!b.take(addr(99), Source::Exchange, t1), "spent");
        assert_eq!(b.next_room(), Some(t0 + MINUTE));
        assert!(!b.take(
            addr(99),
            Source::Exchange,
            t0 + Duration::from_millis(59_999)
        ));
        let t2 = t0 + MINUTE;
        let taken = (0..100)
            .filter(|p| b.take(addr(*p), Source::Exchange, t2))
            .count();
        assert_eq!(taken, 30, "the first half-minute's dials are a minute old");
    }

    #[test]
    fn one_discovery_dial_at_a_time() {
        let t0 = Instant::now();
        let mut b = DialBudget::new(60);
        assert!(b.take(addr(1), Source::Discovery, t0));
        assert!(!b.take(addr(2), Source::Discovery, t0), "one at a time");
        assert!(
            b.take(addr(3), Source::Exchange, t0),
            "others are not held up"
        );
        b.done(addr(1));
        assert!(b.take(addr(2), Source::Discovery, t0));
    }
}
