//! The node's shared state, which the handlers that the connections, the
//! prompt and the heartbeat call act on, and how they queue frames.
//!
//! All state sits behind one `Mutex` that is never held across an `.await`.
//! A handler runs under the lock in one step (seen-check, roster, history,
//! display, fan-out to the peers' queues), which keeps every sender's messages
//! in order and costs no task hop; the chat messages of one read share one
//! hold of the lock (`ChatBatch`). Pushing to a queue never waits; a full
//! queue makes the *source* wait afterwards, outside the lock (see [`Waits`]).
//!
//! The handlers live beside this file: chat and presence messages in
//! `chat.rs`, admitting and forgetting peers in `membership.rs`, the
//! broadcast tree in `broadcast.rs`.

use crate::display::Event;
use crate::message::HEADER_LEN;
use crate::node::clock::Clock;
use crate::node::history_marks::Run as HistoryRun;
use crate::node::link::gather::Gathered;
use crate::node::link::pending::Pending;
use crate::node::mesh::peers::{Frame, Limits, PeerSet};
use crate::node::presence::first_roster::FirstRoster;
use crate::node::presence::news::News;
use crate::node::presence::Beat;
use crate::node::screen::Screen;
use crate::node::store::departed::Departed;
use crate::node::store::history::{History, Window};
use crate::node::store::roster::Roster;
use crate::node::store::seen::{SeenCache, AHEAD};
use crate::node::tree::Tree;
use crate::node::wakes::{Task, Wakes};
use crate::protocol::{self, Chat, EncodeError, Message, MsgId, NodeId};
use crate::queue::Queue;
use crate::rt;
use crate::secure::Identity;
use futures::channel::mpsc;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Bytes queued for one peer before its sources wait. The kernel buffers
/// as much again at each end of the link (see [`rt::SOCKET_BUFFER`]), so
/// more here would not keep a link busier; it would grow what a closed
/// link can lose, and with it the recent cache below, which every message
/// is written through: a smaller cache stays in the processor's caches
/// more. With 256 KiB rather than 1 MiB, a 5-node chain spent about 6%
/// less CPU per message.
pub const OUTBOX_BYTES: usize = 256 << 10;
/// How long a message id is remembered, at least: twice the history
/// window if that is longer, so that a replay never outlives the
/// receiver's memory of it.
const SEEN_TTL: Duration = Duration::from_secs(3600);
/// Origins the seen-cache remembers: as many as the roster's users.
const SEEN_ORIGINS: usize = crate::node::store::roster::MAX_MEMBERS;
/// A replayed message younger than this is still news: it goes out as it
/// would be passed on, not marked as history (see [`resend`]).
pub(in crate::node) const STILL_LIVE: Duration = Duration::from_secs(2);
/// Bytes of recent messages kept for peers that ask for them (`GRAFT`),
/// and for how long at most. When a link closes, what its peer lost is what
/// was in flight on it: the sender's outbox, the kernel buffers at both ends
/// (each twice [`rt::SOCKET_BUFFER`], as Linux counts them), a batch being
/// written and the reader's buffers. Keeping twice that covers a closed
/// link in a flood at full speed; floods from several nodes at once share
/// it. More would cost memory, and page faults as it first fills.
pub(in crate::node) const RECENT_BYTES: usize =
    2 * (OUTBOX_BYTES + 4 * rt::SOCKET_BUFFER + (512 << 10));
pub(in crate::node) const RECENT_AGE: Duration = Duration::from_secs(60);

/// How links are secured.
pub struct Security {
    pub identity: Identity,
    /// The key derived from the room secret, if the room has one.
    pub room_key: Option<[u8; 32]>,
}

