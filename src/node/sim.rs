//! A deterministic simulator that runs the node's own core (the same
//! `Shared` handlers, dial book, roster, seen-cache, history and broadcast
//! tree that a running node uses) on many nodes in one thread, over
//! virtual links in virtual time.
//!
//! What it replaces is the runtime glue: sockets become [`world`]'s
//! virtual links (frames still go through the node's outboxes and frame
//! reader), tasks and timers become events in one queue, and the clocks and
//! random choices are the run's own, so one seed gives one run. Links are
//! plaintext: encryption is tested on its own and changes no decision.

mod flooders;
mod liars;
mod links;
pub(in crate::node) mod net;
mod nodes;
mod record;
mod script;
mod world;

use std::fmt::Write as _;
use std::time::Duration;

/// How nodes find the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joins {
    /// Every node joins through the first node.
    OneNode,
    /// Each node joins through a node chosen at random among those up.
    Random,
    /// Nodes give no address; they hear other nodes' LAN announcements.
    Discovery,
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Options {
    pub nodes: usize,
    pub seed: u64,
    /// Virtual time the run covers.
    pub duration: Duration,
    /// Nodes killed (and restarted after a while) during the churn.
    pub kills: usize,
    /// Chat messages, from random senders.
    pub messages: usize,
    /// When the network splits into two halves, and for how long.
    pub partition: Option<(Duration, Duration)>,
    /// One-way link latency; each delivery varies by up to half of it.
    pub latency: Duration,
    /// Share of deliveries that are lost once and resent by TCP.
    pub loss: f64,
    pub joins: Joins,
    /// Over how long the nodes start, one after another (default: a
    /// tenth of the run, at most 60 s).
    pub join_span: Option<Duration>,
    /// Whether the broadcast tree prunes redundant links (off: every
    /// message floods every link).
    pub tree: bool,
    /// The longest the network may stay split once churn and the
    /// partition are over.
    pub split_bound: Duration,
    /// The longest a crash may take to be shown everywhere.
    pub detect_bound: Duration,
    /// Nodes that lie to their peers (see `liars.rs`), the last slots.
    pub liars: usize,
    /// Nodes that flood their peers with costly requests and made-up
    /// addresses (see `flooders.rs`), the slots below the liars.
    pub flooders: usize,
}

impl Options {
    /// The standard run for `nodes` nodes: 600 s, kills of three in ten
    /// nodes, 1,000 messages and one 60 s partition.
    pub fn standard(nodes: usize, seed: u64) -> Self {
        Options {
            nodes,
            seed,
            duration: Duration::from_secs(600),
            kills: nodes * 3 / 10,
            messages: 1000,
            partition: Some((Duration::from_secs(240), Duration::from_secs(60))),
            latency: Duration::from_millis(10),
            loss: 0.0,
            joins: Joins::Random,
            join_span: None,
            tree: true,
            split_bound: Duration::from_secs(30),
            detect_bound: Duration::from_secs(30),
            liars: 0,
            flooders: 0,
        }
    }
}

