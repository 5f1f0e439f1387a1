//! LAN discovery: announces this node to its room by multicast, and dials
//! the nodes of the room it hears of.
//!
//! Announcements go out at start, a second later, then every 5 seconds, and
//! in reply to a node heard of for the first time (at most once a second).
//! Datagrams from anyone on the LAN are parsed as strictly as frames; one
//! that is malformed, from another room, from this node or from a node
//! already connected changes nothing. A node is taken only once heard
//! twice at one address: a real node announces again within a second or
//! five, while a datagram made up once, or sent from an address nobody
//! listens at, is not taken at its word. A flood of made-up nodes from one
//! host fills only that host's share, here and in the dial book, and the
//! dial book tries hosts that announce few nodes, and never failed, first.

use crate::multicast::Multicast;
use crate::node::state::Shared;
use crate::protocol::{Announcement, NodeId, MAX_ANNOUNCEMENT};
use crate::rt;
use futures::channel::mpsc;
use futures::StreamExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_secs(5);
/// The second announcement at start comes this long after the first.
const SECOND: Duration = Duration::from_secs(1);
/// Replies to newcomers go out this far apart at most: close enough that a
/// newcomer's second announcement, a second after its first, is answered
/// too, so that it hears every node twice at once.
const REPLY_GAP: Duration = Duration::from_millis(400);

pub(in crate::node) async fn run(shared: Arc<Shared>) {
    let mut multicast = match Multicast::open() {
        Ok(m) => m,
        Err(e) => {
            shared.notice(format!("LAN discovery is off: {e}"));
            return;
        }
    };
    let datagram = match (Announcement {
        room: &shared.room,
        id: shared.id,
        port: shared.port,
    })
    .encode()
    {
        Ok(d) => d,
        Err(e) => {
            shared.notice(format!("LAN discovery is off: {e}"));
            return;
        }
    };
    let (reply, mut replies) = mpsc::channel(1);
    for socket in [&multicast.v4, &multicast.v6].into_iter().flatten() {
        if let Ok(clone) = socket.try_clone() {
            rt::spawn(listen(
                shared.clone(),
                rt::UdpSocket::from_std(clone),
                reply.clone(),
            ));
        }
    }
    drop(reply);

    // Announce at start, again after a second, then every few seconds,
    // and in between when a newcomer should hear of us. The schedule is
    // kept by the clock: replies must not push the second announcement
    // back, or a newcomer would hear it only five seconds later.
    let mut last_sent: Option<Instant> = None;
    let mut due = Instant::now();
    let mut first = true;
    loop {
        if shared.is_quitting() {
            return;
        }
        let now = Instant::now();
        let scheduled = now >= due;
        let recent = last_sent.is_some_and(|t| now.duration_since(t) < REPLY_GAP);
        if scheduled || !recent {
            multicast.join_new_interfaces();
            multicast.announce(&datagram);
            last_sent = Some(now);
        }
        if scheduled {
            due = now + if first { SECOND } else { EVERY };
            first = false;
        }
        let wait = due.saturating_duration_since(Instant::now());
        let _ = rt::timeout(wait, replies.next()).await;
    }
}

/// Handles the datagrams of one socket.
async fn listen(shared: Arc<Shared>, socket: rt::UdpSocket, mut reply: mpsc::Sender<()>) {
    let mut buf = [0u8; MAX_ANNOUNCEMENT + 1];
    let mut sightings = Sightings::default();
    loop {
        let Ok((len, from)) = socket.recv_from(&mut buf).await else {
            // A transient error (an ICMP report, say): keep listening.
            rt::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if shared.is_quitting() {
            return;
        }
        let a = match Announcement::parse(&buf[..len]) {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(%from, "announcement ignored: {e}");
                continue;
            }
        };
        if a.room != shared.room {
            tracing::debug!(%from, room = a.room, "announcement ignored: another room");
            continue;
        }
        if a.id == shared.id {
            continue;
        }
        let addr = listen_addr(from, a.port);
        let times = sightings.seen(a.id, addr);
        if times <= 2 {
            // A newcomer should hear of us twice soon: answer its first
            // two announcements (once a second at most).
            let _ = reply.try_send(());
        }
        if times == 1 {
            tracing::debug!(node = %a.id, %addr, "announcement heard once; taken when heard again");
            continue;
        }
        shared.discovered(a.id, addr);
    }
}

/// Where a node announcing from `from` listens: the datagram's source
/// address (with its interface, for IPv6 link-local) and the announced port.
fn listen_addr(from: SocketAddr, port: u16) -> SocketAddr {
    let mut addr = from;
    addr.set_port(port);
    addr
}

