//! The broadcast tree's bookkeeping: which links carry each origin's
//! messages whole and which only announce them, what to announce, and which
//! announced messages to ask for.
//!
//! This is the eager and lazy push of Plumtree: a link told `PRUNE` for an
//! origin carries that origin's messages as announcements (`IHAVE`, batched
//! runs of sequence numbers), and `GRAFT` asks for announced messages and
//! makes the link carry the origin whole again. When a node prunes, and when
//! it grafts, is decided in `broadcast.rs`.
//!
//! Pure bookkeeping, no I/O.

use super::id_hash::BuildIdHasher;
use crate::protocol::{IdRange, MsgId, NodeId};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// How long announcements gather before they go out, batched.
pub const ANNOUNCE_EVERY: Duration = Duration::from_millis(20);
/// How long a node waits for an announced message to arrive whole before it
/// asks for it: the link carrying it whole may just be slower.
pub const GRAFT_AFTER: Duration = Duration::from_millis(150);
/// How long a request stands before the same messages may be asked again.
pub const ASK_AGAIN_AFTER: Duration = Duration::from_secs(1);
/// Requests made for one announced message before giving up on it.
pub const MAX_TRIES: u32 = 3;
/// Origins one link remembers as pruned, each way; a bound against a peer
/// that names endless origins.
const MAX_ORIGINS: usize = 4096;
/// Announced ranges awaiting their time to be checked.
const MAX_WANTS: usize = 4096;
/// Requests remembered per origin, to be subtracted from new ones.
const MAX_ASKED: usize = 64;
/// Bytes resent to one peer on its requests per [`RESEND_WINDOW`]: enough
/// for a whole cache of recent messages when a link closes, but a peer
/// cannot have this node send megabytes for every few bytes it sends.
pub const RESEND_BYTES: usize = super::router::RECENT_BYTES;
pub const RESEND_WINDOW: Duration = Duration::from_secs(10);
/// Ranges per `IHAVE` or `GRAFT` frame, well inside a frame's size limit.
pub const RANGES_PER_FRAME: usize = 500;

/// How a message goes to one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Whole,
    Announced,
    /// Not at all: the peer has it from its origin's own link.
    Not,
}

/// The tree's state on one link.
#[derive(Default)]
pub struct Link {
    /// Origins the peer pruned, each with its start on the peer's link to
    /// it: messages below are announced, the others not sent at all.
    lazy: HashMap<NodeId, u64, BuildIdHasher>,
    /// Origins this node pruned on the link: a burst of duplicates already
    /// on the way costs one `PRUNE`, not one each.
    pruned: HashSet<NodeId, BuildIdHasher>,
    /// Messages to announce at the next tick: runs of consecutive sequence
    /// numbers per origin, exactly those handled, so that what is announced
    /// can be asked for.
    pending: HashMap<NodeId, Vec<(u64, u64)>, BuildIdHasher>,
    /// When the current resend window began, and the bytes resent in it.
    resent: Option<(Instant, usize)>,
    /// From which sequence number on the peer's own messages all come over
    /// this link, as its `START` said: other links need not bring them whole.
    own_from: Option<u64>,
}

impl Link {
    /// How message `id` goes to this peer.
    pub fn pass(&self, id: MsgId) -> Pass {
        if self.lazy.is_empty() {
            return Pass::Whole;
        }
        match self.lazy.get(&id.origin) {
            None => Pass::Whole,
            Some(&start) if id.seq < start => Pass::Announced,
            Some(_) => Pass::Not,
        }
    }

    /// Notes a message to announce to this peer.
    pub fn announce(&mut self, id: MsgId) {
        let runs = self.pending.entry(id.origin).or_default();
        match runs.last_mut() {
            Some(run) if run.1.checked_add(1) == Some(id.seq) => run.1 = id.seq,
            _ => runs.push((id.seq, id.seq)),
        }
    }

    /// The peer pruned `origin`, whose own messages from `start` on come
    /// to it over its link to that origin: from now on, announce those
    /// below `start`, and send none whole.
    pub fn pruned_by_peer(&mut self, origin: NodeId, start: u64) {
        if self.lazy.len() < MAX_ORIGINS || self.lazy.contains_key(&origin) {
            self.lazy.insert(origin, start);
        }
    }

    /// The peer grafted `origin`: send its messages whole again.
    pub fn grafted_by_peer(&mut self, origin: NodeId) {
        self.lazy.remove(&origin);
    }

