//! One connection to a peer: the handshake, then a reader and a writer.
//!
//! Generic over `AsyncRead` and `AsyncWrite`, so a transport wrapper (for
//! example encryption) can sit under it without touching the flooding logic.
//! Any bad input closes this connection, with the reason logged and, where
//! the stream still allows, sent to the peer in an `ERROR`; the node and its
//! other connections carry on.

use super::peers::{ConnId, Frame, Peer, Via};
use super::queue::Queue;
use super::router::{push_now, ChatBatch, Shared, Waits, OUTBOX_BYTES};
use crate::message::{FrameReader, FrameWriter};
use crate::protocol::{Hello, Message, NodeId, ProtocolError, VERSION};
use crate::rt;
use crate::secure;
use futures::io::{AsyncRead, AsyncWrite};
use futures::{pin_mut, select, FutureExt};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

/// A peer has this long to complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// A peer that accepts no data for this long while data waits for it is
/// dropped ("send queue exceeded"), so it cannot hold the others up longer.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(4);
/// A link on which nothing arrives for this long is dead (a cable pulled, a
/// machine gone): every node sends its heartbeat over each of its links
/// every few seconds, so a live link is never this quiet.
pub const LINK_IDLE: Duration = super::presence::EXPIRY;
/// Connections allowed in the handshake at once; more are closed at once.
const MAX_HANDSHAKES: usize = 64;
/// Bytes written in one go.
const BATCH_BYTES: usize = 256 * 1024;
/// Time left to send what is queued (an `ERROR`, say) after the reader ended.
const LINGER: Duration = Duration::from_secs(1);

/// The byte streams of a link: encrypted, or plain for benchmarks only.
type Reader = Box<dyn AsyncRead + Unpin + Send>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// A handshaken connection, ready to serve.
pub(super) struct Session {
    shared: Arc<Shared>,
    reader: FrameReader<Reader>,
    writer: FrameWriter<Writer>,
    peer: NodeId,
    conn: ConnId,
    outbox: Arc<Queue<Frame>>,
    /// This is the node's first connection ever.
    pub first: bool,
    /// Held while the connection runs, so that `quit` can wait for it.
    _task: Option<futures::channel::mpsc::Sender<()>>,
}

/// Counts a connection as handshaking for as long as it lives.
struct HandshakeSlot<'a>(&'a Shared);