/// Nodes heard of once so far, and where: a node is taken when heard a
/// second time at the same address. Bounded: one host holds at most
/// [`PER_HOST`] of them, its newest displacing its oldest, so a flood from
/// one address forgets only its own; when full all the same (a flood from
/// many addresses), the oldest half is forgotten, so made-up ids cost a
/// fixed amount of memory.
#[derive(Default)]
pub(in crate::node) struct Sightings {
    /// Where each node was heard, how often there, and when last (by
    /// `clock`).
    once: std::collections::HashMap<NodeId, (SocketAddr, u32, u64)>,
    /// Counts sightings, to know which are the oldest.
    clock: u64,
}

/// Nodes [`Sightings`] remembers at most.
pub(in crate::node) const SIGHTINGS: usize = 256;
/// Nodes [`Sightings`] remembers at most from one host: more than a host
/// runs, but far fewer than [`SIGHTINGS`].
pub(in crate::node) const PER_HOST: usize = 16;

impl Sightings {
    /// Notes that `id` announced itself at `addr`; returns how many times
    /// in a row it was heard there, this one included.
    pub(in crate::node) fn seen(&mut self, id: NodeId, addr: SocketAddr) -> u32 {
        self.clock += 1;
        if let Some((at, times, last)) = self.once.get_mut(&id) {
            if *at == addr {
                *times = times.saturating_add(1);
                *last = self.clock;
                return *times;
            }
        }
        let from_host = self
            .once
            .iter()
            .filter(|(other, (at, _, _))| at.ip() == addr.ip() && **other != id);
        if from_host.clone().count() >= PER_HOST {
            let oldest = from_host.min_by_key(|(_, (_, _, t))| *t).map(|(id, _)| *id);
            if let Some(oldest) = oldest {
                self.once.remove(&oldest);
            }
        }
        if self.once.len() >= SIGHTINGS && !self.once.contains_key(&id) {
            let mut ages: Vec<u64> = self.once.values().map(|(_, _, t)| *t).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            self.once.retain(|_, (_, _, t)| *t > cut);
        }
        self.once.insert(id, (addr, 1, self.clock));
        1
    }

    /// Nodes remembered, in all and from `ip`.
    pub(in crate::node) fn held(&self, ip: std::net::IpAddr) -> (usize, usize) {
        let from = self.once.values().filter(|(at, _, _)| at.ip() == ip);
        (self.once.len(), from.count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_taken_when_heard_twice_at_one_address() {
        let mut s = Sightings::default();
        let (a, b): (SocketAddr, SocketAddr) = (
            "10.0.0.1:4000".parse().unwrap(),
            "10.0.0.2:4000".parse().unwrap(),
        );
        assert_eq!(s.seen(NodeId(1), a), 1);
        assert_eq!(s.seen(NodeId(1), a), 2);
        assert_eq!(s.seen(NodeId(1), a), 3, "and every time after");
        assert_eq!(s.seen(NodeId(2), a), 1);
        assert_eq!(s.seen(NodeId(2), b), 1, "another address starts over");
        assert_eq!(s.seen(NodeId(2), b), 2);
    }

    #[test]
    fn a_flood_of_made_up_ids_is_bounded_and_a_real_node_still_gets_in() {
        let mut s = Sightings::default();
        let real: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        assert_eq!(s.seen(NodeId(u64::MAX), real), 1);
        for i in 0..10_000u64 {
            let fake = SocketAddr::from(([10, 9, 9, 9], (i % 60_000) as u16 + 1));
            s.seen(NodeId(i), fake);
            assert!(s.once.len() <= SIGHTINGS);
        }
        // Forgotten in the flood, the real node is taken one
        // announcement later.
        if s.seen(NodeId(u64::MAX), real) == 1 {
            assert_eq!(s.seen(NodeId(u64::MAX), real), 2);
        }
    }

    #[test]
    fn a_flood_from_one_host_forgets_only_its_own() {
        let mut s = Sightings::default();
        let real: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        assert_eq!(s.seen(NodeId(u64::MAX), real), 1);
        for i in 0..10_000u64 {
            s.seen(NodeId(i), SocketAddr::from(([10, 9, 9, 9], 1 + i as u16)));
        }
        assert!(s.once.len() <= PER_HOST + 1);
        assert_eq!(s.seen(NodeId(u64::MAX), real), 2, "taken when heard again");
    }

    #[test]
    fn the_listen_address_keeps_the_source_and_its_interface() {
        let from: SocketAddr = "[fe80::1%7]:42424".parse().unwrap();
        let SocketAddr::V6(a) = listen_addr(from, 40123) else {
            panic!()
        };
        assert_eq!((a.port(), a.scope_id()), (40123, 7));
    }
}
