//! The simulated world: nodes running the core, virtual links between
//! them, and one queue of events in virtual time. Each event hands the
//! core what a task of the running program would (a read's frames, a
//! timer, a dial's outcome), then [`World::flush`] carries out what the
//! core asked for: frames its outboxes hold, links it closed, tasks it
//! woke.

use super::links::Dial;
use super::net::{Link, Side};
use super::nodes::Machine;
use super::record::Log;
use super::script::{Findings, Script};
use super::Options;
use crate::node::clock::VirtualClock;
use crate::node::mesh::dial_book::Dialled;
use crate::node::mesh::peers::Frame;
use crate::node::random::{self, Rng};
use crate::node::state::Shared;
use crate::protocol::NodeId;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// When a Unix clock reads at the start of every run: runs repeat, and
/// sequence numbers look like a real node's.
pub(super) const UNIX_START_MICROS: u64 = 1_767_225_600_000_000;
/// The port every simulated node listens on.
pub(super) const PORT: u16 = 7000;
/// What TCP adds to a delivery that was lost once: a retransmission.
pub(super) const RESEND_DELAY: Duration = Duration::from_millis(200);
/// How often the census counts the network's parts and who shows a
/// crashed user online.
pub(super) const CENSUS_EVERY: Duration = Duration::from_millis(500);
/// How often a node hears another's LAN announcement (`Joins::Discovery`).
pub(super) const ANNOUNCE_HEARD: Duration = Duration::from_secs(5);

/// A timer a task of the running program would wait for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Timer {
    Presence,
    Heal,
    Tree,
    News,
    Dial,
    Discovery,
    /// A liar's next lie (see `liars.rs`).
    Lie,
    /// A flooder's next flood (see `flooders.rs`).
    Flood,
}

/// Something that happens at a moment of virtual time.
pub(super) enum Event {
    Start(usize),
    Kill,
    Say(usize),
    Partition(bool),
    /// A dial reaches the address.
    Connect(Box<Dial>),
    /// The dialling end hears the answer's `HELLO`.
    Answer(usize),
    DialFailed {
        slot: usize,
        run: u32,
        addr: SocketAddr,
    },
    Deliver {
        link: usize,
        to: Side,
        frames: Vec<Frame>,
    },
    Close {
        link: usize,
        to: Side,
    },
    IdleCheck {
        link: usize,
        side: Side,
    },
    Timer {
        slot: usize,
        run: u32,
        timer: Timer,
    },
    Census,
}

/// An event and when it happens; the sequence number keeps events of one
/// moment in the order they were scheduled.
pub(super) struct Scheduled {
    pub(super) at: Duration,
    pub(super) seq: u64,
    pub(super) event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

pub(super) struct World {
    pub(super) options: Options,
    pub(super) clock: Arc<VirtualClock>,
    pub(super) start: Instant,
    pub(super) now: Duration,
    pub(super) queue: BinaryHeap<Reverse<Scheduled>>,
    pub(super) seq: u64,
    pub(super) rng: Rng,
    pub(super) machines: Vec<Machine>,
    pub(super) by_addr: HashMap<SocketAddr, usize>,
    /// Live links by number; numbers are never reused, so an event for a
    /// link that is gone finds nothing.
    pub(super) links: HashMap<usize, Link>,
    pub(super) next_link: usize,
    pub(super) partitioned: bool,
    pub(super) log: Arc<Mutex<Log>>,
    pub(super) script: Script,
    pub(super) found: Findings,
    /// Machines whose link events go to stderr (`P2PCHAT_SIM_TRACE=3,7`).
    pub(super) traced: Vec<usize>,
}

impl World {
    pub(super) fn new(options: Options) -> Self {
        // Every random choice of the core on this thread follows the seed.
        random::repeatable(options.seed ^ 0x5eed_c0de);
        let mut rng = Rng::seeded(options.seed);
        let machines = (0..options.nodes)
            .map(|slot| Machine {
                id: NodeId(rng.next_u64()),
                addr: address_of(slot),
                half: rng.below(2) == 0,
                run: 0,
                up_since: None,
                running: None,
            })
            .collect::<Vec<_>>();
        let by_addr = machines.iter().enumerate().map(|(i, m)| (m.addr, i));
        let by_addr = by_addr.collect();
        let start = Instant::now();
        let script = Script::new(&options);
        let log = Arc::new(Mutex::new(Log::new(options.nodes)));
        let mut world = World {
            clock: Arc::new(VirtualClock::new(start, UNIX_START_MICROS)),
            start,
            now: Duration::ZERO,
            queue: BinaryHeap::new(),
            seq: 0,
            rng,
            machines,
            by_addr,
            links: HashMap::new(),
            next_link: 0,
            partitioned: false,
            log,
            found: Findings::default(),
            script,
            options,
            traced: std::env::var("P2PCHAT_SIM_TRACE")
                .unwrap_or_default()
                .split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect(),
        };
        world.plan();
        world
    }