/// What every task of the node shares.
pub(in crate::node) struct Shared {
    pub id: NodeId,
    /// `None` only when running plaintext for a benchmark.
    pub security: Option<Security>,
    pub port: u16,
    /// The chat room: only nodes of the same room connect.
    pub room: String,
    state: Mutex<State>,
    pub display: Arc<dyn Screen>,
    /// Where the core reads the time.
    pub clock: Arc<dyn Clock>,
    /// Wakes the tasks around the core: the dialer, the tree's ticks, the
    /// history marks.
    pub(in crate::node) wakes: Arc<dyn Wakes>,
    pub next_conn: AtomicU64,
    /// Inbound connections in their handshake, and those turned away.
    pending: Mutex<Pending>,
    pub quitting: AtomicBool,
    /// Set by the first connection ever admitted.
    pub(in crate::node) connected_once: AtomicBool,
    /// Cloned into each connection task; dropped by `quit` to learn when all are done.
    tasks: Mutex<Option<mpsc::Sender<()>>>,
    /// Show connection-level events in the chat (`--verbose`).
    pub verbose: AtomicBool,
    /// The last connection-level events, for `:peers`.
    link_events: Mutex<VecDeque<String>>,
}

/// Connection-level events `:peers` shows.
const LINK_EVENTS_KEPT: usize = 10;

pub(in crate::node) struct State {
    /// This node's user's name; `:nick` changes it.
    pub name: Arc<str>,
    next_seq: u64,
    /// Reused for encoding, so a frame costs one allocation: its own.
    pub(in crate::node) scratch: Vec<u8>,
    /// Small frames for the peers from the handler under way.
    pub(in crate::node) gathered: Gathered,
    pub peers: PeerSet,
    pub(in crate::node) seen: SeenCache,
    pub(in crate::node) history: History,
    pub roster: Roster,
    /// Users who left lately: no earlier message brings them back.
    pub departed: Departed,
    /// History lines shown since its start mark.
    pub history_run: HistoryRun,
    /// The first roster came, and who is online was shown.
    pub greeted: bool,
    /// Learning the first roster, while other links wait.
    pub(in crate::node) first_roster: FirstRoster,
    /// The broadcast tree's wants, recent messages and ticks.
    pub(in crate::node) tree: Tree,
    /// Lines to show, formatted under the lock and handed to the display in
    /// one go before it is released (see `Shared::hand_over`): one hold
    /// of the display's lock and one wake-up for a read's worth of lines,
    /// in the order the node decided them.
    pub(in crate::node) shown: Vec<u8>,
    /// The last few peers that closed a link before taking it (it said
    /// `ERROR` where `START` was due), and why: what an explicit join
    /// reports when it fails.
    pub(in crate::node) refused_by: VecDeque<(NodeId, String)>,
    /// When presence pings, beats and sweeps next.
    pub(in crate::node) beat: Beat,
    /// Presence news waiting to be sent as lists.
    pub(in crate::node) news: News,
}

/// Refusals [`State::refused_by`] keeps.
const REFUSALS_KEPT: usize = 8;

/// Queues that were full after a push: the source waits for them before it
/// takes its next message (a connection: before its next read, so a queue
/// may overshoot by what one read brought), which is how backpressure
/// reaches a socket or the prompt. Never waited for under the lock.
#[derive(Default)]
#[must_use]
pub(in crate::node) struct Waits {
    outboxes: Vec<Arc<Queue<Frame>>>,
    display: Option<Arc<dyn Screen>>,
}

impl Waits {
    /// Notes that the display's queue was full after a push.
    pub(in crate::node) fn wait_for_display(&mut self, display: &Arc<dyn Screen>) {
        self.display = Some(display.clone());
    }

    /// Notes that a peer's queue was full after a push; once, however many
    /// pushes found it full.
    pub(in crate::node) fn wait_for_outbox(&mut self, outbox: &Arc<Queue<Frame>>) {
        if !self.outboxes.iter().any(|o| Arc::ptr_eq(o, outbox)) {
            self.outboxes.push(outbox.clone());
        }
    }

    /// True if some queue was full: the source should wait before it
    /// takes its next message.
    pub fn must_wait(&self) -> bool {
        !self.outboxes.is_empty() || self.display.is_some()
    }

    /// Adds the queues `other` waits for.
    pub fn add(&mut self, other: Waits) {
        for q in &other.outboxes {
            self.wait_for_outbox(q);
        }
        self.display = self.display.take().or(other.display);
    }

    pub async fn wait(self) {
        for q in self.outboxes {
            q.space().await;
        }
        if let Some(d) = self.display {
            d.space().await;
        }
    }
}

