use super::*;
use crate::node::mesh::dial_book::Dialled;
use crate::node::mesh::peers::tests::{addr, peer, set, ME};
use crate::node::mesh::peers::{Limits, REPLACE_TRIES};
use crate::protocol::Need;
use std::collections::HashSet;

#[test]
fn dials_known_addresses_up_to_the_target() {
    let now = Instant::now();
    let mut s = set(2, 8);
    for p in 101..=105 {
        s.remember(NodeId(p), addr(p as u16), Source::Exchange, now);
    }
    s.remember(ME, addr(99), Source::Exchange, now); // never dial myself
    let plan = s.dial_plan(now);
    assert_eq!(plan.len(), 2);
    assert!(!plan.contains(&addr(99)));
    // Those being dialed count toward the target.
    assert!(s.dial_plan(now).is_empty());
    s.dial_done(plan[0], Dialled::Failed, now);
    s.dial_done(plan[1], Dialled::Connected, now);
    let again = s.dial_plan(now);
    assert_eq!(again.len(), 2);
    assert!(
        !again.contains(&plan[0]),
        "a failed address waits for its back-off"
    );
}

#[test]
fn a_link_lost_at_the_target_is_replaced_one_dial_at_a_time_a_few_times() {
    let t0 = Instant::now();
    let mut s = set(2, 4);
    for p in 1..=3 {
        s.admit(NodeId(p), peer(p, p as u16, true), Need::Needed, t0)
            .unwrap();
    }
    for p in 101..=110 {
        s.remember(NodeId(p), addr(p as u16), Source::Exchange, t0);
    }
    assert!(!s.wants_more(), "above the target, nothing lost");
    assert!(s.dial_plan(t0).is_empty());
    // Still at the target after the loss, yet it is replaced.
    s.remove(NodeId(1), 1);
    let mut now = t0;
    let mut tries = 0;
    loop {
        let plan = s.dial_plan(now);
        assert!(plan.len() <= 1, "one at a time: {plan:?}");
        assert!(s.dial_plan(now).is_empty(), "not while one is on its way");
        let Some(&dialed) = plan.first() else { break };
        tries += 1;
        s.dial_done(dialed, Dialled::Failed, now);
        now += Duration::from_millis(1);
    }
    assert_eq!(tries, REPLACE_TRIES, "then it gives up");
    assert!(!s.wants_more());
}

#[test]
fn a_new_link_stands_for_a_lost_one() {
    let now = Instant::now();
    let mut s = set(1, 4);
    s.admit(NodeId(1), peer(1, 1, true), Need::Needed, now)
        .unwrap();
    s.admit(NodeId(2), peer(2, 2, true), Need::Needed, now)
        .unwrap();
    s.remember(NodeId(101), addr(101), Source::Exchange, now);
    s.remove(NodeId(1), 1);
    assert!(s.wants_more());
    let plan = s.dial_plan(now);
    assert_eq!(plan, [addr(101)]);
    s.dial_done(addr(101), Dialled::Connected, now);
    s.admit(NodeId(101), peer(3, 101, true), Need::Spare, now)
        .unwrap();
    assert!(!s.wants_more(), "replaced");
}

#[test]
fn nodes_that_know_the_same_addresses_do_not_all_dial_the_same_one() {
    let now = Instant::now();
    let mut first = HashSet::new();
    for _ in 0..30 {
        let mut s = set(1, 8);
        for p in 101..=110 {
            s.remember(NodeId(p), addr(p as u16), Source::Exchange, now);
        }
        first.extend(s.dial_plan(now));
    }
    assert!(first.len() > 1, "{first:?}");
}

#[test]
fn failing_addresses_back_off_then_are_forgotten() {
    let t0 = Instant::now();
    let mut s = PeerSet::new(
        ME,
        Limits {
            target: 1,
            max_failures: 3,
            ..Limits::default()
        },
    );
    s.remember(NodeId(101), addr(1), Source::Exchange, t0);
    let mut now = t0;
    for _ in 0..3 {
        let plan = s.dial_plan(now);
        assert_eq!(plan, [addr(1)]);
        s.dial_done(addr(1), Dialled::Failed, now);
        assert!(s.dial_plan(now).is_empty());
        now = s.next_retry().unwrap_or(now);
    }
    assert!(s.next_retry().is_none(), "forgotten after 3 failures");
}

