//! Runs the node's core on many simulated nodes in virtual time, checks
//! what they showed, and prints a report whose last line starts with
//! `simulated`. The same seed gives the same report, byte for byte.
//!
//! `cargo run --release --example simulate -- --nodes 10000 --seed 1`
//!
//! How often a mesh of 100 nodes that all join through the first forms
//! split, in 400 runs without churn:
//! `cargo run --release --example simulate -- --nodes 100 --joins one
//! --kills 0 --no-partition --messages 100 --seconds 60 --runs 400`

use argh::FromArgs;
use p2pchat::node::sim::{self, Joins, Options};
use std::process::ExitCode;
use std::time::Duration;

/// Simulate a p2pchat network.
#[derive(FromArgs)]
struct Args {
    /// nodes in the network
    #[argh(option, default = "1000")]
    nodes: usize,
    /// the seed every random choice follows
    #[argh(option, default = "1")]
    seed: u64,
    /// virtual seconds the run covers (default 600)
    #[argh(option, default = "600")]
    seconds: u64,
    /// nodes killed and restarted (default: three in ten)
    #[argh(option)]
    kills: Option<usize>,
    /// chat messages from random senders (default 1000)
    #[argh(option, default = "1000")]
    messages: usize,
    /// no partition (default: the network splits in two halves for 60 s)
    #[argh(switch)]
    no_partition: bool,
    /// seconds the partition starts at (default 40% of the run)
    #[argh(option)]
    partition_at: Option<u64>,
    /// seconds the partition lasts (default 60)
    #[argh(option, default = "60")]
    partition_for: u64,
    /// one-way link latency in milliseconds (default 10)
    #[argh(option, default = "10")]
    latency_ms: u64,
    /// percent of deliveries lost once and resent (default 0)
    #[argh(option, default = "0.0")]
    loss: f64,
    /// how nodes join: one (all through the first node), random, or
    /// discovery (LAN announcements)
    #[argh(option, default = "String::from(\"random\")")]
    joins: String,
    /// seconds over which the nodes start, one after another (default: a
    /// tenth of the run, at most 60)
    #[argh(option)]
    join_seconds: Option<f64>,
    /// turn the broadcast tree off: every message floods every link
    #[argh(switch)]
    no_tree: bool,
    /// this many nodes (the last) lie to their peers: they suspect
    /// everyone, and forge lines in others' names (default 0)
    #[argh(option, default = "0")]
    liars: usize,
    /// this many nodes (below the liars) flood their peers: made-up peers
    /// at addresses nobody answers, GRAFT of everything, IHAVE of what
    /// does not exist, HAVE and DIGEST (default 0)
    #[argh(option, default = "0")]
    flooders: usize,
    /// run this many seeds, from --seed on, and print one line for each
    /// and a count of those that passed (default 1)
    #[argh(option, default = "1")]
    runs: u64,
}

fn main() -> ExitCode {
    let args: Args = argh::from_env();
    let joins = match args.joins.as_str() {
        "one" => Joins::OneNode,
        "random" => Joins::Random,
        "discovery" => Joins::Discovery,
        other => {
            eprintln!("unknown join pattern {other:?}: one of one, random, discovery");
            return ExitCode::from(2);
        }
    };
    let mut options = Options::standard(args.nodes, args.seed);
    options.duration = Duration::from_secs(args.seconds);
    options.kills = args.kills.unwrap_or(options.kills);
    options.messages = args.messages;
    options.partition = match args.no_partition {
        true => None,
        false => Some((
            Duration::from_secs(args.partition_at.unwrap_or(args.seconds * 2 / 5)),
            Duration::from_secs(args.partition_for),
        )),
    };
    options.latency = Duration::from_millis(args.latency_ms);
    options.loss = args.loss / 100.0;
    options.joins = joins;
    options.join_span = args.join_seconds.map(Duration::from_secs_f64);
    options.tree = !args.no_tree;
    options.liars = args.liars;
    options.flooders = args.flooders;
    if args.runs <= 1 {
        let report = sim::run(&options);
        print!("{}", report.text);
        return match report.passed() {
            true => ExitCode::SUCCESS,
            false => ExitCode::FAILURE,
        };
    }
    let mut passed = 0;
    for seed in args.seed..args.seed + args.runs {
        let report = sim::run(&Options {
            seed,
            ..options.clone()
        });
        let last = report.text.lines().last().unwrap_or_default();
        println!("seed {seed}: {last}");
        passed += u64::from(report.passed());
    }
    println!(
        "simulated {} runs of {} nodes: {passed} passed",
        args.runs, args.nodes
    );
    match passed == args.runs {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    }
}
