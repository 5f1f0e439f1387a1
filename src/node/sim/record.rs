//! What the simulated nodes showed: each node's screen is a [`Recorder`]
//! that notes the chat messages it shows, and the [`Log`] checks them
//! against what was sent.

use crate::display::Event;
use crate::node::screen::Recording;
use crate::protocol::{MsgId, NodeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One message the script sent.
struct Sent {
    /// When, in virtual time, and by which node.
    at: Duration,
    from: usize,
    /// How many times each node (by slot) showed it in its current run.
    shown: Vec<u8>,
}

/// Every chat message sent, and who showed it how often.
#[derive(Default)]
pub struct Log {
    nodes: usize,
    sent: HashMap<MsgId, Sent>,
    /// The order messages were sent in.
    order: Vec<MsgId>,
    /// The newest live (not history) message each node showed from each
    /// origin, to check each sender's order.
    newest_live: HashMap<(usize, NodeId), u64>,
    /// Live messages shown after a newer one of the same origin.
    pub out_of_order: u64,
    /// When each node (by slot) was killed.
    kills: Vec<Vec<Duration>>,
}

/// How long the halves of a healed partition have to link again and
/// exchange what they missed.
const HEAL_GRACE: Duration = Duration::from_secs(10);

/// What the checks found about delivery.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Deliveries due: each message at each node that was up from its
    /// sending to the end.
    pub expected: u64,
    /// Messages due nowhere: sent during the partition by a node cut off
    /// from everyone, which went down before the heal and took them along.
    pub stranded: u64,
    pub missing: u64,
    /// Messages a node showed more than once in one run.
    pub repeated: u64,
    pub out_of_order: u64,
    /// A few of the missing deliveries: the message's number in sending
    /// order, when it was sent, by which node, and the node that lacks it.
    pub examples: Vec<(usize, Duration, usize, usize)>,
}

impl Log {
    pub fn new(nodes: usize) -> Self {
        Log {
            nodes,
            kills: vec![Vec::new(); nodes],
            ..Log::default()
        }
    }

    /// Notes that node `slot` was killed at `at`.
    pub fn killed(&mut self, slot: usize, at: Duration) {
        self.kills[slot].push(at);
    }

    /// Whether message `sent` never left its sender: sent during the
    /// partition (`at` to `heal`), shown by no other node, by a node
    /// killed before the heal was over.
    fn stranded(&self, sent: &Sent, partition: Option<(Duration, Duration)>) -> bool {
        let Some((at, heal)) = partition else {
            return false;
        };
        let mut others = sent
            .shown
            .iter()
            .enumerate()
            .filter(|(s, _)| *s != sent.from);
        let mut killed = self.kills[sent.from].iter();
        (at..heal).contains(&sent.at)
            && others.all(|(_, shown)| *shown == 0)
            && killed.any(|k| (sent.at..heal + HEAL_GRACE).contains(k))
    }

    /// Notes that message `id` was sent at `at`.
    pub fn sent(&mut self, id: MsgId, at: Duration, from: usize) {
        let shown = vec![0; self.nodes];
        self.sent.insert(id, Sent { at, from, shown });
        self.order.push(id);
    }

    fn shown(&mut self, slot: usize, id: MsgId, history: bool) {
        let Some(sent) = self.sent.get_mut(&id) else {
            return;
        };
        sent.shown[slot] = sent.shown[slot].saturating_add(1);
        if !history {
            let newest = self.newest_live.entry((slot, id.origin)).or_insert(0);
            if id.seq < *newest {
                self.out_of_order += 1;
            }
            *newest = (*newest).max(id.seq);
        }
    }

    /// Forgets what node `slot` showed: it restarted, and a new run may
    /// show the history again.
    pub fn restarted(&mut self, slot: usize) {
        for sent in self.sent.values_mut() {
            sent.shown[slot] = 0;
        }
        self.newest_live.retain(|(s, _), _| *s != slot);
    }

    /// Checks every message against the nodes that were up from its
    /// sending to the end: `up_since[slot]` is when the node's current run
    /// began, `None` if it is down at the end. `partition` is when the
    /// network split and healed.
    pub fn check(
        &self,
        up_since: &[Option<Duration>],
        partition: Option<(Duration, Duration)>,
    ) -> Delivery {
        let mut found = Delivery {
            out_of_order: self.out_of_order,
            ..Delivery::default()
        };
        for (k, id) in self.order.iter().enumerate() {
            let sent = &self.sent[id];
            if self.stranded(sent, partition) {
                found.stranded += 1;
                continue;
            }
            for (slot, shown) in sent.shown.iter().enumerate() {
                if *shown > 1 {
                    found.repeated += 1;
                }
                if up_since[slot].is_some_and(|since| since <= sent.at) {
                    found.expected += 1;
                    if *shown == 0 {
                        found.missing += 1;
                        if found.examples.len() < 10 {
                            found.examples.push((k, sent.at, sent.from, slot));
                        }
                    }
                }
            }
        }
        found
    }
}

/// A simulated node's screen: notes the chat messages it shows.
pub struct Recorder {
    pub slot: usize,
    pub log: Arc<Mutex<Log>>,
}

impl Recording for Recorder {
    fn record(&self, event: &Event<'_>) {
        if let Event::Chat { shape, .. } = event {
            let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
            log.shown(self.slot, shape.id, shape.history);
        }
    }
}