/// What a run found.
#[derive(Debug)]
pub struct Report {
    /// The report, line by line; the last starts with `simulated`.
    pub text: String,
    /// The rules the run broke; empty if none.
    pub violations: Vec<String>,
    /// Messages sent over the links by kind, most first: kind, messages,
    /// bytes.
    pub sent: Vec<(&'static str, u64, u64)>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// How many messages of `kind` the links carried.
    pub fn sent_of(&self, kind: &str) -> u64 {
        let of_kind = self.sent.iter().filter(|(k, _, _)| *k == kind);
        of_kind.map(|(_, n, _)| n).sum()
    }
}

/// Runs a simulation and checks it.
pub fn run(options: &Options) -> Report {
    let mut world = world::World::new(options.clone());
    world.run();
    let found = world.findings();
    let mut text = String::new();
    let mut violations = Vec::new();
    let o = options;
    let _ = writeln!(
        text,
        "nodes {}, seed {}, {} s of virtual time, latency {} ms, loss {}%, joins {:?}, tree {}",
        o.nodes,
        o.seed,
        o.duration.as_secs(),
        o.latency.as_millis(),
        o.loss * 100.0,
        o.joins,
        if o.tree { "on" } else { "off" },
    );
    let _ = writeln!(
        text,
        "churn: {} kills and restarts; partition: {}",
        found.kills,
        match o.partition {
            Some((at, len)) => format!(
                "{} s to {} s, halves of {} and {} nodes",
                at.as_secs(),
                (at + len).as_secs(),
                found.halves.0,
                found.halves.1
            ),
            None => "none".into(),
        }
    );
    let d = &found.delivery;
    let _ = writeln!(
        text,
        "messages: {} sent, {} deliveries due, {} missing, {} repeated, {} out of order",
        found.messages, d.expected, d.missing, d.repeated, d.out_of_order
    );
    if d.stranded > 0 {
        let _ = writeln!(
            text,
            "  {} due nowhere: sent while the split cut their sender off, which went down before the heal",
            d.stranded
        );
    }
    if d.missing > 0 {
        violations.push(format!("{} deliveries missing", d.missing));
        for (k, at, from, slot) in &d.examples {
            let (since, half) = found.whereabouts[*slot];
            let sender = found.whereabouts[*from];
            let _ = writeln!(
                text,
                "  missing: message {k} sent at {:.3} s by n{from} (up since {:.1} s, half {}), at n{slot} (up since {:.1} s, half {})",
                at.as_secs_f64(),
                sender.0.as_secs_f64(),
                sender.1,
                since.as_secs_f64(),
                half
            );
        }
    }
    if d.repeated > 0 {
        violations.push(format!("{} messages shown twice", d.repeated));
    }
    if d.out_of_order > 0 {
        violations.push(format!("{} messages out of order", d.out_of_order));
    }
    let _ = writeln!(
        text,
        "split: longest once stable ({} s on): {:.1} s (bound {} s); {} part(s) at the end",
        found.stable_from.as_secs(),
        found.longest_split.as_secs_f64(),
        o.split_bound.as_secs(),
        found.parts_at_end
    );
    let _ = writeln!(
        text,
        "links dropped to make room for newcomers: {}, of which {} to a peer with no way round known",
        found.made_room.way_round + found.made_room.blind,
        found.made_room.blind
    );
    if found.longest_split > o.split_bound || found.parts_at_end != 1 {
        violations.push("the network stayed split".into());
    }
    let _ = writeln!(
        text,
        "presence: {} of {} nodes up show exactly the users up",
        found.presence_right, found.up_at_end
    );
    for (slot, lacks, ghosts) in &found.presence_wrong {
        let names = |slots: &[usize]| {
            let shown: Vec<String> = slots.iter().take(5).map(|s| format!("n{s}")).collect();
            let more = slots.len().saturating_sub(5);
            match more {
                0 => format!("[{}]", shown.join(", ")),
                _ => format!("[{} and {more} more]", shown.join(", ")),
            }
        };
        let _ = writeln!(
            text,
            "  wrong: n{slot} lacks {} and shows {} online",
            names(lacks),
            names(ghosts)
        );
    }
    if found.presence_right != found.up_at_end {
        violations.push(format!(
            "{} nodes show the wrong users online",
            found.up_at_end - found.presence_right
        ));
    }
    let _ = writeln!(
        text,
        "idle traffic ({} s to {} s): mean {} B/s per node, max {} B/s",
        found.idle_window.0.as_secs(),
        found.idle_window.1.as_secs(),
        found.idle_mean,
        found.idle_max
    );
    match found.detections.len() {
        0 => {
            let _ = writeln!(text, "crash detection: no crash watched");
        }
        n => {
            let mut times = found.detections.clone();
            times.sort();
            let worst = times[n - 1];
            let _ = writeln!(
                text,
                "crash detection: {n} crashes watched, {} undetected; median {:.1} s, max {:.1} s (bound {} s)",
                found.undetected,
                times[n / 2].as_secs_f64(),
                worst.as_secs_f64(),
                o.detect_bound.as_secs()
            );
            if worst > o.detect_bound || found.undetected > 0 {
                violations.push("a crash was shown late, or not at all".into());
            }
        }
    }
    if o.liars > 0 {
        let _ = writeln!(
            text,
            "liars: {} nodes told {} rounds of lies (suspicions of everyone, a forged line)",
            o.liars, found.lies
        );
    }
    if o.flooders > 0 {
        let _ = writeln!(
            text,
            "flooders: {} nodes sent {} rounds of floods (made-up peers, GRAFT of everything, IHAVE of nothing, HAVE, DIGEST); {:.1} MB delivered to them",
            o.flooders,
            found.floods,
            found.to_flooders as f64 / 1e6
        );
    }
    let _ = writeln!(
        text,
        "work: {} events, {} deliveries, {} bytes",
        found.events, found.deliveries, found.bytes
    );
    let sent = found.tally.kinds();
    let kinds: Vec<String> = (sent.iter())
        .map(|(kind, n, bytes)| format!("{kind} {n} ({:.1} MB)", *bytes as f64 / 1e6))
        .collect();
    let _ = writeln!(text, "sent: {}", kinds.join(", "));
    let verdict = match violations.is_empty() {
        true => "ok".to_string(),
        false => format!("FAILED: {}", violations.join("; ")),
    };
    let _ = writeln!(
        text,
        "simulated {} nodes, {} messages: {verdict}",
        o.nodes, found.messages
    );
    Report {
        text,
        violations,
        sent,
    }
}