impl State {
    /// Notes that `peer` closed a link before taking it, and why.
    pub(in crate::node) fn note_refusal(&mut self, peer: NodeId, reason: &str) {
        if self.refused_by.len() == REFUSALS_KEPT {
            self.refused_by.pop_front();
        }
        self.refused_by.push_back((peer, reason.to_owned()));
    }

    /// Why `peer` last refused a link, if it did lately.
    pub(in crate::node) fn refusal_by(&self, peer: NodeId) -> Option<&str> {
        let found = self.refused_by.iter().rev().find(|(id, _)| *id == peer);
        found.map(|(_, reason)| reason.as_str())
    }

    /// The number this node's next message of its own will carry.
    pub(in crate::node) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Numbers this node's next messages above `seq`, a number heard in
    /// its name that it never used (a peer made it up): an answer below it
    /// would not clear a suspicion at it. Only a number the seen-cache
    /// would take (at most [`AHEAD`] ahead of `clock_micros`) moves it.
    pub(in crate::node) fn skip_past(&mut self, seq: u64, clock_micros: u64) {
        if seq <= clock_micros.saturating_add(AHEAD) {
            self.next_seq = self.next_seq.max(seq.saturating_add(1));
        }
    }

    pub(in crate::node) fn next_id(&mut self, origin: NodeId) -> MsgId {
        let seq = self.next_seq;
        self.next_seq += 1;
        MsgId { origin, seq }
    }

    /// Encodes a message into a frame of its own, for queues that keep it.
    pub(in crate::node) fn encode(&mut self, message: &Message<'_>) -> Result<Frame, EncodeError> {
        self.with_frame(
            |out| message.encode(out),
            |_, frame| Frame::copy_from_slice(frame),
        )
    }

    /// Writes a frame with `write` into the scratch buffer and hands it,
    /// with the state, to `then`: a frame that is only copied onwards (into
    /// the history, the recent cache and the peers' gathered frames) needs
    /// no allocation of its own.
    pub(in crate::node) fn with_frame<E, R>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
        then: impl FnOnce(&mut State, &[u8]) -> R,
    ) -> Result<R, E> {
        let mut frame = std::mem::take(&mut self.scratch);
        frame.clear();
        let result = write(&mut frame).map(|()| then(self, &frame));
        self.scratch = frame;
        result
    }
}

/// What a node is: who, where, and how much it keeps.
pub(in crate::node) struct Who {
    pub id: NodeId,
    pub name: String,
    pub room: String,
    /// The port it listens on, which it tells its peers.
    pub port: u16,
    pub limits: Limits,
    pub history: Window,
    /// `None` only when running plaintext for a benchmark.
    pub security: Option<Security>,
    pub verbose: bool,
    /// Prune copies through the broadcast tree; off only to measure what
    /// the tree saves.
    pub tree: bool,
}

/// How the core reaches the world around it: the screen, the clocks, and
/// the tasks it wakes.
pub(in crate::node) struct Surroundings {
    pub display: Arc<dyn Screen>,
    pub clock: Arc<dyn Clock>,
    pub wakes: Arc<dyn Wakes>,
    /// Cloned into each connection task (see [`Shared::task_token`]).
    pub tasks: mpsc::Sender<()>,
}

impl Shared {
    pub fn new(me: Who, around: Surroundings) -> Shared {
        let Who {
            id,
            name,
            room,
            port,
            limits,
            history,
            security,
            verbose,
            tree,
        } = me;
        let now = around.clock.now();
        let seen_ttl = SEEN_TTL.max(history.age.saturating_mul(2));
        let mut roster = Roster::new(SEEN_TTL);
        let next_seq = around.clock.unix_micros();
        // Its own entry is at its newest number (see `own_entries`), below
        // the next: a rename, at the next, is newer.
        roster.heard(id, &name, next_seq - 1, now);
        let beat = Beat::new(
            now,
            crate::node::random::Rng::default().below(1000) as f64 / 1000.0,
        );
        Shared {
            id,
            security,
            port,
            room,
            state: Mutex::new(State {
                name: name.into(),
                // Sequence numbers start at the time in microseconds, so
                // that a node that restarts with the same id (a kept key)
                // still counts upwards.
                next_seq,
                scratch: Vec::new(),
                gathered: Gathered::default(),
                peers: PeerSet::new(id, limits),
                seen: SeenCache::new(SEEN_ORIGINS, seen_ttl).with_clock(around.clock.clone()),
                history: History::new(history),
                roster,
                departed: Departed::default(),
                history_run: HistoryRun::default(),
                greeted: false,
                first_roster: FirstRoster::NotAsked,
                tree: Tree::new(tree),
                shown: Vec::new(),
                refused_by: VecDeque::new(),
                beat,
                news: News::default(),
            }),
            display: around.display,
            clock: around.clock,
            wakes: around.wakes,
            next_conn: AtomicU64::new(1),
            pending: Mutex::new(Pending::default()),
            quitting: AtomicBool::new(false),
            connected_once: AtomicBool::new(false),
            tasks: Mutex::new(Some(around.tasks)),
            verbose: AtomicBool::new(verbose),
            link_events: Mutex::new(VecDeque::new()),
        }
    }

