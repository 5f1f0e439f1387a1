//! The run's timeline (joins, churn, messages, a quiet end) and what the
//! census and the final checks found.

use super::record::Delivery;
use super::world::World;
use super::Options;
use crate::message::{self, Status, HEADER_LEN, MAX_BODY};
use crate::node::mesh::peers::{Frame, MadeRoom};
use crate::protocol::NodeId;
use std::time::Duration;

/// Crashes whose detection is timed, at most: each costs a look at every
/// node's roster per census.
const WATCHED: usize = 32;

/// When things happen in a run.
pub struct Script {
    /// Nodes start one after another over this span.
    pub join_span: Duration,
    /// Kills fall in `[churn_from, churn_to)`.
    pub churn_from: Duration,
    pub churn_to: Duration,
    /// How long a killed node stays down.
    pub down_min: Duration,
    pub down_max: Duration,
    /// No messages and no churn from here on.
    pub quiet_from: Duration,
    /// From here on, the network must not stay split.
    pub stable_from: Duration,
    /// Where idle traffic is measured.
    pub idle: (Duration, Duration),
    detect_bound: Duration,
    /// When the partition starts and ends.
    pub partition: Option<(Duration, Duration)>,
    watched: Vec<Watch>,
}

/// A crash being timed.
struct Watch {
    id: NodeId,
    slot: usize,
    /// When the crash could first be told everywhere: the kill, or the
    /// heal of the partition it fell in.
    killed: Duration,
    detected: Option<Duration>,
    /// It came back before everyone showed it lost: not counted.
    dropped: bool,
}

impl Script {
    pub fn new(o: &Options) -> Self {
        let d = o.duration;
        let join_span = o.join_span.unwrap_or(Duration::from_secs(60).min(d / 10));
        let churn_from = join_span + Duration::from_secs(30).min(d / 20);
        let churn_to = d * 7 / 10;
        let down_max = Duration::from_secs(60).min(d / 10);
        let partition_end = o.partition.map_or(Duration::ZERO, |(at, len)| at + len);
        Script {
            join_span,
            churn_from,
            churn_to,
            down_min: down_max / 12,
            down_max,
            quiet_from: d * 8 / 10,
            stable_from: (churn_to + down_max).max(partition_end),
            idle: (d * 9 / 10, d),
            detect_bound: o.detect_bound,
            partition: o.partition.map(|(at, len)| (at, at + len)),
            watched: Vec::new(),
        }
    }

    /// Times the detection of a crash, if there is room and the node stays
    /// down long enough to tell. A crash while the network is split can
    /// reach the other half only once it heals: its clock starts then.
    pub fn watch_crash(&mut self, id: NodeId, slot: usize, now: Duration, down: Duration) {
        let from = match self.partition {
            Some((at, heal)) if now >= at && now < heal => heal,
            _ => now,
        };
        let long_enough = now + down > from + self.detect_bound + Duration::from_secs(5);
        if self.watched.len() < WATCHED && long_enough {
            self.watched.push(Watch {
                id,
                slot,
                killed: from,
                detected: None,
                dropped: false,
            });
        }
    }

    /// The crashes still being timed: their index, node id and slot.
    pub fn watching(&self, _now: Duration) -> Vec<(usize, NodeId, usize)> {
        let open = self.watched.iter().enumerate();
        open.filter(|(_, w)| w.detected.is_none() && !w.dropped)
            .map(|(i, w)| (i, w.id, w.slot))
            .collect()
    }

    /// What the census saw of crash `i`: whether any node still shows the
    /// user online, and whether the node is back.
    pub fn crash_seen(&mut self, i: usize, shown: bool, back: bool, now: Duration) {
        let w = &mut self.watched[i];
        if back {
            w.dropped = true;
        } else if !shown {
            w.detected = Some(now.saturating_sub(w.killed));
        }
    }

    /// How long each timed crash took to be shown everywhere, and how
    /// many never were.
    pub fn detections(&self) -> (Vec<Duration>, usize) {
        let counted = self.watched.iter().filter(|w| !w.dropped);
        let times = counted.clone().filter_map(|w| w.detected).collect();
        let undetected = counted.filter(|w| w.detected.is_none()).count();
        (times, undetected)
    }
}

