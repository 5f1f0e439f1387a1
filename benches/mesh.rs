//! The whole program measured: real `p2pchat` processes on loopback.
//!
//! ```sh
//! cargo bench --bench mesh                      # everything
//! cargo bench --bench mesh -- --nodes 5 --messages 200000 --scale 100 --runs 3
//! cargo bench --bench mesh -- --only latency     # or throughput, tree, memory, scale
//! cargo bench --bench mesh -- --only tree --max-peers 2
//! ```
//!
//! Prints a table: throughput and latency through a chain of nodes, each
//! next to the same figure for a bare relay of length-prefixed frames
//! measured in the same run (threads copying bytes between loopback
//! sockets: no chat logic, the machine's own limit); the broadcast tree's
//! worth, the same chain with the tree on and off in turn; idle memory and
//! wake-ups; memory per connection and under a flood of maximum-size
//! frames; and a 100-node network's formation, delivery and survival. The
//! machine is shared and noisy, so compare ratios, not absolute figures;
//! the throughput figures are medians of `--runs` runs taken in turn.
//!
//! The chain's nodes each join through the one before, and then link to
//! the others they hear of: five nodes end up all linked to each other, a
//! full mesh. `--max-peers 2` keeps it close to a chain. `--no-tree` turns
//! the broadcast tree off in every part.

#[path = "mesh/node.rs"]
mod node;
#[path = "mesh/proc.rs"]
mod proc;

use node::{log_dir, Node, Setup};
use proc::{cpu_ns, ip_bytes_sent, rss_kib, switches};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(default)
    };
    let nodes = flag("--nodes", 5);
    let messages = flag("--messages", 200_000);
    let scale = flag("--scale", 100);
    let runs = flag("--runs", 3).max(1);
    // One part of the table only, for quicker comparisons.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let part = |name: &str| only.as_deref().map_or(true, |o| o == name);
    let setup = Setup {
        tree: !args.iter().any(|a| a == "--no-tree"),
        max_peers: args
            .iter()
            .position(|a| a == "--max-peers")
            .and_then(|i| args.get(i + 1)?.parse().ok()),
        ..Setup::default()
    };
    let unencrypted = Setup {
        encrypted: false,
        ..setup
    };
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    println!("p2pchat mesh benchmark: {cores} cores, {nodes}-node chain, {messages} messages of 60 bytes");
    let tree = if setup.tree { "on" } else { "off" };
    let links = setup.max_peers.map_or("up to 8 links a node".into(), |m| {
        format!("up to {m} links a node")
    });
    println!("throughput: the median of {runs} runs; broadcast tree {tree}; {links}");
    println!();
    println!(
        "{:<44} {:>14} {:>14} {:>8}",
        "measurement", "p2pchat", "bare relay", "ratio"
    );

    if part("throughput") {
        // Each figure is the median of its runs, which take turns, so that a
        // busy spell on a shared machine moves one run, not the table.
        let (mut enc, mut plain, mut bare) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            enc.push(chain_throughput(nodes, messages, setup));
            plain.push(chain_throughput(nodes, messages, unencrypted));
            bare.push(relay_throughput(nodes, messages));
        }
        let rates: Vec<f64> = enc.iter().map(|r| r.rate).collect();
        let (ours, plain) = (medians(&enc), medians(&plain));
        let bare = median(&bare);
        row("throughput through the chain (msg/s)", ours.rate, bare);
        if runs > 1 {
            let slowest = rates.iter().copied().fold(f64::INFINITY, f64::min);
            let fastest = rates.iter().copied().fold(0.0, f64::max);
            println!(
                "{:<44} {:>14}",
                format!("  slowest and fastest of {runs} runs"),
                format!("{slowest:.0}-{fastest:.0}")
            );
        }
        row("  the same, links not encrypted (msg/s)", plain.rate, bare);
        println!(
            "{:<44} {:>13.0}%",
            "  encryption keeps",
            100.0 * ours.rate / plain.rate
        );
        // Steadier than the rate on a shared machine: what the nodes spent,
        // not how long they waited for a core.
        let cpu_row = |name: &str, us: f64| println!("{name:<44} {us:>14.2}");
        cpu_row("CPU of all nodes per message (µs)", ours.nodes);
        cpu_row("  of which the sender's, node 0 (µs)", ours.sender);
        cpu_row("  all nodes, links not encrypted (µs)", plain.nodes);
        // The bench's readers share the cores with the nodes they measure.
        cpu_row("CPU of the bench's readers per message (µs)", ours.bench);
    }
    if part("latency") {
        let (p50, p99) = chain_latency(nodes, 300, setup);
        let (q50, q99) = chain_latency(nodes, 300, unencrypted);
        let (b50, b99) = relay_latency(nodes, 300);
        row("latency to the last node, p50 (µs)", p50, b50);
        row("latency to the last node, p99 (µs)", p99, b99);
        row("  the same, links not encrypted, p50 (µs)", q50, b50);
        row("  the same, links not encrypted, p99 (µs)", q99, b99);
    }
    if part("tree") {
        tree_table(nodes, messages, runs, setup);
    }
    if part("memory") {
        memory_table();
    }
    if scale > 0 && part("scale") {
        println!();
        if !scale_network(scale) {
            // Its nodes' logs stay for reading.
            return;
        }
    }
    // Every part passed: the nodes' logs are of no more use.
    let _ = std::fs::remove_dir_all(log_dir());
}

