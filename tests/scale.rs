//! A network of 100 nodes on one machine: it forms, delivers bursts from
//! several senders to every node exactly once, and stays one network when
//! 30 of them are killed.
//!
//! It runs 100 processes at once, a few hundred MiB, beside whatever else
//! runs, so a plain `cargo test` skips it; `.ci/run` runs it alone with
//! `cargo test --test scale -- --ignored` (a few seconds).
//!
//! Discovery is off: 100 nodes announcing on one host would all dial each
//! other, and the test is of how the mesh forms through peer exchange.

mod support;

use std::time::Duration;
use support::{who, Peer};

const NODES: usize = 100;
const KILLED: usize = 30;

/// Each sender sends `per` lines `TAG k`; waits until every node shows all
/// of them live, then checks none shows any twice, live or as history. Had
/// the network formed in pieces, some would come only as history, once the
/// pieces found each other again.
fn burst(nodes: &[Peer], senders: &[usize], tag: &str, per: usize) {
    for &s in senders {
        let text: String = (0..per).map(|k| format!("{tag} {k}\n")).collect();
        nodes[s].send_bytes(text.into_bytes());
    }
    let suffix = format!(": {tag} ");
    let want = senders.len() * per;
    let live = |l: &String| l.contains(&suffix) && !l.starts_with("[history");
    for p in nodes {
        p.wait_until(Duration::from_secs(60), &format!("all {tag} lines"), |ls| {
            ls.iter().filter(|l| live(l)).count() >= want
        });
    }
    std::thread::sleep(Duration::from_millis(500));
    for p in nodes {
        let got = p.lines().iter().filter(|l| l.contains(&suffix)).count();
        assert_eq!(got, want, "{} shows {got} {tag} lines, not {want}", p.name);
    }
}

#[test]
#[ignore = "100 processes at once; .ci/run runs it alone"]
fn a_hundred_nodes_form_one_network_deliver_exactly_once_and_survive_30_deaths() {
    let mut nodes: Vec<Peer> = Vec::with_capacity(NODES);
    for i in 0..NODES {
        let node = match i {
            0 => Peer::start("s0"),
            // Each joins through the first, as when everyone is handed the
            // same address: the hardest case for the mesh, as the first
            // node then makes room for every newcomer.
            _ => Peer::join(&format!("s{i}"), &nodes[0]),
        };
        nodes.push(node);
    }
    // Everyone knows everyone once the heartbeats have gone round.
    let all = format!("*** {NODES} online: ");
    for &i in &[0, NODES / 2, NODES - 1] {
        let p = &nodes[i];
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let answer = who(p);
            if answer.starts_with(&all) {
                break;
            }
            let notices: Vec<String> = p
                .lines()
                .into_iter()
                .filter(|l| l.contains("lost connection") || l.contains("closed"))
                .take(6)
                .collect();
            assert!(
                std::time::Instant::now() < deadline,
                "{} never saw all {NODES}: {}\n{notices:#?}",
                p.name,
                &answer[..answer.len().min(60)]
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    burst(&nodes, &[0, 25, 50, 75, 99], "burst", 20);
    // It formed as one network: no node missed another's heartbeats, as the
    // nodes of a network that formed in pieces do until the pieces meet.
    for p in &nodes {
        let lines = p.lines();
        let lost: Vec<&String> = lines
            .iter()
            .filter(|l| l.ends_with(" lost connection"))
            .collect();
        assert!(lost.is_empty(), "{} saw users lost: {lost:?}", p.name);
    }

    // Kill 30, spread across the network, as crashes.
    for k in 0..KILLED {
        let i = (k * 7 + 3) % nodes.len();
        let mut dead = nodes.remove(i);
        dead.kill();
    }
    let survivors = nodes.len();
    burst(&nodes, &[0, survivors / 2, survivors - 1], "after", 20);
}
