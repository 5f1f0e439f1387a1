//! Which flooded messages this node has already handled.
//!
//! Ids are `(origin, sequence)`, and each origin numbers its messages one
//! after another, so instead of remembering every id the cache keeps, per
//! origin, a floor below which every number counts as seen and the few runs
//! of numbers seen above it. Messages mostly come in order, so a message
//! usually just extends the last run: a repeat is caught without hashing the
//! text, and the memory per origin is a handful of runs. A gap (messages
//! that took another path, or are still to be asked for) stays a gap however
//! late its messages come, until [`MAX_RUNS`] runs force the oldest gap
//! under the floor.
//!
//! Bounds: at most `max_origins` origins, each forgotten after `ttl` without
//! news.
//!
//! Any peer may send a message with any origin and number, so numbers are
//! checked before they are believed (PROTOCOL.md §6): one more than
//! [`JUMP`] above the highest seen of its origin, and more than [`AHEAD`]
//! ahead of this node's clock (numbers start at the time in
//! microseconds), is refused; too many gaps never move the floor across a
//! wide one, but give up the claims far above the rest; and a message that
//! comes over its origin's own link is believed even below a floor that
//! others raised. Without these, a few made-up numbers far ahead would
//! silence an origin for good.

use crate::node::clock::{Clock, SystemClock};
use crate::node::id_hash::BuildIdHasher;
use crate::protocol::{IdRange, MsgId, NodeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A gap between runs wider than this sets the runs above it apart, as
/// claims far ahead of the rest (see [`Seen::has_outliers`]).
pub const OUTLIER_GAP: u64 = 1024;
/// Runs of seen numbers kept per origin.
pub const MAX_RUNS: usize = 64;
/// How far above the highest number seen of an origin a number may be.
pub const JUMP: u64 = 1 << 20;
/// How far ahead of this node's clock, in microseconds, a number may be: a
/// node that restarts with the same id starts at its clock, which may be
/// ahead of ours.
pub const AHEAD: u64 = 3_600_000_000;

/// Which way a message came: the origin's own link is the one path on
/// which nobody else can speak for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Over the origin's own link, live.
    Direct,
    /// Passed on by another node, or replayed.
    Relayed,
}

#[derive(Clone)]
pub struct SeenCache {
    origins: HashMap<NodeId, Seen, BuildIdHasher>,
    max_origins: usize,
    ttl: Duration,
    /// The node's clock, that origins' numbers are judged against.
    clock: Arc<dyn Clock>,
}

/// What the seen-cache made of a message id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fresh {
    /// Seen before, or not plausible: dropped.
    Seen,
    /// New, and numbered above every number seen of its origin.
    New,
    /// A new live chat message, numbered below one of the same sender's
    /// already handled: it comes after it.
    Late,
}

impl Fresh {
    pub fn is_new(self) -> bool {
        self != Fresh::Seen
    }
}

/// Which of an origin's numbers a message is ordered among.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Chat,
    Other,
}

/// What was seen of one origin.
#[derive(Clone)]
struct Seen {
    /// Every number below it counts as seen.
    floor: u64,
    /// Runs of seen numbers above the floor, inclusive, in order, apart
    /// from each other and from the floor.
    runs: Vec<(u64, u64)>,
    last_used: Instant,
    /// The highest number that came over the origin's own link.
    direct_high: Option<u64>,
    /// The highest number of a chat message of the origin's, live.
    chat_high: u64,
}

impl Seen {
    fn new(seq: u64, now: Instant) -> Self {
        let mut seen = Seen {
            // Every number counts as new until seen: the first one heard
            // may be made up, and a floor under it would hide the
            // origin's real ones below it.
            floor: 0,
            runs: Vec::new(),
            last_used: now,
            direct_high: None,
            chat_high: 0,
        };
        seen.insert(seq);
        seen
    }

    /// The highest number seen.
    fn high(&self) -> u64 {
        self.runs
            .last()
            .map_or(self.floor.saturating_sub(1), |r| r.1)
    }