#[test]
fn of_two_nodes_introduced_to_each_other_the_lower_id_dials_first() {
    let now = Instant::now();
    // At its target, replacing a link it lost: one dial at a time.
    let mut s = set(2, 8);
    for p in 1..=3 {
        s.admit(NodeId(p), peer(p, p as u16, true), Need::Needed, now)
            .unwrap();
    }
    s.remove(NodeId(3), 3);
    s.forget(NodeId(3));
    s.remember(NodeId(60), addr(60), Source::Exchange, now); // higher than ME: dial now
    s.remember(NodeId(40), addr(40), Source::Exchange, now); // lower: it will dial us
    assert_eq!(s.dial_plan(now), [addr(60)]);
    s.dial_done(addr(60), Dialled::Failed, now);
    assert!(s.dial_plan(now).is_empty(), "40 is deferred, 60 backs off");
    let later = now + Limits::default().defer;
    assert_eq!(s.next_retry(), Some(now + Duration::from_millis(500)));
    s.forget(NodeId(60));
    assert_eq!(s.next_retry(), Some(later));
    assert_eq!(s.dial_plan(later), [addr(40)]);
}

#[test]
fn a_node_below_its_target_does_not_wait_for_the_nodes_it_was_told_of() {
    // A newcomer that one link brought a PEERS: if it waited for them to
    // dial it, and that link were dropped to make room meanwhile, it
    // would be cut off, and they would not dial it, having enough links.
    let now = Instant::now();
    let mut s = set(4, 8);
    s.admit(NodeId(1), peer(1, 1, true), Need::Needed, now)
        .unwrap();
    for p in [20, 30, 40, 60] {
        s.remember(NodeId(p), addr(p as u16), Source::Exchange, now);
    }
    let plan: HashSet<SocketAddr> = s.dial_plan(now).into_iter().collect();
    assert_eq!(plan.len(), 3, "up to the target at once: {plan:?}");
    // A failed one waits out its back-off all the same.
    let failed = *plan.iter().next().unwrap();
    s.dial_done(failed, Dialled::Failed, now);
    assert!(!s.dial_plan(now).contains(&failed));
}

/// A node at its target, linked since `t0` to peers 1..=`links`,
/// which knows of nodes 101 and 102 since `t0`.
fn settled(links: u64, t0: Instant) -> PeerSet {
    let mut s = set(2, 4);
    for p in 1..=links {
        s.admit(NodeId(p), peer(p, p as u16, true), Need::Needed, t0)
            .unwrap();
    }
    s.remember(NodeId(101), addr(101), Source::Exchange, t0);
    s.remember(NodeId(102), addr(102), Source::Exchange, t0);
    s
}

#[test]
fn a_known_node_missing_from_the_roster_is_dialed_to_heal_even_at_the_target() {
    let t0 = Instant::now();
    let later = t0 + Limits::default().settle;
    let mut s = settled(2, t0);
    let online = |id: NodeId| id == NodeId(101);
    assert!(s.dial_plan(later).is_empty(), "at the target");
    assert_eq!(
        s.heal_plan(online, t0),
        Heal::Nothing,
        "not before the roster has settled"
    );
    assert_eq!(
        s.heal_plan(online, later),
        Heal::Dial(NodeId(102), addr(102))
    );
    assert_eq!(s.heal_plan(online, later), Heal::Nothing, "one at a time");
    s.dial_done(addr(102), Dialled::Failed, later);
    assert_eq!(
        s.heal_plan(online, later),
        Heal::Nothing,
        "a failed address waits for its back-off"
    );
    let all_online = |_| true;
    assert_eq!(
        s.heal_plan(all_online, later + Duration::from_secs(60)),
        Heal::Nothing
    );
}

#[test]
fn a_node_heard_of_just_now_is_not_yet_a_sign_of_a_split() {
    // Its JOIN may not have reached this node yet.
    let t0 = Instant::now();
    let Limits { settle, news, .. } = Limits::default();
    let mut s = settled(2, t0);
    let now = t0 + settle;
    s.remember(NodeId(103), addr(103), Source::Exchange, now);
    let online = |id: NodeId| id != NodeId(103);
    assert_eq!(s.heal_plan(online, now), Heal::Nothing);
    assert_eq!(
        s.heal_plan(online, now + news),
        Heal::Dial(NodeId(103), addr(103))
    );
}

