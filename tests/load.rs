//! Backpressure with nothing lost: a frozen peer does not stall the others
//! for long, a large piped input reaches every node, and links that open or
//! re-form in the middle of a flood lose and repeat nothing. Real processes.
//!
//! Discovery is off (the harness's loopback default): each test builds a
//! chain or a ring whose shape decides which links a flood crosses.

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;
use support::relay::Relay;
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

/// The same, counting also the lines shown as history: a line asked for
/// again more than 2 seconds after it was sent is shown marked so
/// (`[history HH:MM] NAME: line K`).
fn received_live_or_late(peer: &Peer, name: &str) -> Vec<u32> {
    let head = format!("{name}: line ");
    peer.lines()
        .iter()
        .filter_map(|l| {
            let l = match l.strip_prefix("[history ") {
                Some(rest) => rest.split_once("] ")?.1,
                None => l,
            };
            l.strip_prefix(&head)?.split(' ').next()?.parse().ok()
        })
        .collect()
}

/// `n` numbered lines of `len` bytes each.
fn script(n: u32, len: usize) -> Vec<u8> {
    numbered(0..n, len)
}

/// The lines numbered `range`, of `len` bytes each.
fn numbered(range: Range<u32>, len: usize) -> Vec<u8> {
    range
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

/// Each number in `got` once, and together every number from `first` to
/// `n - 1`.
fn check_once_from(peer: &Peer, got: &[u32], first: u32, n: u32) {
    let distinct: HashSet<u32> = got.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        got.len(),
        "{}: a line shown twice",
        peer.name
    );
    let lacking: Vec<u32> = (first..n).filter(|k| !distinct.contains(k)).collect();
    assert!(
        lacking.is_empty(),
        "{} lacks {} lines, from {:?} to {:?}",
        peer.name,
        lacking.len(),
        lacking.first(),
        lacking.last()
    );
}

/// While n0 floods, its link to n2 is cut and re-forms, and newcomer n3
/// links to nodes whose messages it has so far had relayed. Each new link
/// makes other paths redundant, and pruning them too soon would lose what
/// they still carry; not pruning them would show lines twice.
#[test]
fn links_that_open_or_re_form_during_a_flood_lose_and_repeat_nothing() {
    let _turn = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let n0 = Peer::start("n0");
    let n1 = Peer::join("n1", &n0);
    // n2 reaches n0 through a relay the test can cut; it learns of n1 from
    // n0 and links to it directly.
    let relay = Relay::capture(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        SocketAddr::from(([127, 0, 0, 1], n0.port)),
    );
    let n2 = Peer::spawn("n2", &["127.0.0.1", &relay.addr.port().to_string()]);
    for p in [&n0, &n1, &n2] {
        wait_connections(p, 2, Duration::from_secs(20));
    }

    const N: u32 = 40_000;
    n0.send_bytes(numbered(0..N / 2, 60));
    let head = "n0: line ";
    n2.wait_until(Duration::from_secs(60), "a quarter of the flood", |ls| {
        ls.iter().filter(|l| l.starts_with(head)).count() >= N as usize / 4
    });
    relay.cut();
    let n3 = Peer::join("n3", &n1);
    // n1 has taken n3 in: every line sent from now on is owed to n3. Its
    // links to n0 and n2 form while the second half floods.
    n1.wait_until(Duration::from_secs(20), "n3's link", |ls| {
        ls.iter().any(|l| l.starts_with("*** connected to n3"))
    });
    n0.send_bytes(numbered(N / 2..N, 60));

    for p in [&n0, &n1] {
        wait_all(p, "n0", N, Duration::from_secs(120));
    }
    // The last line, live or (asked for late) marked as history.
    let last = format!("{head}{:06}", N - 1);
    for p in [&n2, &n3] {
        p.wait_until(Duration::from_secs(120), "the last line", |ls| {
            ls.iter().any(|l| l.contains(&last))
        });
    }
    // What is still missing then would have come by now: a request is made
    // 150 ms after an announcement, and again a second later if unanswered.
    std::thread::sleep(Duration::from_secs(3));
    for p in [&n0, &n1] {
        check_complete(p, "n0", N);
    }
    // Lines asked for again after the cut may come after later ones.
    check_once_from(&n2, &received_live_or_late(&n2, "n0"), 0, N);
    // The newcomer has every line sent after it joined. From before, it
    // has what history its peers offered: each peer's last lines, which
    // for a peer still catching up after the cut are older ones.
    check_once_from(&n3, &received_live_or_late(&n3, "n0"), N / 2, N);
    let reconnected = n2
        .lines()
        .iter()
        .filter(|l| l.starts_with("*** connected to n0"))
        .count();
    assert!(reconnected >= 2, "n2's link to n0 did not re-form");
}

/// The flooding node is killed mid-flood while one receiver is frozen, so
/// that what it had queued for that one is lost with it, though the others
/// got it. Every node must end up with every line that any node got, each
/// once: the links the dead node's messages were pruned from bring what its
/// own link did not.
#[test]
fn a_sender_killed_mid_flood_leaves_every_node_with_the_same_lines() {
    let _turn = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let mut n0 = Peer::start("n0");
    let n1 = Peer::join("n1", &n0);
    let n2 = Peer::join("n2", &n1);
    let n3 = Peer::join("n3", &n2);
    let others = [&n1, &n2, &n3];
    for p in others {
        wait_connections(p, 3, Duration::from_secs(20));
    }

    const N: u32 = 40_000;
    n0.send_bytes(script(N, 60));
    n1.wait_until(Duration::from_secs(60), "some of the flood", |ls| {
        ls.iter().filter(|l| l.starts_with("n0: line ")).count() >= N as usize / 8
    });
    // n0's queue and socket to n3 fill while n3 is frozen; less than the
    // time after which its neighbours would give up on it.
    n3.freeze();
    std::thread::sleep(Duration::from_millis(1500));
    n0.kill();
    n3.thaw();

    // Settled: no node has shown a line of n0's for a while.
    let count = |p: &Peer| received_live_or_late(p, "n0").len();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut last = others.map(count);
    loop {
        std::thread::sleep(Duration::from_secs(3));
        let now = others.map(count);
        if now == last {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still changing: {now:?}"
        );
        last = now;
    }
    let sets = others.map(|p| {
        let got = received_live_or_late(p, "n0");
        let set: HashSet<u32> = got.iter().copied().collect();
        assert_eq!(set.len(), got.len(), "{}: a line shown twice", p.name);
        set
    });
    let all: HashSet<u32> = sets.iter().flatten().copied().collect();
    for (p, set) in others.iter().zip(&sets) {
        assert_eq!(
            set.len(),
            all.len(),
            "{} has {} of the {} lines any node got",
            p.name,
            set.len(),
            all.len()
        );
    }
    // n0 sent in order, so what got anywhere is a run from the start.
    assert!((0..all.len() as u32).all(|k| all.contains(&k)), "a gap");
}
