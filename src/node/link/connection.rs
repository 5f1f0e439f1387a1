//! One connection to a peer, once handshaken (`handshake.rs`): a reader
//! and a writer.
//!
//! Generic over a frame [`Source`] and `AsyncWrite`, so a transport wrapper
//! (for example encryption) can sit under it without touching the flooding
//! logic.
//! Any bad input closes this connection, with the reason logged and, where
//! the stream still allows, sent to the peer in an `ERROR`; the node and its
//! other connections carry on.

use crate::message::{FrameReader, FrameWriter, ReadError, Source};
use crate::node::chat::ChatBatch;
use crate::node::link::gather::push_now;
use crate::node::mesh::peers::{ConnId, Frame, Via};
use crate::node::state::{Shared, Waits};
use crate::protocol::{Message, NodeId};
use crate::queue::Queue;
use crate::rt;
use futures::io::AsyncWrite;
use futures::{pin_mut, select, FutureExt};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

/// A peer that accepts no data for this long while data waits for it is
/// dropped ("send queue exceeded"), so it cannot hold the others up longer.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(4);
/// A link on which nothing arrives for this long is dead (a cable pulled, a
/// machine gone): every link carries a `PING` every few seconds (see
/// `presence.rs`), so a live link is never this quiet.
pub const LINK_IDLE: Duration = Duration::from_secs(12);
/// Bytes written in one go.
const BATCH_BYTES: usize = 256 * 1024;
/// Time left to send what is queued (an `ERROR`, say) after the reader ended.
pub(in crate::node) const LINGER: Duration = Duration::from_secs(1);

/// What the end of a link says of its peer's user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The peer said why it closes (`ERROR`), or this node closed it: its
    /// user is not gone for that.
    Deliberate,
    /// It broke, went quiet, or closed without a word: its user may be gone.
    Unexplained,
}

/// Why a link ended.
#[derive(Debug)]
pub struct Ended {
    pub reason: String,
    pub ending: Ending,
}

impl Ended {
    fn deliberate(reason: String) -> Self {
        Ended {
            reason,
            ending: Ending::Deliberate,
        }
    }

    fn unexplained(reason: String) -> Self {
        Ended {
            reason,
            ending: Ending::Unexplained,
        }
    }
}

/// The byte streams of a link: encrypted, or plain for benchmarks only.
pub(in crate::node) type Reader = Box<dyn Source + Send>;
pub(in crate::node) type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// A handshaken connection, ready to serve.
pub(in crate::node) struct Session {
    pub(in crate::node) shared: Arc<Shared>,
    pub(in crate::node) reader: FrameReader<Reader>,
    pub(in crate::node) writer: FrameWriter<Writer>,
    pub(in crate::node) peer: NodeId,
    pub(in crate::node) conn: ConnId,
    pub(in crate::node) outbox: Arc<Queue<Frame>>,
    /// This is the node's first connection ever.
    pub first: bool,
    /// Held while the connection runs, so that `quit` can wait for it.
    pub(in crate::node) task: Option<futures::channel::mpsc::Sender<()>>,
}

impl Session {
    /// Runs the connection until either side ends it, then forgets the peer.
    pub(in crate::node) async fn serve(self) {
        let Session {
            shared,
            mut reader,
            mut writer,
            peer,
            conn,
            outbox,
            first: _,
            task: _task,
        } = self;
        let read = read_loop(&shared, &mut reader, Via { peer, conn }, &outbox).fuse();
        let write = write_loop(&mut writer, &outbox).fuse();
        pin_mut!(read, write);
        select! {
            ended = read => {
                shared.depart(peer, conn, &outbox, &ended);
                // Let the writer send what is queued, an ERROR included.
                let _ = rt::timeout(LINGER, write).await;
            }
            ended = write => shared.depart(peer, conn, &outbox, &ended),
        }
    }
}

/// Frames handled per read at most; the chat messages among them share one
/// hold of the node's lock. Enough for a whole read of chat lines (a read
/// brings up to 64 KiB, some 540 lines of 60 bytes), since each batch also
/// costs a clock reading and a hand-over to the display and the queues; few
/// enough that the lock is held for a fraction of a millisecond.
const MAX_BATCH: usize = 1024;

