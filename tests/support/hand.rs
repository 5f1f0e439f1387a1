//! A peer driven by hand over a Noise link, as a real node would connect:
//! what it sends is written frame by frame, and what it receives is
//! collected, for tests that check the node's side of the protocol.

use super::{wire, Peer};
use futures::io::{AsyncWrite, AsyncWriteExt};
use p2pchat::message::FrameReader;
use p2pchat::rt;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a hand waits for what it expects.
const T: Duration = Duration::from_secs(10);

/// The `DIGEST` of an empty roster: one bucket, of nothing.
pub const EMPTY_DIGEST: &str = "DIGEST 0000000000000000";

pub struct Hand {
    pub name: String,
    pub id: String,
    writer: Mutex<Box<dyn AsyncWrite + Unpin + Send>>,
    stream: rt::Stream,
    pub frames: Arc<Mutex<Vec<String>>>,
}

impl Hand {
    /// Connects to `node` as a newcomer would (its `HELLO` says it needs
    /// the link), and waits until the node shows it connected.
    pub fn connect(node: &Peer, name: &str) -> Hand {
        let hand = Hand::open(node, name, true);
        node.wait_for_line(T, |l| l.starts_with(&format!("*** connected to {name}")));
        hand
    }

    /// Connects to `node` and sends `HELLO`, saying whether this peer
    /// `need`s the link, and the `DIGEST` of an empty roster, as a
    /// newcomer with nothing to compare: the node answers with its whole
    /// roster. Does not wait for the node's answer.
    pub fn open(node: &Peer, name: &str, need: bool) -> Hand {
        let hand = Hand::open_bare(node, name, need);
        hand.send(EMPTY_DIGEST);
        hand
    }

    /// As [`open`](Self::open), with no `DIGEST`: the test sends its own.
    pub fn open_bare(node: &Peer, name: &str, need: bool) -> Hand {
        let (id, link, stream) = rt::block_on(wire::connect(node.port));
        let frames = Arc::new(Mutex::new(Vec::new()));
        let collected = frames.clone();
        rt::spawn(async move {
            let mut reader = FrameReader::over(link.reader);
            while let Ok(Some(body)) = reader.next_frame().await {
                collected.lock().unwrap().push(body.to_string());
            }
        });
        let hand = Hand {
            name: name.to_string(),
            id: id.clone(),
            writer: Mutex::new(Box::new(link.writer)),
            stream,
            frames,
        };
        hand.send(&wire::hello_body(&id, name, need));
        hand
    }

    /// Closes the link, as a node that leaves does.
    pub fn close(self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    pub fn send(&self, body: &str) {
        assert!(self.try_send(body), "the node closed the link");
    }

    /// Sends `body`; false if the node has closed the link.
    pub fn try_send(&self, body: &str) -> bool {
        let mut frame = Vec::new();
        p2pchat::message::encode(body, &mut frame).unwrap();
        let mut writer = self.writer.lock().unwrap();
        rt::block_on(async {
            writer.write_all(&frame).await.is_ok() && writer.flush().await.is_ok()
        })
    }

    /// Waits for a frame whose body starts with `prefix`; returns it.
    pub fn expect(&self, prefix: &str) -> String {
        let deadline = Instant::now() + T;
        loop {
            if let Some(f) = self.received(prefix).into_iter().next() {
                return f;
            }
            assert!(
                Instant::now() < deadline,
                "{} never received {prefix:?}; it got {:?}",
                self.name,
                self.frames.lock().unwrap()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The frames received so far whose bodies start with `prefix`.
    pub fn received(&self, prefix: &str) -> Vec<String> {
        let frames = self.frames.lock().unwrap();
        frames
            .iter()
            .filter(|f| f.starts_with(prefix))
            .cloned()
            .collect()
    }
}