/// Idle footprint, memory per connection, and memory under a flood.
fn memory_table() {
    println!();
    println!("{:<44} {:>14}", "measurement", "p2pchat");
    let (rss, wakeups) = idle();
    println!("{:<44} {:>14.0}", "idle RSS, one node (KiB)", rss);
    println!(
        "{:<44} {:>14.1}",
        "idle wake-ups per second, one node", wakeups
    );
    let per_conn = rss_per_connection(7);
    println!("{:<44} {:>14.0}", "RSS per connection (KiB)", per_conn);
    let (before, after) = flood_rss();
    println!(
        "{:<44} {:>14.0}",
        "RSS before a max-size flood (KiB)", before
    );
    println!(
        "{:<44} {:>14.0}",
        "RSS after 200 MiB of max-size frames (KiB)", after
    );
}

fn row(name: &str, ours: f64, bare: f64) {
    println!("{name:<44} {ours:>14.0} {bare:>14.0} {:>8.3}", ours / bare);
}

/// The broadcast tree's worth: the chain's throughput, CPU and bytes on
/// the links per message with the tree on and off, in turn.
fn tree_table(nodes: usize, messages: usize, runs: usize, setup: Setup) {
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        on.push(chain_throughput(
            nodes,
            messages,
            Setup {
                tree: true,
                ..setup
            },
        ));
        off.push(chain_throughput(
            nodes,
            messages,
            Setup {
                tree: false,
                ..setup
            },
        ));
    }
    let (on, off) = (medians(&on), medians(&off));
    println!();
    println!(
        "{:<44} {:>14} {:>14} {:>8}",
        "broadcast tree", "on", "off", "on/off"
    );
    let line =
        |name: &str, a: f64, b: f64| println!("{name:<44} {a:>14.2} {b:>14.2} {:>8.3}", a / b);
    line("throughput through the chain (msg/s)", on.rate, off.rate);
    line("CPU of all nodes per message (µs)", on.nodes, off.nodes);
    line("bytes sent on all links per message", on.sent, off.sent);
}

/// Nodes 0..n, each joined through the previous one.
fn chain(n: usize, prefix: &'static str, setup: Setup) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::new();
    for i in 0..n {
        let join = nodes.last().map(|p| p.port);
        nodes.push(Node::start_with(&format!("n{i}"), join, prefix, setup));
    }
    // Let peer exchange settle.
    thread::sleep(Duration::from_secs(2));
    nodes
}

