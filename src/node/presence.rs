//! Presence: who is online, and how a node learns that a user is gone
//! without every node telling every other every few seconds.
//!
//! - A user is *online* while nothing says otherwise. Their messages, and
//!   peers' rosters, carry the newest sequence number heard of them.
//! - A node that loses its link to a peer without hearing it leave
//!   *suspects* the peer's user and tells its peers in a `SUSPECT` (each
//!   node passes a suspicion on once). The user, if still there, answers
//!   with its own roster entry at a fresh number, which clears it
//!   everywhere; a user who says nothing newer within [`SUSPICION`] is
//!   shown as lost.
//! - A roster that lists a lost user at no newer number is stale: the node
//!   asks the network to check, with a `SUSPECT` the user answers if it
//!   can. This is how the users of the other part come back after a split.
//! - Links carry a `PING` every [`PING_EVERY`], so that a dead one is told
//!   from a quiet one, and each node sends its entry at a fresh number (a
//!   heartbeat) at a pace that slows as the network grows
//!   ([`heartbeat_every`]): what every node hears of heartbeats stays
//!   bounded, and a user nobody watched is still lost in the end.
//! - Entries at newer numbers and suspicions are news, passed on once by
//!   each node, gathered into lists (`news.rs`).
//!
//! The handlers run under the node's lock like the others; the glue at the
//! bottom only calls [`Shared::presence_tick`] every [`TICK`].

use crate::display::Event;
use crate::node::link::gather::push_now;
use crate::node::mesh::peers::{Frame, Via};
use crate::node::state::{encode_with, Shared, State, Waits};
use crate::node::store::roster::Heard;
use crate::node::store::seen::Path;
use crate::protocol::{self, IdList, Message, MsgId, NodeId, Presence, PresenceKind};
use crate::rt;
use rosters::{joined_frames, roster_frames};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the presence task runs.
pub const TICK: Duration = Duration::from_secs(1);
/// Every link carries a `PING` this often, so a link silent for
/// [`LINK_IDLE`](crate::node::link::connection::LINK_IDLE) is dead.
pub const PING_EVERY: Duration = Duration::from_secs(4);
/// How long a suspected user has to say something newer.
pub const SUSPICION: Duration = Duration::from_secs(6);
/// Heartbeats a user may miss before a node takes them for lost without
/// any suspicion.
const BEATS_MISSED: u32 = 4;
/// Entries of `SUSPECT` lists looked at per link per [`SUSPECT_WINDOW`]:
/// enough for the users of one part of a split network, and a bound on the
/// lookups a peer can make this node do.
pub const SUSPECT_ENTRIES: usize = 4096;
pub const SUSPECT_WINDOW: Duration = Duration::from_secs(1);
/// A node answers suspicions of itself at most this often: one answer
/// clears them all.
const REFUTE_GAP: Duration = Duration::from_secs(1);
/// Entries per `ROSTER` or `SUSPECT` frame, well inside a frame's size
/// limit with names of the longest.
const ENTRIES_PER_FRAME: usize = 400;
/// How long a node tells each new peer of a user it lost: long enough
/// for a node that was cut off while a suspicion spread, by a crash of its
/// links or a split of the network, to hear of it when it links again.
const DOUBTS_TOLD: Duration = Duration::from_secs(120);
/// How long after joining a node tells each new peer of its join, first
/// thing: a peer would otherwise learn of the user from the node's roster,
/// quietly, and pass that on ahead of the join's news.
const JOIN_TOLD: Duration = Duration::from_secs(10);
/// Users lost at once that are each shown on a line of their own; more
/// make one line naming this many.
const LOST_NAMED: usize = 5;

/// How often a node sends a heartbeat in a network of `online` users: once a
/// minute in a small one, and slower as it grows, so that all of them
/// together send one every 4 s, up to once every 4 hours each. It is a
/// backstop: a crash is found by its neighbours, not by silence.
pub fn heartbeat_every(online: usize) -> Duration {
    let pace = Duration::from_secs(4).saturating_mul(online as u32);
    pace.clamp(Duration::from_secs(60), Duration::from_secs(4 * 3600))
}

/// When the presence task does what next.
pub(super) struct Beat {
    next_ping: Instant,
    next_sweep: Instant,
    /// When this node last flooded a presence message of its own (a join,
    /// a heartbeat, a rename): a heartbeat is due a period after it,
    /// [`jitter`](Self::jitter) of it, the period as the network is then.
    announced: Instant,
    /// A tenth either way, drawn afresh at each heartbeat, so that nodes
    /// started together drift apart.
    jitter: f64,
    /// When this node last answered a suspicion of its user.
    refuted: Option<Instant>,
    /// A suspicion of its user came before the answer's gap had passed:
    /// the next tick answers it.
    refute_due: bool,
    /// This node's join, and when it was sent.
    joined: Option<(MsgId, Instant)>,
}

