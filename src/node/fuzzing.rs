//! The bounded tables a hostile peer can fill, driven by arbitrary bytes:
//! for the `tables` fuzz target and its replay in `cargo test`. Each byte
//! string is read as a list of operations, as a peer or a LAN could cause
//! them, and the bounds of PROTOCOL.md §6.1 are checked after each.
//!
//! Not part of the crate's interface: the tables themselves stay private
//! to the node.

use crate::node::link::pending::{Pending, MAX_PENDING, MAX_PER_SOURCE};
use crate::node::mesh::dial_book::Dialled;
use crate::node::mesh::dial_book::{Source, DISCOVERED_PER_HOST};
use crate::node::mesh::dial_budget::PER_MINUTE;
use crate::node::mesh::discovery::{Sightings, PER_HOST, SIGHTINGS};
use crate::node::mesh::peers::{Limits, PeerSet};
use crate::node::store::id_runs::IdRuns;
use crate::node::store::seen::{Path, SeenCache};
use crate::protocol::{IdRange, MsgId, NodeId};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Reads the operations' fields from the input, zeros once it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        *first
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        (u64::from(self.u16()) << 48) | (u64::from(self.u16()) << 16) | u64::from(self.u16())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One of a few hosts, so that some share an address.
fn host(b: &mut Bytes) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, b.u8() % 8))
}

/// Runs every table's check over `data`.
pub fn check_tables(data: &[u8]) {
    match data.split_first() {
        Some((0, rest)) => check_dial_book(rest),
        Some((1, rest)) => check_sightings(rest),
        Some((2, rest)) => check_pending(rest),
        Some((3, rest)) => check_seen(rest),
        Some((_, rest)) => check_held(rest),
        None => {}
    }
}

/// Addresses learned from announcements and peers' lists, dials planned
/// and ended, time passing: the book holds at most its size, and 16 nodes
/// heard of by discovery per host; dials to unverified addresses stay
/// within 60 a minute, and one discovery dial at a time.
pub fn check_dial_book(data: &[u8]) {
    let mut b = Bytes(data);
    let limits = Limits::default();
    let mut set = PeerSet::new(NodeId(1 << 63), limits);
    let mut now = Instant::now();
    let mut dialing: Vec<(SocketAddr, bool)> = Vec::new();
    let mut unverified: VecDeque<Instant> = VecDeque::new();
    while !b.is_empty() {
        match b.u8() % 4 {
            0 | 1 => {
                let id = NodeId(b.u64());
                let addr = SocketAddr::new(host(&mut b), b.u16());
                let source = match b.u8() % 3 {
                    0 => Source::Discovery,
                    1 => Source::Exchange,
                    _ => Source::Linked,
                };
                match source {
                    Source::Linked => set.connected(id, addr, now),
                    _ => {
                        set.remember(id, addr, source, now);
                    }
                }
            }
            2 => {
                for addr in set.dial_plan(now) {
                    let source = set.source_of(addr);
                    if source != Some(Source::Linked) {
                        unverified.push_back(now);
                    }
                    dialing.push((addr, source == Some(Source::Discovery)));
                }
            }
            _ => {
                if !dialing.is_empty() {
                    let (addr, _) = dialing.remove(usize::from(b.u8()) % dialing.len());
                    let ended = match b.u8() % 4 {
                        0 => Dialled::Connected,
                        _ => Dialled::Failed,
                    };
                    set.dial_done(addr, ended, now);
                }
                now += Duration::from_millis(u64::from(b.u16()));
            }
        }
        assert!(set.book.len() <= limits.book_size);
        let mut per_host: HashMap<IpAddr, usize> = HashMap::new();
        for k in set.book.values() {
            if k.source == Source::Discovery {
                *per_host.entry(k.addr.ip()).or_default() += 1;
            }
        }
        assert!(per_host.values().all(|n| *n <= DISCOVERED_PER_HOST));
        while unverified
            .front()
            .is_some_and(|t| *t + Duration::from_secs(60) <= now)
        {
            unverified.pop_front();
        }
        assert!(unverified.len() <= PER_MINUTE as usize, "dial budget");
        let discovery = dialing.iter().filter(|(_, d)| *d).count();
        assert!(discovery <= 1, "{discovery} discovery dials at once");
    }
}