/// What a run found.
#[derive(Default)]
pub struct Findings {
    pub events: u64,
    pub deliveries: u64,
    pub bytes: u64,
    /// Messages sent, by kind.
    pub tally: Tally,
    pub kills: usize,
    pub messages: usize,
    /// Rounds of lies the liars told.
    pub lies: u64,
    /// Rounds of floods the flooders sent, and the bytes delivered to them.
    pub floods: u64,
    pub to_flooders: u64,
    pub halves: (usize, usize),
    /// Links dropped to make room for newcomers, summed over the nodes
    /// as they went down and at the end.
    pub made_room: MadeRoom,
    pub delivery: Delivery,
    pub stable_from: Duration,
    pub longest_split: Duration,
    split_since: Option<Duration>,
    pub parts_at_end: usize,
    pub up_at_end: usize,
    pub presence_right: usize,
    /// A few nodes whose presence is wrong: the node, the users up it
    /// lacks, and those down it shows online, by slot.
    pub presence_wrong: Vec<(usize, Vec<usize>, Vec<usize>)>,
    pub idle_window: (Duration, Duration),
    idle_bytes: Vec<u64>,
    pub idle_mean: u64,
    pub idle_max: u64,
    pub detections: Vec<Duration>,
    pub undetected: usize,
    /// Each node's last start and its half of the partition.
    pub whereabouts: Vec<(Duration, bool)>,
}

impl Findings {
    /// Adds what a node's peer set counted of links dropped to make room.
    pub fn made_room(&mut self, m: MadeRoom) {
        self.made_room.way_round += m.way_round;
        self.made_room.blind += m.blind;
    }

    /// Counts bytes node `from` sent at `now`.
    pub fn sent(&mut self, from: usize, bytes: usize, now: Duration, script: &Script) {
        self.bytes += bytes as u64;
        if now >= script.idle.0 {
            if self.idle_bytes.len() <= from {
                self.idle_bytes.resize(from + 1, 0);
            }
            self.idle_bytes[from] += bytes as u64;
        }
    }

    /// Notes how many parts the network is in now.
    pub fn parts(&mut self, parts: usize, now: Duration, script: &Script) {
        if now < script.stable_from || parts <= 1 {
            self.split_since = None;
            return;
        }
        let since = *self.split_since.get_or_insert(now);
        self.longest_split = self.longest_split.max(now - since);
    }

    /// Sums up the idle traffic.
    pub fn finish(&mut self, script: &Script, nodes: usize) {
        self.stable_from = script.stable_from;
        self.idle_window = script.idle;
        let secs = (script.idle.1 - script.idle.0).as_secs_f64().max(1.0);
        let total: u64 = self.idle_bytes.iter().sum();
        self.idle_mean = (total as f64 / nodes.max(1) as f64 / secs) as u64;
        self.idle_max = (self.idle_bytes.iter().copied().max().unwrap_or(0) as f64 / secs) as u64;
    }
}

/// Messages sent over the links, and their bytes, by kind: where the
/// work of a run goes.
#[derive(Default)]
pub struct Tally {
    counts: [(u64, u64); KINDS.len() + 1],
}

/// The kinds the tally tells apart; anything else counts as `other`.
const KINDS: [&str; 18] = [
    "MSG", "ME", "HIST", "HISTME", "HAVE", "PEERS", "ROSTER", "DIGEST", "JOIN", "NICK", "LEAVE",
    "ERROR", "PRUNE", "IHAVE", "GRAFT", "SUSPECT", "PING", "START",
];

impl Tally {
    /// Counts the messages in `frames`, each a run of encoded messages.
    pub fn count(&mut self, frames: &[Frame]) {
        for frame in frames {
            let mut rest = &frame[..];
            while let Ok(Status::Complete(end)) = message::check(rest, MAX_BODY) {
                let body = &rest[HEADER_LEN..end];
                let word = body.split(|b| *b == b' ').next().unwrap_or_default();
                let kind = KINDS.iter().position(|k| k.as_bytes() == word);
                let entry = &mut self.counts[kind.unwrap_or(KINDS.len())];
                entry.0 += 1;
                entry.1 += end as u64;
                rest = &rest[end..];
            }
        }
    }

    /// The kinds sent, most first: kind, messages, bytes.
    pub fn kinds(&self) -> Vec<(&'static str, u64, u64)> {
        let names = KINDS.iter().copied().chain(["other"]);
        let mut kinds: Vec<_> = names
            .zip(self.counts)
            .filter(|(_, (n, _))| *n > 0)
            .map(|(k, (n, b))| (k, n, b))
            .collect();
        kinds.sort_by_key(|&(k, n, _)| (std::cmp::Reverse(n), k));
        kinds
    }
}

/// How many parts the network of running nodes is in, linked by links
/// open at both ends.
pub fn parts(world: &World) -> usize {
    let n = world.machines.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for link in world.links.values() {
        if link.ends.iter().all(|e| e.is_open()) {
            let (a, b) = (
                root(&mut parent, link.ends[0].slot),
                root(&mut parent, link.ends[1].slot),
            );
            parent[a] = b;
        }
    }
    let up = (0..n).filter(|&i| world.machines[i].shared().is_some());
    let mut roots: Vec<usize> = up.map(|i| root(&mut parent, i)).collect();
    roots.sort_unstable();
    roots.dedup();
    roots.len()
}
