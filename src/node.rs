//! The node: accepts and dials connections, floods chat messages through the
//! mesh exactly once, keeps the mesh in one piece, and tracks who is online.
//!
//! This file is the node's face: starting, joining, and what the prompt asks
//! of it. The state the handlers share is in `state.rs`.

mod chat;
pub mod clock;
mod dense_map;
#[doc(hidden)]
pub mod fuzzing;
mod history_marks;
mod id_hash;
mod link;
mod mesh;
mod presence;
mod random;
pub mod screen;
pub mod sim;
mod spending;
mod state;
mod store;
#[cfg(test)]
mod test_node;
mod tree;
mod wakes;

pub use mesh::peers::Limits;
pub use store::history::Window as HistoryWindow;
pub use store::roster::short_id;

use crate::display::Display;
use crate::message::MAX_BODY;
use crate::protocol::{ChatKind, EncodeError, NodeId, PresenceKind};
use crate::rt;
use crate::secure::{self, Identity};
use futures::channel::mpsc;
use futures::StreamExt;
use link::admission::Purpose;
use mesh::dialer;
use state::{Security, Shared};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How long `quit` waits for the peers' queues to drain.
const QUIT_LINGER: Duration = Duration::from_secs(3);
/// How long an explicit join that the node refused waits for the two
/// networks to turn out to be one: more than a heartbeat, by which every
/// online user has been heard of.
pub const JOIN_WAIT: Duration = Duration::from_secs(5);

