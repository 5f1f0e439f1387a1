//! LAN discovery: announces this node to its room by multicast, and dials
//! the nodes of the room it hears of.
//!
//! Announcements go out at start, a second later, then every 5 seconds, and
//! in reply to a node heard of for the first time (at most once a second).
//! Datagrams from anyone on the LAN are parsed as strictly as frames; one
//! that is malformed, from another room, from this node or from a node
//! already connected changes nothing.

use super::router::Shared;
use crate::multicast::Multicast;
use crate::protocol::{Announcement, MAX_ANNOUNCEMENT};
use crate::rt;
use futures::channel::mpsc;
use futures::StreamExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_secs(5);
const REPLY_GAP: Duration = Duration::from_secs(1);
/// New nodes taken from discovery per second at most, so that a flood of
/// made-up announcements cannot crowd real addresses out of the book.
const NEW_PER_SECOND: u32 = 20;

pub(super) async fn run(shared: Arc<Shared>) {
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

    let mut last_sent: Option<Instant> = None;
    let mut round = 0u32;
    loop {
        if shared.is_quitting() {
            return;
        }
        let recent = last_sent.is_some_and(|t| t.elapsed() < REPLY_GAP);
        if !recent {
            multicast.join_new_interfaces();
            multicast.announce(&datagram);
            last_sent = Some(Instant::now());
        }
        // Announce again after a second at start, then every few seconds, or
        // sooner when a newcomer should hear of us.
        let wait = if round == 0 { REPLY_GAP } else { EVERY };
        round += 1;
        let _ = rt::timeout(wait, replies.next()).await;
    }
}

/// Handles the datagrams of one socket.
async fn listen(shared: Arc<Shared>, socket: rt::UdpSocket, mut reply: mpsc::Sender<()>) {
    let mut buf = [0u8; MAX_ANNOUNCEMENT + 1];
    let mut budget = Budget::new(NEW_PER_SECOND);
    loop {
        let Ok((len, from)) = socket.recv_from(&mut buf).await else {
            // A transient error (an ICMP report, say): keep listening.
            rt::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if shared.is_quitting() {
            return;
        }
        let Ok(a) = Announcement::parse(&buf[..len]) else {
            continue;
        };
        if a.room != shared.room || a.id == shared.id || !budget.take() {
            continue;
        }
        if shared.discovered(a.id, listen_addr(from, a.port)) {
            let _ = reply.try_send(());
        }
    }
}

/// Where a node announcing from `from` listens: the datagram's source
/// address (with its interface, for IPv6 link-local) and the announced port.
fn listen_addr(from: SocketAddr, port: u16) -> SocketAddr {
    let mut addr = from;
    addr.set_port(port);
    addr
}

/// Allows `per_second` events a second.
struct Budget {
    per_second: u32,
    left: u32,
    since: Instant,
}

impl Budget {
    fn new(per_second: u32) -> Self {
        Budget {
            per_second,
            left: per_second,
            since: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        if self.since.elapsed() >= Duration::from_secs(1) {
            self.left = self.per_second;
            self.since = Instant::now();
        }
        match self.left {
            0 => false,
            _ => {
                self.left -= 1;
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_limits_each_second() {
        let mut b = Budget::new(3);
        assert!(b.take() && b.take() && b.take());
        assert!(!b.take());
        b.since -= Duration::from_secs(1);
        assert!(b.take());
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
