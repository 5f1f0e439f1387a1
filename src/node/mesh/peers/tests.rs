use super::*;

pub const ME: NodeId = NodeId(50);

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

pub fn peer(conn: ConnId, port: u16, outbound: bool) -> Peer {
    Peer {
        conn,
        name: format!("p{port}"),
        remote: addr(port),
        listen: addr(port),
        outbound,
        outbox: Arc::new(Queue::new(100)),
        // Later connections are newer.
        since: Instant::now() + Duration::from_millis(conn),
        key: None,
        link: Default::default(),
        taken: Vec::new(),
        answered: Answered::default(),
        held: Default::default(),
        delivered: 0,
        suspicions: Default::default(),
        linked_to: Vec::new(),
    }
}

pub fn set(target: usize, max: usize) -> PeerSet {
    PeerSet::new(
        ME,
        Limits {
            target,
            max,
            ..Limits::default()
        },
    )
}

#[test]
fn refuses_itself_and_makes_room_beyond_the_maximum() {
    let now = Instant::now();
    let mut s = set(1, 2);
    assert_eq!(
        s.admit(ME, peer(1, 1, true), Need::Needed, now).err(),
        Some(Refusal::Myself)
    );
    assert!(s
        .admit(NodeId(1), peer(2, 1, true), Need::Needed, now)
        .is_ok());
    assert!(s
        .admit(NodeId(2), peer(3, 2, false), Need::Spare, now)
        .is_ok());
    // Full: a link the other end merely wants is refused...
    assert_eq!(
        s.admit(NodeId(3), peer(4, 3, false), Need::Spare, now)
            .err(),
        Some(Refusal::Full)
    );
    assert_eq!(s.iter().count(), 2);
    // ...and one it needs is taken, and a link dropped for it.
    let dropped = s
        .admit(NodeId(4), peer(5, 4, false), Need::Needed, now)
        .unwrap();
    let dropped = dropped.map(|(id, _)| id);
    assert!(matches!(dropped, Some(NodeId(1 | 2))), "{dropped:?}");
    assert_eq!(s.iter().count(), 2);
    assert!(s.get(&NodeId(4)).is_some());
    assert!(s.get(&NodeId(3)).is_none());
}

#[test]
fn a_link_that_heals_a_split_is_taken_beyond_the_maximum_without_dropping_one() {
    let now = Instant::now();
    let mut s = set(1, 2);
    s.admit(NodeId(1), peer(1, 1, true), Need::Needed, now)
        .unwrap();
    s.admit(NodeId(2), peer(2, 2, true), Need::Needed, now)
        .unwrap();
    for p in 3..=4 {
        let closed = s.admit(NodeId(p), peer(p, p as u16, false), Need::Heal, now);
        assert!(matches!(closed, Ok(None)), "{p}");
    }
    assert_eq!(s.iter().count(), 2 + HEAL_SURPLUS);
    // Beyond the surplus, a healing link makes room as a needed one does.
    let closed = s.admit(NodeId(5), peer(5, 5, false), Need::Heal, now);
    assert!(matches!(closed, Ok(Some(_))));
    assert_eq!(s.iter().count(), 2 + HEAL_SURPLUS);
}

#[test]
fn room_is_never_made_by_dropping_a_dialed_link_or_one_that_brings_news() {
    let t0 = Instant::now();
    let mut s = set(2, 4);
    // Two links this node dialed, two it accepted; one of those brought
    // news.
    s.admit(NodeId(1), peer(1, 1, true), Need::Needed, t0)
        .unwrap();
    s.admit(NodeId(2), peer(2, 2, true), Need::Needed, t0)
        .unwrap();
    s.admit(NodeId(3), peer(3, 3, false), Need::Needed, t0)
        .unwrap();
    s.admit(NodeId(4), peer(4, 4, false), Need::Needed, t0)
        .unwrap();
    s.get_mut(&NodeId(3)).unwrap().delivered = 10;
    // A crowd of newcomers that all need a link.
    let mut now = t0;
    let mut dropped = Vec::new();
    for p in 10..20u64 {
        now += EVICTION_GAP;
        if let Ok(Some((id, _))) = s.admit(NodeId(p), peer(p, p as u16, false), Need::Needed, now) {
            dropped.push(id);
        }
    }
    assert_eq!(dropped[0], NodeId(4), "the one that brought nothing first");
    assert!(
        !dropped.contains(&NodeId(1)) && !dropped.contains(&NodeId(2)),
        "{dropped:?}"
    );
    assert!(s.get(&NodeId(1)).is_some() && s.get(&NodeId(2)).is_some());
    // No more than one every EVICTION_GAP.
    let again = s.admit(NodeId(99), peer(99, 99, false), Need::Needed, now);
    assert_eq!(again.err(), Some(Refusal::Full));
}

