//! How a broadcast message reaches every node: the fan-out (whole, or
//! announced to the links that a neighbouring origin's own link makes
//! redundant), when to prune and graft, the tree's own messages (`PRUNE`,
//! `IHAVE`, `GRAFT`), and the ticks that send announcements and requests.
//! The per-link bookkeeping is in `link.rs` beside it; this file acts on it under the
//! node's lock.

use crate::message::FrameError;
use crate::node::id_hash::BuildIdHasher;
use crate::node::link::gather::{push, push_now, GATHER_FRAME};
use crate::node::mesh::peers::{Frame, Takers, Via};
use crate::node::state::{encode_with, resend, Shared, State, Waits, RECENT_AGE};
use crate::node::store::id_runs::IdRuns;
use crate::node::tree::link::{Pass, ANNOUNCE_EVERY, RANGES_PER_FRAME};
use crate::node::wakes::Task;
use crate::protocol::{self, EncodeError, IdList, IdRange, MsgId, NodeId, RangeList};
use crate::queue::Queue;
use crate::rt;
use futures::channel::mpsc;
use futures::StreamExt;

/// What one `GRAFT` costs of its link's resend allowance before any work:
/// an honest node asks rarely (a link closed, an announcement unanswered),
/// so a peer that asks thousands of times runs out at once.
pub const GRAFT_COST: usize = 16 << 10;
use std::collections::HashMap;
use std::sync::Arc;

/// The frame a message goes on in to the peers that take it whole.
#[derive(Clone, Copy)]
pub(in crate::node) enum Onward<'a> {
    /// The frame as it is: this node's own message, or one made for
    /// forwarding.
    AsIs,
    /// A chat message received as `body`: it goes on with hop limit `ttl`,
    /// in a frame made only if some peer takes it whole. Where every link
    /// is pruned for its origin, as in a full mesh, none does.
    Relayed { body: &'a str, ttl: u8 },
}

impl Onward<'_> {
    /// Appends the frame as it goes on, `frame` being the frame as it is.
    fn write(self, frame: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Onward::AsIs => {
                out.extend_from_slice(frame);
                Ok(())
            }
            Onward::Relayed { body, ttl } => protocol::encode_relayed(body, ttl, out),
        }
    }
}

impl Shared {
    /// Queues a new message's `frame` (as `onward` says) for the peers that
    /// take its origin whole, and notes it for announcing to the others.
    /// The caller has kept the frame for peers that may ask for it: in the
    /// history if it is a chat message, else in the recent cache. Never back to `from`, nor to the
    /// origin, which has it. The caller hands over the frames gathered
    /// (`Shared::hand_over`) before it releases the lock.
    pub(in crate::node) fn fan_out(
        &self,
        state: &mut State,
        from: Option<NodeId>,
        id: MsgId,
        frame: &[u8],
        onward: Onward<'_>,
        waits: &mut Waits,
    ) {
        let takers = state.peers.takers(id.origin, from);
        // Every other peer has it from the origin's own link: nothing to do.
        if matches!(takers, Takers::NoneFrom(start) if id.seq >= start) {
            return;
        }
        // A large frame is shared as it is, behind what was gathered before.
        let large = frame.len() > GATHER_FRAME;
        if large {
            state.gathered.flush(&mut state.peers, waits);
        }
        let State {
            peers, gathered, ..
        } = &mut *state;
        let mut announced = false;
        // The frame as it goes on, made once for every peer that takes it:
        // a part of the gathered run, or a frame of its own; `None` inside
        // if it cannot be made (it always can: a hop limit with fewer digits
        // makes a frame no longer than one that was read).
        let mut part = None;
        let mut shared = None;
        for (peer_id, peer) in peers.iter_mut() {
            if Some(*peer_id) == from || *peer_id == id.origin {
                continue;
            }
            let pass = match takers {
                Takers::All => Pass::Whole,
                _ => peer.link.pass(id),
            };
            match pass {
                Pass::Whole if large => {
                    let made =
                        shared.get_or_insert_with(|| encode_with(|out| onward.write(frame, out)));
                    if let Some(frame) = made {
                        push(peer, frame.clone(), waits);
                    }
                }
                Pass::Whole => {
                    let made = part.get_or_insert_with(|| {
                        gathered.append_with(|out| onward.write(frame, out)).ok()
                    });
                    if let Some(part) = made {
                        peer.take(part.clone());
                    }
                }
                Pass::Announced => {
                    peer.link.announce(id);
                    announced = true;
                }
                Pass::Not => {}
            }
        }
        gathered.flush_if_full(peers, waits);
        if announced {
            self.tick_soon(state);
        }
    }

