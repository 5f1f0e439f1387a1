//! Chat lines driven by hand in-process (`test_node.rs`): shown once and
//! passed on once, what is too far ahead dropped, and a newcomer's
//! history answered once.

use crate::node::link::admission::Direction::{Inbound, Outbound};
use crate::node::test_node::{TestNode, ALICE, BOB, CAROL};

/// The clock's time in milliseconds (see `TestNode::new`).
const NOW_MS: u64 = 1_700_000_000_000;

/// bob's line numbered `seq`, dated `ms`, saying `text`.
fn line(seq: u64, ms: u64, text: &str) -> String {
    format!("MSG 30 {BOB:016x}:{seq} {ms} bob {text}")
}

fn shown_lines(node: &TestNode) -> Vec<String> {
    node.shown()
        .into_iter()
        .filter(|l| l.starts_with("bob: "))
        .collect()
}

#[test]
fn a_line_is_shown_once_and_passed_on_once_but_never_back() {
    let alice = TestNode::new(ALICE, "alice");
    let mut bob = alice.link(BOB, "bob", Inbound);
    let mut carol = alice.link(CAROL, "carol", Outbound);
    bob.sent();
    carol.sent();
    alice.hear(&mut bob, &line(1, NOW_MS, "hello"));
    assert_eq!(shown_lines(&alice), ["bob: hello"]);
    assert_eq!(
        carol.sent(),
        [line(1, NOW_MS, "hello").replace("MSG 30", "MSG 29")]
    );
    assert!(bob.sent().is_empty());
    // The same line by another path: nothing more.
    alice.hear(&mut carol, &line(1, NOW_MS, "hello"));
    assert_eq!(shown_lines(&alice).len(), 1);
    assert!(bob.sent().is_empty() && carol.sent().is_empty());
}

#[test]
fn a_line_dated_more_than_an_hour_ahead_is_dropped() {
    let alice = TestNode::new(ALICE, "alice");
    let mut bob = alice.link(BOB, "bob", Inbound);
    let carol = alice.link(CAROL, "carol", Outbound);
    carol.sent();
    alice.hear(&mut bob, &line(1, NOW_MS + 3_700_000, "from the future"));
    assert!(shown_lines(&alice).is_empty());
    assert!(carol.sent().is_empty(), "not passed on either");
    alice.hear(&mut bob, &line(2, NOW_MS + 60_000, "a clock a minute fast"));
    assert_eq!(shown_lines(&alice), ["bob: a clock a minute fast"]);
}

#[test]
fn a_newcomer_is_sent_the_history_it_lacks_once() {
    let alice = TestNode::new(ALICE, "alice");
    let mut bob = alice.link(BOB, "bob", Inbound);
    for seq in 1..=3 {
        alice.hear(&mut bob, &line(seq, NOW_MS, &format!("line {seq}")));
    }
    // Old enough to be history (`STILL_LIVE`).
    alice.wait(crate::node::state::STILL_LIVE);
    let mut carol = alice.link(CAROL, "carol", Inbound);
    carol.sent();
    // carol has line 2 already.
    alice.hear(&mut carol, &format!("HAVE {BOB:016x}:2-2"));
    let history: Vec<String> = carol
        .sent()
        .into_iter()
        .filter(|f| f.starts_with("HIST "))
        .collect();
    assert_eq!(history.len(), 2, "{history:?}");
    assert!(history[0].ends_with("line 1") && history[1].ends_with("line 3"));
    alice.hear(&mut carol, "HAVE");
    assert!(carol.sent().iter().all(|f| !f.starts_with("HIST ")));
}

#[test]
fn the_greeting_names_twenty_and_counts_the_rest() {
    let names: Vec<String> = (1..=23).map(|i| format!("u{i}")).collect();
    assert_eq!(super::online_line(&names[..2]), "2 online: u1, u2");
    let line = super::online_line(&names);
    assert!(line.starts_with("23 online: u1, u2,"), "{line}");
    assert!(line.ends_with("u20 and 3 more"), "{line}");
}
