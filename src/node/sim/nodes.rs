//! The simulated machines: starting and killing their nodes, what the
//! script has them say, their tasks' timers, and carrying out what their
//! core asked for after each event.

use super::flooders::FLOOD_EVERY;
use super::liars::LIE_EVERY;
use super::net::Side;
use super::record::Recorder;
use super::world::*;
use super::Joins;
use crate::node::link::admission::Purpose;
use crate::node::mesh::dial_book::Heal;
use crate::node::mesh::peers::Frame;
use crate::node::presence::news::news_wait;
use crate::node::presence::TICK;
use crate::node::state::{Shared, Surroundings, Who};
use crate::node::tree::link::ANNOUNCE_EVERY;
use crate::node::wakes::{Noted, Task};
use crate::protocol::{ChatKind, MsgId, NodeId};
use crate::queue::Queue;
use futures::channel::mpsc;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::Duration;

/// A node's process while it runs.
pub(super) struct Running {
    pub(super) shared: Arc<Shared>,
    /// The tasks its core woke.
    pub(super) wakes: Arc<Noted>,
    pub(super) _tasks: mpsc::Receiver<()>,
    pub(super) tree_ticking: bool,
    pub(super) news_ticking: bool,
    pub(super) dial_wake: Option<Duration>,
    /// The open ends of links at this node.
    pub(super) links: Vec<Attached>,
    /// Set when something was pushed to one of its outboxes, or one was
    /// closed, since they were last looked at: the outboxes' consumer is
    /// woken as a connection task would be. Most events leave a node's
    /// outboxes as they were, and a look at each costs a lock.
    pub(super) pushed: Arc<Pushed>,
    pub(super) pushed_waker: Waker,
}

/// A flag a waker sets.
#[derive(Default)]
pub(super) struct Pushed(AtomicBool);

impl Pushed {
    pub(super) fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether it was set since the last look; clears it.
    fn take(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }
}

impl Wake for Pushed {
    fn wake(self: Arc<Self>) {
        self.set();
    }
}

/// A link's open end at a node, and the outbox the node writes to it.
pub(super) struct Attached {
    pub(super) link: usize,
    pub(super) side: Side,
    pub(super) outbox: Arc<Queue<Frame>>,
}

/// A simulated machine: its node id and address outlive its restarts.
pub(super) struct Machine {
    pub(super) id: NodeId,
    pub(super) addr: SocketAddr,
    /// Which half it is in while the network is split.
    pub(super) half: bool,
    /// Its process's run: a restart starts the next, and what was meant
    /// for the last is dropped.
    pub(super) run: u32,
    /// When the current run began; `None` while it is down.
    pub(super) up_since: Option<Duration>,
    pub(super) running: Option<Running>,
}

impl Machine {
    pub(super) fn shared(&self) -> Option<&Arc<Shared>> {
        self.running.as_ref().map(|r| &r.shared)
    }
}

impl World {
    pub(super) fn start_node(&mut self, slot: usize) {
        let wakes = Arc::new(Noted::default());
        let pushed = Arc::new(Pushed::default());
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
            tree: self.options.tree,
        };
        let around = Surroundings {
            display: Arc::new(Recorder {
                slot,
                log: self.log.clone(),
            }),
            clock: self.clock.clone(),
            wakes: wakes.clone(),
            tasks,
        };
        let shared = Arc::new(Shared::new(me, around));
        let restarted = m.run > 0 || m.up_since.is_some();
        let m = &mut self.machines[slot];
        m.run += 1;
        m.up_since = Some(self.now);
        m.running = Some(Running {
            shared: shared.clone(),
            wakes,
            _tasks: tasks_rx,
            tree_ticking: false,
            news_ticking: false,
            dial_wake: None,
            links: Vec::new(),
            pushed: pushed.clone(),
            pushed_waker: Waker::from(pushed),
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
        if self.is_liar(slot) {
            self.after(LIE_EVERY, timer(slot, run, Timer::Lie));
        }
        if self.is_flooder(slot) {
            self.after(FLOOD_EVERY, timer(slot, run, Timer::Flood));
        }
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
    pub(super) fn reachable_up(&self, slot: usize, from: usize) -> bool {
        self.machines[slot].running.is_some() && !self.cut(slot, from)
    }

    /// A machine up and reachable from `from`, other than it, at random.
    pub(super) fn random_up(&mut self, from: usize) -> Option<usize> {
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
    pub(super) fn kill_one(&mut self) {
        let n = self.machines.len();
        let Some(slot) = (0..64)
            .map(|_| self.rng.below(n))
            .find(|&s| self.machines[s].running.is_some())
        else {
            return;
        };
        if let Some(shared) = self.machines[slot].shared() {
            let made_room = shared.lock().peers.made_room;
            self.found.made_room(made_room);
        }
        let Some(running) = self.machines[slot].running.take() else {
            return;
        };
        self.machines[slot].up_since = None;
        self.found.kills += 1;
        let log = self.log.lock();
        log.unwrap_or_else(|e| e.into_inner())
            .killed(slot, self.now);
        for end in running.links {
            self.end_closed(end.link, end.side);
        }
        let down = self.between(self.script.down_min, self.script.down_max);
        self.script
            .watch_crash(self.machines[slot].id, slot, self.now, down);
        self.after(down, Event::Start(slot));
    }

    /// A random sender says message `k`.
    pub(super) fn say(&mut self, k: usize) {
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
        let _ = shared.say_all(&[(&text, ChatKind::Line)]);
        self.flush(slot);
    }

    pub(super) fn timer(&mut self, slot: usize, run: u32, which: Timer) {
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
            Timer::News => {
                if let Some(r) = self.machines[slot].running.as_mut() {
                    r.news_ticking = false;
                }
                shared.news_tick();
            }
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
            Timer::Lie => self.lie(slot, run),
            Timer::Flood => self.flood(slot, run),
        }
        self.flush(slot);
    }

    /// How long a node waits between two looks for a split: a second on
    /// average, give or take half, as `heal.rs` does.
    pub(super) fn heal_wait(&mut self) -> Duration {
        Duration::from_millis(500 + self.rng.below(1000) as u64)
    }

    /// Carries out what the core of node `slot` asked for: sends what its
    /// outboxes hold, ends the links it closed, and runs the tasks it woke.
    pub(super) fn flush(&mut self, slot: usize) {
        let Some(r) = self.machines[slot].running.as_mut() else {
            return;
        };
        let mut ends = match r.pushed.take() {
            true => std::mem::take(&mut r.links),
            false => Vec::new(),
        };
        let waker = r.pushed_waker.clone();
        let mut closed = Vec::new();
        ends.retain(|end| {
            let mut frames = Vec::new();
            let gone = end.outbox.take_all(&mut frames, Some(&waker));
            if !frames.is_empty() {
                closed.push((end.link, end.side, Some(frames), false));
            }
            if gone {
                closed.push((end.link, end.side, None, true));
            }
            !gone
        });
        if let Some(r) = self.machines[slot].running.as_mut() {
            r.links.append(&mut ends);
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
        let tick = r.wakes.take(Task::Tree) && !r.tree_ticking;
        if tick {
            r.tree_ticking = true;
        }
        let news = r.wakes.take(Task::News) && !r.news_ticking;
        if news {
            r.news_ticking = true;
        }
        let dial = r.wakes.take(Task::Dialer);
        if tick {
            self.after(ANNOUNCE_EVERY, timer(slot, run, Timer::Tree));
        }
        if news {
            let wait = news_wait(&mut self.rng);
            self.after(wait, timer(slot, run, Timer::News));
        }
        if dial {
            self.dial_step(slot);
        }
    }
}