    /// Peer `via` says that every message of its own numbered `seq` or
    /// later comes over this link (`START`). The other links' copies of
    /// them are then redundant: every other peer is told to announce them
    /// rather than send them whole.
    ///
    /// Only the origin's own link makes others redundant: it is the
    /// shortest path there is, and keeps the origin's order. Messages of
    /// origins further away keep coming whole over every link, so that no
    /// single link or node that stalls or dies stands between this node and
    /// them. Messages numbered below the start may be anywhere, so those
    /// announced are still asked for (see [`Shared::on_ihave`]). When the
    /// origin's link closes, the pruned links are grafted again (see
    /// [`Shared::origin_gone`]).
    pub fn on_start(&self, via: Via, seq: u64) {
        let mut guard = self.lock();
        let state = &mut *guard;
        // A replaced connection's last words say nothing of its successor.
        let Some(origin) = state.peers.current_mut(via) else {
            return;
        };
        if !origin.link.started(seq) {
            return;
        }
        state.peers.link_taken(via.peer);
        if !state.tree.prunes {
            return;
        }
        let start = MsgId {
            origin: via.peer,
            seq,
        };
        for (id, peer) in state.peers.iter_mut() {
            if *id != via.peer && peer.link.prune_by_us(via.peer) {
                send_prune(&peer.outbox, std::iter::once(start));
            }
        }
    }

    /// A live message `id`, new or not, came `via` a peer other than its
    /// origin. If the origin's own link brings it (it is numbered from that
    /// link's start on), that peer is told to announce the origin's
    /// messages rather than send them whole. This catches a link that a
    /// `GRAFT` made carry them whole again.
    pub(in crate::node) fn note_path(&self, state: &mut State, via: Option<Via>, id: MsgId) {
        let Some(via) = via.filter(|v| v.peer != id.origin && state.tree.prunes) else {
            return;
        };
        let own_from = state.peers.get(&id.origin).and_then(|o| o.link.own_from());
        let Some(start) = own_from.filter(|start| id.seq >= *start) else {
            return;
        };
        if let Some(peer) = state.peers.get_mut(&via.peer) {
            if peer.link.prune_by_us(id.origin) {
                let start = MsgId {
                    origin: id.origin,
                    seq: start,
                };
                send_prune(&peer.outbox, std::iter::once(start));
            }
        }
    }

    /// A link to peer `id` opened: it is told at once to announce, not
    /// send, the messages of each neighbour whose own link is under way.
    /// What it holds of theirs from before, this node may still ask for.
    pub(in crate::node) fn prune_new_link(&self, state: &mut State, id: NodeId) {
        if !state.tree.prunes {
            return;
        }
        let started: Vec<MsgId> = state
            .peers
            .iter()
            .filter(|(other, _)| **other != id)
            .filter_map(|(other, p)| {
                let seq = p.link.own_from()?;
                Some(MsgId {
                    origin: *other,
                    seq,
                })
            })
            .collect();
        if let Some(peer) = state.peers.get_mut(&id) {
            let pruned: Vec<MsgId> = started
                .into_iter()
                .filter(|start| peer.link.prune_by_us(start.origin))
                .collect();
            if !pruned.is_empty() {
                send_prune(&peer.outbox, pruned.into_iter());
            }
        }
    }

