//! Forged LAN announcements (PROTOCOL.md §6): a host on the LAN that
//! announces thousands of made-up nodes a second, from its own address
//! and from addresses nobody owns, neither hides the real nodes from a
//! newcomer nor makes any node dial the made-up ones more than the dial
//! budget allows.
//!
//! Runs with discovery on, as users do, on a LAN of namespaces.

mod support;

use p2pchat::multicast::{GROUP_V4, PORT};
use p2pchat::protocol::{Announcement, NodeId};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::lan::{self as lan, Lan, DUAL};
use support::{wait_who, Peer};

/// Announcements the hostile host sends a second.
const RATE: u64 = 2_000;
/// Addresses of the LAN that no host owns: dials to them go unanswered.
const NOBODY: [u8; 4] = [200, 201, 202, 203];

/// A socket that sends announcements from `source`, which this host owns
/// or not.
fn sender(source: Ipv4Addr) -> Socket {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    // Root may send from an address it does not own, as a forger would.
    s.set_ip_transparent_v4(true).unwrap();
    s.set_freebind_v4(true).unwrap();
    s.bind(&SockAddr::from(SocketAddrV4::new(source, 0)))
        .unwrap();
    s.set_multicast_if_v4(&Ipv4Addr::new(10, 77, 0, 3)).unwrap();
    s
}

/// Floods the LAN from host 3 until `stop`: made-up nodes, each announced
/// twice (so each is taken, as a real one is), at random ports of host 3,
/// where nobody listens, and of addresses nobody owns. Returns how many
/// announcements it sent.
fn flood(lan: &Lan, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let namespace = lan.namespace(3);
    std::thread::spawn(move || {
        lan::enter(&namespace);
        let mut sources = vec![sender(Ipv4Addr::new(10, 77, 0, 3))];
        for n in NOBODY {
            sources.push(sender(Ipv4Addr::new(10, 77, 0, n)));
        }
        let to = SockAddr::from(SocketAddr::V4(SocketAddrV4::new(GROUP_V4, PORT)));
        let started = Instant::now();
        let mut sent = 0u64;
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        while !stop.load(Ordering::SeqCst) {
            // RATE a second, 10 ms at a time.
            for _ in 0..RATE / 200 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let a = Announcement {
                    room: "lobby",
                    id: NodeId(x),
                    port: 20_000 + (x % 40_000) as u16,
                }
                .encode()
                .unwrap();
                let from = &sources[(x % sources.len() as u64) as usize];
                for _ in 0..2 {
                    sent += u64::from(from.send_to(&a, &to).is_ok());
                }
            }
            let due = started + Duration::from_millis(sent * 1000 / RATE);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        sent
    })
}

/// A node started on host `i` with its dials logged.
fn logged(lan: &Lan, i: usize, name: &str) -> Peer {
    let mut command = lan.command(i, name, &[]);
    command.env("RUST_LOG", "p2pchat=debug");
    Peer::spawn_command(name, command)
}

/// Dials `node` made to the hostile host and to the addresses nobody owns.
fn forged_dials(node: &Peer) -> usize {
    let forged = |l: &&str| {
        l.contains("dialing")
            && (l.contains("addr=10.77.0.3:")
                || NOBODY
                    .iter()
                    .any(|n| l.contains(&format!("addr=10.77.0.{n}:"))))
    };
    node.stderr().lines().filter(forged).count()
}

#[test]
fn forged_announcements_at_two_thousand_a_second_hide_nobody() {
    let Some(lan) = Lan::new(&[DUAL; 4]) else {
        return;
    };
    let alice = Peer::listening(logged(&lan, 1, "alice"));
    let bob = Peer::listening(logged(&lan, 2, "bob"));
    wait_who(&alice, &["alice", "bob"], Duration::from_secs(15));
    let stop = Arc::new(AtomicBool::new(false));
    let flooding = flood(&lan, stop.clone());
    std::thread::sleep(Duration::from_secs(3));
    let started = Instant::now();
    let carol = Peer::listening(logged(&lan, 4, "carol"));
    wait_who(&carol, &["alice", "bob", "carol"], Duration::from_secs(9));
    let found = started.elapsed();
    eprintln!("carol found both real nodes in {found:?} under the flood");
    carol.say("found you");
    alice.expect_line("carol: found you", Duration::from_secs(5));
    bob.expect_line("carol: found you", Duration::from_secs(5));
    // Let the flood go on for a while: the budget, not luck, bounds dials.
    std::thread::sleep(Duration::from_secs(20));
    stop.store(true, Ordering::SeqCst);
    let sent = flooding.join().unwrap();
    let attack = started.elapsed() + Duration::from_secs(3);
    eprintln!("{sent} announcements in {attack:?}");
    assert!(
        sent as f64 >= RATE as f64 * attack.as_secs_f64() * 0.8,
        "{sent} sent"
    );
    for node in [&alice, &bob, &carol] {
        let dials = forged_dials(node);
        eprintln!("{} dialed made-up nodes {dials} times", node.name);
        // The whole attack is under a minute: the budget's one minute.
        assert!(dials <= 60, "{}: {dials} dials", node.name);
    }
    assert!(
        found < Duration::from_secs(3),
        "carol took {found:?} to find the real nodes"
    );
}
