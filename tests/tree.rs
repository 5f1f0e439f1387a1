//! The broadcast tree (PROTOCOL.md §5.3) seen from outside: a real node,
//! and two peers driven by hand over Noise links, which show that a repeat
//! prunes the link it came from, that a pruned link carries announcements
//! instead of messages, that `GRAFT` brings them back whole, and that a
//! node asks for announced messages it lacks.

mod support;

use futures::io::{AsyncWrite, AsyncWriteExt};
use p2pchat::message::FrameReader;
use p2pchat::protocol::VERSION;
use p2pchat::rt;
use p2pchat::secure::{self, Identity};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use support::Peer;

const T: Duration = Duration::from_secs(10);
/// The made-up origin of the messages the hand-driven peers pass on.
const ORIGIN: &str = "00000000000000aa";

/// A peer driven by hand: what it receives is collected, frame by frame.
struct Hand {
    name: &'static str,
    writer: Mutex<Box<dyn AsyncWrite + Unpin + Send>>,
    frames: Arc<Mutex<Vec<String>>>,
}

impl Hand {
    /// Connects to the node at `port` as a real node would: Noise, then `HELLO`.
    fn connect(node: &Peer, name: &'static str) -> Hand {
        let identity = Identity::generate().unwrap();
        let id = identity.node_id();
        let link = rt::block_on(async {
            let stream = rt::connect(([127, 0, 0, 1], node.port).into())
                .await
                .unwrap();
            secure::handshake(stream.clone(), stream, true, &identity, None)
                .await
                .unwrap()
        });
        let frames = Arc::new(Mutex::new(Vec::new()));
        let collected = frames.clone();
        rt::spawn(async move {
            let mut reader = FrameReader::new(link.reader);
            while let Ok(Some(body)) = reader.next_frame().await {
                collected.lock().unwrap().push(body.to_string());
            }
        });
        let hand = Hand {
            name,
            writer: Mutex::new(Box::new(link.writer)),
            frames,
        };
        hand.send(&format!("HELLO {VERSION} {id} 1 lobby {name}"));
        node.wait_for_line(T, |l| l.starts_with(&format!("*** connected to {name}")));
        hand
    }

    fn send(&self, body: &str) {
        let mut frame = Vec::new();
        p2pchat::message::encode(body, &mut frame).unwrap();
        let mut writer = self.writer.lock().unwrap();
        rt::block_on(async {
            writer.write_all(&frame).await.unwrap();
            writer.flush().await.unwrap();
        });
    }

    /// Waits for a frame whose body starts with `prefix`; returns it.
    fn expect(&self, prefix: &str) -> String {
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

    /// The sequence numbers of the made-up origin announced to this peer.
    fn announced(&self) -> Vec<u64> {
        let mut seqs = Vec::new();
        for frame in self.received("IHAVE ") {
            for range in frame.split(' ').skip(1) {
                let Some(ends) = range.strip_prefix(&format!("{ORIGIN}:")) else {
                    continue;
                };
                let (first, last) = ends.split_once('-').unwrap();
                seqs.extend(first.parse::<u64>().unwrap()..=last.parse().unwrap());
            }
        }
        seqs
    }

    fn received(&self, prefix: &str) -> Vec<String> {
        let frames = self.frames.lock().unwrap();
        frames
            .iter()
            .filter(|f| f.starts_with(prefix))
            .cloned()
            .collect()
    }
}

/// A live chat message of the made-up origin, as its neighbour passes it on.
fn chat(seq: u64) -> String {
    format!("MSG 32 {ORIGIN}:{seq} 1732608000000 xavier line {seq}")
}

/// The same message passed on once more, by the node under test.
fn forwarded(seq: u64) -> String {
    format!("MSG 31 {ORIGIN}:{seq} ")
}

fn node_and_two_hands() -> (Peer, Hand, Hand) {
    let alice = Peer::start("alice");
    let one = Hand::connect(&alice, "one");
    let two = Hand::connect(&alice, "two");
    (alice, one, two)
}

#[test]
fn a_repeat_prunes_the_link_it_came_from_and_not_the_first() {
    let (alice, one, two) = node_and_two_hands();
    one.send(&chat(1));
    two.expect(&forwarded(1));
    two.send(&chat(1));
    two.expect(&format!("PRUNE {ORIGIN}"));
    // Shown once; the peer that brought it first is still sent it whole.
    alice.expect_line("xavier: line 1", T);
    two.send(&chat(2));
    one.expect(&forwarded(2));
    assert!(one.received("PRUNE").is_empty(), "{:?}", one.received(""));
    assert_eq!(alice.count("xavier: line 1"), 1);
}

#[test]
fn a_pruned_link_carries_announcements_until_a_graft() {
    let (alice, one, two) = node_and_two_hands();
    one.send(&chat(1));
    two.expect(&forwarded(1));
    two.send(&format!("PRUNE {ORIGIN}"));
    // The PRUNE and the next message travel on different links: give the
    // PRUNE time to arrive first.
    thread::sleep(Duration::from_millis(500));
    one.send(&chat(2));
    one.send(&chat(3));
    alice.expect_line("xavier: line 3", T);
    let deadline = Instant::now() + T;
    while two.announced() != [2, 3] {
        assert!(
            Instant::now() < deadline,
            "announced: {:?}",
            two.announced()
        );
        thread::sleep(Duration::from_millis(10));
    }
    assert!(
        two.received(&forwarded(2)).is_empty(),
        "sent whole after PRUNE"
    );
    assert!(
        two.received(&forwarded(3)).is_empty(),
        "sent whole after PRUNE"
    );

    two.send(&format!("GRAFT {ORIGIN}:2-3"));
    two.expect(&forwarded(2));
    two.expect(&forwarded(3));
    one.send(&chat(4));
    two.expect(&forwarded(4));
}

#[test]
fn announced_messages_a_node_lacks_are_asked_for_and_shown_once() {
    let (alice, one, two) = node_and_two_hands();
    one.send(&format!("IHAVE {ORIGIN}:5-6"));
    one.expect(&format!("GRAFT {ORIGIN}:5-6"));
    one.send(&chat(5));
    one.send(&chat(6));
    alice.expect_line("xavier: line 6", T);
    two.expect(&forwarded(5));
    two.expect(&forwarded(6));
    // Announcing what the node has asks for nothing.
    two.send(&format!("IHAVE {ORIGIN}:5-6"));
    thread::sleep(Duration::from_millis(600));
    assert!(two.received("GRAFT").is_empty(), "{:?}", two.received(""));
    assert_eq!(alice.count("xavier: line 5"), 1);
}