    /// The link to neighbour `origin` closed: its messages must come whole
    /// over the other links again. What was on its way over the closed link
    /// is lost, so the pruned links are asked for every one this node lacks
    /// from where that link began (`own_from`); a faster link may already
    /// have brought some later ones.
    pub(in crate::node) fn origin_gone(
        &self,
        state: &mut State,
        origin: NodeId,
        own_from: Option<u64>,
    ) {
        // No link is pruned for an origin before its link said its start.
        let Some(first) = own_from else {
            return;
        };
        let mut lacking = Vec::new();
        state.seen.missing(
            IdRange {
                origin,
                first,
                last: u64::MAX,
            },
            &mut lacking,
        );
        for (_, peer) in state.peers.iter_mut() {
            if peer.link.pruned_by_us(origin) {
                peer.link.graft_by_us(origin);
                send_graft(&peer.outbox, &lacking);
            }
        }
    }

    /// Peer `from` asks not to get these origins' messages whole: each
    /// `<origin>:<start>` says its link to the origin brings them from the
    /// start on, and only those below are to be announced. Ignored from a
    /// connection that a newer one replaced (see `PeerSet::current`).
    pub fn on_prune(&self, from: Via, starts: IdList<'_>) {
        let mut state = self.lock();
        if let Some(peer) = state.peers.current_mut(from) {
            for start in starts.iter() {
                peer.link.pruned_by_peer(start.origin, start.seq);
            }
        }
    }

    /// Peer `from` has these messages: those still missing when the grace
    /// period ends are asked of it. Not those of a neighbour from where its
    /// own link began: that link brings them all, in order, however far
    /// behind it runs. Within the peer's allowance of `IHAVE` bytes,
    /// checked before any range is looked at.
    pub fn on_ihave(&self, from: NodeId, ranges: RangeList<'_>) {
        let now = self.now();
        let mut state = self.lock();
        let Some(peer) = state.peers.get_mut(&from) else {
            return;
        };
        if !peer.link.may_announce(ranges.text_len(), now) {
            tracing::debug!(node = %from, "IHAVE ignored: its link's allowance is spent");
            return;
        }
        let mut missing = Vec::new();
        for mut range in ranges.iter() {
            let own_from = state
                .peers
                .get(&range.origin)
                .and_then(|p| p.link.own_from());
            if let Some(start) = own_from {
                match start.checked_sub(1) {
                    Some(before) => range.last = range.last.min(before),
                    None => continue,
                }
            }
            if range.first <= range.last {
                state.seen.missing(range, &mut missing);
            }
        }
        for range in missing {
            state.tree.wants.add(range, from, now);
        }
        if !state.tree.wants.is_empty() {
            self.tick_soon(&mut state);
        }
    }

    /// Peer `from` asks for these messages, and for their origins' messages
    /// whole from now on.
    /// Each request costs [`GRAFT_COST`] of the link's resend allowance.
    pub fn on_graft(&self, from: Via, ranges: RangeList<'_>) -> Waits {
        let now = self.now();
        let mut guard = self.lock();
        let state = &mut *guard;
        let mut waits = Waits::default();
        let Some(peer) = state.peers.current_mut(from) else {
            return waits;
        };
        let ranges: Vec<IdRange> = ranges.iter().collect();
        for range in &ranges {
            peer.link.grafted_by_peer(range.origin);
        }
        // A request costs a share of the link's allowance before any work:
        // looking through the recent messages is work even when it finds
        // nothing. Copies stop where the allowance does.
        let Some(mut allowance) = peer.link.resend_allowance(now).checked_sub(GRAFT_COST) else {
            tracing::debug!(node = %from.peer, "GRAFT ignored: its link's allowance is spent");
            return waits;
        };
        peer.link.resent(GRAFT_COST);
        // Chat messages from the history, the rest from the recent cache,
        // as young as the recent cache keeps.
        let wanted = IdRuns::new(ranges.iter().copied());
        let mut found = state.history.recent(&wanted, now, RECENT_AGE, allowance);
        let spent: usize = found.iter().map(|(f, _)| f.len()).sum();
        found.extend(
            state
                .tree
                .recent
                .get(&wanted, now, allowance.saturating_sub(spent)),
        );
        for (frame, age) in found {
            // As with history (§5.5).
            let Some(frame) = resend(frame, age, self.id) else {
                continue;
            };
            let Some(left) = allowance.checked_sub(frame.len()) else {
                break;
            };
            allowance = left;
            peer.link.resent(frame.len());
            push(peer, frame, &mut waits);
        }
        waits
    }

