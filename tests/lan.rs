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

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::{wait_who, Peer, BIN};

const T: Duration = Duration::from_secs(20);

/// A small LAN of namespaces, deleted on drop.
struct Lan {
    prefix: String,
    switch: String,
    hosts: Vec<String>,
}

/// Addresses of one host.
#[derive(Clone, Copy)]
struct Addrs {
    v4: bool,
    v6: bool,
}

const DUAL: Addrs = Addrs { v4: true, v6: true };
const V6_ONLY: Addrs = Addrs {
    v4: false,
    v6: true,
};

impl Lan {
    /// A LAN with one host per entry of `hosts`, or `None` where namespaces
    /// cannot be made here.
    fn new(hosts: &[Addrs]) -> Option<Lan> {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("p2pt{}x{n}", std::process::id());
        if !can_make_namespaces(&prefix) {
            return None;
        }
        let mut lan = Lan {
            switch: format!("{prefix}sw"),
            prefix,
            hosts: Vec::new(),
        };
        ip(&["netns", "add", &lan.switch]);
        ip(&["-n", &lan.switch, "link", "add", "br0", "type", "bridge"]);
        // Without a querier, snooping would hold multicast back; flood it.
        let _ = try_ip(&[
            "-n",
            &lan.switch,
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        ip(&["-n", &lan.switch, "link", "set", "br0", "up"]);
        for (i, addrs) in hosts.iter().enumerate() {
            lan.add_host(i + 1, *addrs);
        }
        Some(lan)
    }

    fn add_host(&mut self, i: usize, addrs: Addrs) {
        let ns = format!("{}h{i}", self.prefix);
        ip(&["netns", "add", &ns]);
        self.hosts.push(ns.clone());
        // Addresses are usable at once: no duplicate address detection.
        for conf in ["all", "default"] {
            netns_sh(
                &ns,
                &format!("echo 0 > /proc/sys/net/ipv6/conf/{conf}/accept_dad"),
            );
        }
        let port = format!("p{i}");
        ip(&[
            "-n",
            &self.switch,
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &ns,
        ]);
        ip(&["-n", &self.switch, "link", "set", &port, "master", "br0"]);
        ip(&["-n", &self.switch, "link", "set", &port, "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        if !addrs.v6 {
            netns_sh(&ns, "echo 1 > /proc/sys/net/ipv6/conf/eth0/disable_ipv6");
        }
        if addrs.v4 {
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("10.77.0.{i}/24"),
                "dev",
                "eth0",
            ]);
        }
        if addrs.v6 {
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("fd77::{i}/64"),
                "dev",
                "eth0",
                "nodad",
            ]);
        }
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
    }

    /// Starts `p2pchat NAME ARGS...` on host `i` (from 1), discovery on.
    fn node(&self, i: usize, name: &str, args: &[&str]) -> Peer {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.hosts[i - 1], BIN, name])
            .args(args);
        let mut peer = Peer::spawn_command(name, command);
        let line = peer.wait_for_line(T, |l| l.contains("listening on "));
        peer.port = support::listening_port(&line).expect("a port");
        peer
    }

    /// Unplugs host `i` from the switch, or plugs it back.
    fn link(&self, i: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.switch, "link", "set", &format!("p{i}"), state]);
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in self.hosts.iter().chain([&self.switch]) {
            let _ = try_ip(&["netns", "del", ns]);
        }
    }
}

/// Runs `ip ARGS`, panicking with its error if it fails.
fn ip(args: &[&str]) {
    if let Err(e) = try_ip(args) {
        panic!("ip {}: {e}", args.join(" "));
    }
}

fn try_ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    match out.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
    }
}

/// Runs a shell command inside a namespace (for its /proc/sys).
fn netns_sh(ns: &str, script: &str) {
    ip(&["netns", "exec", ns, "sh", "-c", script]);
}

/// Whether this process may make namespaces, installing iproute2 first if
/// it is missing. Prints the reason when it may not.
fn can_make_namespaces(prefix: &str) -> bool {
    if Command::new("ip").arg("-V").output().is_err() {
        let _ = Command::new("apt-get")
            .args(["install", "-y", "-qq", "iproute2"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
    }
    let probe = format!("{prefix}probe");
    let result = try_ip(&["netns", "add", &probe]);
    let _ = try_ip(&["netns", "del", &probe]);
    match result {
        Ok(()) => true,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must be able to make network namespaces: {e}"
            );
            eprintln!(
                "skipped: cannot make network namespaces here (needs root and iproute2): {e}"
            );
            false
        }
    }
}

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
    alice.say("said during the split");
    carol.say("carol alone");
    bob.expect_line("alice: said during the split", T);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(carol.count("alice: said during the split"), 0);

    lan.link(3, true);
    let healed = Duration::from_secs(40);
    let l = carol.wait_for_line(healed, |l| l.ends_with("alice: said during the split"));
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
    for p in [&alice, &bob, &carol] {
        for text in ["said during the split", "carol alone", "back"] {
            let n = p
                .lines()
                .iter()
                .filter(|l| l.ends_with(&format!(": {text}")))
                .count();
            assert_eq!(n, 1, "{} shows {text:?} {n} times", p.name);
        }
    }
}
