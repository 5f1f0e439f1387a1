//! Links made and lost, driven by hand in-process (`test_node.rs`): what
//! a new peer is told and in which order, who else hears of it, one link
//! per pair, and what a link lost without a word sets off.

use crate::node::link::admission::Direction::{Inbound, Outbound};
use crate::node::mesh::peers::LINKED_TO_KEPT;
use crate::node::test_node::{id, TestNode, ALICE, BOB, CAROL};
use crate::protocol::NodeId;

fn kinds(sent: &[String]) -> Vec<&str> {
    sent.iter().filter_map(|f| f.split(' ').next()).collect()
}

#[test]
fn a_new_peer_is_told_where_it_starts_its_peers_history_and_roster_and_the_others_of_it() {
    let alice = TestNode::new(ALICE, "alice");
    let mut bob = alice.link(BOB, "bob", Inbound);
    // alice's first roster: bob's answer to her digest ends.
    alice.hear(&mut bob, "ROSTER");
    bob.sent();
    let carol = alice.link(CAROL, "carol", Outbound);
    let to_carol = carol.sent();
    assert_eq!(kinds(&to_carol), ["START", "PEERS", "HAVE", "DIGEST"]);
    assert!(
        to_carol[1].contains(&format!("{}@", id(BOB))),
        "{to_carol:?}"
    );
    // bob hears of carol, at the address she listens on.
    let to_bob = bob.sent();
    assert_eq!(to_bob.len(), 1, "{to_bob:?}");
    assert!(
        to_bob[0].starts_with(&format!("PEERS {}@", id(CAROL))),
        "{to_bob:?}"
    );
    assert!(to_bob[0].ends_with(":7000"), "{to_bob:?}");
}

#[test]
fn two_links_to_one_node_leave_the_one_the_lower_id_opened() {
    // alice's id is the lower: the link she opened is the one kept.
    let alice = TestNode::new(ALICE, "alice");
    let opened_by_bob = alice.link(BOB, "bob", Inbound);
    let opened_by_alice = alice.link(BOB, "bob", Outbound);
    assert!(opened_by_bob.closed(), "replaced");
    assert!(!opened_by_alice.closed());
    let again = alice.try_link(BOB, "bob", Inbound);
    assert_eq!(
        again.err().as_deref(),
        Some("already connected to this node")
    );
    assert!(!opened_by_alice.closed());
}

#[test]
fn a_link_lost_without_a_word_makes_its_user_suspected_everywhere_else() {
    let alice = TestNode::new(ALICE, "alice");
    let mut bob = alice.link(BOB, "bob", Inbound);
    let carol = alice.link(CAROL, "carol", Outbound);
    alice.hear(&mut bob, &format!("JOIN {}:42:bob", id(BOB)));
    assert!(
        alice.shown().contains(&"bob joined".to_string()),
        "{:?}",
        alice.shown()
    );
    carol.sent();
    alice.lose(bob);
    assert_eq!(carol.sent(), [format!("SUSPECT {}:42", id(BOB))]);
}

#[test]
fn a_link_closed_with_an_error_suspects_nobody() {
    let alice = TestNode::new(ALICE, "alice");
    let mut bob = alice.link(BOB, "bob", Inbound);
    let carol = alice.link(CAROL, "carol", Outbound);
    alice.hear(&mut bob, &format!("JOIN {}:42:bob", id(BOB)));
    carol.sent();
    alice.hear_last(&mut bob, "ERROR going away");
    assert!(!kinds(&carol.sent()).contains(&"SUSPECT"));
}

/// A `PEERS` frame naming `nodes`, each at 10.1.x.y.
fn peers(nodes: impl Iterator<Item = u64>) -> String {
    let entries: Vec<String> = nodes
        .map(|n| format!("{n:016x}@{}:7000", address_of(n).ip()))
        .collect();
    format!("PEERS {}", entries.join(" "))
}

fn address_of(n: u64) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([10, 1, (n >> 8) as u8, n as u8], 7000))
}

#[test]
fn a_flood_of_made_up_addresses_does_not_push_the_real_ones_out_of_the_book() {
    let alice = TestNode::new(ALICE, "alice");
    let mut bob = alice.link(BOB, "bob", Inbound);
    let real = 0x1001..=0x1008;
    alice.hear(&mut bob, &peers(real.clone()));
    // mallory names a thousand frames' worth of nodes that do not exist.
    let mut mallory = alice.link(0xbad, "mallory", Inbound);
    for round in 0..1000u64 {
        alice.hear(
            &mut mallory,
            &peers((0..8).map(|i| 0x10_0000 + round * 8 + i)),
        );
    }
    let state = alice.shared.lock();
    let kept = real.filter(|n| state.peers.source_of(address_of(*n)).is_some());
    assert_eq!(kept.count(), 8, "bob's addresses are still known");
}

#[test]
fn a_peer_is_taken_at_its_word_about_whom_it_is_linked_to() {
    let alice = TestNode::new(ALICE, "alice");
    let mut bob = alice.link(BOB, "bob", Inbound);
    let _carol = alice.link(CAROL, "carol", Outbound);
    alice.hear(&mut bob, &peers([CAROL, 0x1001].into_iter()));
    alice.hear(&mut bob, &peers(0x2000..0x2100));
    let state = alice.shared.lock();
    let linked_to = &state.peers.get(&NodeId(BOB)).unwrap().linked_to;
    assert_eq!(linked_to[..2], [NodeId(CAROL), NodeId(0x1001)]);
    assert_eq!(linked_to.len(), LINKED_TO_KEPT, "no more than it keeps");
    let carol = &state.peers.get(&NodeId(CAROL)).unwrap().linked_to;
    assert!(carol.is_empty(), "only bob's own word about bob");
}
