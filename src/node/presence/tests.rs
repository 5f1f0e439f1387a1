//! Presence driven by hand in-process (`test_node.rs`): what a node sends
//! and shows for each presence message a peer can send.

use crate::node::link::admission::Direction::{Inbound, Outbound};
use crate::node::test_node::{id, TestLink, TestNode, ALICE, BOB, CAROL, DAVE};
use std::time::Duration;

/// Frames of `kind` in `sent`.
fn of_kind<'a>(sent: &'a [String], kind: &str) -> Vec<&'a str> {
    let word = |f: &&String| f.split(' ').next() == Some(kind);
    sent.iter().filter(word).map(String::as_str).collect()
}

/// alice with bob and carol linked, and what each was sent at once.
fn alice_with_two() -> (TestNode, TestLink, TestLink) {
    let alice = TestNode::new(ALICE, "alice");
    let (bob, carol) = (
        alice.link(BOB, "bob", Inbound),
        alice.link(CAROL, "carol", Outbound),
    );
    bob.sent();
    carol.sent();
    (alice, bob, carol)
}

#[test]
fn a_digest_is_answered_once_with_the_entries_that_differ() {
    let alice = TestNode::new(ALICE, "alice");
    let mut bob = alice.link(BOB, "bob", Inbound);
    let first = bob.sent();
    let digest = of_kind(&first, "DIGEST");
    assert_eq!(digest.len(), 1, "{first:?}");
    // bob knows what alice knows: nothing differs, and he hears so.
    alice.hear(&mut bob, digest[0]);
    assert_eq!(bob.sent(), ["ROSTER"]);
    alice.hear(&mut bob, "DIGEST 0000000000000000");
    assert!(bob.sent().is_empty(), "a second digest is not answered");
    // carol knows nobody: she hears of everyone alice knows.
    let mut carol = alice.link(CAROL, "carol", Inbound);
    carol.sent();
    alice.hear(&mut carol, &format!("ROSTER {}:5:dave", id(DAVE)));
    alice.hear(&mut carol, "DIGEST 0000000000000000");
    let roster = carol.sent();
    assert_eq!(roster.len(), 2, "{roster:?}");
    assert_eq!(roster[1], "ROSTER", "an empty roster ends the answer");
    for (who, name) in [(ALICE, "alice"), (DAVE, "dave")] {
        let entry = format!("{}:", id(who));
        assert!(
            roster[0].contains(&entry) && roster[0].contains(name),
            "{roster:?}"
        );
    }
}

#[test]
fn users_a_roster_names_are_passed_on_to_the_other_peers_once() {
    let (alice, mut bob, carol) = alice_with_two();
    alice.hear(&mut bob, &format!("ROSTER {}:5:dave", id(DAVE)));
    assert_eq!(carol.sent(), [format!("ROSTER {}:5:dave", id(DAVE))]);
    assert!(bob.sent().is_empty(), "not back to where it came from");
    alice.hear(&mut bob, &format!("ROSTER {}:5:dave", id(DAVE)));
    assert!(carol.sent().is_empty(), "no news the second time");
    // A newer number is news again.
    alice.hear(&mut bob, &format!("ROSTER {}:9:dave", id(DAVE)));
    assert_eq!(carol.sent(), [format!("ROSTER {}:9:dave", id(DAVE))]);
}

#[test]
fn a_suspected_user_who_says_nothing_newer_is_lost_after_the_suspicion() {
    let (alice, mut bob, mut carol) = alice_with_two();
    alice.hear(&mut bob, &format!("ROSTER {}:5:dave", id(DAVE)));
    carol.sent();
    alice.hear(&mut carol, &format!("SUSPECT {}:5", id(DAVE)));
    // Passed on to the other peers, not back.
    assert_eq!(bob.sent(), [format!("SUSPECT {}:5", id(DAVE))]);
    assert!(carol.sent().is_empty());
    alice.wait(Duration::from_secs(5));
    let _ = alice.shared.presence_tick();
    assert!(!alice.shown().iter().any(|l| l.contains("dave lost")));
    alice.wait(Duration::from_secs(2));
    let _ = alice.shared.presence_tick();
    let lost = alice
        .shown()
        .into_iter()
        .filter(|l| l == "dave lost connection");
    assert_eq!(lost.count(), 1, "{:?}", alice.shown());
}