fn lines(n: usize) -> Vec<u8> {
    (0..n)
        .map(|k| format!("line {k:06} {}\n", "x".repeat(47)))
        .collect::<String>()
        .into_bytes()
}

/// One throughput run: messages per second, and CPU time per message in
/// microseconds.
#[derive(Clone, Copy)]
struct Run {
    rate: f64,
    /// All the nodes.
    nodes: f64,
    /// The first node, which sends: the others only receive.
    sender: f64,
    /// This process: the readers of the nodes' output, above all.
    bench: f64,
    /// Bytes sent over IP (the nodes' links) while it ran.
    sent: f64,
}

/// Pipes `messages` lines into the first node of a chain of `n` and waits
/// until every node has shown them all.
fn chain_throughput(n: usize, messages: usize, setup: Setup) -> Run {
    let mut nodes = chain(n, "n0: line ", setup);
    let input = lines(messages);
    // Each node's CPU time so far, node 0's first.
    let cpu = |nodes: &[Node]| nodes.iter().map(|n| cpu_ns(n.pid())).collect::<Vec<f64>>();
    let cpu_before = cpu(&nodes);
    let sent_before = ip_bytes_sent();
    let own_before = cpu_ns(std::process::id());
    let start = Instant::now();
    nodes[0].send(&input);
    let mut end = start;
    for node in &nodes {
        end = end.max(
            node.wait_count(messages, Duration::from_secs(300))
                .unwrap_or_else(|| {
                    panic!(
                        "a node did not show every message; the nodes' logs are in {}",
                        log_dir().display()
                    )
                }),
        );
    }
    let used: Vec<f64> = cpu(&nodes)
        .iter()
        .zip(&cpu_before)
        .map(|(a, b)| a - b)
        .collect();
    let own_used = cpu_ns(std::process::id()) - own_before;
    let sent = ip_bytes_sent() - sent_before;
    // As many lines as messages, none twice: each exactly once.
    for (i, node) in nodes.iter().enumerate() {
        let repeats = node.repeats.load(Ordering::SeqCst);
        assert_eq!(repeats, 0, "node {i} showed {repeats} lines twice");
    }
    let rate = messages as f64 / end.duration_since(start).as_secs_f64();
    let per_message = |ns: f64| ns / 1e3 / messages as f64;
    Run {
        rate,
        nodes: per_message(used.iter().sum()),
        sender: per_message(used[0]),
        bench: per_message(own_used),
        sent: sent / messages as f64,
    }
}

/// A chain of `hops` relays, each a thread copying bytes from one loopback
/// socket to the next. Returns the sending end and the last hop's listener.
fn relay_chain(hops: usize) -> (TcpStream, TcpStream) {
    let sink = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut next = sink.local_addr().unwrap();
    for _ in 0..hops {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let to = next;
        thread::spawn(move || {
            let (mut from, _) = listener.accept().unwrap();
            let mut out = TcpStream::connect(to).unwrap();
            out.set_nodelay(true).unwrap();
            from.set_nodelay(true).unwrap();
            let _ = std::io::copy(&mut from, &mut out);
        });
        next = addr;
    }
    let source = TcpStream::connect(next).unwrap();
    source.set_nodelay(true).unwrap();
    let (end, _) = sink.accept().unwrap();
    (source, end)
}

fn frames(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for k in 0..n {
        let body = format!("line {k:06} {}", "x".repeat(47));
        p2pchat::message::encode(&body, &mut out).unwrap();
    }
    out
}

/// Reads whole frames until `n` have arrived.
fn read_frames(end: &mut TcpStream, n: usize) {
    let mut buf = vec![0u8; 1 << 20];
    let (mut have, mut seen) = (0, 0);
    while seen < n {
        let got = end.read(&mut buf[have..]).unwrap();
        assert!(got > 0, "relay closed");
        have += got;
        let mut at = 0;
        while let Ok(p2pchat::message::Decoded::Frame { consumed, .. }) =
            p2pchat::message::decode(&buf[at..have])
        {
            at += consumed;
            seen += 1;
        }
        buf.copy_within(at..have, 0);
        have -= at;
    }
}