    /// Schedules the script: starts, kills, messages, the partition, and
    /// the census.
    pub(super) fn plan(&mut self) {
        let n = self.options.nodes;
        for slot in 0..n {
            let at = self.script.join_span * slot as u32 / n.max(1) as u32;
            self.at(at, Event::Start(slot));
        }
        let (from, to) = (self.script.churn_from, self.script.churn_to);
        for _ in 0..self.options.kills {
            let at = self.between(from, to);
            self.at(at, Event::Kill);
        }
        for k in 0..self.options.messages {
            let at = self.between(from, self.script.quiet_from);
            self.at(at, Event::Say(k));
        }
        if let Some((at, len)) = self.options.partition {
            self.at(at, Event::Partition(true));
            self.at(at + len, Event::Partition(false));
        }
        self.at(CENSUS_EVERY, Event::Census);
    }

    /// Runs every event up to the end of the run.
    pub(super) fn run(&mut self) {
        while let Some(Reverse(next)) = self.queue.pop() {
            if next.at > self.options.duration {
                break;
            }
            self.now = next.at;
            self.clock.set(next.at);
            self.found.events += 1;
            self.handle(next.event);
        }
        self.now = self.options.duration;
        self.clock.set(self.now);
    }

    pub(super) fn handle(&mut self, event: Event) {
        match event {
            Event::Start(slot) => self.start_node(slot),
            Event::Kill => self.kill_one(),
            Event::Say(k) => self.say(k),
            Event::Partition(on) => self.partitioned = on,
            Event::Connect(dial) => self.connect(*dial),
            Event::Answer(link) => self.answer(link),
            Event::DialFailed { slot, run, addr } => {
                if let Some(shared) = self.shared_of(slot, run) {
                    shared.dial_done(addr, Dialled::Failed);
                    self.flush(slot);
                }
            }
            Event::Deliver { link, to, frames } => self.deliver(link, to, frames),
            Event::Close { link, to } => self.close(link, to),
            Event::IdleCheck { link, side } => self.idle_check(link, side),
            Event::Timer { slot, run, timer } => self.timer(slot, run, timer),
            Event::Census => {
                self.census();
                self.after(CENSUS_EVERY, Event::Census);
            }
        }
    }

    pub(super) fn at(&mut self, at: Duration, event: Event) {
        self.seq += 1;
        let seq = self.seq;
        self.queue.push(Reverse(Scheduled { at, seq, event }));
    }

    pub(super) fn after(&mut self, wait: Duration, event: Event) {
        self.at(self.now + wait, event);
    }

    /// A random moment in `[from, to)`.
    pub(super) fn between(&mut self, from: Duration, to: Duration) -> Duration {
        let span = to.saturating_sub(from).as_micros().max(1) as usize;
        from + Duration::from_micros(self.rng.below(span) as u64)
    }

