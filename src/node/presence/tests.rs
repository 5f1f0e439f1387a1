//! Presence driven by hand in-process (`test_node.rs`): what a node sends
//! and shows for each presence message a peer can send.

use crate::node::link::admission::Direction::{Inbound, Outbound};
use crate::node::presence::first_roster::FIRST_ROSTER_WAIT;
use crate::node::presence::SUSPICION;
use crate::node::test_node::{id, TestLink, TestNode, ALICE, BOB, CAROL, DAVE};
use std::time::Duration;

/// Frames of `kind` in `sent`.
fn of_kind<'a>(sent: &'a [String], kind: &str) -> Vec<&'a str> {
    let word = |f: &&String| f.split(' ').next() == Some(kind);
    sent.iter().filter(word).map(String::as_str).collect()
}

/// alice with bob and carol linked, and what each was sent at once.
/// alice, linked to bob and then carol, once bob's answer to her digest
/// has ended: she has her first roster, and takes news as news.
fn alice_with_two() -> (TestNode, TestLink, TestLink) {
    let alice = TestNode::new(ALICE, "alice");
    let mut bob = alice.link(BOB, "bob", Inbound);
    alice.hear(&mut bob, "ROSTER");
    let carol = alice.link(CAROL, "carol", Outbound);
    bob.sent();
    carol.sent();
    (alice, bob, carol)
}

#[test]
fn a_newcomers_other_links_wait_for_its_first_roster_which_is_not_news() {
    let alice = TestNode::new(ALICE, "alice");
    let mut bob = alice.link(BOB, "bob", Inbound);
    assert_eq!(of_kind(&bob.sent(), "DIGEST").len(), 1);
    let mut carol = alice.link(CAROL, "carol", Outbound);
    assert!(of_kind(&carol.sent(), "DIGEST").is_empty(), "it waits");
    alice.hear(&mut carol, "DIGEST 0000000000000000");
    assert!(carol.sent().is_empty(), "the answer waits too");
    // bob's answer: dave and erin, then its end.
    let erin = 0xe21;
    alice.hear(&mut bob, &format!("ROSTER {}:5:dave", id(DAVE)));
    alice.hear(&mut bob, &format!("ROSTER {}:7:erin", id(erin)));
    assert!(carol.sent().is_empty(), "the first answer is not news");
    alice.hear(&mut bob, "ROSTER");
    let to_carol = carol.sent();
    // alice's digest now names the room she learned, and carol's answer
    // lists it: carol was sent nothing twice.
    assert_eq!(
        kinds(&to_carol),
        ["DIGEST", "ROSTER", "ROSTER"],
        "{to_carol:?}"
    );
    for who in [ALICE, DAVE, erin] {
        assert!(to_carol[1].contains(&id(who)), "{to_carol:?}");
    }
    let digest = to_carol[0].split(' ').count() - 1;
    assert_eq!(digest, 1, "three users fit one bucket: {to_carol:?}");
    alice.shared.news_tick();
    assert!(carol.sent().is_empty(), "{:?}", alice.shown());
    // A link made now gets the digest at once.
    let dave = alice.link(DAVE, "dave", Inbound);
    assert_eq!(of_kind(&dave.sent(), "DIGEST").len(), 1);
}

#[test]
fn a_first_roster_that_never_ends_holds_the_other_links_for_a_while_only() {
    let alice = TestNode::new(ALICE, "alice");
    let bob = alice.link(BOB, "bob", Inbound);
    let carol = alice.link(CAROL, "carol", Outbound);
    let _ = (bob.sent(), carol.sent());
    alice.wait(FIRST_ROSTER_WAIT / 2);
    alice.presence_tick();
    assert!(of_kind(&carol.sent(), "DIGEST").is_empty());
    alice.wait(FIRST_ROSTER_WAIT / 2);
    alice.presence_tick();
    assert_eq!(
        of_kind(&carol.sent(), "DIGEST").len(),
        1,
        "bob took too long"
    );
    // The same when the peer asked leaves before its answer ends.
    let alice = TestNode::new(ALICE, "alice");
    let bob = alice.link(BOB, "bob", Inbound);
    let carol = alice.link(CAROL, "carol", Outbound);
    carol.sent();
    alice.lose(bob);
    alice.presence_tick();
    assert_eq!(of_kind(&carol.sent(), "DIGEST").len(), 1, "bob left");
}