#[test]
fn a_suspicion_cleared_by_a_newer_number_loses_nobody() {
    let (alice, mut bob, mut carol) = alice_with_two();
    alice.hear(&mut bob, &format!("ROSTER {}:5:dave", id(DAVE)));
    alice.hear(&mut carol, &format!("SUSPECT {}:5", id(DAVE)));
    alice.hear(&mut bob, &format!("ALIVE 3 {}:6 dave", id(DAVE)));
    alice.wait(Duration::from_secs(10));
    let _ = alice.shared.presence_tick();
    assert!(
        !alice.shown().iter().any(|l| l.contains("lost")),
        "{:?}",
        alice.shown()
    );
    // The same suspicion again is stale: the peer is told the newer number.
    carol.sent();
    alice.hear(&mut carol, &format!("SUSPECT {}:5", id(DAVE)));
    assert_eq!(carol.sent(), [format!("ROSTER {}:6:dave", id(DAVE))]);
}

#[test]
fn a_suspicion_of_the_node_itself_is_answered_with_one_alive_a_second() {
    let alice = TestNode::new(ALICE, "alice");
    let mut bob = alice.link(BOB, "bob", Inbound);
    let carol = alice.link(CAROL, "carol", Outbound);
    // The number alice's next message takes, as her START says.
    let next: u64 = (of_kind(&carol.sent(), "START").first())
        .and_then(|s| s.split(' ').nth(1)?.parse().ok())
        .expect("a START");
    bob.sent();
    alice.hear(&mut bob, &format!("SUSPECT {}:{}", id(ALICE), next - 2));
    assert!(
        carol.sent().is_empty(),
        "older than her last number: answered already"
    );
    alice.hear(&mut bob, &format!("SUSPECT {}:{}", id(ALICE), next - 1));
    let to_carol = carol.sent();
    let alive = of_kind(&to_carol, "ALIVE");
    assert_eq!(alive.len(), 1, "{to_carol:?}");
    assert_eq!(of_kind(&bob.sent(), "ALIVE").len(), 1, "bob hears it too");
    // A suspicion at a number above any alice used, made up: answered
    // above it, within a second.
    let made_up = next + (1 << 30);
    alice.hear(&mut bob, &format!("SUSPECT {}:{made_up}", id(ALICE)));
    assert!(of_kind(&carol.sent(), "ALIVE").is_empty(), "one a second");
    alice.wait(Duration::from_secs(1));
    let _ = alice.shared.presence_tick();
    let answer = carol.sent();
    let alive = of_kind(&answer, "ALIVE");
    assert_eq!(alive.len(), 1, "{answer:?}");
    let seq: u64 = alive[0]
        .split(' ')
        .nth(2)
        .and_then(|id| id.split(':').nth(1)?.parse().ok())
        .unwrap_or(0);
    assert!(seq > made_up, "{}", alive[0]);
}

#[test]
fn a_newcomer_shows_who_is_online_once_an_answer_to_its_digest_ends() {
    let alice = TestNode::new(ALICE, "alice");
    let mut bob = alice.link(BOB, "bob", Outbound);
    let mut carol = alice.link(CAROL, "carol", Outbound);
    let greeted = |node: &TestNode| node.shown().into_iter().filter(|l| l.contains(" online: "));
    // News passed on from carol's side comes first: not the answer.
    alice.hear(&mut carol, &format!("ROSTER {}:5:dave", id(DAVE)));
    assert_eq!(greeted(&alice).count(), 0, "{:?}", alice.shown());
    // bob's answer, in two frames, then the empty one that ends it.
    alice.hear(&mut bob, &format!("ROSTER {}:5:bob", id(BOB)));
    alice.hear(&mut bob, &format!("ROSTER {}:5:carol", id(CAROL)));
    assert_eq!(greeted(&alice).count(), 0);
    alice.hear(&mut bob, "ROSTER");
    let lines: Vec<String> = greeted(&alice).collect();
    assert_eq!(lines, ["4 online: alice, bob, carol, dave"]);
    // Once only.
    alice.hear(&mut carol, "ROSTER");
    assert_eq!(greeted(&alice).count(), 1);
}