    /// Sends the announcements gathered since the last tick, and asks for
    /// the announced messages still missing after the grace period. Returns
    /// whether more ticks are needed.
    pub(in crate::node) fn tree_tick(&self) -> bool {
        let now = self.now();
        let mut guard = self.lock();
        let state = &mut *guard;
        for (_, peer) in state.peers.iter_mut() {
            if peer.link.has_announcements() {
                let ranges = peer.link.take_announcements();
                send_ranges(&peer.outbox, &ranges, |r, out| {
                    protocol::encode_ihave(r.iter().copied(), out)
                });
            }
        }
        let seen = &state.seen;
        let peers = &state.peers;
        // A want whose announcer left is asked of any other peer.
        let due = state.tree.wants.due(
            now,
            |range, out| seen.missing(range, out),
            |from| match peers.get(&from) {
                Some(_) => Some(from),
                None => peers.iter().next().map(|(id, _)| *id),
            },
        );
        let mut plan: HashMap<NodeId, Vec<IdRange>, BuildIdHasher> = HashMap::default();
        for (peer, range) in due {
            plan.entry(peer).or_default().push(range);
        }
        for (id, ranges) in plan {
            if let Some(peer) = state.peers.get_mut(&id) {
                for range in &ranges {
                    peer.link.graft_by_us(range.origin);
                }
                send_graft(&peer.outbox, &ranges);
            }
        }
        // Every announcement went out above, under this same lock.
        let busy = !state.tree.wants.is_empty();
        state.tree.ticking = busy;
        busy
    }

    /// Makes sure the ticks run.
    fn tick_soon(&self, state: &mut State) {
        if !state.tree.ticking {
            state.tree.ticking = true;
            self.wakes.wake(Task::Tree);
        }
    }
}

/// Queues a `PRUNE` for these `<origin>:<start>` pairs.
fn send_prune(outbox: &Queue<Frame>, starts: impl Iterator<Item = MsgId>) {
    push_now(
        outbox,
        encode_with(|out| protocol::encode_prune(starts, out)),
    );
}

/// Queues a `GRAFT` asking for `ranges`.
fn send_graft(outbox: &Queue<Frame>, ranges: &[IdRange]) {
    send_ranges(outbox, ranges, |r, out| {
        protocol::encode_graft(r.iter().copied(), out)
    });
}

/// Queues `ranges` as frames of at most [`RANGES_PER_FRAME`] each.
fn send_ranges(
    outbox: &Queue<Frame>,
    ranges: &[IdRange],
    encode: impl Fn(&[IdRange], &mut Vec<u8>) -> Result<(), FrameError>,
) {
    for chunk in ranges.chunks(RANGES_PER_FRAME) {
        push_now(outbox, encode_with(|out| encode(chunk, out)));
    }
}

/// Ticks every [`ANNOUNCE_EVERY`] while there is something to announce or
/// ask; asleep otherwise, so an idle node does not wake for it.
pub(in crate::node) async fn run(shared: Arc<Shared>, mut wake: mpsc::Receiver<()>) {
    while wake.next().await.is_some() {
        loop {
            rt::sleep(ANNOUNCE_EVERY).await;
            if shared.is_quitting() || !shared.tree_tick() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests;