impl Beat {
    /// The schedule of a node starting at `now`. Its start counts as its
    /// first announcement: whoever learns of it, from its join or from a
    /// roster, learns a fresh number. The first heartbeat comes a period
    /// later, `offset` of a tenth either way.
    pub fn new(now: Instant, offset: f64) -> Self {
        Beat {
            next_ping: now + PING_EVERY,
            next_sweep: now + heartbeat_every(1),
            announced: now,
            jitter: jitter(offset),
            refuted: None,
            refute_due: false,
            joined: None,
        }
    }
}

impl Shared {
    /// The presence task's work, due or not: pings, suspicions that ended,
    /// the heartbeat, and the sweep for users not heard of at all.
    pub fn presence_tick(&self) -> Waits {
        let now = self.now();
        let mut state = self.lock();
        let st = &mut *state;
        if now >= st.beat.next_ping {
            st.beat.next_ping = now + PING_EVERY;
            let ping = encode_with(|out| Message::Ping.encode(out));
            for (_, peer) in st.peers.iter() {
                push_now(&peer.outbox, ping.clone());
            }
        }
        self.first_roster_check(st, now);
        let period = heartbeat_every(st.roster.online_count());
        let mut lost = st.roster.end_suspicions(now);
        if now >= st.beat.next_sweep {
            st.beat.next_sweep = now + period / 2;
            lost.extend(st.roster.expire(now, period * BEATS_MISSED, self.id));
        }
        // A suspicion of this node's user that came too soon after the
        // last answer is answered now.
        let answer = st.beat.refute_due && refute_now(&mut st.beat, now);
        // A heartbeat repeats what the node's last announcement said: it
        // waits a period from that.
        let due = now >= st.beat.announced + period.mul_f64(st.beat.jitter);
        let beat = answer || due;
        if beat {
            st.beat.jitter = jitter(st.peers.random_below(1000) as f64 / 1000.0);
        }
        self.tell_lost(st, &lost);
        let mut waits = Waits::default();
        self.hand_over(st, &mut waits);
        drop(state);
        if beat {
            self.tell_alive();
        }
        waits
    }

    /// Shows the users just lost: one line each, or one for many.
    fn tell_lost(&self, state: &mut State, lost: &[(NodeId, String)]) {
        let shown: Vec<String> = lost
            .iter()
            .take(LOST_NAMED + 1)
            .map(|(id, name)| state.roster.display_name(*id, name))
            .collect();
        match lost.len() {
            0 => {}
            n if n <= LOST_NAMED => {
                for name in shown {
                    self.show(state, Event::Notice(&format!("{name} lost connection")));
                }
            }
            n => {
                let line = format!(
                    "{n} users lost connection: {} and {} more",
                    shown[..LOST_NAMED].join(", "),
                    n - LOST_NAMED
                );
                self.show(state, Event::Notice(&line));
            }
        }
    }

    /// The link to `id` ended without a word from it: its user may be gone.
    /// Suspects them, and tells the network.
    pub(super) fn suspect_lost_link(&self, state: &mut State, id: NodeId) {
        let Some(seq) = state.roster.seq_of(id) else {
            return;
        };
        if state.roster.suspect(id, seq, self.now(), SUSPICION) {
            tracing::debug!(node = %id, seq, "link lost: its user is suspected");
            self.pass_suspicions(state, None, &[MsgId { origin: id, seq }]);
        }
    }

    /// Takes in a peer's `SUSPECT` list, within the link's allowance, and
    /// passes on what was news. A suspicion of this node's own user is
    /// answered with a heartbeat; one of a user this node heard from since
    /// the suspicion's number is answered to the peer with a `ROSTER` entry
    /// at that newer number (the peer may have missed a message the user
    /// sent while the network was split).
    pub fn on_suspect(&self, via: Via, list: IdList<'_>) -> Waits {
        let now = self.now();
        let mut state = self.lock();
        let st = &mut *state;
        let Some(peer) = st.peers.current_mut(via) else {
            return Waits::default();
        };
        let allowed = peer.suspicions.left(SUSPECT_ENTRIES, SUSPECT_WINDOW, now);
        let (mut looked, mut of_me) = (0, false);
        let mut news = Vec::new();
        // Users this node heard say something newer than the suspicion's
        // number: the peer is told, so that it can take them back.
        let mut newer: Vec<(MsgId, String)> = Vec::new();
        // Since the node's last message: an older suspicion is answered
        // already, wherever that message arrives.
        let newest_own = st.next_seq().saturating_sub(1);
        for id in list.iter().take(allowed) {
            looked += 1;
            if id.origin == self.id {
                if id.seq >= newest_own {
                    of_me = true;
                    st.skip_past(id.seq, self.clock.unix_micros());
                }
            } else if st.departed.has_left(id.origin) {
                continue;
            } else if st.roster.suspect(id.origin, id.seq, now, SUSPICION) {
                news.push(id);
            } else {
                // No news: if this node gathered the suspicion, the peer
                // has it.
                st.news.told_suspect(id, via.peer);
                if let Some((seq, name)) = st.roster.vouched(id.origin) {
                    if seq > id.seq {
                        let origin = id.origin;
                        newer.push((MsgId { origin, seq }, name.to_owned()));
                    }
                }
            }
        }
        if let Some(peer) = st.peers.current_mut(via) {
            peer.suspicions.spend(looked);
        }
        self.pass_suspicions(st, Some(via.peer), &news);
        if let Some(peer) = st.peers.current(via) {
            let entries: Vec<(MsgId, &str)> = newer
                .iter()
                .map(|(id, name)| (*id, name.as_str()))
                .collect();
            for frame in roster_frames(&entries) {
                push_now(&peer.outbox, Some(frame));
            }
        }
        st.beat.refute_due |= of_me;
        let answer = st.beat.refute_due && refute_now(&mut st.beat, now);
        drop(state);
        if answer {
            self.tell_alive();
        }
        Waits::default()
    }

