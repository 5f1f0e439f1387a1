//! p2pchat across real separate hosts: network namespaces joined by a
//! bridge, each host with its own addresses, nodes finding each other by
//! LAN discovery.
//!
//! Needs root and iproute2 (`ip netns`). The test installs iproute2 if it is
//! missing and it can; without the privilege it prints a skip line and
//! passes, except under CI (`CI` set), where it must run. Every namespace it
//! makes is deleted when the test ends, failed or not, and no traffic leaves
//! them: the bridge itself lives in a namespace of the test's own.

mod support;

use std::time::{Duration, Instant};
use support::lan::{Addrs, Lan, DUAL, V6_ONLY};
use support::{wait_who, Peer};

const T: Duration = Duration::from_secs(20);

/// Three dual-stack hosts running alice, bob and carol, who found each
/// other by discovery alone (nobody typed an address).
fn three_hosts() -> Option<(Lan, [Peer; 3])> {
    let lan = Lan::new(&[DUAL, DUAL, DUAL])?;
    let nodes = [
        lan.node(1, "alice", &[]),
        lan.node(2, "bob", &[]),
        lan.node(3, "carol", &[]),
    ];
    for p in &nodes {
        wait_who(p, &["alice", "bob", "carol"], T);
    }
    Some((lan, nodes))
}

#[test]
fn discovery_finds_peers_across_hosts_and_they_chat() {
    let Some((_lan, [alice, bob, carol])) = three_hosts() else {
        return;
    };
    alice.say("hello across the LAN");
    carol.say("hello from host 3");
    for p in [&alice, &bob, &carol] {
        p.expect_line("alice: hello across the LAN", T);
        p.expect_line("carol: hello from host 3", T);
    }
    // The links are real LAN links, not loopback.
    let peers = support::peer_names(&bob);
    assert!(!peers.is_empty());
    assert!(
        !bob.lines().iter().any(|l| l.contains("127.0.0.1")),
        "{:?}",
        bob.lines()
    );
}

#[test]
fn an_ipv6_only_host_finds_the_others_and_chats() {
    let Some(lan) = Lan::new(&[DUAL, V6_ONLY]) else {
        return;
    };
    let alice = lan.node(1, "alice", &[]);
    let six = lan.node(2, "six", &[]);
    wait_who(&six, &["alice", "six"], T);
    six.say("IPv6 only here");
    alice.expect_line("six: IPv6 only here", T);
    alice.say("heard you");
    six.expect_line("alice: heard you", T);
    // It can also be joined explicitly by its IPv6 address.
    let explicit = lan.node(
        1,
        "ex",
        &["--no-discovery", "fd77::2", &six.port.to_string()],
    );
    explicit.wait_for_line(T, |l| l.starts_with("*** connected to six"));
}

#[test]
fn two_rooms_on_one_lan_stay_apart() {
    let Some(lan) = Lan::new(&[DUAL, DUAL, DUAL, DUAL]) else {
        return;
    };
    let alice = lan.node(1, "alice", &["--room", "red"]);
    let bob = lan.node(2, "bob", &["--room", "red"]);
    let carol = lan.node(3, "carol", &["--room", "blue"]);
    let dave = lan.node(4, "dave", &["--room", "blue"]);
    wait_who(&alice, &["alice", "bob"], T);
    wait_who(&carol, &["carol", "dave"], T);
    alice.say("red only");
    dave.say("blue only");
    bob.expect_line("alice: red only", T);
    carol.expect_line("dave: blue only", T);
    // Give a leak every chance to show, then check there was none.
    std::thread::sleep(Duration::from_secs(6));
    for p in [&carol, &dave] {
        assert_eq!(
            p.count("alice: red only"),
            0,
            "{} heard the red room",
            p.name
        );
    }
    for p in [&alice, &bob] {
        assert_eq!(
            p.count("dave: blue only"),
            0,
            "{} heard the blue room",
            p.name
        );
    }
    wait_who(&alice, &["alice", "bob"], T);
}

/// Lines said during the split, more than the 200 lines a node once kept:
/// a split shorter than the history window loses none of them.
const DURING: usize = 300;

#[test]
fn a_link_down_splits_the_network_and_up_heals_it_with_history() {
    let Some((lan, [alice, bob, carol])) = three_hosts() else {
        return;
    };

    lan.link(3, false);
    // The split shows: carol is lost to the others, they to her, and the
    // dead links are dropped (nothing is heard on them).
    alice.expect_line("*** carol lost connection", Duration::from_secs(30));
    carol.wait_until(Duration::from_secs(30), "the split", |ls| {
        ls.iter()
            .filter(|l| l.ends_with(" lost connection"))
            .count()
            == 2
    });
    for p in [&alice, &bob] {
        support::wait_peers(
            p,
            Duration::from_secs(30),
            "the link to carol dropped",
            |names| !names.iter().any(|n| n == "carol"),
        );
    }
    for n in 1..=DURING {
        alice.say(&format!("said during the split {n}"));
    }
    carol.say("carol alone");
    bob.expect_line(&format!("alice: said during the split {DURING}"), T);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(carol.count("alice: said during the split 1"), 0);

    lan.link(3, true);
    let healed = Duration::from_secs(40);
    let last = format!("alice: said during the split {DURING}");
    let l = carol.wait_for_line(healed, |l| l.ends_with(&last));
    assert!(l.starts_with("[history "), "{l}");
    for p in [&alice, &bob] {
        let l = p.wait_for_line(healed, |l| l.ends_with("carol: carol alone"));
        assert!(l.starts_with("[history "), "{}: {l}", p.name);
    }
    // Back together, and every message shown exactly once everywhere.
    for p in [&alice, &bob] {
        p.expect_line("*** carol is back", T);
    }
    carol.say("back");
    alice.expect_line("carol: back", T);
    std::thread::sleep(Duration::from_secs(1));
    let during = (1..=DURING).map(|n| format!("said during the split {n}"));
    let texts: Vec<String> = during
        .chain(["carol alone".into(), "back".into()])
        .collect();
    for p in [&alice, &bob, &carol] {
        for text in &texts {
            let n = p
                .lines()
                .iter()
                .filter(|l| l.ends_with(&format!(": {text}")))
                .count();
            assert_eq!(n, 1, "{} shows {text:?} {n} times", p.name);
        }
    }
}

