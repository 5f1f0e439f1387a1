//! The simulated world: nodes running the core, virtual links between
//! them, and one queue of events in virtual time. Each event hands the
//! core what a task of the running program would (a read's frames, a
//! timer, a dial's outcome), then [`World::flush`] carries out what the
//! core asked for: frames its outboxes hold, links it closed, tasks it
//! woke.

use super::net::{End, Link, Side};
use super::record::{Log, Recorder};
use super::script::{Findings, Script};
use super::{Joins, Options};
use crate::message::HEADER_LEN;
use crate::node::clock::VirtualClock;
use crate::node::link::admission::{Direction, OwnedHello, Purpose};
use crate::node::link::connection::{error_frame, handle_buffered, Ended, Ending, LINK_IDLE};
use crate::node::mesh::dial_book::Heal;
use crate::node::mesh::peers::{Frame, Via};
use crate::node::presence::TICK;
use crate::node::random::{self, Rng};
use crate::node::state::{Shared, Surroundings, Who};
use crate::node::tree::link::ANNOUNCE_EVERY;
use crate::protocol::{Message, MsgId, Need, NodeId, PresenceKind};
use crate::queue::Queue;
use futures::channel::mpsc;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// When a Unix clock reads at the start of every run: runs repeat, and
/// sequence numbers look like a real node's.
const UNIX_START_MICROS: u64 = 1_767_225_600_000_000;
/// The port every simulated node listens on.
const PORT: u16 = 7000;
/// What TCP adds to a delivery that was lost once: a retransmission.
const RESEND_DELAY: Duration = Duration::from_millis(200);
/// How often the census counts the network's parts and who shows a
/// crashed user online.
pub(super) const CENSUS_EVERY: Duration = Duration::from_millis(500);
/// How often a node hears another's LAN announcement (`Joins::Discovery`).
const ANNOUNCE_HEARD: Duration = Duration::from_secs(5);

/// A timer a task of the running program would wait for.
#[derive(Debug, Clone, Copy)]
enum Timer {
    Presence,
    Heal,
    Tree,
    Dial,
    Discovery,
}