    /// The peer said its own messages come over this link from `seq` on.
    /// Only the first time counts; returns whether this was it.
    pub fn started(&mut self, seq: u64) -> bool {
        let first = self.own_from.is_none();
        self.own_from.get_or_insert(seq);
        first
    }

    /// From which sequence number on this link brings all the peer's own
    /// messages; `None` until the peer has said.
    pub fn own_from(&self) -> Option<u64> {
        self.own_from
    }

    /// Whether this node told the peer to announce `origin`'s messages only.
    pub fn has_pruned(&self, origin: NodeId) -> bool {
        !self.pruned.is_empty() && self.pruned.contains(&origin)
    }

    /// `origin`'s messages come over a shorter path than this link: true if
    /// this node should now tell the peer `PRUNE` (it has not yet).
    pub fn prune(&mut self, origin: NodeId) -> bool {
        self.pruned.len() < MAX_ORIGINS && self.pruned.insert(origin)
    }

    /// This node asked the peer for `origin`'s messages whole again.
    pub fn graft(&mut self, origin: NodeId) {
        self.pruned.remove(&origin);
    }

    /// Bytes that may still be resent to this peer now.
    pub fn resend_allowance(&mut self, now: Instant) -> usize {
        let (start, spent) = self.resent.get_or_insert((now, 0));
        if now.saturating_duration_since(*start) >= RESEND_WINDOW {
            (*start, *spent) = (now, 0);
        }
        RESEND_BYTES.saturating_sub(*spent)
    }

    /// Counts `bytes` resent to this peer.
    pub fn resent(&mut self, bytes: usize) {
        if let Some((_, spent)) = &mut self.resent {
            *spent += bytes;
        }
    }

    pub fn has_announcements(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The announcements gathered since the last call.
    pub fn take_announcements(&mut self) -> Vec<IdRange> {
        self.pending
            .drain()
            .flat_map(|(origin, runs)| {
                runs.into_iter().map(move |(first, last)| IdRange {
                    origin,
                    first,
                    last,
                })
            })
            .collect()
    }
}

/// Messages this node heard announced and lacks, by when to ask for them.
#[derive(Default)]
pub struct Wants {
    /// First requests and repeated ones, each queue in the order they fall
    /// due: a repeat, due a second later, must not hold up the first
    /// request for something announced after it.
    fresh: VecDeque<Want>,
    again: VecDeque<Want>,
    /// Per origin, the runs asked for lately, and when: what was asked is
    /// on its way, and asking again at once would bring it twice.
    asked: HashMap<NodeId, Vec<(u64, u64, Instant)>, BuildIdHasher>,
}

struct Want {
    range: IdRange,
    /// Who announced them, and will be asked.
    from: NodeId,
    due: Instant,
    /// Requests made for them so far.
    tries: u32,
}

impl Wants {
    /// Notes that `from` has `range`, of which this node lacks some.
    pub fn add(&mut self, range: IdRange, from: NodeId, now: Instant) {
        self.push(range, from, now + GRAFT_AFTER, 0);
    }

