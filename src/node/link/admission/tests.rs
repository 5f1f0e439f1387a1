//! The node's decision on a peer's `HELLO`, driven in-process
//! (`test_node.rs`).

use crate::node::link::admission::Direction::{Inbound, Outbound};
use crate::node::test_node::{hello, TestNode, ALICE};
use crate::protocol::Need;

#[test]
fn a_peer_of_another_room_or_with_the_nodes_own_id_is_turned_away() {
    let alice = TestNode::new(ALICE, "alice");
    let elsewhere = crate::node::link::admission::OwnedHello {
        room: "other".into(),
        ..hello(0xb0b, "bob", Need::Needed)
    };
    let turned = alice.offer(elsewhere, Inbound).err();
    assert_eq!(turned.as_deref(), Some("it is in room other, not test"));
    let itself = alice.try_link(ALICE, "alice", Outbound).err();
    assert_eq!(itself.as_deref(), Some("connected to itself"));
}

#[test]
fn a_full_node_refuses_a_spare_link_and_makes_room_for_a_needed_one() {
    let alice = TestNode::new(ALICE, "alice");
    // Eight peers dialled alice: her maximum.
    let accepted: Vec<_> = (1..=8)
        .map(|i| alice.link(0x100 + i, &format!("p{i}"), Inbound))
        .collect();
    let spare = alice.offer(hello(0x200, "spare", Need::Spare), Inbound);
    assert_eq!(
        spare.err().as_deref(),
        Some("this node has as many peers as it takes")
    );
    // A newcomer that needs the link gets one: an accepted peer makes room,
    // told why, and its link is closed.
    let newcomer = alice.offer(hello(0x300, "newcomer", Need::Needed), Inbound);
    assert!(newcomer.is_ok());
    let dropped: Vec<_> = accepted.iter().filter(|l| l.closed()).collect();
    assert_eq!(dropped.len(), 1);
    let said = dropped[0].sent();
    assert!(
        said.last()
            .is_some_and(|e| e.starts_with("ERROR ") && e.contains("made room")),
        "{said:?}"
    );
}
