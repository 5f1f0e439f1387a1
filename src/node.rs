//! The node: accepts and dials connections, floods chat messages through the
//! mesh exactly once, and keeps the mesh in one piece.
//!
//! All shared state sits behind one `Mutex` that is never held across an
//! `.await`. A connection's reader handles each message under the lock in one
//! step (seen-check, history, display, fan-out to the peers' queues), which
//! keeps every sender's messages in order and costs no extra task hop. Pushing
//! to a queue never waits; a full queue makes the *source* wait afterwards,
//! outside the lock (see [`Waits`]).

pub mod queue;

mod connection;
mod dialer;
mod history;
mod peers;
mod seen;

pub use peers::Limits;

use crate::display::Event;
use crate::message::MAX_BODY;
use crate::protocol::{self, Chat, EncodeError, IdList, Leave, Message, MsgId, NodeId, PeerList};
use crate::rt;
use futures::channel::mpsc;
use futures::StreamExt;
use history::History;
use peers::{ConnId, Frame, Peer, PeerSet};
use queue::Queue;
use seen::SeenCache;
use std::collections::HashSet;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Bytes queued for one peer before its sources wait.
pub const OUTBOX_BYTES: usize = 1 << 20;
/// Chat messages kept for peers that lack them.
const HISTORY_LEN: usize = 200;
/// How long a message id is remembered. History older than half of it is
/// not replayed, so a replay never outlives the receiver's memory of it.
const SEEN_TTL: Duration = Duration::from_secs(3600);
const SEEN_ORIGINS: usize = 4096;
/// A replayed message younger than this is still news: it goes out as it
/// came, not marked as history.
const STILL_LIVE: Duration = Duration::from_secs(2);
/// How long `quit` waits for the peers' queues to drain.
const QUIT_LINGER: Duration = Duration::from_secs(3);

/// What a node needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub name: String,
    /// Listen address; `None` means every interface, IPv6 and IPv4.
    pub bind: Option<IpAddr>,
    /// Listen port; 0 lets the OS choose.
    pub port: u16,
    pub limits: Limits,
}

/// Why a node could not start or join.
#[derive(Debug)]
pub enum StartError {
    PortInUse {
        port: u16,
    },
    Listen {
        addr: SocketAddr,
        error: io::Error,
    },
    Resolve {
        host: String,
        error: io::Error,
    },
    Join {
        host: String,
        port: u16,
        reason: String,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::PortInUse { port } => write!(
                f,
                "port {port} is already in use; choose another with --port, or leave it out"
            ),
            StartError::Listen { addr, error } => write!(f, "could not listen on {addr}: {error}"),
            StartError::Resolve { host, error } => {
                write!(f, "could not find the host {host:?}: {error}")
            }
            StartError::Join { host, port, reason } => {
                write!(f, "could not join through {host} port {port}: {reason}")
            }
        }
    }
}

impl std::error::Error for StartError {}

/// A direct connection, as `:peers` shows it.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub name: String,
    pub id: NodeId,
    pub remote: SocketAddr,
    pub outbound: bool,
}

/// A running node.
pub struct Node {
    shared: Arc<Shared>,
    local: SocketAddr,
    /// Ends (yields `None`) once every connection task has finished.
    tasks_done: mpsc::Receiver<()>,
}

/// What every task of the node shares.
struct Shared {
    id: NodeId,
    name: String,
    port: u16,
    state: Mutex<State>,
    display: Arc<Queue<Event>>,
    wake_dialer: mpsc::Sender<()>,
    next_conn: AtomicU64,
    handshakes: AtomicUsize,
    quitting: AtomicBool,
    /// Cloned into each connection task; dropped by `quit` to learn when all are done.
    tasks: Mutex<Option<mpsc::Sender<()>>>,
}

struct State {
    next_seq: u64,
    peers: PeerSet,
    seen: SeenCache,
    history: History,
}

/// Queues that were full after a push: the source waits for them before it
/// takes its next message, which is how backpressure reaches a socket or the
/// prompt. Never waited for under the lock.
#[derive(Default)]
#[must_use]
struct Waits {
    outboxes: Vec<Arc<Queue<Frame>>>,
    display: Option<Arc<Queue<Event>>>,
}

impl Waits {
    async fn wait(self) {
        for q in self.outboxes {
            q.space().await;
        }
        if let Some(d) = self.display {
            d.space().await;
        }
    }
}