    /// A one-way trip over a link: the latency, give or take half of it.
    pub(super) fn trip(&mut self) -> Duration {
        let latency = self.options.latency;
        let half = (latency.as_micros() / 2).max(1) as usize;
        latency / 2 + Duration::from_micros(self.rng.below(2 * half) as u64)
    }

    /// The node's core, if it is up in run `run`.
    pub(super) fn shared_of(&self, slot: usize, run: u32) -> Option<Arc<Shared>> {
        let m = &self.machines[slot];
        (m.run == run).then(|| m.shared().cloned()).flatten()
    }

    /// Whether the network between two machines is cut now.
    pub(super) fn cut(&self, a: usize, b: usize) -> bool {
        self.partitioned && self.machines[a].half != self.machines[b].half
    }

    pub(super) fn trace(&self, slots: &[usize], what: impl FnOnce() -> String) {
        if slots.iter().any(|s| self.traced.contains(s)) {
            eprintln!("{:>10.3} {}", self.now.as_secs_f64(), what());
        }
    }

    /// Counts the network's parts and who still shows a crashed user.
    pub(super) fn census(&mut self) {
        let parts = super::script::parts(self);
        self.found.parts(parts, self.now, &self.script);
        let watched = self.script.watching(self.now);
        for (i, id, slot) in watched {
            let back = self.machines[slot].running.is_some();
            let shown = self
                .machines
                .iter()
                .filter_map(Machine::shared)
                .any(|s| s.id != id && s.lock().roster.is_online(id));
            self.script.crash_seen(i, shown, back, self.now);
        }
    }

    /// What the run found, with the checks at its end.
    pub(super) fn findings(mut self) -> Findings {
        let up_since: Vec<Option<Duration>> = self.machines.iter().map(|m| m.up_since).collect();
        self.found.whereabouts = self
            .machines
            .iter()
            .map(|m| (m.up_since.unwrap_or(Duration::MAX), m.half))
            .collect();
        self.found.delivery = self
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(&up_since, self.script.partition);
        self.found.halves = {
            let a = self.machines.iter().filter(|m| m.half).count();
            (a, self.machines.len() - a)
        };
        let up: Vec<NodeId> = self
            .machines
            .iter()
            .filter(|m| m.running.is_some())
            .map(|m| m.id)
            .collect();
        self.found.up_at_end = up.len();
        let slot_of: HashMap<NodeId, usize> = self
            .machines
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id, i))
            .collect();
        for (slot, m) in self.machines.iter().enumerate() {
            let Some(shared) = m.shared() else {
                continue;
            };
            let state = shared.lock();
            self.found.made_room(state.peers.made_room);
            let lacks: Vec<usize> = up
                .iter()
                .filter(|id| !state.roster.is_online(**id))
                .map(|id| slot_of[id])
                .collect();
            let extra = state.roster.online_count() + lacks.len() - up.len();
            if lacks.is_empty() && extra == 0 {
                self.found.presence_right += 1;
            } else if self.found.presence_wrong.len() < 5 {
                let ghosts: Vec<usize> = state
                    .roster
                    .online()
                    .iter()
                    .filter(|(id, _)| !up.contains(id))
                    .filter_map(|(id, _)| slot_of.get(id).copied())
                    .collect();
                self.found.presence_wrong.push((slot, lacks, ghosts));
            }
        }
        self.found.parts_at_end = super::script::parts(&self);
        let (detections, undetected) = self.script.detections();
        self.found.detections = detections;
        self.found.undetected = undetected;
        self.found.finish(&self.script, self.options.nodes);
        self.found
    }
}

pub(super) fn timer(slot: usize, run: u32, timer: Timer) -> Event {
    Event::Timer { slot, run, timer }
}

/// Machine `slot`'s address: 10.0.0.0/8, one address each.
pub(super) fn address_of(slot: usize) -> SocketAddr {
    let n = slot as u32 + 1;
    let ip = Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8);
    SocketAddr::new(IpAddr::V4(ip), PORT)
}