fn relay_throughput(hops: usize, messages: usize) -> f64 {
    let (mut source, mut end) = relay_chain(hops);
    let data = frames(messages);
    let start = Instant::now();
    let writer = thread::spawn(move || source.write_all(&data).unwrap());
    read_frames(&mut end, messages);
    let elapsed = start.elapsed();
    writer.join().unwrap();
    messages as f64 / elapsed.as_secs_f64()
}

/// The median of each figure of some runs, each alone.
fn medians(runs: &[Run]) -> Run {
    let column = |f: fn(&Run) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    Run {
        rate: column(|r| r.rate),
        nodes: column(|r| r.nodes),
        sender: column(|r| r.sender),
        bench: column(|r| r.bench),
        sent: column(|r| r.sent),
    }
}

/// The middle value (the upper middle of an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99))
}

fn chain_latency(n: usize, samples: usize, setup: Setup) -> (f64, f64) {
    let mut nodes = chain(n, "n0: ping ", setup);
    let mut times = Vec::with_capacity(samples);
    for k in 1..=samples {
        let start = Instant::now();
        nodes[0].send(format!("ping {k}\n").as_bytes());
        let seen_at = nodes[n - 1]
            .wait_count(k, Duration::from_secs(10))
            .unwrap_or_else(|| {
                panic!(
                    "ping {k} did not reach the last node within 10 s; the nodes' logs are in {}",
                    log_dir().display()
                )
            });
        times.push(seen_at.duration_since(start));
        thread::sleep(Duration::from_millis(5));
    }
    percentiles(times)
}

fn relay_latency(hops: usize, samples: usize) -> (f64, f64) {
    let (mut source, mut end) = relay_chain(hops);
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let frame = frames(1);
        let start = Instant::now();
        source.write_all(&frame).unwrap();
        read_frames(&mut end, 1);
        times.push(start.elapsed());
        thread::sleep(Duration::from_millis(5));
    }
    percentiles(times)
}

/// RSS of an idle lone node, and its wake-ups per second over 10 seconds.
fn idle() -> (f64, f64) {
    let node = Node::start("idle", None, "never");
    thread::sleep(Duration::from_secs(2));
    let rss = rss_kib(node.pid());
    let before = switches(node.pid());
    thread::sleep(Duration::from_secs(10));
    let after = switches(node.pid());
    (rss, (after - before) / 10.0)
}

/// How much one node's RSS grows per connection, over `peers` connections.
fn rss_per_connection(peers: usize) -> f64 {
    let hub = Node::start("hub", None, "never");
    thread::sleep(Duration::from_secs(1));
    let alone = rss_kib(hub.pid());
    let others: Vec<Node> = (0..peers)
        .map(|i| Node::start(&format!("p{i}"), Some(hub.port), "never"))
        .collect();
    thread::sleep(Duration::from_secs(3));
    let with = rss_kib(hub.pid());
    drop(others);
    (with - alone) / peers as f64
}