/// What a node needs to start.
pub struct Config {
    pub name: String,
    /// The chat room; only nodes of the same room connect.
    pub room: String,
    /// Find and announce nodes of the room on the LAN by multicast.
    pub discovery: bool,
    /// This node's key pair; its node id derives from it.
    pub identity: Identity,
    /// The key derived from the room secret, if the room has one.
    pub room_key: Option<[u8; 32]>,
    /// Encrypt links. Off only to measure what encryption costs.
    pub encrypt: bool,
    /// Listen address; `None` means every interface, IPv6 and IPv4.
    pub bind: Option<IpAddr>,
    /// Listen port; 0 lets the OS choose.
    pub port: u16,
    pub limits: Limits,
    /// How much chat history the node keeps and replays.
    pub history: HistoryWindow,
    /// Show connection-level events (links made and closed) in the chat.
    pub verbose: bool,
    /// Prune copies through the broadcast tree. Off only to measure what
    /// the tree saves.
    pub tree: bool,
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
    /// The node there answered, but did not take the link, and is not in
    /// this node's network either.
    Refused {
        host: String,
        port: u16,
        name: String,
        id: NodeId,
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
            // The resolver's own words name the query as a Rust tuple;
            // what it tried is said here instead.
            StartError::Resolve { host, .. } => write!(
                f,
                "could not find the host {host:?}: check the name, or give the member's IP address"
            ),
            StartError::Join { host, port, reason } => {
                write!(f, "could not join through {host} port {port}: {reason}")
            }
            StartError::Refused {
                host,
                port,
                name,
                id,
                reason,
            } => write!(
                f,
                "could not join through {host} port {port}: {name} (node {id}) did not take the link ({reason}); \
                 try another member's address, or leave the address out to find the room by LAN discovery"
            ),
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
    /// The fingerprint of the key it proved, on an encrypted link.
    pub fingerprint: Option<String>,
}

/// A running node.
pub struct Node {
    shared: Arc<Shared>,
    local: SocketAddr,
    fingerprint: String,
    /// Ends (yields `None`) once every connection task has finished.
    tasks_done: mpsc::Receiver<()>,
}

impl Node {
    /// Binds the listener and starts accepting, dialing and the heartbeat.
    pub async fn start(config: Config, display: Arc<Display>) -> Result<Node, StartError> {
        let listener = listen(config.bind, config.port).await?;
        let local = listener.local_addr().map_err(|error| StartError::Listen {
            addr: SocketAddr::new(config.bind.unwrap_or(Ipv6Addr::UNSPECIFIED.into()), 0),
            error,
        })?;
        let (wakes, woken) = wakes::Channels::new();
        let (tasks, tasks_done) = mpsc::channel(1);
        let id = config.identity.node_id();
        let fingerprint = config.identity.fingerprint();
        let security = config.encrypt.then_some(Security {
            identity: config.identity,
            room_key: config.room_key,
        });
        let me = state::Who {
            id,
            name: config.name,
            room: config.room,
            port: local.port(),
            limits: config.limits,
            history: config.history,
            security,
            verbose: config.verbose,
            tree: config.tree,
        };
        let around = state::Surroundings {
            display,
            clock: Arc::new(clock::SystemClock),
            wakes: Arc::new(wakes),
            tasks,
        };
        let shared = Arc::new(Shared::new(me, around));
        rt::spawn(link::accept::run(shared.clone(), listener));
        rt::spawn(dialer::run(shared.clone(), woken.dialer));
        rt::spawn(presence::run(shared.clone()));
        rt::spawn(tree::broadcast::run(shared.clone(), woken.tree));
        rt::spawn(presence::news::run(shared.clone(), woken.news));
        rt::spawn(history_marks::run(shared.clone(), woken.history));
        rt::spawn(mesh::heal::run(shared.clone()));
        if config.discovery {
            rt::spawn(mesh::discovery::run(shared.clone()));
        }
        Ok(Node {
            shared,
            local,
            fingerprint,
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

    /// This node's key fingerprint, to compare out loud.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// False when links are plaintext (for benchmarks only).
    pub fn encrypted(&self) -> bool {
        self.shared.security.is_some()
    }

    /// The user's current name.
    pub fn name(&self) -> String {
        self.shared.lock().name.to_string()
    }

    /// Connects to the network through `host` and `port`. Done once the
    /// node there is a peer that took the link, or is online in this
    /// node's network: LAN discovery may have linked the two already, so a
    /// refusal as a second link, or as one too many for a full node, is
    /// success if the two are one network within [`JOIN_WAIT`].
    /// Looks `host` up, as [`join`](Self::join) will.
    pub async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, StartError> {
        rt::resolve(host, port)
            .await
            .map_err(|error| StartError::Resolve {
                host: host.into(),
                error,
            })
    }

    pub async fn join(&self, host: &str, port: u16) -> Result<(), StartError> {
        let addrs = Self::resolve(host, port).await?;
        let mut reason = String::from("the name has no address");
        for addr in addrs {
            self.shared.lock().peers.dialing(addr);
            let (peer, refusal) =
                match dialer::dial(self.shared.clone(), addr, Purpose::Ordinary).await {
                    Ok(peer) => (Some((peer, self.peer_name(peer))), None),
                    Err(failed) => (failed.peer, Some(failed.reason)),
                };
            let Some((peer, name)) = peer.filter(|(id, _)| *id != self.shared.id) else {
                // No node answered, or this very node did.
                reason = refusal.unwrap_or_default();
                continue;
            };
            if self.joined(peer).await {
                return Ok(());
            }
            let said = self.shared.lock().refusal_by(peer).map(str::to_owned);
            let why = refusal
                .or(said)
                .unwrap_or_else(|| "it closed the link".into());
            tracing::debug!(%addr, node = %peer, "join failed: {why}");
            return Err(StartError::Refused {
                host: host.into(),
                port,
                name,
                id: peer,
                reason: why,
            });
        }
        Err(StartError::Join {
            host: host.into(),
            port,
            reason,
        })
    }

    /// Waits up to [`JOIN_WAIT`] until `peer` is linked (it sent `START`,
    /// so it took the link) or online in this node's network.
    async fn joined(&self, peer: NodeId) -> bool {
        let deadline = std::time::Instant::now() + JOIN_WAIT;
        loop {
            {
                let state = self.shared.lock();
                let linked = state
                    .peers
                    .get(&peer)
                    .is_some_and(|p| p.link.own_from().is_some());
                if linked || state.roster.is_online(peer) {
                    return true;
                }
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            rt::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The name of peer `id`, as it said in its `HELLO`.
    fn peer_name(&self, id: NodeId) -> String {
        let state = self.shared.lock();
        state
            .peers
            .get(&id)
            .map(|p| p.name.clone())
            .unwrap_or_default()
    }

    /// Sends chat lines from this node's user, in order, each with its
    /// kind. Stops at a line too long for
    /// a frame: returns how many were sent, and why the next was refused.
    pub async fn say_all(&self, lines: &[(&str, ChatKind)]) -> (usize, Option<EncodeError>) {
        let (waits, sent, refused) = self.shared.say_all(lines);
        waits.wait().await;
        (sent, refused)
    }

    /// Renames this node's user everywhere. The name must be valid.
    pub async fn rename(&self, name: &str) {
        self.shared.rename(name).wait().await;
    }

    /// Who else online goes by `name`, or by a name that looks the same,
    /// as they are shown; `None` if nobody does.
    pub fn name_taken(&self, name: &str) -> Option<String> {
        let state = self.shared.lock();
        let (id, theirs) = state.roster.holder_of(name, self.shared.id)?;
        Some(format!(
            "{} (node {id})",
            state.roster.display_name(id, &theirs)
        ))
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
                fingerprint: p.key.as_ref().map(secure::fingerprint_of),
            })
            .collect();
        list.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        list
    }

    /// What `:peers` says besides the peers: connections in their
    /// handshake, and those refused lately, summed per address.
    pub fn connection_notes(&self) -> Vec<String> {
        let pending = self.shared.pending();
        let mut notes = Vec::new();
        match pending.len() {
            0 => {}
            1 => notes.push("1 connection in its handshake".to_string()),
            n => notes.push(format!("{n} connections in their handshake")),
        }
        notes.extend(pending.summary(std::time::Instant::now()));
        drop(pending);
        let events = self.shared.link_events();
        if !events.is_empty() {
            notes.push("recent connection events:".to_string());
            notes.extend(events.into_iter().map(|e| format!("  {e}")));
        }
        notes
    }

    /// A way to ask for the names of the users online from another thread
    /// (the line editor's, for completion).
    pub fn names_source(&self) -> Box<dyn Fn() -> Vec<String> + Send + Sync> {
        let shared = self.shared.clone();
        Box::new(move || {
            let state = shared.lock();
            let online = state.roster.online().into_iter();
            online
                .map(|(id, name)| state.roster.display_name(id, &name))
                .collect()
        })
    }

    /// The users online in the whole network, as shown (equal names tagged).
    pub fn who(&self) -> Vec<String> {
        let state = self.shared.lock();
        state
            .roster
            .online()
            .into_iter()
            .map(|(id, name)| state.roster.display_name(id, &name))
            .collect()
    }

    /// Leaves the chat: tells everyone, then lets the peers' queues drain
    /// (for a bounded time) and closes every connection.
    pub async fn quit(mut self) {
        let shared = &self.shared;
        let waits = shared.announce_self(PresenceKind::Leave);
        shared
            .quitting
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = rt::timeout(QUIT_LINGER, waits.wait()).await;
        for (_, peer) in shared.lock().peers.iter() {
            peer.outbox.close();
        }
        shared.drop_task_token();
        let _ = rt::timeout(QUIT_LINGER, self.tasks_done.next()).await;
    }
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

/// The size limit for a text the user types, given the fields around it.
pub fn max_text_len(name: &str) -> usize {
    // MSG <ttl> <16 hex>:<seq> <time> <name> <text>, with the widest numbers.
    let overhead = "MSG 255 ".len() + 16 + 1 + 20 + 1 + 20 + 1 + name.len() + 1;
    MAX_BODY - overhead
}
