//! Keeps the node connected: dials known peers until it has its target
//! number of connections, and again whenever one is lost.
//!
//! It sleeps until something changes (a peer lost, addresses learned, a dial
//! finished) or an address's back-off ends; an idle, well-connected node
//! never wakes it.

use crate::node::link::admission::{Direction, Purpose};
use crate::node::link::handshake::{self, NotLinked};
use crate::node::mesh::dial_book::Dialled;
use crate::node::state::Shared;
use crate::protocol::NodeId;
use crate::rt;
use futures::channel::mpsc;
use futures::StreamExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

pub(in crate::node) async fn run(shared: Arc<Shared>, mut wake: mpsc::Receiver<()>) {
    loop {
        if shared.is_quitting() {
            return;
        }
        let (plan, next_retry) = shared.dial_plan();
        for addr in plan {
            let shared = shared.clone();
            rt::spawn(async move {
                let _ = dial(shared, addr, Purpose::Ordinary).await;
            });
        }
        let woken = match next_retry {
            Some(at) => {
                let wait = at.saturating_duration_since(shared.now());
                rt::timeout(wait, wake.next()).await.unwrap_or(Some(()))
            }
            None => wake.next().await,
        };
        if woken.is_none() {
            return; // The node is gone.
        }
    }
}

/// Connects to `addr` and handshakes; on success the connection is served in
/// a task of its own, and the peer's id returned. The caller has marked
/// `addr` as being dialed.
pub(in crate::node) async fn dial(
    shared: Arc<Shared>,
    addr: SocketAddr,
    purpose: Purpose,
) -> Result<NodeId, NotLinked> {
    tracing::debug!(%addr, ?purpose, "dialing");
    let patience = shared.lock().peers.connect_timeout(addr);
    let result = match rt::timeout(patience, rt::connect(addr)).await {
        None => Err(NotLinked::from("no answer (timed out)".to_string())),
        Some(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(NotLinked::from(
            "nobody is listening there (connection refused)".to_string(),
        )),
        Some(Err(e)) => Err(NotLinked::from(e.to_string())),
        Some(Ok(stream)) => {
            handshake::handshake(
                &shared,
                stream.clone(),
                stream,
                addr,
                Direction::Outbound,
                purpose,
            )
            .await
        }
    };
    match &result {
        Ok(session) => tracing::debug!(%addr, node = %session.peer, "dial succeeded"),
        Err(failed) => {
            tracing::debug!(%addr, node = ?failed.peer.as_ref().map(|p| p.0.to_string()), "dial failed: {}", failed.reason)
        }
    }
    let ended = match result {
        Ok(_) => Dialled::Connected,
        Err(_) => Dialled::Failed,
    };
    shared.dial_done(addr, ended);
    let session = result?;
    let peer = session.peer;
    if session.first {
        // This node just joined a network by dialing into it: say so.
        shared.tell_joined();
    }
    rt::spawn(session.serve());
    Ok(peer)
}

impl Shared {
    /// The addresses to dial now, each marked as being dialled, and when
    /// to look again if nothing wakes the dialer before.
    pub fn dial_plan(&self) -> (Vec<SocketAddr>, Option<Instant>) {
        let mut state = self.lock();
        let plan = state.peers.dial_plan(self.now());
        let next = state
            .peers
            .wants_more()
            .then(|| state.peers.next_retry())
            .flatten();
        (plan, next)
    }

    /// Notes how a dial of `addr` ended, and wakes the dialer to go on.
    pub fn dial_done(&self, addr: SocketAddr, ended: Dialled) {
        self.lock().peers.dial_done(addr, ended, self.now());
        self.wake_dialer();
    }
}
