//! The broadcast tree (PROTOCOL.md §5.3) seen from outside: a real node,
//! and peers driven by hand over Noise links, which show that the other
//! paths of a neighbour's messages are pruned once that neighbour says its
//! own link brings them (`START`), and not before, that a pruned link
//! carries announcements instead of messages, that `GRAFT` brings them back
//! whole, and that a node asks for announced messages it lacks.
//!
//! Discovery is off (the harness's loopback default): the node's links must
//! be exactly the hand-driven peers, so that which link prunes what is
//! known.

mod support;

use std::thread;
use std::time::{Duration, Instant};
use support::hand::Hand;
use support::Peer;

const T: Duration = Duration::from_secs(10);
/// The made-up origin of the messages the hand-driven peers pass on, a node
/// further away.
const ORIGIN: &str = "00000000000000aa";

/// The sequence numbers of the made-up origin announced to `hand`.
fn announced(hand: &Hand) -> Vec<u64> {
    let mut seqs = Vec::new();
    for frame in hand.received("IHAVE ") {
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

/// A live chat message of the made-up origin, as its neighbour passes it on.
fn chat(seq: u64) -> String {
    chat_of(ORIGIN, seq)
}

fn chat_of(origin: &str, seq: u64) -> String {
    format!("MSG 32 {origin}:{seq} 1732608000000 xavier line {seq}")
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
fn a_neighbours_start_prunes_its_other_paths() {
    let (alice, one, two) = node_and_two_hands();
    let origin = one.id.clone();
    // The node says where its own messages start on a link before it sends
    // anything else there.
    one.expect("START ");
    let first = one
        .frames
        .lock()
        .unwrap()
        .get(1)
        .cloned()
        .unwrap_or_default();
    let seq = first.strip_prefix("START ").map(str::parse::<u64>);
    assert!(matches!(seq, Some(Ok(_))), "after HELLO came {first:?}");
    one.send("START 1");
    two.expect(&format!("PRUNE {origin}"));
    // Pruning is about what two sends: one's messages still reach it.
    one.send(&chat_of(&origin, 1));
    two.expect(&format!("MSG 31 {origin}:1 "));
    two.send(&chat_of(&origin, 1));
    alice.expect_line("xavier: line 1", T);
    assert_eq!(alice.count("xavier: line 1"), 1);
    // The origin itself is never pruned, and two's own messages still go
    // whole to one.
    one.send(&chat_of(&origin, 2));
    two.send(&chat_of(&origin, 2));
    two.send(&chat_of(&two.id, 1));
    one.expect(&format!("MSG 31 {}:1 ", two.id));
    assert!(one.received("PRUNE").is_empty(), "{:?}", one.received(""));
    assert_eq!(prunes(&two), vec![origin.clone()], "pruned once");

    // When the origin leaves, its messages must come whole again.
    one.close();
    alice.wait_for_line(T, |l| l.starts_with("*** connection to one"));
    two.expect(&format!("GRAFT {origin}:3-{}", u64::MAX));
}

#[test]
fn a_repeat_of_a_distant_origin_prunes_nothing() {
    let (alice, one, two) = node_and_two_hands();
    one.send(&chat(1));
    two.expect(&forwarded(1));
    two.send(&chat(1));
    one.send(&chat(2));
    two.expect(&forwarded(2));
    alice.expect_line("xavier: line 2", T);
    assert!(two.received("PRUNE").is_empty(), "{:?}", two.received(""));
    assert_eq!(alice.count("xavier: line 1"), 1);
}

#[test]
fn a_pruned_link_carries_announcements_until_a_graft() {
    let (alice, one, two) = node_and_two_hands();
    one.send(&chat(1));
    two.expect(&forwarded(1));
    // Two has the origin's messages from 4 on by another link.
    two.send(&format!("PRUNE {ORIGIN}:4"));
    // The PRUNE and the next message travel on different links. The node
    // handles each link's frames in order, so once it has passed on a
    // message two sent after the PRUNE, it has taken the PRUNE too.
    two.send(&format!(
        "MSG 32 {}:1 1732608000000 two after the prune",
        two.id
    ));
    one.expect(&format!("MSG 31 {}:1 ", two.id));
    one.send(&chat(2));
    one.send(&chat(3));
    alice.expect_line("xavier: line 3", T);
    let deadline = Instant::now() + T;
    while announced(&two) != [2, 3] {
        assert!(
            Instant::now() < deadline,
            "announced: {:?}",
            announced(&two)
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
    // From the start on, two gets them neither whole nor announced.
    one.send(&chat(4));
    one.send(&chat(5));
    alice.expect_line("xavier: line 5", T);
    thread::sleep(Duration::from_millis(300));
    assert_eq!(announced(&two), [2, 3]);
    assert!(two.received(&forwarded(4)).is_empty(), "sent whole");

    two.send(&format!("GRAFT {ORIGIN}:2-3"));
    two.expect(&forwarded(2));
    two.expect(&forwarded(3));
    one.send(&chat(6));
    two.expect(&forwarded(6));
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

/// What `peer` was told to prune, as the origins listed, in order.
fn prunes(peer: &Hand) -> Vec<String> {
    peer.received("PRUNE ")
        .iter()
        .flat_map(|f| {
            f.split(' ')
                .skip(1)
                .filter_map(|start| Some(start.split_once(':')?.0.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn paths_are_pruned_only_from_where_the_origin_says_its_link_starts() {
    let (alice, one, two) = node_and_two_hands();
    let origin = one.id.clone();
    let line = |seq: u64| format!("xavier: line {seq}");

    // Until the origin says where its own messages start on its link, a
    // relay's copies, even repeated, prune nothing: what the relay holds
    // may be all there is. Nor do the origin's own messages.
    two.send(&chat_of(&origin, 1));
    two.send(&chat_of(&origin, 1));
    one.send(&chat_of(&origin, 3));
    alice.expect_line(&line(1), T);
    alice.expect_line(&line(3), T);
    thread::sleep(Duration::from_millis(300));
    assert!(
        prunes(&two).is_empty(),
        "pruned early: {:?}",
        two.received("")
    );

    // From 5 on, one's link brings everything: the other link is pruned at
    // once, and so is a link that opens later.
    one.send("START 5");
    two.expect(&format!("PRUNE {origin}"));
    let three = Hand::connect(&alice, "three");
    three.expect(&format!("PRUNE {origin}"));
    assert_eq!(prunes(&three), vec![origin.clone()]);

    // Announced messages from below the start are asked for; those from it
    // on are not, as one's link brings them.
    two.send(&format!("IHAVE {origin}:2-8"));
    let graft = two.expect("GRAFT ");
    assert_eq!(graft, format!("GRAFT {origin}:2-2 {origin}:4-4"));
    // Asking made two's link carry one's messages whole again; the first of
    // them from the start on prunes it again.
    two.send(&chat_of(&origin, 2));
    two.send(&chat_of(&origin, 6));
    let deadline = Instant::now() + T;
    while prunes(&two).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "not pruned again: {:?}",
            two.received("")
        );
        thread::sleep(Duration::from_millis(10));
    }
    for seq in [1, 3, 6] {
        alice.expect_line(&line(seq), T);
        assert_eq!(alice.count(&line(seq)), 1, "line {seq}");
    }
    // Line 2 came after line 3: it is shown with its time, as history is,
    // so that xavier's lines still read in the order he sent them.
    let late = alice.wait_for_line(T, |l| l.ends_with(&line(2)));
    assert!(late.starts_with("[history "), "{late}");
    let twos = alice.lines().into_iter().filter(|l| l.ends_with(&line(2)));
    assert_eq!(twos.count(), 1);
}

/// `--no-tree`, the benchmark-only switch that measures what the tree
/// saves: a neighbour's `START` and a second path prune nothing, every
/// message still goes whole over every link, and each is shown once.
#[test]
fn with_the_tree_off_nothing_is_pruned_and_each_message_shows_once() {
    let alice = Peer::spawn("alice", &["--no-tree"]);
    let one = Hand::connect(&alice, "one");
    let two = Hand::connect(&alice, "two");
    let origin = one.id.clone();
    one.expect("START ");
    one.send("START 1");
    for seq in 1..=3 {
        one.send(&chat_of(&origin, seq));
    }
    two.expect(&format!("MSG 31 {origin}:3 "));
    // The same messages by a second path.
    for seq in 1..=3 {
        two.send(&chat_of(&origin, seq));
    }
    alice.expect_line("xavier: line 3", T);
    // With the tree on, the second path is pruned at once (see the first
    // test); give it the time that would take, and more.
    thread::sleep(Duration::from_secs(1));
    assert!(prunes(&two).is_empty(), "{:?}", two.received(""));
    assert!(prunes(&one).is_empty(), "{:?}", one.received(""));
    for seq in 1..=3 {
        assert_eq!(alice.count(&format!("xavier: line {seq}")), 1);
    }
}
