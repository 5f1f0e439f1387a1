use super::*;
use proptest::prelude::*;
use std::collections::HashSet;

fn id(origin: u64, seq: u64) -> MsgId {
    MsgId {
        origin: NodeId(origin),
        seq,
    }
}

fn cache() -> SeenCache {
    SeenCache::new(100, Duration::from_secs(60))
}

#[test]
fn first_time_is_new_and_repeats_are_not() {
    let now = Instant::now();
    let mut c = cache();
    assert!(c.insert(id(1, 5), now));
    assert!(!c.insert(id(1, 5), now));
    assert!(c.insert(id(2, 5), now), "another origin is another message");
    assert!(
        c.insert(id(1, 6), now),
        "the same origin's next message is new"
    );
}

#[test]
fn older_messages_of_a_new_origin_are_new() {
    // The first number heard may be made up: nothing below it is
    // taken as seen on its word.
    let now = Instant::now();
    let mut c = cache();
    assert!(c.insert(id(1, 5000), now));
    assert!(c.insert(id(1, 4990), now));
    assert!(!c.insert(id(1, 4990), now));
    assert!(c.insert(id(1, 1), now));
    assert!(!c.insert(id(1, 1), now));
}

#[test]
fn a_gap_stays_open_however_late_its_messages_come() {
    let now = Instant::now();
    let mut c = cache();
    c.insert(id(1, 10_000), now);
    for seq in 10_100..200_000 {
        assert!(c.insert(id(1, seq), now));
    }
    for seq in 10_001..10_100 {
        assert!(c.insert(id(1, seq), now), "{seq} came late but is new");
    }
    for seq in 10_000..200_000 {
        assert!(!c.insert(id(1, seq), now));
    }
    assert_eq!(c.origins[&NodeId(1)].runs.len(), 1, "the runs joined");
}

#[test]
fn too_many_gaps_give_up_the_oldest() {
    let now = Instant::now();
    let mut c = cache();
    for k in 0..(MAX_RUNS as u64 + 10) {
        c.insert(id(1, 10_000 + 2 * k), now);
    }
    assert!(c.origins[&NodeId(1)].runs.len() <= MAX_RUNS);
    assert!(
        !c.insert(id(1, 10_001), now),
        "the oldest gap now counts as seen"
    );
    let newest_gap = 10_000 + 2 * (MAX_RUNS as u64 + 8) + 1;
    assert!(c.insert(id(1, newest_gap), now));
}

fn clock_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

#[test]
fn numbers_far_ahead_are_refused() {
    let now = Instant::now();
    let mut c = cache();
    let s = clock_us();
    assert!(c.insert(id(1, s), now));
    assert!(!c.insert(id(1, s + 1_000_000_000_000), now), "10^12 ahead");
    assert!(c.insert(id(1, s + JUMP), now), "a jump within bounds");
    assert!(
        c.insert(id(1, s + 5 * JUMP), now),
        "a restart with the same id starts at its clock"
    );
    assert!(!c.insert(id(2, s + 2 * AHEAD), now), "a new origin too");
}

#[test]
fn made_up_numbers_ahead_of_an_origin_never_silence_it() {
    // Seventy made-up numbers, each as far above the last as allowed,
    // overflow the runs: they go, not the origin's next numbers.
    let now = Instant::now();
    let mut c = cache();
    let s = clock_us();
    for seq in s..s + 10 {
        assert!(c.insert(id(1, seq), now));
    }
    for k in 1..=70 {
        c.insert(id(1, s + 10 + k * (JUMP - 1)), now);
        assert!(c.origins[&NodeId(1)].runs.len() <= MAX_RUNS);
    }
    for seq in s + 10..s + 2000 {
        assert!(c.insert(id(1, seq), now), "{} silenced", seq - s);
    }
    // Heard first, before any real number, they hide none.
    let mut fresh = cache();
    for k in 1..=70 {
        fresh.insert(id(1, s + 10 + k * (JUMP - 1)), now);
    }
    for seq in s..s + 2000 {
        assert!(fresh.insert(id(1, seq), now), "{} silenced", seq - s);
    }
    // Spaced 2 apart right above, from any path, they may hide the
    // origin's next numbers from relays, but never on its own link.
    let high = s + 2000;
    for k in 1..=70 {
        c.insert(id(1, high + 2 * k), now);
    }
    assert!(!c.insert(id(1, high), now), "relayed: taken as seen");
    assert!(
        c.insert_from(id(1, high), Path::Direct, now),
        "its own link"
    );
    assert!(c.insert_from(id(1, high + 1), Path::Direct, now));
    assert!(!c.insert_from(id(1, high + 1), Path::Direct, now), "once");
    assert!(!c.insert(id(1, high + 1), now), "and once by any path");
}