fn kinds(sent: &[String]) -> Vec<&str> {
    sent.iter().filter_map(|f| f.split(' ').next()).collect()
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
    // bob's answer to alice's digest ends: she has her first roster.
    alice.hear(&mut bob, "ROSTER");
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
    alice.presence_tick();
    assert!(!alice.shown().iter().any(|l| l.contains("dave lost")));
    alice.wait(Duration::from_secs(2));
    alice.presence_tick();
    let lost = alice
        .shown()
        .into_iter()
        .filter(|l| l == "dave lost connection");
    assert_eq!(lost.count(), 1, "{:?}", alice.shown());
}

#[test]
fn a_new_peer_is_told_the_users_lost_lately_where_its_digest_differs() {
    let (alice, mut bob, mut carol) = alice_with_two();
    alice.hear(&mut bob, &format!("ROSTER {}:5:dave", id(DAVE)));
    alice.hear(&mut carol, &format!("SUSPECT {}:5", id(DAVE)));
    alice.wait(SUSPICION + Duration::from_secs(1));
    alice.presence_tick();
    assert!(alice.shown().contains(&"dave lost connection".to_string()));
    // erin's roster agrees with alice's: she lists dave nowhere, and is
    // told nothing of him.
    let mut erin = alice.link(0xe21, "erin", Inbound);
    let to_erin = erin.sent();
    let digest = of_kind(&to_erin, "DIGEST");
    alice.hear(&mut erin, digest[0]);
    assert_eq!(erin.sent(), ["ROSTER"]);
    // frank knows nobody: his digest differs, and he is told.
    let mut frank = alice.link(0xf2a, "frank", Inbound);
    frank.sent();
    alice.hear(&mut frank, "DIGEST 0000000000000000");
    let to_frank = frank.sent();
    assert_eq!(
        kinds(&to_frank),
        ["ROSTER", "ROSTER", "SUSPECT"],
        "{to_frank:?}"
    );
    assert_eq!(to_frank[2], format!("SUSPECT {}:5", id(DAVE)));
}