/// RSS of a node before and after a raw peer sends it 200 MiB of max-size
/// chat frames while never reading anything back. The frames are written by
/// hand here, so these nodes run plaintext; the queues measured are the same.
fn flood_rss() -> (f64, f64) {
    let plain = Setup {
        encrypted: false,
        ..Setup::default()
    };
    let node = Node::start_with("target", None, "never", plain);
    let watcher = Node::start_with("watcher", Some(node.port), "flood: ", plain);
    thread::sleep(Duration::from_secs(2));
    let before = rss_kib(node.pid());
    let mut s = TcpStream::connect(("127.0.0.1", node.port)).unwrap();
    let version = p2pchat::protocol::VERSION;
    let mut out = Vec::new();
    // Plaintext nodes do not check ids against keys.
    let hello = format!("HELLO {version} 00000000deadbeef 1 lobby 1 flood");
    p2pchat::message::encode(&hello, &mut out).unwrap();
    s.write_all(&out).unwrap();
    let text = "f".repeat(p2pchat::message::MAX_BODY - 100);
    let mut sent = 0usize;
    let mut seq = 1u64;
    while sent < 200 << 20 {
        out.clear();
        for _ in 0..16 {
            let body = format!("MSG 3 00000000deadbeef:{seq} 0 flood {text}");
            p2pchat::message::encode(&body, &mut out).unwrap();
            seq += 1;
        }
        if s.write_all(&out).is_err() {
            break;
        }
        sent += out.len();
    }
    thread::sleep(Duration::from_secs(1));
    let after = rss_kib(node.pid());
    drop(watcher);
    (before, after)
}

/// A network of `n` nodes: how long it takes to form, whether a burst from
/// several senders reaches everyone exactly once, and whether it stays one
/// network after 30% of the nodes are killed.
fn scale_network(n: usize) -> bool {
    let start = Instant::now();
    let mut nodes: Vec<Node> = Vec::new();
    for i in 0..n {
        // Each joins through the first, as when everyone is handed the same
        // address: the hardest case for the mesh, as the first node then
        // makes room for every newcomer.
        let join = (i > 0).then(|| nodes[0].port);
        nodes.push(Node::start(&format!("s{i}"), join, "s"));
    }
    let started = start.elapsed();
    thread::sleep(Duration::from_secs(3));
    let burst = |nodes: &mut Vec<Node>, senders: &[usize], tag: &str| -> Result<Duration, String> {
        let base: Vec<usize> = nodes
            .iter()
            .map(|p| p.seen.load(Ordering::SeqCst))
            .collect();
        let t = Instant::now();
        for &s in senders {
            let text: String = (0..20).map(|k| format!("{tag} {k}\n")).collect();
            nodes[s].send(text.as_bytes());
        }
        let want = senders.len() * 20;
        // Every node shows them all within a minute, then none twice.
        let shown = |i: usize, p: &Node, b: usize| {
            let got = p.seen.load(Ordering::SeqCst) - b;
            (
                got,
                format!("node {i} (port {}) showed {got} of {want}", p.port),
            )
        };
        for (i, (p, b)) in nodes.iter().zip(&base).enumerate() {
            if p.wait_count(b + want, Duration::from_secs(60)).is_none() {
                return Err(shown(i, p, *b).1);
            }
        }
        thread::sleep(Duration::from_millis(500));
        for (i, (p, b)) in nodes.iter().zip(&base).enumerate() {
            let (got, said) = shown(i, p, *b);
            if got != want {
                return Err(said);
            }
        }
        Ok(t.elapsed())
    };
    let senders = [0, n / 4, n / 2, 3 * n / 4, n - 1];
    let first = burst(&mut nodes, &senders, "burst");
    // Kill 30% of them, spread out.
    let kill = n * 3 / 10;
    for k in 0..kill {
        let i = (k * 7 + 3) % nodes.len();
        nodes.remove(i);
    }
    thread::sleep(Duration::from_secs(15));
    let survivors = nodes.len();
    let senders = [0, survivors / 2, survivors - 1];
    let second = burst(&mut nodes, &senders, "after");
    let show = |d: &Result<Duration, String>| match d {
        Ok(d) => format!("{:.2} s, exactly once", d.as_secs_f64()),
        Err(e) => format!(
            "FAILED: {e}; the nodes' logs are in {}",
            log_dir().display()
        ),
    };
    println!(
        "{n}-node network: all started in {:.1} s",
        started.as_secs_f64()
    );
    println!(
        "  burst of 100 messages from 5 senders reached all {n}: {}",
        show(&first)
    );
    println!(
        "  after killing {kill}, 60 messages from 3 senders reached all {survivors}: {}",
        show(&second)
    );
    first.is_ok() && second.is_ok()
}