#[test]
fn healing_stops_two_links_beyond_the_maximum_and_prunes_when_whole() {
    let t0 = Instant::now();
    let settle = Limits::default().settle;
    let mut s = settled(4, t0); // at its maximum of 4
    let (a, b) = (NodeId(101), NodeId(102));
    let nobody_else = |id: NodeId| id != a && id != b;
    let now = t0 + settle;
    for _ in 0..2 {
        let Heal::Dial(id, at) = s.heal_plan(nobody_else, now) else {
            panic!("a healing dial up to the maximum plus 2");
        };
        s.dial_done(at, Dialled::Connected, now);
        let mut healing = peer(id.0, at.port(), true);
        healing.since = now;
        s.admit(id, healing, Need::Heal, now).unwrap();
    }
    assert_eq!(s.iter().count(), 6);
    s.remember(NodeId(103), addr(103), Source::Exchange, t0);
    let only_103_missing = |id: NodeId| id != NodeId(103);
    assert_eq!(
        s.heal_plan(only_103_missing, now),
        Heal::Nothing,
        "no room for more, and something still missing: nothing pruned"
    );
    // Whole again: the surplus goes, one link at a time, never one of
    // the links that just healed the split.
    let whole = |_| true;
    let later = now + settle;
    assert_eq!(
        s.heal_plan(whole, later),
        Heal::Nothing,
        "healing links are young"
    );
    // Old enough for the links from before the split, not for those
    // that healed it.
    let much_later = now + settle + Duration::from_millis(100);
    assert_eq!(
        s.heal_plan(whole, much_later),
        Heal::Nothing,
        "no old link has a way round it: closing one might split the network"
    );
    // Peers 1 and 2 say they are linked to 3, a peer here too.
    for p in [1, 2] {
        s.get_mut(&NodeId(p)).unwrap().said_linked_to(NodeId(3));
    }
    let Heal::Prune(gone) = s.heal_plan(whole, much_later) else {
        panic!("a surplus link pruned");
    };
    assert!(gone == NodeId(1) || gone == NodeId(2), "{gone:?}");
    s.drop_surplus(gone);
    let Heal::Prune(next) = s.heal_plan(whole, much_later) else {
        panic!("a second one");
    };
    assert!(next != gone && next.0 <= 2, "{next:?}");
    s.drop_surplus(next);
    assert_eq!(s.iter().count(), 4);
    assert_eq!(
        s.heal_plan(whole, much_later),
        Heal::Nothing,
        "at the maximum"
    );
    assert!(!s.wants_more(), "a pruned link is not replaced");
}

#[test]
fn addresses_nobody_vouched_for_cost_the_budget_and_are_soon_forgotten() {
    let t0 = Instant::now();
    let mut s = set(8, 8);
    for p in 1..=1000u16 {
        s.remember(NodeId(1000 + u64::from(p)), addr(p), Source::Exchange, t0);
    }
    // However often the dialer asks, 60 dials a minute at most.
    let mut dialed = 0;
    let mut now = t0;
    while now < t0 + Duration::from_secs(60) {
        for a in s.dial_plan(now) {
            dialed += 1;
            s.dial_done(a, Dialled::Failed, now);
        }
        now += Duration::from_millis(100);
    }
    assert_eq!(dialed, 60, "dials in a minute");
    // Each is given up after a few failures.
    let mut s = set(1, 8);
    s.remember(NodeId(101), addr(1), Source::Exchange, t0);
    let mut now = t0;
    for _ in 0..UNVERIFIED_FAILURES {
        let plan = s.dial_plan(now);
        assert_eq!(plan, [addr(1)]);
        s.dial_done(addr(1), Dialled::Failed, now);
        now = s.next_retry().unwrap_or(now);
    }
    assert!(s.next_retry().is_none(), "forgotten");
}

#[test]
fn discovery_dials_one_at_a_time_and_cannot_move_a_known_node() {
    let t0 = Instant::now();
    let mut s = set(4, 8);
    s.remember(NodeId(101), addr(1), Source::Discovery, t0);
    s.remember(NodeId(102), addr(2), Source::Discovery, t0);
    s.remember(NodeId(103), addr(3), Source::Exchange, t0);
    let plan = s.dial_plan(t0);
    assert_eq!(
        plan.len(),
        2,
        "one from discovery, one from a peer: {plan:?}"
    );
    assert!(plan.contains(&addr(3)));
    let first = *plan.iter().find(|a| **a != addr(3)).unwrap();
    s.dial_done(first, Dialled::Connected, t0);
    s.dial_done(addr(3), Dialled::Connected, t0);
    let (first_id, other) = match first == addr(1) {
        true => (NodeId(101), addr(2)),
        false => (NodeId(102), addr(1)),
    };
    s.admit(first_id, peer(1, first.port(), true), Need::Needed, t0)
        .unwrap();
    s.admit(NodeId(103), peer(2, 3, true), Need::Needed, t0)
        .unwrap();
    assert_eq!(s.dial_plan(t0), [other], "the next discovery dial");
    // A node this one was linked to keeps its address.
    s.connected(NodeId(104), addr(4), t0);
    assert!(!s.remember(NodeId(104), addr(9), Source::Discovery, t0));
    assert!(!s.remember(NodeId(104), addr(9), Source::Exchange, t0));
    s.remember(NodeId(105), addr(5), Source::Discovery, t0);
    assert!(
        !s.remember(NodeId(105), addr(8), Source::Exchange, t0),
        "not moved by another unverified word before it failed"
    );
    s.dialing(addr(5));
    s.dial_done(addr(5), Dialled::Failed, t0);
    assert!(
        s.remember(NodeId(105), addr(8), Source::Exchange, t0),
        "moved once it failed"
    );
}