/// Announcements from a few hosts: the sightings hold at most their bound
/// in all and per host, and a node heard twice running at one address is
/// taken.
pub fn check_sightings(data: &[u8]) {
    let mut b = Bytes(data);
    let mut s = Sightings::default();
    while !b.is_empty() {
        let id = NodeId(u64::from(b.u16()));
        let addr = SocketAddr::new(host(&mut b), 4000);
        let first = s.seen(id, addr);
        assert!(s.seen(id, addr) > first, "heard again at once, it counts");
        let (all, from_host) = s.held(addr.ip());
        assert!(all <= SIGHTINGS && from_host <= PER_HOST);
    }
}

/// Connections opened, speaking and ending: at most 64 pending, 32 from
/// one source.
pub fn check_pending(data: &[u8]) {
    let mut b = Bytes(data);
    let mut p = Pending::default();
    let mut tickets = Vec::new();
    while !b.is_empty() {
        let source = host(&mut b);
        match b.u8() % 3 {
            0 => {
                let (abort, _) = futures::future::AbortHandle::new_pair();
                let (ticket, _) = p.add(source, abort, b.u8() % 2 == 0);
                tickets.push(ticket);
            }
            1 if !tickets.is_empty() => p.spoke(tickets[usize::from(b.u8()) % tickets.len()]),
            _ if !tickets.is_empty() => {
                p.remove(tickets.swap_remove(usize::from(b.u8()) % tickets.len()))
            }
            _ => {}
        }
        assert!(p.len() <= MAX_PENDING);
        assert!(p.of_source(source) <= MAX_PER_SOURCE);
    }
}

/// Made-up numbers for a victim's origin and for many others, relayed,
/// between the victim's own messages over its link: each of the victim's
/// is taken as new unless that very number was relayed before, and the
/// cache holds at most its bound of origins.
pub fn check_seen(data: &[u8]) {
    const MAX: usize = 64;
    let victim = NodeId(7);
    let mut b = Bytes(data);
    let mut seen = SeenCache::new(MAX, Duration::from_secs(3600));
    let now = Instant::now();
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let mut next = clock;
    let mut relayed: HashSet<u64> = HashSet::new();
    while !b.is_empty() {
        match b.u8() % 4 {
            0 => {
                next += u64::from(b.u8()) + 1;
                let id = MsgId {
                    origin: victim,
                    seq: next,
                };
                let new = seen
                    .insert_keeping(id, Path::Direct, now, |o| o == victim)
                    .is_new();
                assert!(
                    new || relayed.contains(&next),
                    "the victim silenced at {next}"
                );
            }
            1 => {
                let seq = clock.wrapping_add(b.u64() >> (b.u8() % 64));
                relayed.insert(seq);
                let id = MsgId {
                    origin: victim,
                    seq,
                };
                seen.insert_keeping(id, Path::Relayed, now, |o| o == victim);
            }
            _ => {
                let id = MsgId {
                    origin: NodeId(u64::from(b.u16()) << 8),
                    seq: clock.wrapping_add(b.u64() >> 24),
                };
                seen.insert_keeping(id, Path::Relayed, now, |o| o == victim);
            }
        }
        assert!(seen.origins() <= MAX);
    }
}

/// A peer's `HAVE` runs, overlapping as they like: the merged runs hold a
/// number exactly when one of the runs given does.
pub fn check_held(data: &[u8]) {
    let mut b = Bytes(data);
    let mut runs = Vec::new();
    for _ in 0..usize::from(b.u8() % 32) {
        let first = u64::from(b.u8());
        runs.push(IdRange {
            origin: NodeId(u64::from(b.u8() % 2)),
            first,
            last: first.saturating_add(u64::from(b.u8() % 16)),
        });
    }
    let held = IdRuns::new(runs.iter().copied());
    for origin in 0..2 {
        for seq in 0..300 {
            let want = runs
                .iter()
                .any(|r| r.origin.0 == origin && r.first <= seq && seq <= r.last);
            let id = MsgId {
                origin: NodeId(origin),
                seq,
            };
            assert_eq!(held.contains(id), want, "{id:?} in {runs:?}");
        }
    }
}