    /// Handles a presence message: updates the roster, shows what changed,
    /// and forwards it once, like a chat message.
    pub fn on_presence(&self, via: Option<Via>, p: &Presence<'_>) -> Waits {
        let now = self.now();
        let mut state = self.lock();
        self.note_path(&mut state, via, p.id);
        let from = via.map(|v| v.peer);
        let path = match from == Some(p.id.origin) {
            true => Path::Direct,
            false => Path::Relayed,
        };
        let st = &mut *state;
        let kept = |o| st.roster.is_online(o) || st.peers.get(&o).is_some();
        if !st.seen.insert_keeping(p.id, path, now, kept).is_new() {
            return Waits::default();
        }
        let mut waits = Waits::default();
        let origin = p.id.origin;
        if origin != self.id {
            match p.kind {
                PresenceKind::Leave => {
                    let shown = state.roster.display_name(origin, p.name);
                    state.roster.left(origin);
                    state.departed.left(origin, p.id.seq);
                    state.peers.forget(origin);
                    self.show(&mut state, Event::Notice(&format!("{shown} left")));
                }
                PresenceKind::Nick if state.departed.may_return(origin, p.id.seq) => {
                    let heard = state.roster.heard(origin, p.name, p.id.seq, now);
                    self.announce(&mut state, origin, p.name, heard, HeardBy::Other);
                }
                // Sent before its origin left: passed on, but not believed.
                _ => {}
            }
        }
        if p.ttl > 0 {
            let forwarded = Presence {
                ttl: p.ttl - 1,
                ..*p
            };
            // A presence message that cannot be encoded is not passed on.
            let _ = state.with_frame(
                |out| Message::Presence(forwarded).encode(out),
                |state, frame| {
                    // Kept for peers that ask for it; chat messages are
                    // kept in the history instead.
                    state.tree.recent.insert(p.id, frame, now);
                    let onward = crate::node::tree::broadcast::Onward::AsIs;
                    self.fan_out(state, from, p.id, frame, onward, &mut waits)
                },
            );
        }
        self.hand_over(&mut state, &mut waits);
        waits
    }

    /// Shows what hearing from a user changed. A join is announced; a user
    /// first heard of otherwise (a heartbeat, a roster) was there before us
    /// and is added quietly.
    pub(super) fn announce(
        &self,
        state: &mut State,
        id: NodeId,
        name: &str,
        heard: Heard,
        by: HeardBy,
    ) {
        let shown = || state.roster.display_name(id, name);
        let text = match heard {
            // A join is a one-time event: news even if a roster named the
            // user a moment before it arrived.
            Heard::Full | Heard::Stale => return,
            _ if by == HeardBy::Join => format!("{} joined", shown()),
            Heard::Back => format!("{} is back", shown()),
            Heard::Renamed(old) => format!("{old} is now known as {}", shown()),
            Heard::New | Heard::Newer | Heard::Same => return,
        };
        self.show(state, Event::Notice(&text));
    }

    /// This node's doubts as `SUSPECT` frames, for a peer that has just
    /// linked: a user it lost, or suspects, while the peer was elsewhere
    /// would otherwise stay online there (rosters leave such users out,
    /// which tells nothing). Only those `in_buckets` the peer's digest
    /// differs in: where it agrees, the peer lists the same users online,
    /// and none of these.
    pub(super) fn own_doubts(
        &self,
        state: &State,
        in_buckets: impl Fn(&MsgId) -> bool,
    ) -> Vec<Frame> {
        let mut doubts = state.roster.doubts(self.now(), DOUBTS_TOLD);
        doubts.retain(|id| in_buckets(id));
        suspect_frames(&doubts)
    }

