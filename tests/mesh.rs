//! The mesh: exactly-once delivery over cycles, healing after a crash, and
//! history sync after a split. Real processes on loopback.
//!
//! Discovery is off (the harness's loopback default): the meshes have exact
//! shapes, and a split made with a relay must not be bridged by nodes
//! that hear each other on a LAN.

mod support;

use std::net::SocketAddr;
use std::time::Duration;
use support::relay::Relay;
use support::{wait_connections, wait_peers, Peer};

const T: Duration = Duration::from_secs(20);
const PLAIN: &str = "--insecure-plaintext";

/// The numbers `k` of the lines `NAME: PREFIX k` that `peer` printed, in order.
fn sequence(peer: &Peer, name: &str, prefix: &str) -> Vec<u32> {
    let head = format!("{name}: {prefix} ");
    peer.lines()
        .iter()
        .filter_map(|l| l.strip_prefix(&head)?.parse().ok())
        .collect()
}

#[test]
fn every_node_shows_every_message_once_and_in_order_over_cycles() {
    // Nodes join through different members; peer exchange then adds links
    // until each has a few, so the mesh has cycles.
    let n0 = Peer::start("n0");
    let n1 = Peer::join("n1", &n0);
    let n2 = Peer::join("n2", &n1);
    let n3 = Peer::join("n3", &n0);
    let n4 = Peer::join("n4", &n2);
    let n5 = Peer::join("n5", &n3);
    let n6 = Peer::join("n6", &n4);
    let all = [&n0, &n1, &n2, &n3, &n4, &n5, &n6];
    // Every node with three or more links: a connected graph with cycles.
    // Then let the dialing settle: this test is about order over cycles,
    // not about links forming while the messages flow.
    for p in all {
        wait_connections(p, 3, T);
    }
    std::thread::sleep(Duration::from_secs(2));

    const N: u32 = 600;
    let script = |prefix: &str| -> Vec<u8> {
        (0..N)
            .map(|k| format!("{prefix} {k}\n"))
            .collect::<String>()
            .into_bytes()
    };
    n0.send_bytes(script("from-n0"));
    n5.send_bytes(script("from-n5"));

    let expected: Vec<u32> = (0..N).collect();
    for p in all {
        p.wait_until(T, "all messages", |ls| {
            ls.iter()
                .filter(|l| l.starts_with("n0: ") || l.starts_with("n5: "))
                .count()
                >= 2 * N as usize
        });
    }
    // Let any duplicate that is still on its way arrive before counting.
    std::thread::sleep(Duration::from_millis(300));
    for p in all {
        assert_eq!(sequence(p, "n0", "from-n0"), expected, "{} from n0", p.name);
        assert_eq!(sequence(p, "n5", "from-n5"), expected, "{} from n5", p.name);
    }
}

/// Peer exchange usually links a and c directly before b dies; either way,
/// nobody types anything and a and c keep talking.
#[test]
fn the_network_heals_after_its_middle_node_is_killed() {
    let a = Peer::start("a");
    let mut b = Peer::join("b", &a);
    let c = Peer::join("c", &b);
    c.say("c is here");
    a.expect_line("c: c is here", T);

    b.kill();
    // Without anyone typing, a and c find each other (or already had).
    a.say("still there?");
    c.expect_line("a: still there?", T);
    c.say("yes");
    a.expect_line("c: yes", T);
}

/// Two halves on distinct loopback addresses, linked only through a relay
/// the test can cut. The relay hides peer exchange and listens on y1's port
/// number at its own address, so every address the x half learns for y1
/// leads through it, and cutting it really splits the network.
///
/// To read frames, the relay needs them in plaintext: these nodes run with
/// the benchmark-only `--insecure-plaintext`. Healing does not depend on
/// encryption; `tests/lan.rs` splits and heals encrypted nodes.
#[test]
fn messages_sent_during_a_split_arrive_once_after_it_heals() {
    let y1 = Peer::spawn("y1", &[PLAIN, "--bind", "127.0.0.3"]);
    let y2 = Peer::spawn(
        "y2",
        &[
            PLAIN,
            "--bind",
            "127.0.0.3",
            "127.0.0.3",
            &y1.port.to_string(),
        ],
    );
    let relay = Relay::start(
        SocketAddr::from(([127, 0, 0, 4], y1.port)),
        SocketAddr::from(([127, 0, 0, 3], y1.port)),
    );
    let x1 = Peer::spawn(
        "x1",
        &[
            PLAIN,
            "--bind",
            "127.0.0.2",
            "127.0.0.4",
            &y1.port.to_string(),
        ],
    );
    let x2 = Peer::spawn(
        "x2",
        &[
            PLAIN,
            "--bind",
            "127.0.0.2",
            "127.0.0.2",
            &x1.port.to_string(),
        ],
    );
    let x3 = Peer::spawn(
        "x3",
        &[
            PLAIN,
            "--bind",
            "127.0.0.2",
            "127.0.0.2",
            &x2.port.to_string(),
        ],
    );
    let x_side = [&x1, &x2, &x3];
    let y_side = [&y1, &y2];
    x3.say("before the split");
    for p in x_side.iter().chain(&y_side) {
        p.wait_for_line(T, |l| l.ends_with("x3: before the split"));
    }

    relay.cut();
    for p in &y_side {
        wait_peers(p, T, "the split", |names| {
            !names.iter().any(|n| n.starts_with('x'))
        });
    }
    x2.say("x side during the split");
    y2.say("y side during the split");
    x1.expect_line("x2: x side during the split", T);
    x3.expect_line("x2: x side during the split", T);
    y1.expect_line("y2: y side during the split", T);
    // Long enough for these messages to count as past, not news, on replay.
    std::thread::sleep(Duration::from_millis(2500));
    for p in &y_side {
        assert_eq!(
            p.count("x2: x side during the split"),
            0,
            "the split leaked to {}",
            p.name
        );
    }

    relay.restore();
    for p in &y_side {
        let l = p.wait_for_line(T, |l| l.ends_with("x2: x side during the split"));
        assert!(l.starts_with("[history "), "{}: {l}", p.name);
    }
    for p in &x_side {
        let l = p.wait_for_line(T, |l| l.ends_with("y2: y side during the split"));
        assert!(l.starts_with("[history "), "{}: {l}", p.name);
    }
    // Live again, and nothing shown twice.
    y2.say("healed");
    for p in &x_side {
        p.expect_line("y2: healed", T);
    }
    std::thread::sleep(Duration::from_millis(300));
    for p in x_side.iter().chain(&y_side) {
        let lines = p.lines();
        for text in [
            "before the split",
            "x side during the split",
            "y side during the split",
        ] {
            let n = lines.iter().filter(|l| l.ends_with(text)).count();
            assert_eq!(n, 1, "{} shows {text:?} {n} times", p.name);
        }
    }
}
