//! The broadcast tree driven by hand in-process (`test_node.rs`): which
//! links carry a message whole, which announce it, and how a link is
//! pruned and grafted.

use crate::node::link::admission::Direction::{Inbound, Outbound};
use crate::node::test_node::{id, TestLink, TestNode, ALICE, BOB, CAROL, DAVE};

/// A chat line of bob's numbered `seq`, as it comes from a neighbour.
fn bobs_line(seq: u64) -> String {
    format!("MSG 30 {}:{seq} 1700000000000 bob line {seq}", id(BOB))
}

/// Whether `sent` holds bob's line `seq`, whole.
fn has_line(sent: &[String], seq: u64) -> bool {
    sent.iter().any(|f| f.ends_with(&format!("bob line {seq}")))
}

/// alice linked to bob, carol and dave, each link's first frames read.
fn alice_with_three() -> (TestNode, TestLink, TestLink, TestLink) {
    let alice = TestNode::new(ALICE, "alice");
    let links = (
        alice.link(BOB, "bob", Inbound),
        alice.link(CAROL, "carol", Outbound),
        alice.link(DAVE, "dave", Inbound),
    );
    for l in [&links.0, &links.1, &links.2] {
        l.sent();
    }
    (alice, links.0, links.1, links.2)
}

#[test]
fn a_neighbours_start_makes_the_other_links_announce_its_messages() {
    let (alice, mut bob, carol, dave) = alice_with_three();
    alice.hear(&mut bob, "START 10");
    let prune = format!("PRUNE {}:10", id(BOB));
    assert_eq!(carol.sent(), std::slice::from_ref(&prune));
    assert_eq!(dave.sent(), [prune]);
    assert!(bob.sent().is_empty());
}

#[test]
fn a_pruned_link_gets_the_origins_later_messages_not_at_all_and_older_ones_announced() {
    let (alice, mut bob, mut carol, dave) = alice_with_three();
    alice.hear(&mut carol, &format!("PRUNE {}:10", id(BOB)));
    alice.hear(&mut bob, &bobs_line(12));
    assert!(has_line(&dave.sent(), 12), "dave takes it whole");
    assert!(carol.sent().is_empty(), "carol has it from bob's own link");
    alice.hear(&mut bob, &bobs_line(5));
    assert!(has_line(&dave.sent(), 5));
    assert!(
        carol.sent().is_empty(),
        "announced at the next tick, not sent"
    );
    let _ = alice.shared.tree_tick();
    assert_eq!(carol.sent(), [format!("IHAVE {}:5-5", id(BOB))]);
}

#[test]
fn a_graft_brings_what_it_asks_for_and_the_origin_whole_again() {
    let (alice, mut bob, mut carol, _dave) = alice_with_three();
    alice.hear(&mut carol, &format!("PRUNE {}:10", id(BOB)));
    alice.hear(&mut bob, &bobs_line(12));
    assert!(carol.sent().is_empty());
    alice.hear(&mut carol, &format!("GRAFT {}:12-12", id(BOB)));
    assert!(has_line(&carol.sent(), 12), "the line asked for");
    alice.hear(&mut bob, &bobs_line(13));
    assert!(has_line(&carol.sent(), 13), "and the next, whole");
}

#[test]
fn when_a_neighbours_link_breaks_the_links_pruned_for_it_are_grafted() {
    let (alice, mut bob, carol, _dave) = alice_with_three();
    alice.hear(&mut bob, "START 10");
    alice.hear(&mut bob, &bobs_line(10));
    carol.sent();
    alice.lose(bob);
    // What bob sent from 11 on may have been on its way: carol is asked
    // for it, and pushes bob's messages whole again.
    let sent = carol.sent();
    let graft = format!("GRAFT {}:11-{}", id(BOB), u64::MAX);
    assert!(sent.contains(&graft), "{sent:?}");
}

#[test]
fn a_copy_from_a_grafted_link_of_what_the_origins_own_link_brings_prunes_it_again() {
    let (alice, mut bob, mut carol, _dave) = alice_with_three();
    alice.hear(&mut bob, "START 10");
    let prune = format!("PRUNE {}:10", id(BOB));
    assert_eq!(carol.sent(), std::slice::from_ref(&prune));
    // carol announces an older line of bob's that alice lacks: alice asks
    // for it, which makes carol push bob's lines whole again.
    alice.hear(&mut carol, &format!("IHAVE {}:5-5", id(BOB)));
    alice.wait(std::time::Duration::from_millis(200));
    let _ = alice.shared.tree_tick();
    assert_eq!(carol.sent(), [format!("GRAFT {}:5-5", id(BOB))]);
    // A copy from carol of a line bob's own link brings: pruned again.
    // (alice passes bob's lines on to carol, who pruned nothing.)
    alice.hear(&mut bob, &bobs_line(11));
    assert!(has_line(&carol.sent(), 11));
    alice.hear(&mut carol, &bobs_line(11));
    assert_eq!(carol.sent(), [prune]);
}