#[test]
fn room_is_made_by_dropping_a_peer_with_a_way_round_first() {
    // Peer 2 says it is linked to peer 1, so it stays two hops away when
    // its link goes; peer 3 may be a newcomer with no other link, and
    // peer 4 said it is linked only to this node and to nodes that are
    // no peers here.
    let t0 = Instant::now();
    let mut s = set(2, 4);
    s.admit(NodeId(1), peer(1, 1, true), Need::Needed, t0)
        .unwrap();
    for p in 2..=4 {
        s.admit(NodeId(p), peer(p, p as u16, false), Need::Needed, t0)
            .unwrap();
    }
    s.get_mut(&NodeId(2)).unwrap().said_linked_to(NodeId(1));
    s.get_mut(&NodeId(2)).unwrap().delivered = 10;
    for other in [ME, NodeId(77)] {
        s.get_mut(&NodeId(4)).unwrap().said_linked_to(other);
    }
    let closed = s.admit(NodeId(10), peer(10, 10, false), Need::Needed, t0);
    let (gone, _) = closed.unwrap().unwrap();
    assert_eq!(gone, NodeId(2), "though it brought the most news");
    // With no peer left that has a way round, the one with least news.
    let later = t0 + EVICTION_GAP;
    let closed = s.admit(NodeId(11), peer(11, 11, false), Need::Needed, later);
    let (gone, _) = closed.unwrap().unwrap();
    assert!([3, 4, 10].contains(&gone.0), "{gone:?}");
}

#[test]
fn a_peer_keeps_a_bounded_list_of_whom_it_is_linked_to() {
    let mut p = peer(1, 1, false);
    for n in 0..100 {
        p.said_linked_to(NodeId(n % 40));
    }
    assert_eq!(p.linked_to.len(), LINKED_TO_KEPT);
    let distinct: HashSet<_> = p.linked_to.iter().collect();
    assert_eq!(distinct.len(), LINKED_TO_KEPT);
}

#[test]
fn the_link_dropped_to_make_room_is_picked_at_random() {
    // Always the oldest would cut the links between nodes that joined
    // early and late first.
    let now = Instant::now();
    let mut dropped = HashSet::new();
    for _ in 0..40 {
        let mut s = set(1, 2);
        s.admit(NodeId(1), peer(1, 1, false), Need::Needed, now)
            .unwrap();
        s.admit(NodeId(2), peer(2, 2, false), Need::Needed, now)
            .unwrap();
        let closed = s
            .admit(NodeId(3), peer(3, 3, false), Need::Needed, now)
            .unwrap();
        dropped.extend(closed.map(|(id, _)| id));
    }
    assert_eq!(dropped.len(), 2, "{dropped:?}");
}

#[test]
fn duplicate_connections_resolve_alike_on_both_sides() {
    // Nodes 50 (me) and 60 dial each other at once: both keep the
    // connection opened by 50, the lower id.
    let mut mine = set(4, 8);
    assert!(mine
        .admit(NodeId(60), peer(1, 60, true), Need::Needed, Instant::now())
        .is_ok());
    assert_eq!(
        mine.admit(NodeId(60), peer(2, 60, false), Need::Needed, Instant::now())
            .err(),
        Some(Refusal::Duplicate)
    );

    let mut theirs = PeerSet::new(NodeId(60), Limits::default());
    assert!(theirs
        .admit(ME, peer(3, 50, true), Need::Needed, Instant::now())
        .is_ok());
    let replaced = theirs
        .admit(ME, peer(4, 50, false), Need::Needed, Instant::now())
        .unwrap();
    assert_eq!(replaced.map(|(_, p)| p.conn), Some(3));
    assert_eq!(theirs.get(&ME).map(|p| p.conn), Some(4));

    // With a lower-id peer (40), the connection it opened is kept.
    let mut s = set(4, 8);
    assert!(s
        .admit(NodeId(40), peer(5, 40, true), Need::Needed, Instant::now())
        .is_ok());
    assert!(s
        .admit(NodeId(40), peer(6, 40, false), Need::Needed, Instant::now())
        .unwrap()
        .is_some());
}

