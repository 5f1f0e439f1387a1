//! Virtual links: two ends, each with the bytes on their way to it and a
//! frame reader over what arrived, as a socket's would be.

use crate::message::{FrameReader, Source};
use crate::node::link::admission::{OwnedHello, Purpose};
use crate::node::mesh::peers::{ConnId, Frame};
use crate::protocol::{Need, NodeId};
use crate::queue::Queue;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Which end of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Dialer = 0,
    Answerer = 1,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Dialer => Side::Answerer,
            Side::Answerer => Side::Dialer,
        }
    }
}

/// A link between two nodes.
pub struct Link {
    pub ends: [End; 2],
    /// The answer's `HELLO`, until the dialler hears it.
    pub answer: Option<OwnedHello>,
    /// The dial: its address, what the dialler's `HELLO` said, and why.
    pub dial: Option<(SocketAddr, Need, Purpose)>,
}

/// Where an end stands.
enum State {
    /// Its node has not decided on the other's `HELLO` yet.
    Waiting,
    /// A session of its node.
    Open {
        peer: NodeId,
        conn: ConnId,
        outbox: Arc<Queue<Frame>>,
    },
    Closed,
}

/// One end of a link.
pub struct End {
    pub slot: usize,
    /// The run of the node's process the end belongs to.
    pub run: u32,
    state: State,
    pub reader: FrameReader<Inbox>,
    pub last_heard: Duration,
    /// When the last bytes on their way to this end arrive: a link
    /// delivers in order.
    pub arrival: Duration,
}

impl End {
    pub fn new(slot: usize, run: u32) -> Self {
        End {
            slot,
            run,
            state: State::Waiting,
            reader: FrameReader::over(Inbox::default()),
            last_heard: Duration::ZERO,
            arrival: Duration::ZERO,
        }
    }

    pub fn open(&mut self, peer: NodeId, conn: ConnId, outbox: Arc<Queue<Frame>>, now: Duration) {
        self.state = State::Open { peer, conn, outbox };
        self.last_heard = now;
    }

    pub fn close(&mut self) {
        self.state = State::Closed;
    }

    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open { .. })
    }

    pub fn is_waiting(&self) -> bool {
        matches!(self.state, State::Waiting)
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// The session: the peer, the connection's number, and its outbox.
    pub fn session(&self) -> Option<(NodeId, ConnId, Arc<Queue<Frame>>)> {
        match &self.state {
            State::Open { peer, conn, outbox } => Some((*peer, *conn, outbox.clone())),
            _ => None,
        }
    }

    /// Frames arrived.
    pub fn receive(&mut self, frames: &[Frame], now: Duration) {
        self.reader.source_mut().push(frames);
        self.last_heard = now;
    }
}

/// The bytes that arrived at an end and were not read yet.
#[derive(Default)]
pub struct Inbox {
    buf: Vec<u8>,
    read: usize,
}

/// Bytes an inbox keeps room for once read: a large delivery's buffer
/// (a whole roster, a history) is given back, since a simulated network
/// holds one inbox per end of every link.
const INBOX_KEPT: usize = 4 << 10;

impl Inbox {
    /// Appends a delivery's frames, with room made for all of them at once.
    pub fn push(&mut self, frames: &[impl AsRef<[u8]>]) {
        self.settle();
        self.buf
            .reserve(frames.iter().map(|f| f.as_ref().len()).sum());
        for frame in frames {
            self.buf.extend_from_slice(frame.as_ref());
        }
    }

    /// Empties the buffer once everything in it was read, and gives back
    /// room beyond [`INBOX_KEPT`].
    pub fn settle(&mut self) {
        if self.read == self.buf.len() {
            self.read = 0;
            match self.buf.capacity() > INBOX_KEPT {
                true => self.buf = Vec::new(),
                false => self.buf.clear(),
            }
        }
    }
}

impl Source for Inbox {
    fn buffered(&self) -> &[u8] {
        &self.buf[self.read..]
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let start = self.read;
        self.read += n;
        &self.buf[start..self.read]
    }

    fn poll_more(&mut self, _cx: &mut Context<'_>, _needed: usize) -> Poll<io::Result<bool>> {
        // Bytes come by `push`; nothing waits for them.
        Poll::Pending
    }
}
