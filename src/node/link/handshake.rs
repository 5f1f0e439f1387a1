//! The start of every connection: the Noise handshake (unless the node
//! runs plaintext for a benchmark), then the `HELLO` exchange, bounded in
//! time, and the node's decision to admit the peer. What it yields is a
//! [`Session`] to serve.

use crate::message::{Buffered, FrameReader, FrameWriter, Source};
use crate::node::link::admission::{Direction, OwnedHello, Purpose};
use crate::node::link::connection::{error_frame, Reader, Session, Writer, LINGER};
use crate::node::state::Shared;
use crate::protocol::{Message, NodeId};
use crate::rt;
use crate::secure;
use futures::io::{AsyncRead, AsyncWrite};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A peer has this long to complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a connection did not become a session.
pub(in crate::node) struct NotLinked {
    pub reason: String,
    /// The mesh's own upkeep (a second link to a peer, a spare link that a
    /// full node turns down), not worth the user's attention.
    pub routine: bool,
    /// The node at the other end and its user's name, if its `HELLO` came
    /// before the failure.
    pub peer: Option<(NodeId, String)>,
}

impl From<String> for NotLinked {
    fn from(reason: String) -> Self {
        NotLinked {
            reason,
            routine: false,
            peer: None,
        }
    }
}

/// Exchanges `HELLO`s and lets the node decide on the peer (see
/// `admission.rs`). On failure, returns the reason, after telling the peer
/// when that is possible.
pub(in crate::node) async fn handshake<R, W>(
    shared: &Arc<Shared>,
    reader: R,
    writer: W,
    remote: SocketAddr,
    direction: Direction,
    purpose: Purpose,
) -> Result<Session, NotLinked>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let task = shared.task_token();
    let outbound = direction == Direction::Outbound;
    let (reader, writer, peer_key) = secure_link(shared, reader, writer, outbound).await?;
    let mut reader = FrameReader::over(reader);
    let mut writer = FrameWriter::new(writer);
    let (frame, need) = shared.own_hello(purpose)?;
    writer.queue_encoded(&frame);

    let exchange = async {
        writer
            .flush()
            .await
            .map_err(|e| Abort::quiet(format!("could not send the handshake: {e}")))?;
        read_hello(&mut reader).await
    };
    let hello = match rt::timeout(HANDSHAKE_TIMEOUT, exchange).await {
        Some(Ok(hello)) => hello,
        Some(Err(abort)) => return Err(abort.report(&mut writer).await),
        None => {
            let abort = Abort::tell(format!(
                "no handshake within {} seconds",
                HANDSHAKE_TIMEOUT.as_secs()
            ));
            return Err(abort.report(&mut writer).await);
        }
    };

    match shared.on_hello(hello, remote, direction, need, peer_key) {
        Ok(admitted) => Ok(Session {
            shared: shared.clone(),
            reader,
            writer,
            peer: admitted.peer,
            conn: admitted.conn,
            outbox: admitted.outbox,
            first: admitted.first,
            task,
        }),
        Err(turned) => {
            if let Some(peers) = &turned.peers {
                writer.queue_encoded(peers);
            }
            let failed = Abort::tell(turned.reason).report(&mut writer).await;
            Err(NotLinked {
                routine: turned.routine,
                peer: turned.peer,
                ..failed
            })
        }
    }
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

/// A handshake given up: the reason, and whether to send it to the peer.
struct Abort {
    reason: String,
    tell_peer: bool,
}

impl Abort {
    fn tell(reason: String) -> Self {
        Abort {
            reason,
            tell_peer: true,
        }
    }

    fn quiet(reason: String) -> Self {
        Abort {
            reason,
            tell_peer: false,
        }
    }

    /// Sends the reason to the peer if it should hear it; returns the
    /// reason, as the user may be told it.
    async fn report<W: AsyncWrite + Unpin>(self, writer: &mut FrameWriter<W>) -> NotLinked {
        if let Some(frame) = self.tell_peer.then(|| error_frame(&self.reason)).flatten() {
            writer.queue_encoded(&frame);
            let _ = rt::timeout(LINGER, writer.close()).await;
        }
        self.reason.into()
    }
}

async fn read_hello<R: Source>(reader: &mut FrameReader<R>) -> Result<OwnedHello, Abort> {
    let body = match reader.next_frame().await {
        Ok(Some(body)) => body,
        Ok(None) => return Err(Abort::quiet("it closed before the handshake".into())),
        Err(e) => return Err(Abort::tell(e.to_string())),
    };
    match Message::parse(body) {
        Ok(Message::Hello(h)) => Ok(OwnedHello::of(&h)),
        Ok(Message::Error(text)) => Err(Abort::quiet(format!("it said: {text}"))),
        Ok(_) => Err(Abort::tell("expected HELLO as the first message".into())),
        Err(e) => Err(Abort::tell(e.to_string())),
    }
}