    /// Marks `seq`, which came by `path`: new if it was not marked before
    /// and is plausible.
    fn insert_from(&mut self, seq: u64, path: Path, clock: &dyn Clock) -> Fresh {
        if seq > self.high().saturating_add(JUMP) && !near_clock(clock, seq) {
            return Fresh::Seen;
        }
        if path == Path::Direct {
            let before = self.direct_high.replace(seq);
            if seq < self.floor && before.map_or(true, |h| seq > h) {
                // The origin itself sends a number it never sent before,
                // below a floor that others raised: they spoke for it.
                // Its link is believed, and their claims forgotten.
                self.floor = seq.saturating_add(1);
                self.runs.clear();
                return Fresh::New;
            }
            self.direct_high = Some(before.map_or(seq, |h| h.max(seq)));
        }
        self.insert(seq)
    }

    /// Marks `seq`: new if it was not marked before.
    fn insert(&mut self, seq: u64) -> Fresh {
        if seq < self.floor {
            return Fresh::Seen;
        }
        // The common case: the next number after the last run.
        if let Some(last) = self.runs.last_mut() {
            if last.1.checked_add(1) == Some(seq) {
                last.1 = seq;
                return Fresh::New;
            }
        }
        let i = self.runs.partition_point(|r| r.1 < seq);
        if self.runs.get(i).is_some_and(|r| r.0 <= seq) {
            return Fresh::Seen;
        }
        let joins_before = i > 0 && self.runs[i - 1].1 + 1 == seq;
        let joins_after = self
            .runs
            .get(i)
            .is_some_and(|r| Some(r.0) == seq.checked_add(1));
        match (joins_before, joins_after) {
            (true, true) => {
                self.runs[i - 1].1 = self.runs[i].1;
                self.runs.remove(i);
            }
            (true, false) => self.runs[i - 1].1 = seq,
            (false, true) => self.runs[i].0 = seq,
            (false, false) => self.runs.insert(i, (seq, seq)),
        }
        // A run that reaches the floor joins it; too many runs give up the
        // oldest gap, unless some runs lie far above the rest: then the
        // highest goes, for the floor must never pass numbers the origin
        // has yet to send on the word of numbers nobody can vouch for.
        while let Some(&(first, last)) = self.runs.first() {
            if first != self.floor && self.runs.len() <= MAX_RUNS {
                break;
            }
            if first != self.floor && self.has_outliers() {
                self.runs.pop();
                continue;
            }
            self.floor = last.saturating_add(1);
            self.runs.remove(0);
        }
        Fresh::New
    }

    /// True if a gap wider than [`OUTLIER_GAP`] separates two runs: the
    /// runs above it are numbers far ahead of the rest.
    fn has_outliers(&self) -> bool {
        self.runs.windows(2).any(|w| w[1].0 - w[0].1 > OUTLIER_GAP)
    }

    /// Appends to `out` the parts of `range` not seen.
    fn missing(&self, range: IdRange, out: &mut Vec<IdRange>) {
        let mut gap = |first: u64, last: u64| {
            if first <= last {
                out.push(IdRange {
                    origin: range.origin,
                    first,
                    last,
                });
            }
        };
        let mut next = range.first.max(self.floor);
        for &(first, last) in &self.runs {
            if last < next {
                continue;
            }
            if first > range.last {
                break;
            }
            if first > next {
                gap(next, first - 1);
            }
            match last.checked_add(1) {
                Some(after) => next = after,
                None => return,
            }
        }
        gap(next, range.last);
    }
}

/// True if `seq` is no more than [`AHEAD`] ahead of this node's clock in
/// microseconds, where every origin starts counting.
fn near_clock(clock: &dyn Clock, seq: u64) -> bool {
    seq <= clock.unix_micros().saturating_add(AHEAD)
}

impl SeenCache {
    pub fn new(max_origins: usize, ttl: Duration) -> Self {
        SeenCache {
            origins: HashMap::default(),
            max_origins,
            ttl,
            clock: Arc::new(SystemClock),
        }
    }

