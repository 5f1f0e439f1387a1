//! Messages this node heard announced (`IHAVE`) and lacks, and when to ask
//! for them (`GRAFT`): a moment after the announcement, in case the link
//! carrying them whole is just slower; again if unanswered; never for what
//! was asked lately, since it is on its way. The lazy half of the broadcast
//! tree (see `link.rs` beside it).
//!
//! Pure bookkeeping, no I/O.

use crate::node::id_hash::BuildIdHasher;
use crate::node::tree::link::MAX_ORIGINS;
use crate::protocol::{IdRange, NodeId};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long a node waits for an announced message to arrive whole before it
/// asks for it: the link carrying it whole may just be slower.
pub const GRAFT_AFTER: Duration = Duration::from_millis(150);
/// How long a request stands before the same messages may be asked again.
pub const ASK_AGAIN_AFTER: Duration = Duration::from_secs(1);
/// Requests made for one announced message before giving up on it.
pub const MAX_TRIES: u32 = 3;
/// Announced ranges awaiting their time to be checked.
const MAX_WANTS: usize = 4096;
/// Requests remembered per origin, to be subtracted from new ones.
const MAX_ASKED: usize = 64;

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
    use crate::node::tree::link::tests::range;

    const A: NodeId = NodeId(0xa);
    const B: NodeId = NodeId(0xb);
    const O: NodeId = NodeId(0x0);

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