/// Handles the peer's messages until the stream ends or breaks a rule.
/// Returns why it stopped.
async fn read_loop<R: Source>(
    shared: &Shared,
    reader: &mut FrameReader<R>,
    via: Via,
    outbox: &Queue<Frame>,
) -> Ended {
    loop {
        // A timer per read would cost more than the read: arm one only
        // when the read has to wait for the network.
        let ready = match reader.has_frame() {
            true => Some(Ok(true)),
            false => rt::timeout(LINK_IDLE, reader.wait_frame()).await,
        };
        match ready {
            Some(Ok(true)) => {}
            Some(Ok(false)) => return Ended::unexplained("the peer closed it".into()),
            Some(Err(e @ (ReadError::Io(_) | ReadError::Truncated { .. }))) => {
                return Ended::unexplained(e.to_string())
            }
            Some(Err(e)) => return Ended::deliberate(refuse(outbox, e.to_string())),
            None => {
                return Ended::unexplained(format!(
                    "nothing heard for {} seconds (link down?)",
                    LINK_IDLE.as_secs()
                ))
            }
        }
        match handle_buffered(shared, reader, via, outbox) {
            Ok(waits) => waits.wait().await,
            Err(reason) => return reason,
        }
    }
}

/// Handles the frames already read, up to [`MAX_BATCH`]. Chat messages
/// among them go in one [`ChatBatch`]; another message ends the batch first,
/// so that its handler takes the lock itself. Returns the queues to wait for
/// before reading on, or why the connection ends.
pub(in crate::node) fn handle_buffered<R: Source>(
    shared: &Shared,
    reader: &mut FrameReader<R>,
    via: Via,
    outbox: &Queue<Frame>,
) -> Result<Waits, Ended> {
    let peer = via.peer;
    let mut waits = Waits::default();
    let mut batch: Option<ChatBatch<'_>> = None;
    for _ in 0..MAX_BATCH {
        let (frame, body) = match reader.buffered_frame() {
            Ok(Some(read)) => read,
            Ok(None) => break,
            Err(e) => return Err(Ended::deliberate(refuse(outbox, e.to_string()))),
        };
        let message = Message::parse(body);
        if !matches!(message, Ok(Message::Chat(_))) {
            if let Some(batch) = batch.take() {
                waits.add(batch.finish());
            }
        }
        match message {
            Ok(Message::Chat(chat)) => batch
                .get_or_insert_with(|| shared.chat_batch())
                .chat(via, &chat, frame, body),
            Ok(Message::Presence(p)) => waits.add(shared.on_presence(Some(via), &p)),
            Ok(Message::Roster(list)) => waits.add(shared.on_roster(peer, list)),
            Ok(Message::Joined(list)) => waits.add(shared.on_joined(peer, list)),
            Ok(Message::Digest(list)) => shared.on_digest(via, list),
            Ok(Message::Have(ids)) => waits.add(shared.on_have(via, ids)),
            Ok(Message::Peers(list)) => shared.on_peers(peer, list),
            Ok(Message::Prune(origins)) => shared.on_prune(via, origins),
            Ok(Message::Suspect(ids)) => waits.add(shared.on_suspect(via, ids)),
            Ok(Message::Ping) => {}
            Ok(Message::IHave(ranges)) => shared.on_ihave(peer, ranges),
            Ok(Message::Graft(ranges)) => waits.add(shared.on_graft(via, ranges)),
            Ok(Message::Start(seq)) => shared.on_start(via, seq),
            Ok(Message::Error(text)) => {
                return Err(Ended::deliberate(format!("the peer said: {text}")))
            }
            Ok(Message::Hello(_)) => {
                return Err(Ended::deliberate(refuse(outbox, "a second HELLO".into())))
            }
            Err(e) => return Err(Ended::deliberate(refuse(outbox, e.to_string()))),
        }
        if waits.must_wait() {
            // A queue is full: wait for room before the next frame, which
            // may ask for more.
            break;
        }
    }
    if let Some(batch) = batch {
        waits.add(batch.finish());
    }
    Ok(waits)
}

/// An `ERROR` frame carrying `reason`.
pub(in crate::node) fn error_frame(reason: &str) -> Option<Vec<u8>> {
    let mut frame = Vec::new();
    Message::Error(reason).encode(&mut frame).ok()?;
    Some(frame)
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
) -> Ended {
    let mut batch = Vec::new();
    while outbox.pop_batch(BATCH_BYTES, &mut batch).await {
        // As with reads: a timer costs more than a write that completes at
        // once, so one is armed only when the socket makes the flush wait.
        let flushed = {
            let flush = writer.send_encoded(&batch);
            pin_mut!(flush);
            match futures::poll!(flush.as_mut()) {
                Poll::Ready(result) => Some(result),
                Poll::Pending => rt::timeout(STALL_TIMEOUT, flush).await,
            }
        };
        batch.clear();
        match flushed {
            Some(Ok(())) => {}
            Some(Err(e)) => return Ended::unexplained(format!("sending failed: {e}")),
            None => {
                return Ended::unexplained(format!(
                    "it accepted no data for {} seconds (send queue exceeded)",
                    STALL_TIMEOUT.as_secs()
                ))
            }
        }
    }
    let _ = rt::timeout(LINGER, writer.close()).await;
    Ended::deliberate("closed".into())
}