/// Something that happens at a moment of virtual time.
enum Event {
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

/// A dial on its way.
struct Dial {
    from: usize,
    run: u32,
    addr: SocketAddr,
    purpose: Purpose,
    hello: Vec<u8>,
    need: Need,
    /// How long the dialler waits for an answer.
    patience: Duration,
    sent: Duration,
}

/// An event and when it happens; the sequence number keeps events of one
/// moment in the order they were scheduled.
struct Scheduled {
    at: Duration,
    seq: u64,
    event: Event,
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

/// A node's process while it runs.
struct Running {
    shared: Arc<Shared>,
    wake_dialer: mpsc::Receiver<()>,
    wake_tree: mpsc::Receiver<()>,
    _tasks: mpsc::Receiver<()>,
    tree_ticking: bool,
    dial_wake: Option<Duration>,
    /// The open ends of links at this node.
    links: Vec<Attached>,
}

/// A link's open end at a node, and the outbox the node writes to it.
struct Attached {
    link: usize,
    side: Side,
    outbox: Arc<Queue<Frame>>,
}

/// A simulated machine: its node id and address outlive its restarts.
pub(super) struct Machine {
    pub id: NodeId,
    pub addr: SocketAddr,
    /// Which half it is in while the network is split.
    pub half: bool,
    /// Its process's run: a restart starts the next, and what was meant
    /// for the last is dropped.
    pub run: u32,
    /// When the current run began; `None` while it is down.
    pub up_since: Option<Duration>,
    running: Option<Running>,
}

impl Machine {
    pub fn shared(&self) -> Option<&Arc<Shared>> {
        self.running.as_ref().map(|r| &r.shared)
    }
}

pub(super) struct World {
    pub options: Options,
    clock: Arc<VirtualClock>,
    start: Instant,
    pub now: Duration,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    pub rng: Rng,
    pub machines: Vec<Machine>,
    by_addr: HashMap<SocketAddr, usize>,
    /// Live links by number; numbers are never reused, so an event for a
    /// link that is gone finds nothing.
    pub links: HashMap<usize, Link>,
    next_link: usize,
    pub partitioned: bool,
    pub log: Arc<Mutex<Log>>,
    pub script: Script,
    pub found: Findings,
    /// Machines whose link events go to stderr (`P2PCHAT_SIM_TRACE=3,7`).
    traced: Vec<usize>,
}

impl World {
    pub fn new(options: Options) -> Self {
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
    fn plan(&mut self) {
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
    pub fn run(&mut self) {
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

    fn handle(&mut self, event: Event) {
        match event {
            Event::Start(slot) => self.start_node(slot),
            Event::Kill => self.kill_one(),
            Event::Say(k) => self.say(k),
            Event::Partition(on) => self.partitioned = on,
            Event::Connect(dial) => self.connect(*dial),
            Event::Answer(link) => self.answer(link),
            Event::DialFailed { slot, run, addr } => {
                if let Some(shared) = self.shared_of(slot, run) {
                    shared.dial_done(addr, false);
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

    fn at(&mut self, at: Duration, event: Event) {
        self.seq += 1;
        let seq = self.seq;
        self.queue.push(Reverse(Scheduled { at, seq, event }));
    }

    fn after(&mut self, wait: Duration, event: Event) {
        self.at(self.now + wait, event);
    }

    /// A random moment in `[from, to)`.
    fn between(&mut self, from: Duration, to: Duration) -> Duration {
        let span = to.saturating_sub(from).as_micros().max(1) as usize;
        from + Duration::from_micros(self.rng.below(span) as u64)
    }

    /// A one-way trip over a link: the latency, give or take half of it.
    fn trip(&mut self) -> Duration {
        let latency = self.options.latency;
        let half = (latency.as_micros() / 2).max(1) as usize;
        latency / 2 + Duration::from_micros(self.rng.below(2 * half) as u64)
    }

    /// The node's core, if it is up in run `run`.
    fn shared_of(&self, slot: usize, run: u32) -> Option<Arc<Shared>> {
        let m = &self.machines[slot];
        (m.run == run).then(|| m.shared().cloned()).flatten()
    }

    /// Whether the network between two machines is cut now.
    fn cut(&self, a: usize, b: usize) -> bool {
        self.partitioned && self.machines[a].half != self.machines[b].half
    }

    fn trace(&self, slots: &[usize], what: impl FnOnce() -> String) {
        if slots.iter().any(|s| self.traced.contains(s)) {
            eprintln!("{:>10.3} {}", self.now.as_secs_f64(), what());
        }
    }

    // ----- nodes -----

    fn start_node(&mut self, slot: usize) {
        let (wake_dialer, wake_dialer_rx) = mpsc::channel(1);
        let (wake_tree, wake_tree_rx) = mpsc::channel(1);
        // Where history ends is shown on a terminal; nothing waits for it.
        let (wake_history, _) = mpsc::channel(1);
        let (tasks, tasks_rx) = mpsc::channel(1);
        let m = &self.machines[slot];
        let me = Who {
            id: m.id,
            name: format!("n{slot}"),
            room: "sim".into(),
            port: PORT,
            limits: Default::default(),
            history: Default::default(),
            security: None,
            verbose: false,
        };
        let around = Surroundings {
            display: Arc::new(Recorder {
                slot,
                log: self.log.clone(),
            }),
            clock: self.clock.clone(),
            wake_dialer,
            wake_tree,
            wake_history,
            tasks,
        };
        let shared = Arc::new(Shared::new(me, around));
        if !self.options.tree {
            shared.lock().flood_everything = true;
        }
        let restarted = m.run > 0 || m.up_since.is_some();
        let m = &mut self.machines[slot];
        m.run += 1;
        m.up_since = Some(self.now);
        m.running = Some(Running {
            shared: shared.clone(),
            wake_dialer: wake_dialer_rx,
            wake_tree: wake_tree_rx,
            _tasks: tasks_rx,
            tree_ticking: false,
            dial_wake: None,
            links: Vec::new(),
        });
        let run = m.run;
        if restarted {
            self.log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .restarted(slot);
        }
        let first_tick = self.between(Duration::ZERO, TICK);
        self.after(first_tick, timer(slot, run, Timer::Presence));
        let heal = self.heal_wait();
        self.after(heal, timer(slot, run, Timer::Heal));
        match self.options.joins {
            Joins::Discovery => {
                for _ in 0..3 {
                    if let Some(other) = self.random_up(slot) {
                        let (id, addr) = (self.machines[other].id, self.machines[other].addr);
                        shared.discovered(id, addr);
                    }
                }
                self.after(ANNOUNCE_HEARD, timer(slot, run, Timer::Discovery));
            }
            Joins::OneNode | Joins::Random => {
                let through = match self.options.joins {
                    Joins::OneNode if slot != 0 && self.reachable_up(0, slot) => Some(0),
                    _ => self.random_up(slot),
                };
                if let Some(other) = through {
                    let addr = self.machines[other].addr;
                    shared.lock().peers.dialing(addr);
                    self.dial(slot, addr, Purpose::Ordinary);
                }
            }
        }
        self.flush(slot);
    }

    /// Whether `slot` is up and `from` can reach it now.
    fn reachable_up(&self, slot: usize, from: usize) -> bool {
        self.machines[slot].running.is_some() && !self.cut(slot, from)
    }

    /// A machine up and reachable from `from`, other than it, at random.
    fn random_up(&mut self, from: usize) -> Option<usize> {
        let n = self.machines.len();
        for _ in 0..64 {
            let slot = self.rng.below(n);
            if slot != from && self.reachable_up(slot, from) {
                return Some(slot);
            }
        }
        (0..n).find(|&s| s != from && self.reachable_up(s, from))
    }

    /// Kills a node chosen at random among those up, and plans its restart.
    fn kill_one(&mut self) {
        let n = self.machines.len();
        let Some(slot) = (0..64)
            .map(|_| self.rng.below(n))
            .find(|&s| self.machines[s].running.is_some())
        else {
            return;
        };
        let Some(running) = self.machines[slot].running.take() else {
            return;
        };
        self.machines[slot].up_since = None;
        self.found.kills += 1;
        for end in running.links {
            self.end_closed(end.link, end.side);
        }
        let down = self.between(self.script.down_min, self.script.down_max);
        self.script
            .watch_crash(self.machines[slot].id, slot, self.now, down);
        self.after(down, Event::Start(slot));
    }

    /// A random sender says message `k`.
    fn say(&mut self, k: usize) {
        let n = self.machines.len();
        let settled = |m: &Machine, now: Duration| {
            m.running.is_some()
                && m.up_since
                    .is_some_and(|t| t + Duration::from_secs(5) <= now)
        };
        let now = self.now;
        let Some(slot) = (0..256)
            .map(|_| self.rng.below(n))
            .find(|&s| settled(&self.machines[s], now))
        else {
            return;
        };
        let Some(shared) = self.machines[slot].shared().cloned() else {
            return;
        };
        let id = MsgId {
            origin: shared.id,
            seq: shared.lock().next_seq(),
        };
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .sent(id, now, slot);
        self.found.messages += 1;
        let text = format!("message {k}");
        let _ = shared.say_all(&[(&text, false)]);
        self.flush(slot);
    }

    fn timer(&mut self, slot: usize, run: u32, which: Timer) {
        let Some(shared) = self.shared_of(slot, run) else {
            return;
        };
        match which {
            Timer::Presence => {
                let _ = shared.presence_tick();
                self.after(TICK, timer(slot, run, which));
            }
            Timer::Heal => {
                match shared.heal_plan() {
                    Heal::Dial(_, addr) => self.dial(slot, addr, Purpose::Heal),
                    Heal::Prune(id) => shared.prune_surplus(id),
                    Heal::Nothing => {}
                }
                let wait = self.heal_wait();
                self.after(wait, timer(slot, run, which));
            }
            Timer::Tree => match shared.tree_tick() {
                true => self.after(ANNOUNCE_EVERY, timer(slot, run, which)),
                false => {
                    if let Some(r) = self.machines[slot].running.as_mut() {
                        r.tree_ticking = false;
                    }
                }
            },
            Timer::Dial => {
                if let Some(r) = self.machines[slot].running.as_mut() {
                    r.dial_wake = None;
                }
                self.dial_step(slot);
            }
            Timer::Discovery => {
                if let Some(other) = self.random_up(slot) {
                    let (id, addr) = (self.machines[other].id, self.machines[other].addr);
                    shared.discovered(id, addr);
                }
                self.after(ANNOUNCE_HEARD, timer(slot, run, which));
            }
        }
        self.flush(slot);
    }

    /// How long a node waits between two looks for a split: a second on
    /// average, give or take half, as `heal.rs` does.
    fn heal_wait(&mut self) -> Duration {
        Duration::from_millis(500 + self.rng.below(1000) as u64)
    }

    // ----- dialling -----

    /// Dials what the node's dial book says to, and plans its next look.
    fn dial_step(&mut self, slot: usize) {
        let Some(shared) = self.machines[slot].shared().cloned() else {
            return;
        };
        let (plan, next) = shared.dial_plan();
        for addr in plan {
            self.dial(slot, addr, Purpose::Ordinary);
        }
        let Some(at) = next else {
            return;
        };
        let at = at
            .saturating_duration_since(self.start)
            .max(self.now + Duration::from_millis(1));
        let run = self.machines[slot].run;
        let Some(r) = self.machines[slot].running.as_mut() else {
            return;
        };
        if r.dial_wake.map_or(true, |w| at < w) {
            r.dial_wake = Some(at);
            self.at(at, timer(slot, run, Timer::Dial));
        }
    }

    /// Starts a dial from `slot` to `addr`.
    fn dial(&mut self, slot: usize, addr: SocketAddr, purpose: Purpose) {
        let Some(shared) = self.machines[slot].shared().cloned() else {
            return;
        };
        let Ok((hello, need)) = shared.own_hello(purpose) else {
            return;
        };
        let patience = shared.lock().peers.connect_timeout(addr);
        let trip = self.trip();
        let dial = Dial {
            from: slot,
            run: self.machines[slot].run,
            addr,
            purpose,
            hello,
            need,
            patience,
            sent: self.now,
        };
        self.after(trip, Event::Connect(Box::new(dial)));
    }

    /// A dial reaches its address: the node there, if up and reachable,
    /// decides on the dialler's `HELLO`.
    fn connect(&mut self, dial: Dial) {
        let (from, run) = (dial.from, dial.run);
        if self.shared_of(from, run).is_none() {
            return;
        }
        let failed = |addr| Event::DialFailed {
            slot: from,
            run,
            addr,
        };
        let target = self.by_addr.get(&dial.addr).copied();
        let Some(to) = target.filter(|&to| to != from) else {
            let trip = self.trip();
            return self.after(trip, failed(dial.addr));
        };
        if self.cut(from, to) {
            // No answer: the dialler gives up after its patience.
            let at = (dial.sent + dial.patience).max(self.now);
            return self.at(at, failed(dial.addr));
        }
        let Some(answerer) = self.machines[to].shared().cloned() else {
            // The machine is up but nobody listens: refused at once.
            let trip = self.trip();
            return self.after(trip, failed(dial.addr));
        };
        let (Some(theirs), Ok((ours, need))) =
            (hello_in(&dial.hello), answerer.own_hello(Purpose::Ordinary))
        else {
            return;
        };
        let remote = SocketAddr::new(self.machines[from].addr.ip(), 40_000);
        let decided = answerer.on_hello(theirs, remote, Direction::Inbound, need, None);
        self.trace(&[from, to], || {
            format!(
                "n{from} -> n{to}: answerer {}",
                match &decided {
                    Ok(a) => format!("took conn {}", a.conn),
                    Err(t) => format!("refused: {}", t.reason),
                }
            )
        });
        let link = self.new_link(Link {
            ends: [End::new(from, run), End::new(to, self.machines[to].run)],
            answer: hello_in(&ours),
            dial: Some((dial.addr, dial.need, dial.purpose)),
        });
        let trip = self.trip();
        let at = self.now + trip;
        self.end_mut(link, Side::Dialer).arrival = at;
        self.at(at, Event::Answer(link));
        match decided {
            Ok(admitted) => {
                let now = self.now;
                self.end_mut(link, Side::Answerer).open(
                    admitted.peer,
                    admitted.conn,
                    admitted.outbox,
                    now,
                );
                self.attach(to, link, Side::Answerer);
            }
            Err(turned) => {
                let error = error_frame(&turned.reason).map(Frame::from);
                let frames = turned.peers.into_iter().chain(error).collect();
                self.send(link, Side::Dialer, frames);
                self.end_closed(link, Side::Answerer);
            }
        }
        self.flush(to);
    }

    /// The dialler hears the answer's `HELLO`, and decides in turn.
    fn answer(&mut self, link: usize) {
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        let (slot, run) = (l.ends[0].slot, l.ends[0].run);
        let (hello, dial) = (l.answer.take(), l.dial.take());
        let Some(shared) = self.shared_of(slot, run) else {
            return self.end_closed(link, Side::Dialer);
        };
        let (Some(hello), Some((addr, need, _purpose))) = (hello, dial) else {
            return;
        };
        let remote = self.machines[self.link_end(link, Side::Answerer).slot].addr;
        let decided = shared.on_hello(hello, remote, Direction::Outbound, need, None);
        let to = self.link_end(link, Side::Answerer).slot;
        self.trace(&[slot, to], || {
            format!(
                "n{slot} -> n{to}: dialler {}",
                match &decided {
                    Ok(a) => format!("took conn {}", a.conn),
                    Err(t) => format!("refused: {}", t.reason),
                }
            )
        });
        match decided {
            Ok(admitted) => {
                shared.dial_done(addr, true);
                let now = self.now;
                self.end_mut(link, Side::Dialer).open(
                    admitted.peer,
                    admitted.conn,
                    admitted.outbox,
                    now,
                );
                self.attach(slot, link, Side::Dialer);
                if admitted.first {
                    let _ = shared.announce_self(PresenceKind::Join);
                }
                // What came with the answer is read now.
                self.read(link, Side::Dialer);
            }
            Err(turned) => {
                shared.dial_done(addr, false);
                let error = error_frame(&turned.reason).map(Frame::from);
                let frames = turned.peers.into_iter().chain(error).collect();
                self.send(link, Side::Answerer, frames);
                self.end_closed(link, Side::Dialer);
            }
        }
        self.flush(slot);
    }

    // ----- links -----

    fn new_link(&mut self, link: Link) -> usize {
        self.next_link += 1;
        self.links.insert(self.next_link, link);
        self.next_link
    }

    /// An end of a live link; callers check that the link is live.
    pub fn link_end(&self, link: usize, side: Side) -> &End {
        &self.links[&link].ends[side as usize]
    }

    fn end_mut(&mut self, link: usize, side: Side) -> &mut End {
        let link = self.links.get_mut(&link).expect("a live link");
        &mut link.ends[side as usize]
    }

    /// Notes a link's open end at its node, and starts watching it for
    /// silence.
    fn attach(&mut self, slot: usize, link: usize, side: Side) {
        let Some((_, _, outbox)) = self.link_end(link, side).session() else {
            return;
        };
        if let Some(r) = self.machines[slot].running.as_mut() {
            r.links.push(Attached { link, side, outbox });
        }
        self.after(LINK_IDLE, Event::IdleCheck { link, side });
    }

    /// Sends `frames` over `link` to the end `to`, after the ones before.
    fn send(&mut self, link: usize, to: Side, frames: Vec<Frame>) {
        if frames.is_empty() {
            return;
        }
        let bytes: usize = frames.iter().map(|f| f.len()).sum();
        let mut at = self.now + self.trip();
        if self.options.loss > 0.0
            && (self.rng.next_u64() as f64 / u64::MAX as f64) < self.options.loss
        {
            at += RESEND_DELAY;
        }
        let from = self.link_end(link, to.other()).slot;
        self.found.sent(from, bytes, self.now, &self.script);
        let end = self.end_mut(link, to);
        at = at.max(end.arrival);
        end.arrival = at;
        self.at(at, Event::Deliver { link, to, frames });
    }

    /// The end `side` is done: its node stopped using it. The other end
    /// hears the stream end after what was on its way.
    fn end_closed(&mut self, link: usize, side: Side) {
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        if l.ends[side as usize].is_closed() {
            return;
        }
        l.ends[side as usize].close();
        let other = &l.ends[side.other() as usize];
        let other_open = other.is_open() || other.is_waiting();
        if other_open {
            let at = (self.now + self.trip()).max(self.link_end(link, side.other()).arrival);
            self.end_mut(link, side.other()).arrival = at;
            self.at(
                at,
                Event::Close {
                    link,
                    to: side.other(),
                },
            );
        } else {
            self.links.remove(&link);
        }
    }

    fn deliver(&mut self, link: usize, to: Side, frames: Vec<Frame>) {
        let Some(l) = self.links.get(&link) else {
            return;
        };
        let from = l.ends[to.other() as usize].slot;
        let end = &l.ends[to as usize];
        if self.cut(from, end.slot) {
            // Held in the network until it heals (or the link dies).
            let heal = self
                .options
                .partition
                .map_or(self.now, |(at, len)| at + len);
            return self.at(heal.max(self.now), Event::Deliver { link, to, frames });
        }
        let now = self.now;
        let end = self.end_mut(link, to);
        if end.is_closed() {
            return;
        }
        end.receive(&frames, now);
        let open = end.is_open();
        self.found.deliveries += 1;
        if open {
            self.read(link, to);
        }
    }

    /// Hands the node at end `side` the frames its link has buffered.
    fn read(&mut self, link: usize, side: Side) {
        let end = self.link_end(link, side);
        let slot = end.slot;
        let Some(shared) = self.shared_of(slot, end.run) else {
            return;
        };
        let Some((peer, conn, outbox)) = end.session() else {
            return;
        };
        let via = Via { peer, conn };
        let failed = {
            let end = self.end_mut(link, side);
            loop {
                match handle_buffered(&shared, &mut end.reader, via, &outbox) {
                    Ok(_) if end.reader.has_frame() => continue,
                    Ok(_) => break None,
                    Err(reason) => break Some(reason),
                }
            }
        };
        if let Some(ended) = failed {
            self.trace(&[slot], || {
                format!("n{slot}: conn {conn} ended: {}", ended.reason)
            });
            shared.depart(peer, conn, &outbox, &ended);
        }
        self.flush(slot);
    }

    /// The stream from the other end ended.
    fn close(&mut self, link: usize, to: Side) {
        if !self.links.contains_key(&link) {
            return;
        }
        let end = self.link_end(link, to);
        let (slot, run) = (end.slot, end.run);
        match (self.shared_of(slot, run), end.session()) {
            (Some(shared), Some((peer, conn, outbox))) => {
                self.trace(&[slot], || {
                    format!("n{slot}: conn {conn} closed by the peer")
                });
                let ended = Ended {
                    reason: "the peer closed it".into(),
                    ending: Ending::Unexplained,
                };
                shared.depart(peer, conn, &outbox, &ended);
                self.flush(slot);
            }
            _ => self.end_closed(link, to),
        }
    }

    fn idle_check(&mut self, link: usize, side: Side) {
        if !self.links.contains_key(&link) {
            return;
        }
        let end = self.link_end(link, side);
        let (slot, run, heard) = (end.slot, end.run, end.last_heard);
        let Some((peer, conn, outbox)) = end.session() else {
            return;
        };
        let Some(shared) = self.shared_of(slot, run) else {
            return;
        };
        if self.now >= heard + LINK_IDLE {
            let ended = Ended {
                reason: "nothing heard (link down?)".into(),
                ending: Ending::Unexplained,
            };
            shared.depart(peer, conn, &outbox, &ended);
            self.flush(slot);
        } else {
            self.at(heard + LINK_IDLE, Event::IdleCheck { link, side });
        }
    }

    /// Carries out what the core of node `slot` asked for: sends what its
    /// outboxes hold, ends the links it closed, and runs the tasks it woke.
    fn flush(&mut self, slot: usize) {
        let Some(r) = self.machines[slot].running.as_mut() else {
            return;
        };
        let mut ends = std::mem::take(&mut r.links);
        let mut closed = Vec::new();
        ends.retain(|end| {
            let mut frames = Vec::new();
            let gone = end.outbox.take_all(&mut frames);
            if !frames.is_empty() {
                closed.push((end.link, end.side, Some(frames), false));
            }
            if gone {
                closed.push((end.link, end.side, None, true));
            }
            !gone
        });
        if let Some(r) = self.machines[slot].running.as_mut() {
            r.links = ends;
        }
        for (link, side, frames, gone) in closed {
            if let Some(frames) = frames {
                self.send(link, side.other(), frames);
            }
            if gone {
                self.trace(&[slot], || format!("n{slot}: closes link {link}"));
                self.end_closed(link, side);
            }
        }
        let run = self.machines[slot].run;
        let Some(r) = self.machines[slot].running.as_mut() else {
            return;
        };
        let mut tick = false;
        while let Ok(()) = r.wake_tree.try_recv() {
            tick = !r.tree_ticking;
        }
        if tick {
            r.tree_ticking = true;
        }
        let mut dial = false;
        while let Ok(()) = r.wake_dialer.try_recv() {
            dial = true;
        }
        if tick {
            self.after(ANNOUNCE_EVERY, timer(slot, run, Timer::Tree));
        }
        if dial {
            self.dial_step(slot);
        }
    }

    /// Counts the network's parts and who still shows a crashed user.
    fn census(&mut self) {
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
    pub fn findings(mut self) -> Findings {
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
            .check(&up_since);
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
        self.found.presence_right = self
            .machines
            .iter()
            .filter_map(Machine::shared)
            .filter(|s| {
                let state = s.lock();
                state.roster.online_count() == up.len()
                    && up.iter().all(|id| state.roster.is_online(*id))
            })
            .count();
        self.found.parts_at_end = super::script::parts(&self);
        let (detections, undetected) = self.script.detections();
        self.found.detections = detections;
        self.found.undetected = undetected;
        self.found.finish(&self.script, self.options.nodes);
        self.found
    }
}

fn timer(slot: usize, run: u32, timer: Timer) -> Event {
    Event::Timer { slot, run, timer }
}

/// Machine `slot`'s address: 10.0.0.0/8, one address each.
fn address_of(slot: usize) -> SocketAddr {
    let n = slot as u32 + 1;
    let ip = Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8);
    SocketAddr::new(IpAddr::V4(ip), PORT)
}

/// The `HELLO` in an encoded frame.
fn hello_in(frame: &[u8]) -> Option<OwnedHello> {
    let body = std::str::from_utf8(frame.get(HEADER_LEN..)?).ok()?;
    match Message::parse(body) {
        Ok(Message::Hello(hello)) => Some(OwnedHello::of(&hello)),
        _ => None,
    }
}
