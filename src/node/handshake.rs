//! The start of every connection: the Noise handshake (unless the node
//! runs plaintext for a benchmark), then the `HELLO` exchange, bounded in
//! time, and the node's decision to admit the peer. What it yields is a
//! [`Session`] to serve.

use super::connection::{error_frame, Reader, Session, Writer, LINGER};
use super::peers::{Peer, Refusal};
use super::queue::Queue;
use super::router::{Shared, OUTBOX_BYTES};
use crate::message::{Buffered, FrameReader, FrameWriter, Source};
use crate::protocol::{Hello, Message, Need, NodeId, VERSION};
use crate::rt;
use crate::secure;
use futures::io::{AsyncRead, AsyncWrite};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A peer has this long to complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a connection did not become a session.
pub(super) struct Failed {
    pub reason: String,
    /// The mesh's own upkeep (a second link to a peer, a spare link that a
    /// full node turns down), not worth the user's attention.
    pub routine: bool,
    /// The node at the other end and its user's name, if its `HELLO` came
    /// before the failure.
    pub peer: Option<(NodeId, String)>,
}

impl From<String> for Failed {
    fn from(reason: String) -> Self {
        Failed {
            reason,
            routine: false,
            peer: None,
        }
    }
}

/// Exchanges `HELLO`s and admits the peer. On failure, returns the reason,
/// after telling the peer when that is possible. The `HELLO` says how much
/// this node needs the link: it heals a split (`heal`, a dial to a part of
/// the network missing from the roster), or the node has fewer links than
/// its target, or neither.
pub(super) async fn handshake<R, W>(
    shared: &Arc<Shared>,
    reader: R,
    writer: W,
    remote: SocketAddr,
    outbound: bool,
    heal: bool,
) -> Result<Session, Failed>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let task = shared.task_token();
    let (reader, writer, peer_key) = secure_link(shared, reader, writer, outbound).await?;
    let mut reader = FrameReader::over(reader);
    let mut writer = FrameWriter::new(writer);
    let (name, need) = {
        let state = shared.lock();
        let need = match (heal, state.peers.needs_links()) {
            (true, _) => Need::Heal,
            (false, true) => Need::Needed,
            (false, false) => Need::Spare,
        };
        (state.name.clone(), need)
    };
    let name: &str = &name;
    let hello = Message::Hello(Hello {
        version: VERSION,
        id: shared.id,
        port: shared.port,
        room: &shared.room,
        need,
        name,
    });
    let mut frame = Vec::new();
    hello
        .encode(&mut frame)
        .map_err(|e| format!("could not encode the handshake: {e}"))?;
    writer.queue_encoded(&frame);

    let exchange = async {
        writer
            .flush()
            .await
            .map_err(|e| Failure::quiet(format!("could not send the handshake: {e}")))?;
        read_hello(&mut reader).await
    };
    let hello = match rt::timeout(HANDSHAKE_TIMEOUT, exchange).await {
        Some(Ok(hello)) => hello,
        Some(Err(failure)) => return Err(failure.report(&mut writer).await),
        None => {
            let failure = Failure::tell(format!(
                "no handshake within {} seconds",
                HANDSHAKE_TIMEOUT.as_secs()
            ));
            return Err(failure.report(&mut writer).await);
        }
    };

    if hello.room != shared.room {
        let reason = format!("it is in room {}, not {}", hello.room, shared.room);
        return Err(Failure::tell(reason).report(&mut writer).await);
    }
    if peer_key.is_some_and(|key| secure::node_id_of(&key) != hello.id) {
        let reason = "its node id is not the one its key gives".to_string();
        return Err(Failure::tell(reason).report(&mut writer).await);
    }
    let outbox = Arc::new(Queue::new(OUTBOX_BYTES));
    let conn = shared.next_conn.fetch_add(1, Ordering::SeqCst);
    let peer = Peer {
        conn,
        name: hello.name.clone(),
        remote,
        listen: with_port(remote, hello.port),
        outbound,
        outbox: outbox.clone(),
        since: Instant::now(),
        key: peer_key,
        link: Default::default(),
        taken: Vec::new(),
        answered: Default::default(),
        delivered: 0,
    };
    // A link this node opened is as needed as it said it is, whatever the
    // other end says: a dial to heal a split is taken above the maximum
    // at both ends.
    let admit_as = match outbound {
        true => hello.need.max(need),
        false => hello.need,
    };
    let first = match shared.admit(hello.id, peer, admit_as) {
        Ok(first) => first,
        Err(refusal) => {
            tracing::debug!(
                node = %hello.id, name = %hello.name, %remote, outbound,
                need = ?hello.need, "refused the link: {}", refusal.reason()
            );
            if refusal == Refusal::Full {
                if let Some(peers) = shared.addresses_for(remote) {
                    writer.queue_encoded(&peers);
                }
            }
            let failed = Failure::tell(refusal.reason().into())
                .report(&mut writer)
                .await;
            return Err(Failed {
                routine: refusal != Refusal::Myself,
                peer: Some((hello.id, hello.name)),
                ..failed
            });
        }
    };
    Ok(Session {
        shared: shared.clone(),
        reader,
        writer,
        peer: hello.id,
        conn,
        outbox,
        first,
        task,
    })
}