#[test]
fn a_chat_number_below_one_handled_is_late_and_other_numbers_do_not_count() {
    let t0 = Instant::now();
    let mut c = SeenCache::new(100, Duration::from_secs(60));
    let fresh = |c: &mut SeenCache, seq| c.insert_chat(id(1, seq), Path::Relayed, t0, |_| false);
    assert_eq!(fresh(&mut c, 10), Fresh::New);
    assert_eq!(fresh(&mut c, 11), Fresh::New);
    assert_eq!(fresh(&mut c, 13), Fresh::New, "a gap, but in order");
    assert_eq!(fresh(&mut c, 12), Fresh::Late, "fills the gap after 13");
    assert_eq!(fresh(&mut c, 12), Fresh::Seen);
    assert_eq!(fresh(&mut c, 14), Fresh::New);
    // A presence message far ahead, made up or not, moves nothing.
    let alive = c.insert_keeping(id(1, 1000), Path::Relayed, t0, |_| false);
    assert_eq!(alive, Fresh::New);
    assert_eq!(fresh(&mut c, 15), Fresh::New);
}

#[test]
fn origins_expire_after_the_ttl() {
    let t0 = Instant::now();
    let mut c = SeenCache::new(100, Duration::from_secs(10));
    c.insert(id(1, 1), t0);
    assert!(!c.insert(id(1, 1), t0 + Duration::from_secs(9)));
    assert!(c.insert(id(1, 1), t0 + Duration::from_secs(20)));
}

#[test]
fn origin_count_is_bounded() {
    let t0 = Instant::now();
    let mut c = SeenCache::new(3, Duration::from_secs(60));
    for o in 0..10 {
        c.insert(id(o, 1), t0 + Duration::from_millis(o));
        assert!(c.origins() <= 3);
    }
    // The most recent origins are still remembered.
    assert!(!c.insert(id(9, 1), t0 + Duration::from_millis(20)));
}

#[test]
fn made_up_origins_never_push_out_a_kept_one() {
    let t0 = Instant::now();
    let mut c = SeenCache::new(3, Duration::from_secs(60));
    let member = |o: NodeId| o == NodeId(1);
    c.insert(id(1, 1), t0);
    for o in 100..200 {
        let later = t0 + Duration::from_millis(o);
        c.insert_keeping(id(o, 1), Path::Relayed, later, member);
        assert!(c.origins() <= 3);
    }
    assert!(
        !c.insert(id(1, 1), t0),
        "the member's message is still seen"
    );
}

#[test]
fn missing_parts_of_a_range_come_back_as_ranges() {
    let now = Instant::now();
    let mut c = cache();
    for seq in [10, 11, 13, 20] {
        c.insert(id(1, seq), now);
    }
    let range = |first, last| IdRange {
        origin: NodeId(1),
        first,
        last,
    };
    let mut out = Vec::new();
    c.missing(range(9, 25), &mut out);
    assert_eq!(
        out,
        [range(9, 9), range(12, 12), range(14, 19), range(21, 25)]
    );
    out.clear();
    c.missing(range(10, 11), &mut out);
    assert!(out.is_empty());
    let unknown = IdRange {
        origin: NodeId(2),
        first: 0,
        last: u64::MAX,
    };
    c.missing(unknown, &mut out);
    assert_eq!(out, [unknown], "an origin never heard of lacks it all");
}

proptest! {
    /// `missing` agrees with asking `insert` about each number in turn.
    #[test]
    fn missing_agrees_with_insert(
        seqs in proptest::collection::vec(0u64..3000, 0..300),
        first in 0u64..3200,
        len in 0u64..400,
    ) {
        let now = Instant::now();
        let mut c = cache();
        for seq in &seqs {
            c.insert(id(1, *seq), now);
        }
        let mut out = Vec::new();
        c.missing(IdRange { origin: NodeId(1), first, last: first + len }, &mut out);
        let got: Vec<u64> = out.iter().flat_map(|r| r.first..=r.last).collect();
        prop_assert!(out.windows(2).all(|w| w[0].last + 1 < w[1].first), "ranges are apart and in order");
        let expected: Vec<u64> = (first..=first + len)
            .filter(|seq| c.clone().insert(id(1, *seq), now))
            .collect();
        prop_assert_eq!(got, expected);
    }

    /// Against a plain set of every id: identical answers as long as
    /// the gaps are few and nothing falls below the backlog.
    #[test]
    fn matches_an_exact_set(
        ops in proptest::collection::vec((0u64..3, 0u64..60), 0..600)
    ) {
        let now = Instant::now();
        let mut c = cache();
        let mut exact = HashSet::new();
        for (origin, seq) in ops {
            let seq = 100_000 + seq;
            let expected = exact.insert((origin, seq));
            prop_assert_eq!(c.insert(id(origin, seq), now), expected, "origin {} seq {}", origin, seq);
        }
    }
}