#[test]
fn a_stale_connection_cannot_remove_its_successor() {
    let mut s = set(4, 8);
    s.admit(NodeId(40), peer(1, 40, true), Need::Needed, Instant::now())
        .unwrap();
    s.admit(NodeId(40), peer(2, 40, false), Need::Needed, Instant::now())
        .unwrap();
    let stale = Via {
        peer: NodeId(40),
        conn: 1,
    };
    let current = Via { conn: 2, ..stale };
    assert!(s.current(stale).is_none());
    assert!(s.current_mut(stale).is_none());
    assert_eq!(s.current(current).map(|p| p.conn), Some(2));
    assert_eq!(s.current_mut(current).map(|p| p.conn), Some(2));
    assert!(s.remove(NodeId(40), 1).is_none());
    assert!(s.remove(NodeId(40), 2).is_some());
    assert_eq!(s.iter().count(), 0);
}

#[test]
fn takers_follow_every_prune_graft_and_change_of_peers() {
    let now = Instant::now();
    let (origin, a, b) = (NodeId(1), NodeId(2), NodeId(3));
    let via = |peer: NodeId, conn: ConnId| Via { peer, conn };
    let mut s = set(4, 8);
    for (id, conn) in [(origin, 1), (a, 2), (b, 3)] {
        s.admit(id, peer(conn, 9000 + conn as u16, true), Need::Needed, now)
            .unwrap();
    }
    // a and b take the origin's messages whole until both prune it.
    assert_eq!(s.takers(origin, Some(origin)), Takers::All);
    s.current_mut(via(a, 2))
        .unwrap()
        .link
        .pruned_by_peer(origin, 10);
    assert_eq!(s.takers(origin, Some(origin)), Takers::Some);
    s.current_mut(via(b, 3))
        .unwrap()
        .link
        .pruned_by_peer(origin, 7);
    assert_eq!(
        s.takers(origin, Some(origin)),
        Takers::NoneFrom(10),
        "the later start"
    );
    // Asked again, the kept answer; for another origin or sender, anew.
    assert_eq!(s.takers(origin, Some(origin)), Takers::NoneFrom(10));
    assert_eq!(s.takers(a, Some(a)), Takers::All);
    assert_eq!(
        s.takers(origin, Some(a)),
        Takers::NoneFrom(7),
        "not a's start: a sent it"
    );
    // A graft, a newcomer and a departure each change the answer.
    s.current_mut(via(b, 3))
        .unwrap()
        .link
        .grafted_by_peer(origin);
    assert_eq!(s.takers(origin, Some(origin)), Takers::Some);
    s.current_mut(via(b, 3))
        .unwrap()
        .link
        .pruned_by_peer(origin, 7);
    assert_eq!(s.takers(origin, Some(origin)), Takers::NoneFrom(10));
    let c = NodeId(4);
    s.admit(c, peer(4, 9004, true), Need::Needed, now).unwrap();
    assert_eq!(
        s.takers(origin, Some(origin)),
        Takers::Some,
        "c takes it whole"
    );
    s.remove(c, 4);
    assert_eq!(s.takers(origin, Some(origin)), Takers::NoneFrom(10));
    // Sending through iter_mut keeps the answer.
    for (_, p) in s.iter_mut() {
        p.link.announce(crate::protocol::MsgId { origin, seq: 3 });
    }
    assert_eq!(s.takers(origin, Some(origin)), Takers::NoneFrom(10));
    // This node's own messages: no peer prunes them from their origin.
    assert_eq!(s.takers(ME, None), Takers::All);
    s.current_mut(via(a, 2)).unwrap().link.pruned_by_peer(ME, 5);
    assert_eq!(s.takers(ME, None), Takers::Some);
    // No other peer at all: none takes it.
    let mut lone = set(4, 8);
    lone.admit(a, peer(5, 9005, true), Need::Needed, now)
        .unwrap();
    assert_eq!(lone.takers(origin, Some(a)), Takers::NoneFrom(0));
}
