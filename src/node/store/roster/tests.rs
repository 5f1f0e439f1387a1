use super::*;
use std::sync::atomic::{AtomicU64, Ordering};

/// A newer sequence number at every call: each hearing is news.
fn n() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

const ME: NodeId = NodeId(0x1111_0000_0000_0000);
const A: NodeId = NodeId(0x3f2a_0000_0000_0001);
const B: NodeId = NodeId(0x9b1c_0000_0000_0002);

fn roster() -> Roster {
    Roster::new(Duration::from_secs(3600))
}

proptest::proptest! {
    /// Through any joins, renames, leaves, suspicions and expiries,
    /// `heard_tagged` answers what `heard` and then `is_ambiguous` would,
    /// and the count of users online is the number listed.
    #[test]
    fn heard_tagged_agrees_with_heard_then_is_ambiguous(
        steps in proptest::collection::vec((0u64..4, 0usize..3, 0u8..7), 0..60),
    ) {
        let t0 = Instant::now();
        let (mut fast, mut slow) = (roster(), roster());
        for (k, (who, name, op)) in steps.into_iter().enumerate() {
            let (id, name) = (NodeId(who), ["ann", "bob", "cy"][name]);
            // Some steps share an instant, as a batch's messages do.
            let now = t0 + Duration::from_secs(k as u64 / 3);
            match op {
                0 => proptest::prop_assert_eq!(fast.left(id), slow.left(id)),
                1 => {
                    let expiry = Duration::from_secs(3);
                    let sorted = |mut lost: Vec<(NodeId, String)>| {
                        lost.sort();
                        lost
                    };
                    proptest::prop_assert_eq!(
                        sorted(fast.expire(now, expiry, ME)),
                        sorted(slow.expire(now, expiry, ME))
                    );
                }
                2 => {
                    let seq = n();
                    for r in [&mut fast, &mut slow] {
                        r.suspect(id, seq, now, Duration::ZERO);
                    }
                    proptest::prop_assert_eq!(fast.end_suspicions(now), slow.end_suspicions(now));
                }
                _ => {
                    let heard = match slow.heard(id, name, n(), now) {
                        Heard::Newer => Heard::Same,
                        heard => heard,
                    };
                    let tagged = slow.is_ambiguous(id, name);
                    proptest::prop_assert_eq!(fast.heard_tagged(id, name, n(), now), (heard, tagged));
                }
            }
            for r in [&fast, &slow] {
                proptest::prop_assert_eq!(r.online_count(), r.online().len());
            }
        }
    }
}

#[test]
fn a_batch_looks_a_sender_up_once_but_sees_every_change() {
    let t = Instant::now();
    let mut r = roster();
    assert_eq!(r.heard_tagged(A, "ann", n(), t), (Heard::New, false));
    assert_eq!(r.heard_tagged(A, "ann", n(), t), (Heard::Same, false));
    assert_eq!(
        r.heard_tagged(A, "ann", n(), t),
        (Heard::Same, false),
        "as kept"
    );
    // Another user takes the name: both are tagged from now on.
    assert_eq!(r.heard(B, "ann", n(), t), Heard::New);
    assert_eq!(r.heard_tagged(A, "ann", n(), t), (Heard::Same, true));
    r.left(B);
    assert_eq!(r.heard_tagged(A, "ann", n(), t), (Heard::Same, false));
    r.left(A);
    assert_eq!(r.heard_tagged(A, "ann", n(), t), (Heard::New, false));
    let later = t + Duration::from_secs(10);
    assert_eq!(r.expire(later, Duration::from_secs(3), ME).len(), 1);
    assert_eq!(r.heard_tagged(A, "ann", n(), t), (Heard::Back, false));
}

