//! Dialling and the virtual links: a dial reaching its address, the two
//! `HELLO`s and each end's decision, frames delivered in order after a
//! trip, and links that close or go silent.

use super::net::{End, Link, Side};
use super::nodes::Attached;
use super::world::*;
use crate::message::HEADER_LEN;
use crate::node::link::admission::{Admitted, Direction, OwnedHello, Purpose, Turned};
use crate::node::link::connection::{error_frame, handle_buffered, Ended, Ending, LINK_IDLE};
use crate::node::mesh::dial_book::Dialled;
use crate::node::mesh::peers::{Frame, Via};
use crate::protocol::{Message, Need};
use std::net::SocketAddr;
use std::time::Duration;

/// A dial on its way.
pub(super) struct Dial {
    pub(super) from: usize,
    pub(super) run: u32,
    pub(super) addr: SocketAddr,
    pub(super) purpose: Purpose,
    pub(super) hello: Vec<u8>,
    pub(super) need: Need,
    /// How long the dialler waits for an answer.
    pub(super) patience: Duration,
    pub(super) sent: Duration,
}

impl World {
    /// Dials what the node's dial book says to, and plans its next look.
    pub(super) fn dial_step(&mut self, slot: usize) {
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
    pub(super) fn dial(&mut self, slot: usize, addr: SocketAddr, purpose: Purpose) {
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
    pub(super) fn connect(&mut self, dial: Dial) {
        let (from, run) = (dial.from, dial.run);
        if self.shared_of(from, run).is_none() {
            return;
        }
        let failed = |addr| Event::DialFailed {
            slot: from,
            run,
            addr,
        };
        let Some(&to) = self.by_addr.get(&dial.addr) else {
            // No machine there: nothing answers, as on a real network.
            let at = (dial.sent + dial.patience).max(self.now);
            return self.at(at, failed(dial.addr));
        };
        if to == from {
            let trip = self.trip();
            return self.after(trip, failed(dial.addr));
        }
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
            Ok(admitted) => self.open_end(link, Side::Answerer, admitted),
            Err(turned) => self.turn_down(link, Side::Answerer, turned),
        }
        self.flush(to);
    }

    /// The dialler hears the answer's `HELLO`, and decides in turn.
    pub(super) fn answer(&mut self, link: usize) {
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
                shared.dial_done(addr, Dialled::Connected);
                let first = admitted.first;
                self.open_end(link, Side::Dialer, admitted);
                if first {
                    shared.tell_joined();
                }
                // What came with the answer is read now.
                self.read(link, Side::Dialer);
            }
            Err(turned) => {
                shared.dial_done(addr, Dialled::Failed);
                self.turn_down(link, Side::Dialer, turned);
            }
        }
        self.flush(slot);
    }

    /// Opens `side` of `link` as the session its node admitted.
    fn open_end(&mut self, link: usize, side: Side, admitted: Admitted) {
        let now = self.now;
        let slot = self.link_end(link, side).slot;
        let end = self.end_mut(link, side);
        end.open(admitted.peer, admitted.conn, admitted.outbox, now);
        self.attach(slot, link, side);
    }

    /// `side`'s node did not take the link: the other end hears why, as a
    /// turned-down peer does, and `side` is done.
    fn turn_down(&mut self, link: usize, side: Side, turned: Turned) {
        let error = error_frame(&turned.reason).map(Frame::from);
        let frames = turned.peers.into_iter().chain(error).collect();
        self.send(link, side.other(), frames);
        self.end_closed(link, side);
    }

    pub(super) fn new_link(&mut self, link: Link) -> usize {
        self.next_link += 1;
        self.links.insert(self.next_link, link);
        self.next_link
    }

    /// An end of a live link; callers check that the link is live.
    pub(super) fn link_end(&self, link: usize, side: Side) -> &End {
        &self.links[&link].ends[side as usize]
    }

    pub(super) fn end_mut(&mut self, link: usize, side: Side) -> &mut End {
        let link = self.links.get_mut(&link).expect("a live link");
        &mut link.ends[side as usize]
    }

    /// Notes a link's open end at its node, and starts watching it for
    /// silence.
    pub(super) fn attach(&mut self, slot: usize, link: usize, side: Side) {
        let Some((_, _, outbox)) = self.link_end(link, side).session() else {
            return;
        };
        if let Some(r) = self.machines[slot].running.as_mut() {
            r.links.push(Attached { link, side, outbox });
            // What the node queued on it while admitting it is sent at
            // the next look.
            r.pushed.set();
        }
        self.after(LINK_IDLE, Event::IdleCheck { link, side });
    }

    /// Sends `frames` over `link` to the end `to`, after the ones before.
    pub(super) fn send(&mut self, link: usize, to: Side, frames: Vec<Frame>) {
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
        if self.is_flooder(self.link_end(link, to).slot) {
            self.found.to_flooders += bytes as u64;
        }
        self.found.sent(from, bytes, self.now, &self.script);
        self.found.tally.count(&frames);
        let end = self.end_mut(link, to);
        at = at.max(end.arrival);
        end.arrival = at;
        self.at(at, Event::Deliver { link, to, frames });
    }

    /// The end `side` is done: its node stopped using it. The other end
    /// hears the stream end after what was on its way.
    pub(super) fn end_closed(&mut self, link: usize, side: Side) {
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

    pub(super) fn deliver(&mut self, link: usize, to: Side, frames: Vec<Frame>) {
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
    pub(super) fn read(&mut self, link: usize, side: Side) {
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
            let failed = loop {
                match handle_buffered(&shared, &mut end.reader, via, &outbox) {
                    Ok(_) if end.reader.has_frame() => continue,
                    Ok(_) => break None,
                    Err(reason) => break Some(reason),
                }
            };
            end.reader.source_mut().settle();
            failed
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
    pub(super) fn close(&mut self, link: usize, to: Side) {
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

    pub(super) fn idle_check(&mut self, link: usize, side: Side) {
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
}

/// The `HELLO` in an encoded frame.
fn hello_in(frame: &[u8]) -> Option<OwnedHello> {
    let body = std::str::from_utf8(frame.get(HEADER_LEN..)?).ok()?;
    match Message::parse(body) {
        Ok(Message::Hello(hello)) => Some(OwnedHello::of(&hello)),
        _ => None,
    }
}