#[test]
fn a_suspicion_cleared_by_a_newer_number_loses_nobody() {
    let (alice, mut bob, mut carol) = alice_with_two();
    alice.hear(&mut bob, &format!("ROSTER {}:5:dave", id(DAVE)));
    alice.hear(&mut carol, &format!("SUSPECT {}:5", id(DAVE)));
    alice.hear(&mut bob, &format!("ROSTER {}:6:dave", id(DAVE)));
    alice.wait(Duration::from_secs(10));
    alice.presence_tick();
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

/// The numbers `ROSTER` frames in `sent` list user `who` at.
fn listed(sent: &[String], who: u64) -> Vec<u64> {
    let prefix = format!("{}:", id(who));
    of_kind(sent, "ROSTER")
        .into_iter()
        .flat_map(|f| f.split(' ').skip(1))
        .filter_map(|e| e.strip_prefix(&prefix)?.split(':').next()?.parse().ok())
        .collect()
}

#[test]
fn a_suspicion_of_the_node_itself_is_answered_with_its_entry_once_a_second() {
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
    assert_eq!(listed(&to_carol, ALICE), [next], "{to_carol:?}");
    assert_eq!(listed(&bob.sent(), ALICE), [next], "bob hears it too");
    // A suspicion at a number above any alice used, made up: answered
    // above it, within a second.
    let made_up = next + (1 << 30);
    alice.hear(&mut bob, &format!("SUSPECT {}:{made_up}", id(ALICE)));
    assert!(listed(&carol.sent(), ALICE).is_empty(), "one a second");
    alice.wait(Duration::from_secs(1));
    alice.presence_tick();
    let answer = carol.sent();
    let seq = listed(&answer, ALICE);
    assert_eq!(seq.len(), 1, "{answer:?}");
    assert!(seq[0] > made_up, "{answer:?}");
}

#[test]
fn a_heartbeat_waits_a_period_after_the_last_announcement_and_then_comes() {
    // Three users: a period of 60 s, a tenth either way.
    let (alice, bob, carol) = alice_with_two();
    alice.wait(Duration::from_secs(50));
    alice.presence_tick();
    assert!(listed(&carol.sent(), ALICE).is_empty(), "not yet");
    alice.wait(Duration::from_secs(20));
    alice.presence_tick();
    assert_eq!(listed(&carol.sent(), ALICE).len(), 1, "a heartbeat");
    assert_eq!(listed(&bob.sent(), ALICE).len(), 1, "to every peer");
    // The next one counts from this one.
    alice.wait(Duration::from_secs(50));
    alice.presence_tick();
    assert!(listed(&carol.sent(), ALICE).is_empty(), "not yet again");
    alice.wait(Duration::from_secs(20));
    alice.presence_tick();
    assert_eq!(listed(&carol.sent(), ALICE).len(), 1, "the next");
}

#[test]
fn news_heard_within_one_gathering_goes_out_as_one_list_with_the_newest_of_each() {
    let (alice, mut bob, carol) = alice_with_two();
    alice.hear_held(&mut bob, &format!("ROSTER {}:5:dave", id(DAVE)));
    alice.hear_held(&mut bob, &format!("ROSTER {}:6:dave", id(DAVE)));
    alice.hear_held(&mut bob, &format!("ROSTER {}:3:bob", id(BOB)));
    alice.hear_held(&mut bob, &format!("SUSPECT {}:3", id(BOB)));
    assert!(carol.sent().is_empty(), "it waits for the tick");
    alice.shared.news_tick();
    assert_eq!(
        carol.sent(),
        [
            format!("ROSTER {}:6:dave {}:3:bob", id(DAVE), id(BOB)),
            format!("SUSPECT {}:3", id(BOB)),
        ]
    );
    assert!(bob.sent().is_empty(), "none of it back to bob");
    alice.shared.news_tick();
    assert!(carol.sent().is_empty(), "sent once");
}

#[test]
fn news_is_not_told_back_to_the_peers_that_told_it_while_it_waited() {
    let (alice, mut bob, mut carol) = alice_with_two();
    let mut dave = alice.link(DAVE, "dave", Inbound);
    let (erin, frank) = (0xe21, 0xf2a);
    alice.hear(&mut bob, &format!("ROSTER {}:2:frank", id(frank)));
    // What was said before (dave's address, frank's entry).
    let _ = (bob.sent(), carol.sent(), dave.sent());
    // bob tells erin's entry and a suspicion; carol tells both too while
    // they wait, at the same numbers, and dave an older number of erin.
    alice.hear_held(&mut bob, &format!("ROSTER {}:5:erin", id(erin)));
    alice.hear_held(&mut bob, &format!("SUSPECT {}:2", id(frank)));
    alice.hear_held(&mut carol, &format!("ROSTER {}:5:erin", id(erin)));
    alice.hear_held(&mut carol, &format!("SUSPECT {}:2", id(frank)));
    alice.hear_held(&mut dave, &format!("ROSTER {}:4:erin", id(erin)));
    alice.shared.news_tick();
    assert!(bob.sent().is_empty(), "bob told all of it");
    assert!(carol.sent().is_empty(), "carol told all of it");
    assert_eq!(
        dave.sent(),
        [
            format!("ROSTER {}:5:erin", id(erin)),
            format!("SUSPECT {}:2", id(frank)),
        ],
        "dave had an older number, and no suspicion"
    );
    // A join says what a plain entry does; a plain entry does not say the
    // user joined.
    alice.hear_held(&mut bob, &format!("JOIN {}:9:erin", id(erin)));
    alice.hear_held(&mut carol, &format!("ROSTER {}:9:erin", id(erin)));
    alice.hear_held(&mut dave, &format!("JOIN {}:9:erin", id(erin)));
    alice.shared.news_tick();
    assert_eq!(carol.sent(), [format!("JOIN {}:9:erin", id(erin))]);
    assert!(bob.sent().is_empty() && dave.sent().is_empty());
}

#[test]
fn a_join_is_shown_and_passed_on_once_however_it_comes() {
    let (alice, mut bob, mut carol) = alice_with_two();
    // dave's entry comes quietly first, then his join at that number.
    alice.hear_held(&mut bob, &format!("ROSTER {}:5:dave", id(DAVE)));
    alice.hear_held(&mut bob, &format!("JOIN {}:5:dave", id(DAVE)));
    alice.shared.news_tick();
    assert_eq!(carol.sent(), [format!("JOIN {}:5:dave", id(DAVE))]);
    alice.hear(&mut carol, &format!("JOIN {}:5:dave", id(DAVE)));
    assert!(bob.sent().is_empty(), "the same join again is no news");
    let joined = |node: &TestNode| {
        node.shown()
            .into_iter()
            .filter(|l| l == "dave joined")
            .count()
    };
    assert_eq!(joined(&alice), 1, "{:?}", alice.shown());
    // A restart's join, at a later number, is news again.
    alice.hear(&mut carol, &format!("JOIN {}:9:dave", id(DAVE)));
    assert_eq!(bob.sent(), [format!("JOIN {}:9:dave", id(DAVE))]);
    assert_eq!(joined(&alice), 2);
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