fn on(host: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, host], port))
}

#[test]
fn a_host_announcing_many_nodes_holds_a_small_share_and_is_dialed_last() {
    let t0 = Instant::now();
    let mut s = set(1, 8);
    for p in 0..1000u16 {
        s.remember(
            NodeId(1000 + u64::from(p)),
            on(9, 1 + p),
            Source::Discovery,
            t0,
        );
    }
    let held = s
        .book
        .values()
        .filter(|k| k.addr.ip() == on(9, 0).ip())
        .count();
    assert_eq!(held, DISCOVERED_PER_HOST);
    assert!(s.remember(NodeId(99), on(1, 4000), Source::Discovery, t0));
    assert_eq!(
        s.dial_plan(t0),
        [on(1, 4000)],
        "the host with one node first"
    );
}

#[test]
fn a_host_whose_nodes_failed_is_dialed_after_others() {
    let t0 = Instant::now();
    let mut s = set(1, 8);
    s.remember(NodeId(101), on(9, 1), Source::Exchange, t0);
    s.dialing(on(9, 1));
    s.dial_done(on(9, 1), Dialled::Failed, t0);
    s.remember(NodeId(102), on(9, 2), Source::Exchange, t0);
    s.remember(NodeId(103), on(1, 1), Source::Exchange, t0);
    assert_eq!(s.dial_plan(t0), [on(1, 1)]);
}

#[test]
fn an_address_the_budget_holds_back_is_not_due_again_at_once() {
    // The dialer sleeps until next_retry: a time already past while
    // the plan is empty would make it spin.
    let t0 = Instant::now();
    let mut s = set(4, 8);
    s.remember(NodeId(101), addr(1), Source::Discovery, t0);
    s.remember(NodeId(102), addr(2), Source::Discovery, t0);
    assert_eq!(s.dial_plan(t0).len(), 1);
    assert!(s.dial_plan(t0).is_empty());
    assert_eq!(s.next_retry(), None, "woken when the dial ends");
    let mut s = set(4, 8);
    for p in 1..=61u16 {
        s.remember(NodeId(100 + u64::from(p)), addr(p), Source::Exchange, t0);
    }
    let mut dialed = 0;
    for _ in 0..20 {
        for a in s.dial_plan(t0) {
            dialed += 1;
            s.dial_done(a, Dialled::Failed, t0);
        }
    }
    assert_eq!(dialed, 60);
    assert!(s.dial_plan(t0).is_empty());
    assert!(s
        .next_retry()
        .is_some_and(|at| at >= t0 + Duration::from_secs(60)));
}

#[test]
fn a_link_turned_down_is_not_replaced_and_its_address_backs_off() {
    let t0 = Instant::now();
    let mut s = set(2, 4);
    s.admit(NodeId(1), peer(1, 1, true), Need::Needed, t0)
        .unwrap();
    s.admit(NodeId(2), peer(2, 2, true), Need::Needed, t0)
        .unwrap();
    assert!(!s.wants_more());
    assert!(s.turned_down(NodeId(2), 2, t0).is_some());
    assert!(s.turned_down(NodeId(2), 2, t0).is_none(), "once");
    let plan = s.dial_plan(t0);
    assert!(plan.is_empty(), "not at once: {plan:?}");
    let first = s.next_retry().unwrap();
    assert!(first > t0);
    // Taken and turned down again: it waits longer, for linking is
    // not the other end taking the link.
    s.admit(NodeId(2), peer(3, 2, true), Need::Needed, first)
        .unwrap();
    s.turned_down(NodeId(2), 3, first);
    let second = s.next_retry().unwrap();
    assert!(
        second - first > first - t0,
        "{:?} then {:?}",
        first - t0,
        second - first
    );
}