    fn push(&mut self, range: IdRange, from: NodeId, due: Instant, tries: u32) {
        if self.fresh.len() + self.again.len() < MAX_WANTS {
            let queue = match tries {
                0 => &mut self.fresh,
                _ => &mut self.again,
            };
            queue.push_back(Want {
                range,
                from,
                due,
                tries,
            });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.fresh.is_empty() && self.again.is_empty()
    }

    /// The next want that is due, if any.
    fn pop_due(&mut self, now: Instant) -> Option<Want> {
        let is_due = |q: &VecDeque<Want>| q.front().is_some_and(|w| w.due <= now);
        if is_due(&self.fresh) {
            self.fresh.pop_front()
        } else if is_due(&self.again) {
            self.again.pop_front()
        } else {
            None
        }
    }

    /// Decides what to ask for now, as `(peer, range)`: the parts of the
    /// wants that are due which are still `missing` and not asked for
    /// lately, each of its announcer or, if that one is gone, of whichever
    /// peer `ask` names. Each want is checked again later, in case its
    /// answer never comes, until [`MAX_TRIES`] requests were made.
    pub fn due(
        &mut self,
        now: Instant,
        mut missing: impl FnMut(IdRange, &mut Vec<IdRange>),
        ask: impl Fn(NodeId) -> Option<NodeId>,
    ) -> Vec<(NodeId, IdRange)> {
        let mut out = Vec::new();
        let mut parts = Vec::new();
        let mut later = Vec::new();
        while let Some(want) = self.pop_due(now) {
            missing(want.range, &mut parts);
            for part in parts.drain(..) {
                if want.tries + 1 < MAX_TRIES {
                    later.push((part, want.from, want.tries + 1));
                }
                let Some(peer) = ask(want.from) else {
                    continue;
                };
                for part in self.not_asked(part, now) {
                    self.asked(part, now);
                    out.push((peer, part));
                }
            }
        }
        for (range, from, tries) in later {
            self.push(range, from, now + ASK_AGAIN_AFTER, tries);
        }
        out
    }

    /// The parts of `range` not asked for within [`ASK_AGAIN_AFTER`]. Not
    /// just those above the highest asked: a lower run announced later, or
    /// by another peer, must still be asked while higher ones keep coming.
    fn not_asked(&self, range: IdRange, now: Instant) -> Vec<IdRange> {
        let mut parts = vec![(range.first, range.last)];
        for &(a, b, at) in self.asked.get(&range.origin).into_iter().flatten() {
            if now.saturating_duration_since(at) < ASK_AGAIN_AFTER {
                parts = parts
                    .into_iter()
                    .flat_map(|(first, last)| {
                        // What lies below `a`, and what lies above `b`.
                        let below = (first < a).then(|| (first, last.min(a - 1)));
                        let above = (last > b).then(|| (first.max(b + 1), last));
                        below.into_iter().chain(above)
                    })
                    .collect();
            }
        }
        parts
            .into_iter()
            .map(|(first, last)| IdRange {
                origin: range.origin,
                first,
                last,
            })
            .collect()
    }

    fn asked(&mut self, range: IdRange, now: Instant) {
        let recent = |at: &Instant| now.saturating_duration_since(*at) < ASK_AGAIN_AFTER;
        if self.asked.len() >= MAX_ORIGINS {
            self.asked
                .retain(|_, runs| runs.iter().any(|(_, _, at)| recent(at)));
        }
        if self.asked.len() >= MAX_ORIGINS && !self.asked.contains_key(&range.origin) {
            return;
        }
        let runs = self.asked.entry(range.origin).or_default();
        runs.retain(|(_, _, at)| recent(at));
        if runs.len() >= MAX_ASKED {
            runs.remove(0);
        }
        runs.push((range.first, range.last, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: NodeId = NodeId(0xa);
    const B: NodeId = NodeId(0xb);
    const O: NodeId = NodeId(0x0);

    fn range(origin: NodeId, first: u64, last: u64) -> IdRange {
        IdRange {
            origin,
            first,
            last,
        }
    }

    #[test]
    fn a_link_is_eager_until_pruned_and_again_after_a_graft() {
        let id = |origin, seq| MsgId { origin, seq };
        let mut link = Link::default();
        assert_eq!(link.pass(id(O, 9)), Pass::Whole);
        link.pruned_by_peer(O, 5);
        assert_eq!(link.pass(id(O, 4)), Pass::Announced, "below the start");
        assert_eq!(
            link.pass(id(O, 5)),
            Pass::Not,
            "the origin's link brings it"
        );
        assert_eq!(link.pass(id(A, 9)), Pass::Whole, "only the pruned origin");
        link.grafted_by_peer(O);
        assert_eq!(link.pass(id(O, 9)), Pass::Whole);
    }

    #[test]
    fn the_own_messages_start_where_the_peer_first_said() {
        let mut link = Link::default();
        assert_eq!(link.own_from(), None);
        assert!(link.started(7));
        assert!(!link.started(3));
        assert_eq!(link.own_from(), Some(7), "the first one counts");
    }

    #[test]
    fn a_burst_of_duplicates_prunes_once() {
        let mut link = Link::default();
        assert!(link.prune(O));
        assert!(!link.prune(O));
        assert!(link.prune(A));
        link.graft(O);
        assert!(link.prune(O), "after a graft, a new duplicate prunes again");
    }

    #[test]
    fn resending_is_bounded_per_window() {
        let t0 = Instant::now();
        let mut link = Link::default();
        assert_eq!(link.resend_allowance(t0), RESEND_BYTES);
        link.resent(RESEND_BYTES - 10);
        assert_eq!(link.resend_allowance(t0 + RESEND_WINDOW / 2), 10);
        link.resent(10);
        assert_eq!(link.resend_allowance(t0 + RESEND_WINDOW / 2), 0);
        assert_eq!(link.resend_allowance(t0 + RESEND_WINDOW), RESEND_BYTES);
    }

    #[test]
    fn announcements_are_the_exact_runs_handled() {
        let mut link = Link::default();
        for seq in [3, 4, 5, 9, 10] {
            link.announce(MsgId { origin: O, seq });
        }
        link.announce(MsgId { origin: A, seq: 1 });
        let mut got = link.take_announcements();
        got.sort_by_key(|r| (r.origin, r.first));
        assert_eq!(got, [range(O, 3, 5), range(O, 9, 10), range(A, 1, 1)]);
        assert!(!link.has_announcements());
    }

    /// Every number in `have` counts as received.
    fn lacking(have: &[u64]) -> impl FnMut(IdRange, &mut Vec<IdRange>) + '_ {
        move |r, out| {
            for seq in r.first..=r.last {
                if !have.contains(&seq) {
                    out.push(range(r.origin, seq, seq));
                }
            }
        }
    }

    #[test]
    fn only_what_is_still_missing_is_asked_after_the_grace_period() {
        let t0 = Instant::now();
        let mut wants = Wants::default();
        wants.add(range(O, 1, 2), A, t0);
        assert!(wants.due(t0, lacking(&[]), Some).is_empty(), "not yet");
        let due = t0 + GRAFT_AFTER;
        assert_eq!(wants.due(due, lacking(&[1]), Some), [(A, range(O, 2, 2))]);
    }

    #[test]
    fn what_was_asked_lately_is_not_asked_again() {
        let t0 = Instant::now();
        let mut wants = Wants::default();
        wants.add(range(O, 1, 9), A, t0);
        wants.add(range(O, 5, 12), B, t0);
        let due = t0 + GRAFT_AFTER;
        let all = |r: IdRange, out: &mut Vec<IdRange>| out.push(r);
        assert_eq!(
            wants.due(due, all, Some),
            [(A, range(O, 1, 9)), (B, range(O, 10, 12))]
        );
    }

    #[test]
    fn a_lower_run_is_asked_while_higher_ones_keep_being_asked() {
        let t0 = Instant::now();
        let mut wants = Wants::default();
        let all = |r: IdRange, out: &mut Vec<IdRange>| out.push(r);
        let mut at = t0;
        wants.add(range(O, 100, 200), A, at);
        wants.add(range(O, 10, 20), B, at);
        let mut asked = Vec::new();
        // Higher runs keep being announced and asked, every 20 ms, for less
        // than the second after which a request may be made again.
        for k in 0..40u64 {
            at += Duration::from_millis(20);
            wants.add(range(O, 201 + k, 201 + k), A, at);
            asked.extend(wants.due(at, all, Some));
        }
        let asks_of = |seq: u64| {
            asked
                .iter()
                .filter(|(_, r)| (r.first..=r.last).contains(&seq))
                .count()
        };
        assert!(asked.contains(&(B, range(O, 10, 20))), "{asked:?}");
        assert_eq!(asks_of(15), 1);
        assert_eq!(asks_of(150), 1, "asked twice within the second");
        assert_eq!(asks_of(210), 1);
    }

    #[test]
    fn an_unanswered_request_is_made_again_then_given_up() {
        let t0 = Instant::now();
        let mut wants = Wants::default();
        wants.add(range(O, 1, 1), A, t0);
        let mut at = t0 + GRAFT_AFTER;
        let all = |r: IdRange, out: &mut Vec<IdRange>| out.push(r);
        for _ in 0..MAX_TRIES {
            assert_eq!(wants.due(at, all, Some), [(A, range(O, 1, 1))]);
            at += ASK_AGAIN_AFTER;
        }
        assert!(wants.due(at, all, Some).is_empty());
        assert!(wants.is_empty());
    }

    #[test]
    fn a_want_whose_announcer_left_is_asked_of_another_peer() {
        let t0 = Instant::now();
        let mut wants = Wants::default();
        wants.add(range(O, 1, 1), A, t0);
        let all = |r: IdRange, out: &mut Vec<IdRange>| out.push(r);
        let got = wants.due(t0 + GRAFT_AFTER, all, |p| {
            Some(p).filter(|p| *p != A).or(Some(B))
        });
        assert_eq!(got, [(B, range(O, 1, 1))]);
    }
}