    /// The time, as the core reads it.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; recover rather than cascade.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The inbound connections in their handshake, and those turned away.
    pub fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn notice(&self, text: String) {
        self.display.show(&Event::Notice(&text));
    }

    /// A connection-level event (a link made or closed): kept for `:peers`
    /// and logged, and shown in the chat only with `--verbose`, where it
    /// would drown what users say.
    pub fn link_event(&self, text: String) {
        tracing::info!("{text}");
        if self.verbose.load(Ordering::Relaxed) {
            self.notice(text.clone());
        }
        let stamp = jiff::Zoned::now().strftime("%H:%M:%S").to_string();
        let mut events = self.link_events.lock().unwrap_or_else(|e| e.into_inner());
        if events.len() == LINK_EVENTS_KEPT {
            events.pop_front();
        }
        events.push_back(format!("[{stamp}] {text}"));
    }

    /// The last connection-level events, oldest first.
    pub fn link_events(&self) -> Vec<String> {
        let events = self.link_events.lock().unwrap_or_else(|e| e.into_inner());
        events.iter().cloned().collect()
    }

    pub fn wake_dialer(&self) {
        self.wakes.wake(Task::Dialer);
    }

    /// A token a connection task holds while it runs; `None` once quitting.
    pub fn task_token(&self) -> Option<mpsc::Sender<()>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Drops the node's own token, so that waiting for all tokens to go
    /// waits for the connection tasks alone.
    pub fn drop_task_token(&self) {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    pub fn is_quitting(&self) -> bool {
        self.quitting.load(Ordering::SeqCst)
    }
}

/// Encodes into a fresh buffer, for rare paths where the state's scratch
/// buffer is borrowed elsewhere.
fn encode(message: &Message<'_>) -> Option<Frame> {
    encode_with(|out| message.encode(out))
}

/// A frame of its own, written by `f`; `None` if `f` refuses.
pub(in crate::node) fn encode_with<E>(
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Option<Frame> {
    let mut out = Vec::new();
    f(&mut out).ok()?;
    Some(out.into())
}

/// A kept frame as it is sent again to a peer that lacks it (§5.5). News,
/// younger than [`STILL_LIVE`], goes as it came, with the hop to that peer
/// taken off a chat message from another node: those are kept as they came
/// in (presence is kept as it was passed on). Older chat goes as history;
/// older presence not at all.
pub(in crate::node) fn resend(frame: Frame, age: Duration, me: NodeId) -> Option<Frame> {
    let body = std::str::from_utf8(frame.get(HEADER_LEN..)?).ok()?;
    let chat = match Message::parse(body) {
        Ok(Message::Chat(chat)) => chat,
        // Presence: news as it was passed on, or nothing.
        _ => return (age < STILL_LIVE).then_some(frame),
    };
    if age >= STILL_LIVE {
        // Marked as history, with a fresh hop limit so that it can travel
        // on to nodes behind the receiver.
        return encode(&Message::Chat(Chat {
            history: true,
            ttl: protocol::INITIAL_TTL,
            ..chat
        }));
    }
    match chat.id.origin != me {
        true => encode_with(|out| protocol::encode_relayed(body, chat.ttl.saturating_sub(1), out)),
        false => Some(frame),
    }
}