/// Twelve hosts each run `p2pchat uN` with no address, all started at
/// once, and each says a line straight away, before any link may exist.
/// Within 15 s of the start they are one chat, and every host shows every
/// line, live or as history: if they formed in parts, the parts found each
/// other and exchanged what was said. u1 keeps 2 links at most, so it is
/// full; two latecomers join through it by address, and get in.
fn lan_party(addrs: Addrs) {
    let Some(lan) = Lan::new(&[addrs; 12]) else {
        return;
    };
    let start = Instant::now();
    let nodes: Vec<Peer> = (1..=12)
        .map(|i| match i {
            1 => lan.spawn(i, "u1", &["--max-peers", "2"]),
            _ => lan.spawn(i, &format!("u{i}"), &[]),
        })
        .collect();
    for p in &nodes {
        p.say(&format!("early word from {}", p.name));
    }
    let names: Vec<String> = nodes.iter().map(|p| p.name.clone()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let one_chat = start + Duration::from_secs(15);
    for p in &nodes {
        let left = one_chat.saturating_duration_since(Instant::now());
        wait_who(p, &names, left.max(Duration::from_millis(1)));
    }
    for p in &nodes {
        for q in &nodes {
            let line = format!("{}: early word from {}", q.name, q.name);
            p.wait_until(T, &format!("the line {line:?}"), |ls| {
                ls.iter().filter(|l| l.ends_with(&line)).count() == 1
            });
        }
    }
    let u1 = match addrs.v4 {
        true => Lan::v4(1),
        false => "fd77::1".to_string(),
    };
    let port = support::listening_port(&nodes[0].wait_for_line(T, |l| l.contains("listening on ")))
        .expect("a port")
        .to_string();
    let mut names = names.clone();
    let mut late = Vec::new();
    for (host, name) in [(5, "late1"), (9, "late2")] {
        let p = lan.node(host, name, &[&u1, &port]);
        names.push(name);
        wait_who(&p, &names, T);
        late.push(p);
    }
    for p in &mut late {
        assert!(p.exited().is_none(), "{} exited:\n{}", p.name, p.stderr());
    }
}

#[test]
fn twelve_hosts_started_at_once_are_one_chat_within_15_s() {
    for _ in 0..2 {
        lan_party(DUAL);
    }
}

#[test]
fn twelve_ipv6_only_hosts_started_at_once_are_one_chat_within_15_s() {
    lan_party(V6_ONLY);
}

/// `.ci/run` runs this one: the LAN stayed split in 3 of 7 starts before
/// splits were healed.
#[test]
#[ignore = "20 starts of 12 hosts, a few minutes: run by .ci/run"]
fn twelve_hosts_started_at_once_are_one_chat_20_times_in_a_row() {
    for _ in 0..20 {
        lan_party(DUAL);
    }
}

/// Two chats of five hosts each form apart, each node at its target of
/// links, then their LANs are joined into one. Every node now hears the
/// other chat's announcements, of nodes missing from its roster: that is a
/// split, and it is healed, although no node needs a link. Lines said
/// apart arrive everywhere as history.
#[test]
fn two_chats_formed_apart_become_one_when_their_lans_are_joined() {
    let Some(lan) = Lan::new(&[DUAL; 10]) else {
        return;
    };
    let (left, right) = (1..=5, 6..=10);
    let names = |hosts: std::ops::RangeInclusive<usize>| -> Vec<String> {
        hosts.map(|i| format!("u{i}")).collect()
    };
    let apart = |hosts: std::ops::RangeInclusive<usize>| -> Vec<Peer> {
        let nodes: Vec<Peer> = hosts
            .clone()
            .map(|i| lan.node(i, &format!("u{i}"), &[]))
            .collect();
        let names = names(hosts);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        for p in &nodes {
            wait_who(p, &names, T);
            support::wait_connections(p, 4, T);
        }
        for p in &nodes {
            p.say(&format!("apart, from {}", p.name));
        }
        nodes
    };
    for i in right.clone() {
        lan.link(i, false);
    }
    let mut nodes = apart(left.clone());
    for i in left.clone() {
        lan.link(i, false);
    }
    for i in right.clone() {
        lan.link(i, true);
    }
    nodes.extend(apart(right.clone()));
    let joined = Instant::now();
    for i in left {
        lan.link(i, true);
    }
    let all = names(1..=10);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    for p in &nodes {
        wait_who(p, &all, Duration::from_secs(30));
    }
    eprintln!("one chat {:?} after the LANs were joined", joined.elapsed());
    for p in &nodes {
        for q in &nodes {
            let line = format!("{}: apart, from {}", q.name, q.name);
            p.wait_until(T, &format!("the line {line:?}"), |ls| {
                ls.iter().filter(|l| l.ends_with(&line)).count() == 1
            });
        }
    }
}