#[test]
fn a_full_roster_makes_room_with_the_longest_lost_and_never_an_online_user() {
    let t = Instant::now();
    let mut r = Roster::bounded(Duration::from_secs(3600), 3);
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        r.heard(
            NodeId(i as u64),
            name,
            n(),
            t + Duration::from_secs(i as u64),
        );
    }
    assert_eq!(r.heard(NodeId(9), "z", n(), t), Heard::Full);
    assert!(!r.is_online(NodeId(9)));
    assert_eq!(r.online().len(), 3);
    // a and b go quiet, and a is lost first.
    let expiry = Duration::from_secs(10);
    let mut later = t + Duration::from_millis(10_500);
    r.heard(NodeId(2), "c", n(), later);
    assert_eq!(r.expire(later, expiry, ME), [(NodeId(0), "a".into())]);
    later += Duration::from_secs(2);
    r.heard(NodeId(2), "c", n(), later);
    assert_eq!(r.expire(later, expiry, ME), [(NodeId(1), "b".into())]);
    assert_eq!(r.heard(NodeId(9), "z", n(), later), Heard::New);
    assert_eq!(r.heard(NodeId(1), "b", n(), later), Heard::Back, "b stayed");
    assert_eq!(
        r.heard(NodeId(0), "a", n(), later),
        Heard::Full,
        "a made room"
    );
    assert_eq!(r.online().len(), 3);
}

#[test]
fn names_that_look_the_same_are_told_apart() {
    let t = Instant::now();
    let mut r = roster();
    r.heard(A, "bob", n(), t);
    assert!(!r.is_ambiguous(A, "bob"));
    // A Cyrillic о, and a Latin one with the Cyrillic elsewhere.
    r.heard(B, "b\u{43e}b", n(), t);
    assert!(r.is_ambiguous(A, "bob"));
    assert!(r.is_ambiguous(B, "b\u{43e}b"));
    assert!(r.display_name(B, "b\u{43e}b").contains('#'));
    r.left(B);
    assert!(!r.is_ambiguous(A, "bob"));
}

#[test]
fn thousands_of_equal_names_are_tagged_and_untagged_by_counting() {
    let t = Instant::now();
    let mut r = roster();
    for i in 0..5000 {
        r.heard(NodeId(i), "same", n(), t);
    }
    assert!(r.is_ambiguous(NodeId(7), "same"));
    for i in 1..5000 {
        r.left(NodeId(i));
    }
    assert!(!r.is_ambiguous(NodeId(0), "same"), "alone again");
    assert_eq!(r.display_name(NodeId(0), "same"), "same");
}

#[test]
fn reports_new_same_renamed_and_back() {
    let t = Instant::now();
    let mut r = roster();
    let first = n();
    assert_eq!(r.heard(A, "alice", first, t), Heard::New);
    assert_eq!(r.heard(A, "alice", first, t), Heard::Same);
    assert_eq!(r.heard(A, "alice", n(), t), Heard::Newer);
    assert_eq!(r.heard(A, "alicia", n(), t), Heard::Renamed("alice".into()));
    let lost = r.expire(t + Duration::from_secs(20), Duration::from_secs(10), ME);
    assert_eq!(lost, [(A, "alicia".to_string())]);
    assert!(!r.is_online(A));
    assert_eq!(
        r.heard(A, "alicia", n(), t + Duration::from_secs(21)),
        Heard::Back
    );
    assert!(r.is_online(A));
    assert!(!r.is_online(B), "never heard of");
}

#[test]
fn hearing_from_a_user_by_any_path_keeps_them_online() {
    let t = Instant::now();
    let mut r = roster();
    r.heard(A, "alice", n(), t);
    r.heard(A, "alice", n(), t + Duration::from_secs(8));
    assert!(r
        .expire(t + Duration::from_secs(15), Duration::from_secs(10), ME)
        .is_empty());
    // A stale message does not make them look older.
    r.heard(A, "alice", n(), t);
    assert!(r
        .expire(t + Duration::from_secs(15), Duration::from_secs(10), ME)
        .is_empty());
}