#[test]
fn a_node_that_left_is_not_dialed_again() {
    let now = Instant::now();
    let mut s = set(4, 8);
    s.remember(NodeId(101), addr(1), Source::Exchange, now);
    s.forget(NodeId(101));
    assert!(s.dial_plan(now).is_empty());
    assert!(s.next_retry().is_none());
}

#[test]
fn connected_peers_are_not_dialed() {
    let now = Instant::now();
    let mut s = set(4, 8);
    s.admit(NodeId(1), peer(1, 1, false), Need::Needed, Instant::now())
        .unwrap();
    s.remember(NodeId(1), addr(1), Source::Exchange, now);
    assert!(s.dial_plan(now).is_empty());
    assert!(s.wants_more());
}

#[test]
fn a_node_moved_onto_a_crowded_host_by_discovery_does_not_pass_its_share() {
    let t0 = Instant::now();
    let mut s = set(1, 8);
    // A node learned from a peer, at host 9, fails once: it may move.
    s.remember(NodeId(999), on(9, 9999), Source::Exchange, t0);
    s.dialing(on(9, 9999));
    s.dial_done(on(9, 9999), Dialled::Failed, t0);
    for p in 0..DISCOVERED_PER_HOST as u16 {
        s.remember(
            NodeId(1000 + u64::from(p)),
            on(9, 1 + p),
            Source::Discovery,
            t0,
        );
    }
    assert!(!s.remember(NodeId(999), on(9, 8888), Source::Discovery, t0));
    assert_eq!(s.discovered_at(on(9, 0).ip()), DISCOVERED_PER_HOST);
}

#[test]
fn one_peer_puts_at_most_its_share_of_addresses_in_the_book() {
    let now = Instant::now();
    let mut s = set(4, 8);
    let (liar, honest) = (NodeId(7), NodeId(8));
    let named = |from: u16, n: u16| (from..from + n).map(|p| (NodeId(u64::from(p)), addr(p)));
    // Eight at a time, as from one frame each; the share runs out.
    let mut taken = 0;
    for frame in 0..10u16 {
        taken += s.remember_told(liar, named(1000 + frame * 8, 8), 8, now);
    }
    assert_eq!(taken, TOLD_PER_PEER);
    // Another peer's addresses are still taken.
    assert_eq!(s.remember_told(honest, named(3000, 8), 8, now), 8);
    // One of the liar's that turns out real (a link to it) no longer
    // counts against its share, which makes room for one more.
    s.connected(NodeId(1000), addr(1000), now);
    assert_eq!(s.remember_told(liar, named(4000, 8), 8, now), 1);
}

#[test]
fn a_full_book_is_looked_up_a_share_at_a_time_and_a_missing_node_still_found() {
    let t0 = Instant::now();
    let now = t0 + Limits::default().settle;
    let mut s = settled(2, t0);
    for p in 1000..1200u64 {
        s.remember(NodeId(p), addr(p as u16), Source::Exchange, t0);
    }
    let missing = NodeId(1150);
    let looks = std::cell::Cell::new(0);
    let online = |id: NodeId| {
        looks.set(looks.get() + 1);
        id != missing
    };
    let rounds = s.book.len().div_ceil(HEAL_LOOKS);
    let mut found = None;
    for round in 0..=rounds {
        looks.set(0);
        let plan = s.heal_plan(online, now);
        assert!(looks.get() <= HEAL_LOOKS, "{} looks", looks.get());
        match plan {
            Heal::Dial(id, _) => {
                assert_eq!(id, missing, "only a node missing now is dialed");
                found = Some(round);
                break;
            }
            other => assert_eq!(other, Heal::Nothing),
        }
    }
    assert!(found.is_some(), "found once the book was looked through");
}

#[test]
fn a_full_book_forgets_one_of_equal_addresses_at_random() {
    // Always the last of equals would keep the nodes first heard of, and
    // pass every later one through one slot.
    let now = Instant::now();
    let mut forgotten = HashSet::new();
    for _ in 0..40 {
        let mut s = PeerSet::new(
            ME,
            Limits {
                book_size: 4,
                ..Limits::default()
            },
        );
        for p in 101..=105 {
            s.remember(NodeId(p), addr(p as u16), Source::Exchange, now);
        }
        assert_eq!(s.book.len(), 4);
        assert!(s.book.get(&NodeId(105)).is_some(), "the newest is taken");
        let gone = (101..=104).find(|p| s.book.get(&NodeId(*p)).is_none());
        forgotten.extend(gone);
    }
    assert!(forgotten.len() > 1, "{forgotten:?}");
}