/// Sets up the link's encryption (unless the node runs plaintext for a
/// benchmark): the Noise handshake, bounded in time. Returns the streams
/// and the static key the peer proved.
async fn secure_link<R, W>(
    shared: &Shared,
    reader: R,
    writer: W,
    outbound: bool,
) -> Result<(Reader, Writer, Option<[u8; 32]>), String>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let Some(security) = &shared.security else {
        return Ok((Box::new(Buffered::new(reader)), Box::new(writer), None));
    };
    let handshake = secure::handshake(
        reader,
        writer,
        outbound,
        &security.identity,
        security.room_key.as_ref(),
    );
    match rt::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Some(Ok(link)) => Ok((
            Box::new(link.reader),
            Box::new(link.writer),
            Some(link.peer_key),
        )),
        Some(Err(e)) => Err(e.to_string()),
        None => Err(format!(
            "no handshake within {} seconds",
            HANDSHAKE_TIMEOUT.as_secs()
        )),
    }
}

/// `addr` with another port, its interface kept: an IPv6 link-local
/// address means nothing without it.
fn with_port(addr: SocketAddr, port: u16) -> SocketAddr {
    let mut addr = addr;
    addr.set_port(port);
    addr
}

/// The peer's `HELLO`, copied out of the read buffer.
struct OwnedHello {
    id: NodeId,
    port: u16,
    room: String,
    need: Need,
    name: String,
}

/// A failed handshake: the reason, and whether to send it to the peer.
struct Failure {
    reason: String,
    tell_peer: bool,
}

impl Failure {
    fn tell(reason: String) -> Self {
        Failure {
            reason,
            tell_peer: true,
        }
    }

    fn quiet(reason: String) -> Self {
        Failure {
            reason,
            tell_peer: false,
        }
    }

    /// Sends the reason to the peer if it should hear it; returns the
    /// failure, as the user may be told it.
    async fn report<W: AsyncWrite + Unpin>(self, writer: &mut FrameWriter<W>) -> Failed {
        if let Some(frame) = self.tell_peer.then(|| error_frame(&self.reason)).flatten() {
            writer.queue_encoded(&frame);
            let _ = rt::timeout(LINGER, writer.close()).await;
        }
        self.reason.into()
    }
}

async fn read_hello<R: Source>(reader: &mut FrameReader<R>) -> Result<OwnedHello, Failure> {
    let body = match reader.next_frame().await {
        Ok(Some(body)) => body,
        Ok(None) => return Err(Failure::quiet("it closed before the handshake".into())),
        Err(e) => return Err(Failure::tell(e.to_string())),
    };
    match Message::parse(body) {
        Ok(Message::Hello(h)) => Ok(OwnedHello {
            id: h.id,
            port: h.port,
            room: h.room.to_owned(),
            need: h.need,
            name: h.name.to_owned(),
        }),
        Ok(Message::Error(text)) => Err(Failure::quiet(format!("it said: {text}"))),
        Ok(_) => Err(Failure::tell("expected HELLO as the first message".into())),
        Err(e) => Err(Failure::tell(e.to_string())),
    }
}
