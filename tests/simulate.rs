//! The simulator runs the node's own core on a few hundred nodes in
//! virtual time: with churn, a partition and its heal, every check passes,
//! and the same seed gives the same report byte for byte.

use p2pchat::node::sim::{self, Joins, Options};
use std::time::Duration;

/// A run of `nodes` over `seconds` of virtual time with a split of 30 s in
/// the first half; kills, messages and the rest as in the standard run.
fn run(nodes: usize, seconds: u64, seed: u64) -> Options {
    let mut o = Options::standard(nodes, seed);
    o.duration = Duration::from_secs(seconds);
    o.partition = Some((
        Duration::from_secs(seconds * 2 / 5),
        Duration::from_secs(30),
    ));
    o.messages = 300;
    o
}

fn passes(o: &Options) -> sim::Report {
    let report = sim::run(o);
    eprint!("{}", report.text);
    assert!(report.passed(), "{:?}", report.violations);
    let last = report.text.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("simulated {} nodes", o.nodes)),
        "{last}"
    );
    report
}

#[test]
fn three_hundred_nodes_with_churn_and_a_partition_pass_every_check() {
    let o = run(300, 300, 7);
    let report = passes(&o);
    // The run did what it says: nodes were killed, the halves were cut.
    assert!(
        report.text.contains("churn: 90 kills and restarts"),
        "{}",
        report.text
    );
    assert!(
        report.text.contains("partition: 120 s to 150 s"),
        "{}",
        report.text
    );
}

/// 500 nodes that all start within one second: newcomers crowd the
/// nodes they join through, which make room by dropping links. Dropping a
/// newcomer's only link, or the last link between two parts, split these
/// seeds for good, each part showing everyone it knew as online; so did
/// a newcomer that waited for the nodes it was told of to dial it.
#[test]
fn a_wave_of_joins_leaves_one_network() {
    for seed in [13, 19, 28] {
        let mut o = Options::standard(500, seed);
        o.duration = Duration::from_secs(60);
        o.join_span = Some(Duration::from_secs(1));
        (o.kills, o.messages, o.partition) = (0, 0, None);
        let report = passes(&o);
        // The run did what it says: nodes made room for newcomers, most
        // by dropping a link with a way round it.
        let line = report
            .text
            .lines()
            .find_map(|l| l.strip_prefix("links dropped to make room for newcomers: "));
        let counts: Vec<u64> = line
            .unwrap_or_default()
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        assert!(
            matches!(counts[..], [all, blind] if all > 100 && blind * 10 < all),
            "{line:?}"
        );
    }
}

#[test]
fn the_same_seed_gives_the_same_report_and_another_seed_another() {
    let o = run(60, 120, 11);
    let (a, b) = (sim::run(&o), sim::run(&o));
    assert_eq!(a.text, b.text);
    let c = sim::run(&Options { seed: 12, ..o });
    assert_ne!(a.text, c.text);
}

#[test]
fn nodes_that_all_join_through_one_node_or_find_each_other_on_the_lan_pass_too() {
    for joins in [Joins::OneNode, Joins::Discovery] {
        let o = Options {
            joins,
            ..run(100, 120, 5)
        };
        passes(&o);
    }
}

/// Without the broadcast tree every message goes whole over every link.
/// In five nodes that all link to each other, each message then crosses
/// every link; with it, each goes once to each node. The checks pass
/// either way.
#[test]
fn the_broadcast_tree_saves_bytes_in_a_full_mesh_and_loses_nothing() {
    let with = Options {
        kills: 0,
        partition: None,
        messages: 2000,
        ..run(5, 120, 9)
    };
    let without = Options {
        tree: false,
        ..with.clone()
    };
    let bytes = |r: &sim::Report| -> u64 {
        let line = r.text.lines().find(|l| l.starts_with("work: ")).unwrap();
        let n = line.rsplit(", ").next().unwrap().trim_end_matches(" bytes");
        n.parse().unwrap()
    };
    let (a, b) = (passes(&with), passes(&without));
    assert!(2 * bytes(&a) < bytes(&b), "{} vs {}", bytes(&a), bytes(&b));
}

/// Liars (`liars.rs`): members that suspect every user every two seconds
/// and forge lines in others' names, numbered far ahead of theirs. Every
/// user answers and stays online everywhere, and every honest line is
/// still shown once and in order. Without churn, so that no crash is
/// timed: a forged line can bring a crashed user back until authorship is
/// signed.
#[test]
fn liars_silence_nobody_and_lose_no_line() {
    let mut o = Options::standard(60, 3);
    o.duration = Duration::from_secs(150);
    o.kills = 0;
    o.partition = None;
    o.messages = 300;
    o.liars = 3;
    let report = passes(&o);
    let lies = report
        .text
        .lines()
        .find(|l| l.starts_with("liars: 3 nodes"));
    let rounds = lies
        .and_then(|l| {
            l.split(" told ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    assert!(rounds >= 150, "{lies:?}");
}

/// Flooders (`flooders.rs`): members that every second send each peer
/// made-up peers at addresses where nothing answers, a `GRAFT` of every
/// number of every user, an `IHAVE` of numbers never sent, and `HAVE` and
/// `DIGEST` again. With churn and a partition, the network still heals,
/// presence is right, and every line is still shown once and in order.
#[test]
fn flooders_split_nobody_and_lose_no_line() {
    let o = Options {
        flooders: 6,
        ..run(60, 120, 13)
    };
    let report = passes(&o);
    let line = report
        .text
        .lines()
        .find(|l| l.starts_with("flooders: 6 nodes"));
    let delivered = line
        .and_then(|l| {
            l.rsplit("; ")
                .next()?
                .split(' ')
                .next()?
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(0.0);
    // They were answered: the floods reached the nodes' handlers.
    assert!(delivered > 0.5, "{line:?}");
}