#[test]
fn this_node_never_expires_and_leavers_are_gone() {
    let t = Instant::now();
    let mut r = roster();
    r.heard(ME, "me", n(), t);
    r.heard(A, "alice", n(), t);
    assert_eq!(r.left(A), Some("alice".into()));
    assert_eq!(r.left(A), None);
    assert!(r
        .expire(t + Duration::from_secs(99), Duration::from_secs(1), ME)
        .is_empty());
    assert_eq!(r.online(), [(ME, "me".to_string())]);
}

#[test]
fn equal_names_get_tags_only_while_both_are_online() {
    let t = Instant::now();
    let mut r = roster();
    r.heard(A, "carol", n(), t);
    assert_eq!(r.display_name(A, "carol"), "carol");
    r.heard(B, "carol", n(), t);
    assert_eq!(r.display_name(A, "carol"), "carol#3f2a");
    assert_eq!(r.display_name(B, "carol"), "carol#9b1c");
    r.left(B);
    assert_eq!(r.display_name(A, "carol"), "carol");
}

#[test]
fn tags_follow_renames_expiry_and_returns() {
    let t = Instant::now();
    let mut r = roster();
    r.heard(A, "carol", n(), t);
    r.heard(B, "carol", n(), t + Duration::from_secs(5));
    assert!(r.is_ambiguous(A, "carol"));
    r.heard(B, "bea", n(), t + Duration::from_secs(5));
    assert!(!r.is_ambiguous(A, "carol"));
    // A line from history under B's old name is still told apart.
    r.heard(B, "carol", n(), t + Duration::from_secs(5));
    r.heard(A, "alice", n(), t);
    assert!(r.is_ambiguous(A, "carol"), "B goes by carol");
    assert!(!r.is_ambiguous(B, "carol"));
    r.heard(A, "carol", n(), t);
    // A is lost, B is not: B's name is its own again, until A is back.
    r.expire(t + Duration::from_secs(12), Duration::from_secs(10), ME);
    assert!(!r.is_ambiguous(B, "carol"));
    r.heard(A, "carol", n(), t + Duration::from_secs(13));
    assert!(r.is_ambiguous(B, "carol"));
}

#[test]
fn a_suspected_user_is_lost_unless_they_say_something_newer() {
    let t = Instant::now();
    let six = Duration::from_secs(6);
    let mut r = roster();
    r.heard(A, "ann", 10, t);
    r.heard(B, "bob", 20, t);
    assert!(r.suspect(A, 10, t, six), "news: passed on");
    assert!(!r.suspect(A, 10, t, six), "known: not passed on again");
    assert!(!r.suspect(B, 19, t, six), "bob said 20 since: stale");
    assert!(r.suspect(B, 20, t, six));
    assert!(
        r.entries().next().is_none(),
        "suspected users are not vouched for"
    );
    // bob answers with a newer number; ann says nothing.
    r.heard(B, "bob", 21, t + Duration::from_secs(1));
    let lost = r.end_suspicions(t + Duration::from_secs(5));
    assert!(lost.is_empty(), "not yet");
    let lost = r.end_suspicions(t + six);
    assert_eq!(lost, vec![(A, "ann".to_string())]);
    assert!(!r.is_online(A));
    assert!(r.is_online(B));
    assert_eq!(r.seq_of(B), Some(21));
}

#[test]
fn a_suspect_lost_another_way_meanwhile_is_lost_once_and_comes_back_unsuspected() {
    let t = Instant::now();
    let mut r = roster();
    r.heard(A, "ann", 10, t);
    r.heard(B, "bob", 20, t);
    assert!(r.suspect(A, 10, t, Duration::from_secs(60)));
    assert!(r.suspect(B, 20, t, Duration::from_secs(60)));
    // ann leaves and bob goes quiet while suspected.
    assert_eq!(r.left(A), Some("ann".into()));
    let lost = r.expire(t + Duration::from_secs(30), Duration::from_secs(10), ME);
    assert_eq!(lost, [(B, "bob".to_string())]);
    assert!(r.end_suspicions(t + Duration::from_secs(60)).is_empty());
    assert!(r.suspected.is_empty(), "nothing kept for ended suspicions");
    r.heard(B, "bob", 21, t + Duration::from_secs(61));
    assert_eq!(r.vouched(B), Some((21, "bob")), "back, and not suspected");
}