impl Node {
    /// Binds the listener and starts accepting and dialing.
    pub async fn start(config: Config, display: Arc<Queue<Event>>) -> Result<Node, StartError> {
        let listener = listen(config.bind, config.port).await?;
        let local = listener.local_addr().map_err(|error| StartError::Listen {
            addr: SocketAddr::new(config.bind.unwrap_or(Ipv6Addr::UNSPECIFIED.into()), 0),
            error,
        })?;
        let id = NodeId(random_u64());
        let (wake_dialer, wake_rx) = mpsc::channel(1);
        let (tasks, tasks_done) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            id,
            name: config.name,
            port: local.port(),
            state: Mutex::new(State {
                next_seq: first_sequence_number(),
                peers: PeerSet::new(id, config.limits),
                seen: SeenCache::new(SEEN_ORIGINS, SEEN_TTL),
                history: History::new(HISTORY_LEN, SEEN_TTL / 2),
            }),
            display,
            wake_dialer,
            next_conn: AtomicU64::new(1),
            handshakes: AtomicUsize::new(0),
            quitting: AtomicBool::new(false),
            tasks: Mutex::new(Some(tasks)),
        });
        rt::spawn(accept_loop(shared.clone(), listener));
        rt::spawn(dialer::run(shared.clone(), wake_rx));
        Ok(Node {
            shared,
            local,
            tasks_done,
        })
    }

    /// Where this node listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn id(&self) -> NodeId {
        self.shared.id
    }

    /// Connects to the network through `host` and `port`: done once one of
    /// the host's addresses has completed the handshake.
    pub async fn join(&self, host: &str, port: u16) -> Result<(), StartError> {
        let addrs = rt::resolve(host, port)
            .await
            .map_err(|error| StartError::Resolve {
                host: host.into(),
                error,
            })?;
        let mut reason = String::from("the name has no address");
        for addr in addrs {
            self.shared.lock().peers.dialing(addr);
            match dialer::dial(self.shared.clone(), addr).await {
                Ok(()) => return Ok(()),
                Err(e) => reason = e,
            }
        }
        Err(StartError::Join {
            host: host.into(),
            port,
            reason,
        })
    }

    /// Sends a chat line from this node's user.
    pub async fn say(&self, text: &str) -> Result<(), EncodeError> {
        self.shared.say(text)?.wait().await;
        Ok(())
    }

    /// Shows a notice on this node's display.
    pub fn notice(&self, text: impl Into<String>) {
        self.shared.notice(text.into());
    }

    /// The direct connections, by name.
    pub fn peers(&self) -> Vec<PeerInfo> {
        let state = self.shared.lock();
        let mut list: Vec<PeerInfo> = state
            .peers
            .iter()
            .map(|(id, p)| PeerInfo {
                name: p.name.clone(),
                id: *id,
                remote: p.remote,
                outbound: p.outbound,
            })
            .collect();
        list.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        list
    }

    /// Leaves the chat: tells everyone, then lets the peers' queues drain
    /// (for a bounded time) and closes every connection.
    pub async fn quit(mut self) {
        let shared = &self.shared;
        let waits = shared.leave();
        shared.quitting.store(true, Ordering::SeqCst);
        let _ = rt::timeout(QUIT_LINGER, waits.wait()).await;
        for (_, peer) in shared.lock().peers.iter() {
            peer.outbox.close();
        }
        shared
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let _ = rt::timeout(QUIT_LINGER, self.tasks_done.next()).await;
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; recover rather than cascade.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notice(&self, text: String) {
        let event = Event::Notice(text);
        let weight = event.weight();
        self.display.push(event, weight);
    }

    fn wake_dialer(&self) {
        // A full channel already holds a wake-up; one is enough.
        let _ = self.wake_dialer.clone().try_send(());
    }

    /// A token a connection task holds while it runs; `None` once quitting.
    fn task_token(&self) -> Option<mpsc::Sender<()>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Handles a chat message that came from peer `from` (or from this node's
    /// user when `None`): shown and forwarded once, however often it arrives.
    fn on_chat(&self, from: Option<NodeId>, chat: &Chat<'_>) -> Waits {
        let now = Instant::now();
        let mut state = self.lock();
        if !state.seen.insert(chat.id, now) {
            return Waits::default();
        }
        let forwarded = Chat {
            ttl: chat.ttl.saturating_sub(1),
            ..*chat
        };
        let Some(frame) = encode(&Message::Chat(forwarded)) else {
            return Waits::default();
        };
        state.history.push(chat.id, frame.clone(), now);
        let mut waits = Waits::default();
        self.show(Event::Chat(frame.clone()), &mut waits);
        if chat.ttl > 0 {
            fan_out(&state.peers, from, &frame, &mut waits);
        }
        waits
    }

    /// Handles a leave: shown and forwarded once, like a chat message.
    fn on_leave(&self, from: Option<NodeId>, leave: &Leave<'_>) -> Waits {
        let mut state = self.lock();
        if !state.seen.insert(leave.id, Instant::now()) {
            return Waits::default();
        }
        state.peers.forget(leave.id.origin);
        let mut waits = Waits::default();
        if from.is_some() {
            self.show(Event::Notice(format!("{} left", leave.name)), &mut waits);
        }
        if leave.ttl > 0 {
            let forwarded = Leave {
                ttl: leave.ttl - 1,
                ..*leave
            };
            if let Some(frame) = encode(&Message::Leave(forwarded)) {
                fan_out(&state.peers, from, &frame, &mut waits);
            }
        }
        waits
    }

    fn show(&self, event: Event, waits: &mut Waits) {
        let weight = event.weight();
        self.display.push(event, weight);
        if self.display.is_full() {
            waits.display = Some(self.display.clone());
        }
    }

    /// Sends peer `to` the history messages its `HAVE` list lacks.
    fn on_have(&self, to: NodeId, have: IdList<'_>) -> Waits {
        let have: HashSet<MsgId> = have.iter().collect();
        let state = self.lock();
        let mut waits = Waits::default();
        let Some(peer) = state.peers.get(&to) else {
            return waits;
        };
        let missing = state
            .history
            .missing_from(&have, peer.since, Instant::now());
        for (frame, age) in missing {
            let replay = match age < STILL_LIVE {
                true => Some(frame),
                false => as_history(&frame),
            };
            if let Some(replay) = replay {
                push(peer, replay, &mut waits);
            }
        }
        waits
    }

    /// Remembers the addresses a peer shared, to dial them when needed.
    fn on_peers(&self, list: PeerList<'_>) {
        let now = Instant::now();
        let mut state = self.lock();
        for (id, addr) in list.iter() {
            state.peers.remember(id, addr, now);
        }
        if state.peers.wants_more() {
            self.wake_dialer();
        }
    }

    /// Sends a chat line typed by this node's user.
    fn say(&self, text: &str) -> Result<Waits, EncodeError> {
        let id = self.next_id();
        let chat = Chat {
            history: false,
            ttl: protocol::INITIAL_TTL + 1, // on_chat lowers it as it forwards
            id,
            time_ms: now_ms(),
            name: &self.name,
            text,
        };
        // Check the size up front, so an over-long line is refused with a reason.
        Message::Chat(chat).encode(&mut Vec::new())?;
        Ok(self.on_chat(None, &chat))
    }

    /// Floods this node's own leave.
    fn leave(&self) -> Waits {
        let leave = Leave {
            ttl: protocol::INITIAL_TTL + 1,
            id: self.next_id(),
            name: &self.name,
        };
        self.on_leave(None, &leave)
    }

    fn next_id(&self) -> MsgId {
        let mut state = self.lock();
        let seq = state.next_seq;
        state.next_seq += 1;
        MsgId {
            origin: self.id,
            seq,
        }
    }

    /// Registers a handshaken peer and introduces it to the others: it gets
    /// our peers' addresses and our history inventory, they get its address.
    fn admit(&self, id: NodeId, mut peer: Peer) -> Result<(), peers::Refusal> {
        let mut state = self.lock();
        // Taken under the lock: every message handled after this instant is
        // fanned out to the new peer, every one before it is in the history.
        peer.since = Instant::now();
        let (name, remote, listen) = (peer.name.clone(), peer.remote, peer.listen);
        if let Some(replaced) = state.peers.admit(id, peer, Instant::now())? {
            replaced.outbox.close();
        }
        // These few small frames go out without backpressure: waiting here
        // would hold the lock.
        let send = |p: &Peer, frame: Option<Frame>| {
            if let Some(f) = frame {
                let len = f.len();
                p.outbox.push(f, len);
            }
        };
        if let Some(new) = state.peers.get(&id) {
            let others = state
                .peers
                .iter()
                .filter(|(other, p)| **other != id && shareable(p.listen, remote))
                .map(|(other, p)| (*other, p.listen));
            send(new, encode_with(|out| protocol::encode_peers(others, out)));
            let ids = state.history.ids();
            send(new, encode_with(|out| protocol::encode_have(ids, out)));
        }
        let intro = encode_with(|out| protocol::encode_peers([(id, listen)].into_iter(), out));
        for (other, p) in state.peers.iter() {
            if *other != id && shareable(listen, p.remote) {
                send(p, intro.clone());
            }
        }
        drop(state);
        self.notice(format!("connected to {name} ({remote})"));
        Ok(())
    }

    /// Forgets connection `conn` to `id` after it ended.
    fn depart(&self, id: NodeId, conn: ConnId, outbox: &Queue<Frame>, reason: &str) {
        outbox.close();
        let removed = self.lock().peers.remove(id, conn);
        if let Some(peer) = removed {
            if !self.quitting.load(Ordering::SeqCst) {
                self.notice(format!(
                    "connection to {} ({}) closed: {reason}",
                    peer.name, peer.remote
                ));
            }
            self.wake_dialer();
        }
    }

    /// The `PEERS` frame sent before refusing a connection for being full,
    /// so that the refused node can try elsewhere.
    fn peers_frame_for(&self, remote: SocketAddr) -> Option<Frame> {
        let state = self.lock();
        let list: Vec<(NodeId, SocketAddr)> = state
            .peers
            .iter()
            .filter(|(_, p)| shareable(p.listen, remote))
            .map(|(id, p)| (*id, p.listen))
            .collect();
        encode_with(|out| protocol::encode_peers(list.into_iter(), out))
    }
}

/// Queues `frame` for every peer but `from`, noting the queues that filled.
fn fan_out(peers: &PeerSet, from: Option<NodeId>, frame: &Frame, waits: &mut Waits) {
    for (id, peer) in peers.iter() {
        if Some(*id) != from {
            push(peer, frame.clone(), waits);
        }
    }
}

fn push(peer: &Peer, frame: Frame, waits: &mut Waits) {
    let len = frame.len();
    if peer.outbox.push(frame, len) && peer.outbox.is_full() {
        waits.outboxes.push(peer.outbox.clone());
    }
}

fn encode(message: &Message<'_>) -> Option<Frame> {
    let mut out = Vec::new();
    message.encode(&mut out).ok()?;
    Some(out.into())
}

fn encode_with(
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), crate::message::FrameError>,
) -> Option<Frame> {
    let mut out = Vec::new();
    f(&mut out).ok()?;
    Some(out.into())
}

