//! Admission: what a node says in its `HELLO`, and what it decides on the
//! peer's. No I/O: the handshake (`handshake.rs`) or the simulator carries
//! the frames.

use crate::node::mesh::peers::{ConnId, Frame, Peer, Refusal};
use crate::node::state::{Shared, OUTBOX_BYTES};
use crate::protocol::{Hello, Message, Need, NodeId, VERSION};
use crate::queue::Queue;
use crate::secure;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Which end opened a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// This node dialled.
    Outbound,
    /// The peer dialled.
    Inbound,
}

/// Why a link is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// To have the node's number of links, or at a user's word.
    Ordinary,
    /// To join two parts of a split network: a full node takes it beyond
    /// its maximum.
    Heal,
}

/// The peer's `HELLO`, copied out of the read buffer.
pub struct OwnedHello {
    pub id: NodeId,
    pub port: u16,
    pub room: String,
    pub need: Need,
    pub name: String,
}

impl OwnedHello {
    pub fn of(hello: &Hello<'_>) -> Self {
        OwnedHello {
            id: hello.id,
            port: hello.port,
            room: hello.room.to_owned(),
            need: hello.need,
            name: hello.name.to_owned(),
        }
    }
}

/// A peer this node took.
pub struct Admitted {
    pub peer: NodeId,
    pub conn: ConnId,
    /// What goes to it; the link's writer drains it.
    pub outbox: Arc<Queue<Frame>>,
    /// This is the node's first link ever.
    pub first: bool,
}

/// A peer this node did not take, and what to tell it.
pub struct Turned {
    pub reason: String,
    /// The mesh's own upkeep (a second link, a spare link a full node turns
    /// down), not worth the user's attention.
    pub routine: bool,
    /// Who it was.
    pub peer: Option<(NodeId, String)>,
    /// Addresses for a newcomer that a full node turned down, to go
    /// before the `ERROR`.
    pub peers: Option<Frame>,
}

impl Turned {
    fn said(reason: String, hello: &OwnedHello) -> Self {
        Turned {
            reason,
            routine: false,
            peer: Some((hello.id, hello.name.clone())),
            peers: None,
        }
    }
}

impl Shared {
    /// This node's `HELLO`, encoded, and how much it says it needs the link:
    /// to heal a split, or because it has fewer links than its target, or
    /// neither.
    pub fn own_hello(&self, purpose: Purpose) -> Result<(Vec<u8>, Need), String> {
        let (name, need) = {
            let state = self.lock();
            let need = match (purpose, state.peers.needs_links()) {
                (Purpose::Heal, _) => Need::Heal,
                (Purpose::Ordinary, true) => Need::Needed,
                (Purpose::Ordinary, false) => Need::Spare,
            };
            (state.name.clone(), need)
        };
        let hello = Message::Hello(Hello {
            version: VERSION,
            id: self.id,
            port: self.port,
            room: &self.room,
            need,
            name: &name,
        });
        let mut frame = Vec::new();
        hello
            .encode(&mut frame)
            .map_err(|e| format!("could not encode the handshake: {e}"))?;
        Ok((frame, need))
    }

    /// Decides on the peer's `HELLO`, given what this node said (`need`)
    /// and the key the peer proved, if the link is encrypted.
    pub fn on_hello(
        &self,
        hello: OwnedHello,
        remote: SocketAddr,
        direction: Direction,
        need: Need,
        key: Option<[u8; 32]>,
    ) -> Result<Admitted, Turned> {
        if hello.room != self.room {
            let reason = format!("it is in room {}, not {}", hello.room, self.room);
            return Err(Turned::said(reason, &hello));
        }
        if key.is_some_and(|key| secure::node_id_of(&key) != hello.id) {
            let reason = "its node id is not the one its key gives".to_string();
            return Err(Turned::said(reason, &hello));
        }
        let outbox = Arc::new(Queue::new(OUTBOX_BYTES));
        let conn = self.next_conn.fetch_add(1, Ordering::SeqCst);
        let peer = Peer {
            conn,
            name: hello.name.clone(),
            remote,
            listen: with_port(remote, hello.port),
            outbound: direction == Direction::Outbound,
            outbox: outbox.clone(),
            since: self.now(),
            key,
            link: Default::default(),
            taken: Vec::new(),
            answered: Default::default(),
            held: Default::default(),
            delivered: 0,
            suspicions: Default::default(),
            linked_to: Vec::new(),
        };
        // A link this node opened is as needed as it said it is, whatever
        // the other end says: a dial to heal a split is taken above the
        // maximum at both ends.
        let admit_as = match direction {
            Direction::Outbound => hello.need.max(need),
            Direction::Inbound => hello.need,
        };
        match self.admit(hello.id, peer, admit_as) {
            Ok(first) => Ok(Admitted {
                peer: hello.id,
                conn,
                outbox,
                first,
            }),
            Err(refusal) => {
                tracing::debug!(
                    node = %hello.id, name = %hello.name, %remote, ?direction,
                    need = ?hello.need, "refused the link: {}", refusal.reason()
                );
                let peers = match refusal {
                    Refusal::Full => self.addresses_for(remote),
                    _ => None,
                };
                Err(Turned {
                    routine: refusal != Refusal::Myself,
                    peers,
                    ..Turned::said(refusal.reason().into(), &hello)
                })
            }
        }
    }
}

/// `addr` with another port, its interface kept: an IPv6 link-local
/// address means nothing without it.
fn with_port(addr: SocketAddr, port: u16) -> SocketAddr {
    let mut addr = addr;
    addr.set_port(port);
    addr
}

#[cfg(test)]
mod tests;