#[test]
fn a_stale_roster_never_brings_a_lost_user_back_but_a_newer_number_does() {
    let t = Instant::now();
    let mut r = roster();
    r.heard(A, "ann", 10, t);
    r.suspect(A, 10, t, Duration::ZERO);
    assert_eq!(r.end_suspicions(t).len(), 1);
    // A peer that never heard the suspicion still lists ann at 10: the
    // first time, that is worth checking with the network; then not.
    assert_eq!(r.heard(A, "ann", 10, t), Heard::Stale);
    assert_eq!(r.heard(A, "ann", 9, t), Heard::Same);
    assert!(!r.is_online(A));
    // ann answers the check: a newer number brings her back.
    assert_eq!(r.heard(A, "ann", 11, t), Heard::Back);
    assert!(r.is_online(A));
    // Lost again later, she may be checked once more.
    r.suspect(A, 11, t, Duration::ZERO);
    r.end_suspicions(t);
    assert_eq!(r.heard(A, "ann", 11, t), Heard::Stale);
}

#[test]
fn an_older_number_does_not_rename() {
    let t = Instant::now();
    let mut r = roster();
    r.heard(A, "ann", 10, t);
    assert_eq!(r.heard(A, "anna", 12, t), Heard::Renamed("ann".into()));
    // A roster from before the rename.
    assert_eq!(r.heard(A, "ann", 11, t), Heard::Same);
    // A name goes with its number: the same number under another name
    // (only a liar sends it) renames nobody.
    assert_eq!(r.heard(A, "anne", 12, t), Heard::Same);
    let entries: Vec<(MsgId, &str)> = r.entries().collect();
    assert_eq!(entries, [(MsgId { origin: A, seq: 12 }, "anna")]);
}

#[test]
fn doubts_are_the_suspected_and_the_recently_lost_at_their_numbers() {
    let t = Instant::now();
    let window = Duration::from_secs(120);
    let mut r = roster();
    r.heard(A, "ann", 10, t);
    r.heard(B, "bob", 20, t);
    assert!(r.doubts(t, window).is_empty(), "nobody doubted");
    r.suspect(B, 20, t, Duration::from_secs(6));
    assert_eq!(r.doubts(t, window), [MsgId { origin: B, seq: 20 }]);
    // bob is heard of, at no newer number: still suspected.
    r.heard(B, "bob", 20, t + Duration::from_secs(25));
    let lost = r.expire(t + Duration::from_secs(30), Duration::from_secs(10), ME);
    assert_eq!(lost, [(A, "ann".to_string())]);
    let at = t + Duration::from_secs(31);
    assert_eq!(
        r.doubts(at, window),
        [MsgId { origin: A, seq: 10 }, MsgId { origin: B, seq: 20 }]
    );
    // Long after ann was lost, she is no longer told of; bob answered.
    r.heard(B, "bob", 21, at);
    assert!(r.doubts(t + Duration::from_secs(150), window).is_empty());
    // Back, and lost no more.
    r.expire(t + Duration::from_secs(200), Duration::from_secs(10), ME);
    r.heard(A, "ann", 11, t + Duration::from_secs(201));
    assert_eq!(
        r.doubts(t + Duration::from_secs(202), window),
        [MsgId { origin: B, seq: 21 }],
        "bob expired at 200 s; ann is back"
    );
}

#[test]
fn an_entry_is_sixty_four_bytes_with_a_short_name_inside() {
    // One per user at every node: the size is what a network of 10,000
    // costs, 100 million times over in the simulator.
    assert_eq!(std::mem::size_of::<super::member::Member>(), 64);
    let name = "twenty-four bytes: inline";
    let m = super::member::Member::new(&name[..24], 0, 1, 1);
    assert!(!m.name.is_heap_allocated());
    let m = super::member::Member::new(name, 0, 1, 1);
    assert!(m.name.is_heap_allocated(), "a longer name is kept apart");
}
