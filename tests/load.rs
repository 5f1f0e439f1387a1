//! Backpressure with nothing lost: a frozen peer does not stall the others
//! for long, and a large piped input reaches every node. Real processes.

mod support;

use std::time::Duration;
use support::{wait_connections, Peer};

/// The two tests here each load both cores of a small machine; run together
/// they would measure contention rather than the program. They take turns.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The lines `NAME: line K` that `peer` printed, as numbers, in order.
fn received(peer: &Peer, name: &str) -> Vec<u32> {
    let head = format!("{name}: line ");
    peer.lines()
        .iter()
        .filter_map(|l| l.strip_prefix(&head)?.split(' ').next()?.parse().ok())
        .collect()
}

/// `n` numbered lines of `len` bytes each.
fn script(n: u32, len: usize) -> Vec<u8> {
    (0..n)
        .map(|k| format!("line {k:06} {}\n", "x".repeat(len - 13)))
        .collect::<String>()
        .into_bytes()
}

fn wait_all(peer: &Peer, name: &str, n: u32, timeout: Duration) {
    let head = format!("{name}: line ");
    peer.wait_until(timeout, &format!("{n} lines from {name}"), |ls| {
        // Count from the end: cheap, as the wanted lines come last.
        ls.iter().filter(|l| l.starts_with(&head)).count() >= n as usize
    });
}

fn check_complete(peer: &Peer, name: &str, n: u32) {
    let got = received(peer, name);
    assert_eq!(
        got.len(),
        n as usize,
        "{} got {} lines",
        peer.name,
        got.len()
    );
    assert!(
        got.iter().enumerate().all(|(i, k)| *k == i as u32),
        "{}: lines out of order or repeated",
        peer.name
    );
}

#[test]
fn a_frozen_peer_does_not_stall_a_flood_and_nothing_is_lost() {
    let _turn = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let n0 = Peer::start("n0");
    let n1 = Peer::join("n1", &n0);
    let n2 = Peer::join("n2", &n1);
    let frozen = Peer::join("frozen", &n0);
    let n3 = Peer::join("n3", &frozen);
    for p in [&n0, &n1, &n2, &n3] {
        wait_connections(p, 2, Duration::from_secs(20));
    }
    frozen.freeze();

    // 20,000 lines of 1,000 bytes: 20 MB, far more than the frozen peer's
    // socket buffers and send queues hold, so its neighbours must give up on it.
    const N: u32 = 20_000;
    n0.send_bytes(script(N, 1000));
    for p in [&n0, &n1, &n2, &n3] {
        wait_all(p, "n0", N, Duration::from_secs(90));
    }
    for p in [&n0, &n1, &n2, &n3] {
        check_complete(p, "n0", N);
    }
    // The stuck peer was dropped: for taking no data while data waited for
    // it, or (whichever came first) for sending nothing at all.
    let dropped = [&n0, &n1, &n2, &n3].iter().any(|p| {
        p.lines().iter().any(|l| {
            l.starts_with("*** connection to frozen")
                && (l.contains("send queue exceeded") || l.contains("nothing heard"))
        })
    });
    assert!(dropped, "nobody dropped the frozen peer");
    frozen.thaw();
}

#[test]
fn two_hundred_thousand_piped_lines_reach_all_five_nodes() {
    let _turn = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let n0 = Peer::start("n0");
    let n1 = Peer::join("n1", &n0);
    let n2 = Peer::join("n2", &n1);
    let n3 = Peer::join("n3", &n2);
    let n4 = Peer::join("n4", &n3);
    let all = [&n0, &n1, &n2, &n3, &n4];
    for p in all {
        wait_connections(p, 1, Duration::from_secs(20));
    }
    // About 60 bytes per message, like a short chat line.
    const N: u32 = 200_000;
    n0.send_bytes(script(N, 60));
    for p in all {
        wait_all(p, "n0", N, Duration::from_secs(240));
    }
    for p in all {
        check_complete(p, "n0", N);
    }
}
