//! A node driven by hand, in-process, for the handlers' unit tests: its
//! core with a virtual clock and a screen that keeps the lines shown, and
//! links whose frames the test writes and reads itself. Nothing runs on
//! its own: no task, no timer, no socket.

use crate::display::{format_event, Event, Style};
use crate::message::{self, FrameReader, HEADER_LEN};
use crate::node::clock::VirtualClock;
use crate::node::link::admission::{Direction, OwnedHello};
use crate::node::link::connection::{handle_buffered, Ended, Ending};
use crate::node::mesh::peers::{Frame, Via};
use crate::node::screen::Recording;
use crate::node::sim::net::Inbox;
use crate::node::state::{Shared, Surroundings, Who};
use crate::node::wakes::Noted;
use crate::protocol::{Need, NodeId};
use crate::queue::Queue;
use futures::channel::mpsc;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Node ids for the tests' users.
pub const ALICE: u64 = 0xa1;
pub const BOB: u64 = 0xb0b;
pub const CAROL: u64 = 0xca201;
pub const DAVE: u64 = 0xda7e;

/// A node id as the protocol writes it.
pub fn id(n: u64) -> String {
    format!("{n:016x}")
}

/// The room every test node is in.
const ROOM: &str = "test";

/// A node under test.
pub struct TestNode {
    pub shared: Arc<Shared>,
    pub clock: Arc<VirtualClock>,
    shown: Arc<Mutex<Vec<String>>>,
    _tasks: mpsc::Receiver<()>,
}

/// One of its links, to a peer the test plays.
pub struct TestLink {
    pub via: Via,
    pub outbox: Arc<Queue<Frame>>,
    reader: FrameReader<Inbox>,
}

impl TestLink {
    /// `body` arrives in a frame, to be read.
    fn arrive(&mut self, body: &str) {
        let mut frame = Vec::new();
        message::encode(body, &mut frame).expect("a frame");
        self.reader.source_mut().push(&[frame]);
    }

    /// Whether the node closed the link.
    pub fn closed(&self) -> bool {
        self.outbox.is_closed()
    }
}

impl TestNode {
    /// Node `id`, whose user is called `name`.
    pub fn new(id: u64, name: &str) -> TestNode {
        let clock = Arc::new(VirtualClock::new(Instant::now(), 1_700_000_000_000_000));
        let shown = Arc::new(Mutex::new(Vec::new()));
        let (tasks, tasks_rx) = mpsc::channel(1);
        let me = Who {
            id: NodeId(id),
            name: name.into(),
            room: ROOM.into(),
            port: 7000,
            limits: Default::default(),
            history: Default::default(),
            security: None,
            verbose: false,
            tree: true,
        };
        let around = Surroundings {
            display: Arc::new(Lines(shown.clone())),
            clock: clock.clone(),
            wakes: Arc::new(Noted::default()),
            tasks,
        };
        TestNode {
            shared: Arc::new(Shared::new(me, around)),
            clock,
            shown,
            _tasks: tasks_rx,
        }
    }

    /// Links to peer `id`, called `name`, as `direction` says; panics if
    /// the node turns it down.
    pub fn link(&self, id: u64, name: &str, direction: Direction) -> TestLink {
        match self.try_link(id, name, direction) {
            Ok(link) => link,
            Err(reason) => panic!("{name} was turned down: {reason}"),
        }
    }

    /// As [`link`](Self::link), or why the node turned the link down.
    pub fn try_link(&self, id: u64, name: &str, direction: Direction) -> Result<TestLink, String> {
        self.offer(hello(id, name, Need::Needed), direction)
    }

    /// A link whose peer says `hello`: the node's link, or why it turned
    /// the link down.
    pub fn offer(&self, hello: OwnedHello, direction: Direction) -> Result<TestLink, String> {
        let id = hello.id.0;
        let remote = SocketAddr::from(([10, 0, (id >> 8) as u8, id as u8], 7000));
        let admitted = self
            .shared
            .on_hello(hello, remote, direction, Need::Needed, None);
        let admitted = admitted.map_err(|turned| turned.reason)?;
        Ok(TestLink {
            via: Via {
                peer: admitted.peer,
                conn: admitted.conn,
            },
            outbox: admitted.outbox,
            reader: FrameReader::over(Inbox::default()),
        })
    }

    /// The peer on `link` sends `body`, and the node handles it. The
    /// presence news it gathered goes out at once, as if its gathering
    /// time had passed (see [`hear_held`](Self::hear_held)).
    pub fn hear(&self, link: &mut TestLink, body: &str) {
        self.hear_held(link, body);
        self.shared.news_tick();
    }

    /// As [`hear`](Self::hear), but the news the node gathered waits.
    pub fn hear_held(&self, link: &mut TestLink, body: &str) {
        link.arrive(body);
        while link.reader.has_frame() {
            let handled = handle_buffered(&self.shared, &mut link.reader, link.via, &link.outbox);
            if let Err(ended) = handled {
                panic!("the link ended: {}", ended.reason);
            }
        }
    }

    /// The presence task runs once, and what it gathered goes out.
    pub fn presence_tick(&self) {
        let _ = self.shared.presence_tick();
        self.shared.news_tick();
    }

    /// The peer on `link` sends `body`, after which the node ends the link
    /// (an `ERROR`, or a frame it refuses), as its connection task would.
    pub fn hear_last(&self, link: &mut TestLink, body: &str) {
        link.arrive(body);
        match handle_buffered(&self.shared, &mut link.reader, link.via, &link.outbox) {
            Ok(_) => panic!("the link goes on after {body:?}"),
            Err(ended) => {
                let via = link.via;
                self.shared.depart(via.peer, via.conn, &link.outbox, &ended);
                self.shared.news_tick();
            }
        }
    }

    /// The link breaks without a word from the peer, as when it crashes.
    pub fn lose(&self, link: TestLink) {
        let ended = Ended {
            reason: "the peer vanished".into(),
            ending: Ending::Unexplained,
        };
        self.shared
            .depart(link.via.peer, link.via.conn, &link.outbox, &ended);
        self.shared.news_tick();
    }

    /// Moves the node's clock on by `by`.
    pub fn wait(&self, by: Duration) {
        self.clock.set(self.clock.elapsed() + by);
    }

    /// The lines shown so far, without the `*** ` of notices.
    pub fn shown(&self) -> Vec<String> {
        self.shown.lock().unwrap().clone()
    }
}

impl TestLink {
    /// The bodies of the frames queued for the peer since the last look.
    pub fn sent(&self) -> Vec<String> {
        let mut frames = Vec::new();
        self.outbox.take_all(&mut frames, None);
        let body = |f: &Frame| String::from_utf8_lossy(&f[HEADER_LEN..]).into_owned();
        frames.iter().map(body).collect()
    }
}

/// The `HELLO` of peer `id`, called `name`, in the test room, saying how
/// much it needs the link.
pub fn hello(id: u64, name: &str, need: Need) -> OwnedHello {
    OwnedHello {
        id: NodeId(id),
        port: 7000,
        room: ROOM.into(),
        need,
        name: name.into(),
    }
}

/// A screen that keeps each line's text.
struct Lines(Arc<Mutex<Vec<String>>>);

impl Recording for Lines {
    fn record(&self, event: &Event<'_>) {
        let mut line = Vec::new();
        format_event(event, Style::default(), &mut line);
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end().trim_start_matches("*** ");
        self.0.lock().unwrap().push(text.to_owned());
    }
}