    /// The cache, judging numbers against `clock` instead of the system's.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        SeenCache { clock, ..self }
    }

    /// Records `id`, a message passed on or replayed; true if it is new
    /// and should be handled.
    pub fn insert(&mut self, id: MsgId, now: Instant) -> bool {
        self.insert_from(id, Path::Relayed, now)
    }

    /// Records `id`, which came by `path`; true if it is new and
    /// plausible, and should be handled.
    pub fn insert_from(&mut self, id: MsgId, path: Path, now: Instant) -> bool {
        self.insert_keeping(id, path, now, |_| false).is_new()
    }

    /// [`insert_from`](Self::insert_from), where making room for a new
    /// origin never forgets one that `keep` names (a peer, an online
    /// user) while another can go: made-up origins must not push real
    /// ones out, or their messages would be shown again.
    pub fn insert_keeping(
        &mut self,
        id: MsgId,
        path: Path,
        now: Instant,
        keep: impl Fn(NodeId) -> bool,
    ) -> Fresh {
        self.insert_in(id, path, now, keep, Stream::Other)
    }

    /// [`insert_keeping`](Self::insert_keeping) for a live chat message:
    /// late if one of its sender's with a higher number was handled.
    /// Only chat numbers count, so that presence messages in a sender's
    /// name, true or made up, never make its lines look late.
    pub fn insert_chat(
        &mut self,
        id: MsgId,
        path: Path,
        now: Instant,
        keep: impl Fn(NodeId) -> bool,
    ) -> Fresh {
        self.insert_in(id, path, now, keep, Stream::Chat)
    }

    fn insert_in(
        &mut self,
        id: MsgId,
        path: Path,
        now: Instant,
        keep: impl Fn(NodeId) -> bool,
        stream: Stream,
    ) -> Fresh {
        if let Some(w) = self.origins.get_mut(&id.origin) {
            // The same `now` as the last message's, in a batch: no
            // subtraction needed.
            if w.last_used == now || now.duration_since(w.last_used) < self.ttl {
                w.last_used = now;
                let fresh = w.insert_from(id.seq, path, &*self.clock);
                if fresh == Fresh::Seen || stream == Stream::Other {
                    return fresh;
                }
                let late = id.seq < w.chat_high;
                w.chat_high = w.chat_high.max(id.seq);
                return match late {
                    true => Fresh::Late,
                    false => Fresh::New,
                };
            }
            // Expired: forget what was seen, as if the origin were new.
            self.origins.remove(&id.origin);
        }
        if !near_clock(&*self.clock, id.seq) {
            return Fresh::Seen;
        }
        if self.origins.len() >= self.max_origins {
            self.evict(now, keep);
        }
        let mut seen = Seen::new(id.seq, now);
        if path == Path::Direct {
            seen.direct_high = Some(id.seq);
        }
        if stream == Stream::Chat {
            seen.chat_high = id.seq;
        }
        self.origins.insert(id.origin, seen);
        Fresh::New
    }

    pub fn missing(&self, range: IdRange, out: &mut Vec<IdRange>) {
        match self.origins.get(&range.origin) {
            Some(seen) => seen.missing(range, out),
            None => out.push(range),
        }
    }

    /// Drops expired origins, and if that made too little room, the least
    /// recently used eighth of those `keep` does not name (of all, if it
    /// names nearly every one): room for many newcomers at once, so that a
    /// flood of new origins costs a pass over the cache per eighth of it,
    /// not per origin.
    fn evict(&mut self, now: Instant, keep: impl Fn(NodeId) -> bool) {
        let ttl = self.ttl;
        self.origins
            .retain(|_, w| now.duration_since(w.last_used) < ttl);
        let room = (self.max_origins / 8).max(1);
        if self.origins.len() + room <= self.max_origins {
            return;
        }
        let mut candidates: Vec<(Instant, NodeId)> = self
            .origins
            .iter()
            .filter(|(id, _)| !keep(**id))
            .map(|(id, w)| (w.last_used, *id))
            .collect();
        if candidates.len() < room {
            candidates = self
                .origins
                .iter()
                .map(|(id, w)| (w.last_used, *id))
                .collect();
        }
        let cut = room.min(candidates.len());
        if cut < candidates.len() {
            candidates.select_nth_unstable(cut);
        }
        for (_, id) in &candidates[..cut] {
            self.origins.remove(id);
        }
    }

    /// Origins remembered now.
    pub fn origins(&self) -> usize {
        self.origins.len()
    }
}

#[cfg(test)]
mod tests;