/// A stored chat frame re-encoded as `HIST`, with a fresh hop limit so it
/// can travel on to nodes behind the receiver.
fn as_history(frame: &[u8]) -> Option<Frame> {
    let body = std::str::from_utf8(frame.get(crate::message::HEADER_LEN..)?).ok()?;
    match Message::parse(body) {
        Ok(Message::Chat(chat)) => encode(&Message::Chat(Chat {
            history: true,
            ttl: protocol::INITIAL_TTL,
            ..chat
        })),
        _ => None,
    }
}

/// A loopback address means nothing to a node on another machine.
fn shareable(addr: SocketAddr, with: SocketAddr) -> bool {
    !addr.ip().to_canonical().is_loopback() || with.ip().to_canonical().is_loopback()
}

async fn listen(bind: Option<IpAddr>, port: u16) -> Result<rt::Listener, StartError> {
    let bind_at = |ip: IpAddr| async move {
        let addr = SocketAddr::new(ip, port);
        rt::Listener::bind(addr)
            .await
            .map_err(|error| match error.kind() {
                io::ErrorKind::AddrInUse => StartError::PortInUse { port },
                _ => StartError::Listen { addr, error },
            })
    };
    match bind {
        Some(ip) => bind_at(ip).await,
        // [::] takes IPv4 too on a dual-stack host; fall back where IPv6 is off.
        None => match bind_at(Ipv6Addr::UNSPECIFIED.into()).await {
            Err(StartError::Listen { .. }) => bind_at(Ipv4Addr::UNSPECIFIED.into()).await,
            other => other,
        },
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: rt::Listener) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                if shared.quitting.load(Ordering::SeqCst) {
                    continue;
                }
                let remote = SocketAddr::new(remote.ip().to_canonical(), remote.port());
                let shared = shared.clone();
                rt::spawn(async move {
                    let reader = stream.clone();
                    match connection::handshake(&shared, reader, stream, remote, false).await {
                        Ok(session) => session.serve().await,
                        Err(reason) => {
                            shared.notice(format!("refused a connection from {remote}: {reason}"))
                        }
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors, most likely: pause rather than spin.
                shared.notice(format!("could not accept a connection: {e}"));
                rt::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Sequence numbers start at the time in microseconds, so that a node that
/// restarts with the same id (a kept key) still counts upwards.
fn first_sequence_number() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// 64 random bits for the node id, from the OS-seeded hasher keys of std.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(first_sequence_number());
    h.write_u32(std::process::id());
    h.finish()
}

/// The size limit for a text the user types, given the fields around it.
pub fn max_text_len(name: &str) -> usize {
    // MSG <ttl> <16 hex>:<seq> <time> <name> <text>, with the widest numbers.
    let overhead = "MSG 255 ".len() + 16 + 1 + 20 + 1 + 20 + 1 + name.len() + 1;
    MAX_BODY - overhead
}