impl Drop for HandshakeSlot<'_> {
    fn drop(&mut self) {
        self.0.handshakes.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Exchanges `HELLO`s and admits the peer. On failure, returns the reason,
/// after telling the peer when that is possible.
pub(super) async fn handshake<R, W>(
    shared: &Arc<Shared>,
    reader: R,
    writer: W,
    remote: SocketAddr,
    outbound: bool,
) -> Result<Session, String>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    if shared.handshakes.fetch_add(1, Ordering::SeqCst) >= MAX_HANDSHAKES {
        shared.handshakes.fetch_sub(1, Ordering::SeqCst);
        return Err("too many connections are in their handshake".into());
    }
    let _slot = HandshakeSlot(shared);
    let task = shared.task_token();
    let (reader, writer, peer_key) = secure_link(shared, reader, writer, outbound).await?;
    let mut reader = FrameReader::new(reader);
    let mut writer = FrameWriter::new(writer);
    let name = shared.lock().name.clone();
    let name: &str = &name;
    let hello = Message::Hello(Hello {
        version: VERSION,
        id: shared.id,
        port: shared.port,
        room: &shared.room,
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
        listen: SocketAddr::new(remote.ip().to_canonical(), hello.port),
        outbound,
        outbox: outbox.clone(),
        since: Instant::now(),
        key: peer_key,
        link: Default::default(),
    };
    let first = match shared.admit(hello.id, peer) {
        Ok(first) => first,
        Err(refusal) => {
            return Err(Failure::tell(refusal.reason().into())
                .report(&mut writer)
                .await);
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
        _task: task,
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
        return Ok((Box::new(reader), Box::new(writer), None));
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

/// The peer's `HELLO`, copied out of the read buffer.
struct OwnedHello {
    id: NodeId,
    port: u16,
    room: String,
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

    /// Sends the reason to the peer if it should hear it; returns it.
    async fn report<W: AsyncWrite + Unpin>(self, writer: &mut FrameWriter<W>) -> String {
        if let Some(frame) = self.tell_peer.then(|| error_frame(&self.reason)).flatten() {
            writer.queue_encoded(&frame);
            let _ = rt::timeout(LINGER, writer.close()).await;
        }
        self.reason
    }
}

/// An `ERROR` frame carrying `reason`.
fn error_frame(reason: &str) -> Option<Vec<u8>> {
    let mut frame = Vec::new();
    Message::Error(reason).encode(&mut frame).ok()?;
    Some(frame)
}

async fn read_hello<R: AsyncRead + Unpin>(
    reader: &mut FrameReader<R>,
) -> Result<OwnedHello, Failure> {
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
            name: h.name.to_owned(),
        }),
        Ok(Message::Error(text)) => Err(Failure::quiet(format!("it said: {text}"))),
        Ok(_) => Err(Failure::tell("expected HELLO as the first message".into())),
        Err(e) => Err(Failure::tell(e.to_string())),
    }
}

impl Session {
    /// Runs the connection until either side ends it, then forgets the peer.
    pub(super) async fn serve(self) {
        let Session {
            shared,
            mut reader,
            mut writer,
            peer,
            conn,
            outbox,
            first: _,
            _task,
        } = self;
        let read = read_loop(&shared, &mut reader, Via { peer, conn }, &outbox).fuse();
        let write = write_loop(&mut writer, &outbox).fuse();
        pin_mut!(read, write);
        select! {
            reason = read => {
                shared.depart(peer, conn, &outbox, &reason);
                // Let the writer send what is queued, an ERROR included.
                let _ = rt::timeout(LINGER, write).await;
            }
            reason = write => shared.depart(peer, conn, &outbox, &reason),
        }
    }
}

/// Chat messages handled under one hold of the node's lock at most.
const MAX_BATCH: usize = 256;

/// Handles the peer's messages until the stream ends or breaks a rule.
/// Returns why it stopped.
async fn read_loop<R: AsyncRead + Unpin>(
    shared: &Shared,
    reader: &mut FrameReader<R>,
    via: Via,
    outbox: &Queue<Frame>,
) -> String {
    loop {
        // A timer per read would cost more than the read: arm one only
        // when the read has to wait for the network.
        let ready = match reader.has_frame() {
            true => Some(Ok(true)),
            false => rt::timeout(LINK_IDLE, reader.wait_frame()).await,
        };
        match ready {
            Some(Ok(true)) => {}
            Some(Ok(false)) => return "the peer closed it".into(),
            Some(Err(e)) => return refuse(outbox, e.to_string()),
            None => {
                return format!(
                    "nothing heard for {} seconds (link down?)",
                    LINK_IDLE.as_secs()
                )
            }
        }
        match handle_buffered(shared, reader, via, outbox) {
            Ok(waits) => waits.wait().await,
            Err(reason) => return reason,
        }
    }
}

/// Handles the frames already read, up to [`MAX_BATCH`]. Chat messages
/// among them go in one [`ChatBatch`]; another message ends the batch, so
/// that its handler takes the lock itself. Returns the queues to wait for
/// before reading on, or why the connection ends.
fn handle_buffered<R: AsyncRead + Unpin>(
    shared: &Shared,
    reader: &mut FrameReader<R>,
    via: Via,
    outbox: &Queue<Frame>,
) -> Result<Waits, String> {
    let mut waits = Waits::default();
    let mut batch: Option<ChatBatch<'_>> = None;
    for _ in 0..MAX_BATCH {
        let body = match reader.buffered_frame() {
            Ok(Some(body)) => body,
            Ok(None) => break,
            Err(e) => return Err(refuse(outbox, e.to_string())),
        };
        match Message::parse(body) {
            Ok(Message::Chat(chat)) => batch
                .get_or_insert_with(|| shared.chat_batch())
                .chat(via, &chat, body),
            other => {
                if let Some(batch) = batch.take() {
                    waits.add(batch.finish());
                }
                waits.add(handle(shared, via, outbox, other, body)?);
            }
        }
    }
    if let Some(batch) = batch {
        waits.add(batch.finish());
    }
    Ok(waits)
}

/// Handles one message, parsed from `body`, on its own.
fn handle(
    shared: &Shared,
    via: Via,
    outbox: &Queue<Frame>,
    message: Result<Message<'_>, ProtocolError>,
    body: &str,
) -> Result<Waits, String> {
    let peer = via.peer;
    Ok(match message {
        Ok(Message::Chat(chat)) => {
            let mut batch = shared.chat_batch();
            batch.chat(via, &chat, body);
            batch.finish()
        }
        Ok(Message::Presence(p)) => shared.on_presence(Some(via), &p),
        Ok(Message::Roster(list)) => shared.on_roster(list),
        Ok(Message::Have(ids)) => shared.on_have(peer, ids),
        Ok(Message::Peers(list)) => {
            shared.on_peers(list);
            Waits::default()
        }
        Ok(Message::Prune(origins)) => {
            shared.on_prune(peer, origins);
            Waits::default()
        }
        Ok(Message::IHave(ranges)) => {
            shared.on_ihave(peer, ranges);
            Waits::default()
        }
        Ok(Message::Graft(ranges)) => shared.on_graft(peer, ranges),
        Ok(Message::Start(seq)) => {
            shared.on_start(via, seq);
            Waits::default()
        }
        Ok(Message::Error(text)) => return Err(format!("the peer said: {text}")),
        Ok(Message::Hello(_)) => return Err(refuse(outbox, "a second HELLO".into())),
        Err(e) => return Err(refuse(outbox, e.to_string())),
    })
}

/// Queues an `ERROR` for the peer and returns the reason.
fn refuse(outbox: &Queue<Frame>, reason: String) -> String {
    push_now(outbox, error_frame(&reason).map(Into::into));
    reason
}

/// Sends queued frames, many per write, until the queue is closed and empty.
/// Returns why it stopped.
async fn write_loop<W: AsyncWrite + Unpin>(
    writer: &mut FrameWriter<W>,
    outbox: &Queue<Frame>,
) -> String {
    let mut batch = Vec::new();
    while outbox.pop_batch(BATCH_BYTES, &mut batch).await {
        for frame in batch.drain(..) {
            writer.queue_encoded(&frame);
        }
        // As with reads: a timer costs more than a write that completes at
        // once, so one is armed only when the socket makes the flush wait.
        let flushed = {
            let flush = writer.flush();
            pin_mut!(flush);
            match futures::poll!(flush.as_mut()) {
                Poll::Ready(result) => Some(result),
                Poll::Pending => rt::timeout(STALL_TIMEOUT, flush).await,
            }
        };
        match flushed {
            Some(Ok(())) => {}
            Some(Err(e)) => return format!("sending failed: {e}"),
            None => {
                return format!(
                    "it accepted no data for {} seconds (send queue exceeded)",
                    STALL_TIMEOUT.as_secs()
                )
            }
        }
    }
    let _ = rt::timeout(LINGER, writer.close()).await;
    "closed".into()
}