    /// Tells the network this node's user is still there: its roster entry
    /// at a fresh number, as news to every peer. It answers a suspicion,
    /// wherever it arrives, and is the heartbeat.
    pub fn tell_alive(&self) {
        let (id, _) = self.next_id();
        let mut state = self.lock();
        state.news.online(id, None);
        self.news_soon(&mut state);
    }

    /// Tells the network this node's user joined it: its roster entry at
    /// a fresh number, as a `JOIN`, to every peer at once, and to each new
    /// peer for a while ([`JOIN_TOLD`]).
    pub fn tell_joined(&self) {
        let (id, name) = self.next_id();
        let now = self.now();
        let mut state = self.lock();
        state.roster.joined(self.id, id.seq);
        state.beat.joined = Some((id, now));
        for frame in joined_frames(&[(id, &name)]) {
            for (_, peer) in state.peers.iter() {
                push_now(&peer.outbox, Some(frame.clone()));
            }
        }
    }

    /// This node's `JOIN`, for a new peer, while it is recent.
    pub(in crate::node) fn own_join(&self, state: &State) -> Option<Frame> {
        let (id, at) = state.beat.joined?;
        if self.now().saturating_duration_since(at) >= JOIN_TOLD {
            return None;
        }
        joined_frames(&[(id, &state.name)]).pop()
    }

    /// Gathers suspicions of `ids` for every peer but `except`.
    pub(super) fn pass_suspicions(&self, state: &mut State, except: Option<NodeId>, ids: &[MsgId]) {
        for id in ids {
            state.news.suspect(*id, except);
        }
        self.news_soon(state);
    }

    /// Floods a presence message about this node's user.
    pub fn announce_self(&self, kind: PresenceKind) -> Waits {
        let (id, name) = self.next_id();
        self.on_presence(
            None,
            &Presence {
                kind,
                ttl: protocol::INITIAL_TTL + 1, // on_presence lowers it as it forwards
                id,
                name: &name,
            },
        )
    }

    /// Renames this node's user, everywhere.
    pub fn rename(&self, name: &str) -> Waits {
        {
            let mut state = self.lock();
            state.name = name.into();
            let seq = state.next_seq();
            state.roster.heard(self.id, name, seq, self.now());
        }
        self.display.set_name(name);
        self.announce_self(PresenceKind::Nick)
    }

    /// A fresh message id, with the user's current name.
    fn next_id(&self) -> (MsgId, Arc<str>) {
        let now = self.now();
        let mut state = self.lock();
        state.beat.announced = now;
        (state.next_id(self.id), state.name.clone())
    }
}

/// How a user was heard of: a `JOIN` is news in itself, even from a user a
/// roster named a moment before; anything else shows only what it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeardBy {
    Join,
    Other,
}

/// Whether a due answer to a suspicion may go now (and notes that it
/// does): one a [`REFUTE_GAP`] at most.
fn refute_now(beat: &mut Beat, now: Instant) -> bool {
    let ready = beat
        .refuted
        .map_or(true, |t| now.saturating_duration_since(t) >= REFUTE_GAP);
    if ready {
        beat.refuted = Some(now);
        beat.refute_due = false;
    }
    ready
}

/// A heartbeat period's share for a draw `offset` in 0..1: a tenth either
/// way.
fn jitter(offset: f64) -> f64 {
    0.9 + 0.2 * offset.clamp(0.0, 1.0)
}

/// `SUSPECT` frames listing `ids`, as many frames as it takes.
fn suspect_frames(ids: &[MsgId]) -> Vec<Frame> {
    list_frames(ids, |chunk, out| {
        protocol::encode_suspect(chunk.iter().copied(), out)
    })
}

/// A list's frames, [`ENTRIES_PER_FRAME`] entries each, as `encode` writes
/// them; a chunk it refuses is left out.
fn list_frames<T, E>(
    entries: &[T],
    encode: impl Fn(&[T], &mut Vec<u8>) -> Result<(), E>,
) -> Vec<Frame> {
    (entries.chunks(ENTRIES_PER_FRAME))
        .filter_map(|chunk| encode_with(|out| encode(chunk, out)))
        .collect()
}

/// The presence task: runs [`Shared::presence_tick`] every [`TICK`], and
/// with `--verbose` tells of connections turned away.
pub(super) async fn run(shared: Arc<Shared>) {
    let mut refusals_told = None;
    loop {
        rt::sleep(TICK).await;
        if shared.is_quitting() {
            return;
        }
        shared.presence_tick().wait().await;
        shared.tell_refusals(&mut refusals_told);
    }
}

pub(in crate::node) mod first_roster;
pub(in crate::node) mod news;
mod rosters;
#[cfg(test)]
mod tests;
