//! Who a full node lets in (PROTOCOL.md §5.4): a peer that needs the link
//! (a newcomer) is taken and one of the node's links dropped for it; one
//! that merely wants another link is refused, quietly, so that replacing
//! lost links never makes full nodes drop links in turn.
//!
//! Discovery is off (the harness's loopback default): the node's links must
//! be exactly the hand-made peers the test opens.

mod support;

use std::time::Duration;
use support::hand::Hand;
use support::Peer;

/// The most links a node keeps (`Limits::default().max`).
const MAX: usize = 8;
const MADE_ROOM: &str =
    "ERROR this node has as many peers as it takes, and made room for a newcomer";

#[test]
fn a_full_node_refuses_a_spare_link_and_makes_room_for_a_needed_one() {
    let alice = Peer::start("alice");
    let hands: Vec<Hand> = (0..MAX)
        .map(|i| Hand::connect(&alice, &format!("h{i}")))
        .collect();

    let spare = Hand::open(&alice, "spare", false);
    let refusal = spare.expect("ERROR ");
    assert_eq!(refusal, "ERROR this node has as many peers as it takes");
    assert!(hands.iter().all(|h| h.received(MADE_ROOM).is_empty()));

    let _newcomer = Hand::connect(&alice, "newcomer");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let dropped = loop {
        let dropped: Vec<&Hand> = hands
            .iter()
            .filter(|h| !h.received(MADE_ROOM).is_empty())
            .collect();
        if !dropped.is_empty() || std::time::Instant::now() > deadline {
            break dropped.len();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(dropped, 1, "one link makes room for the newcomer");
    // Turning down a spare link is the mesh's upkeep, not news for the user.
    let lines = alice.lines();
    let shown = lines.iter().filter(|l| l.contains("refused a connection"));
    assert_eq!(shown.count(), 0, "{lines:?}");
}
