//! Property tests of the protocol messages: whatever is built encodes
//! and parses back, and no text panics the parser. Examples are in
//! `parse_tests.rs`.

use super::*;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    "[^\\s\\p{Cc}\\p{Cf}\\u{2060}-\\u{2069}#]{1,32}"
        .prop_filter("a valid name", |n| validate_name(n).is_ok())
}

fn node_id() -> impl Strategy<Value = NodeId> {
    any::<u64>().prop_map(NodeId)
}

fn msg_id() -> impl Strategy<Value = MsgId> {
    (node_id(), any::<u64>()).prop_map(|(origin, seq)| MsgId { origin, seq })
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    (any::<std::net::IpAddr>(), 1..=u16::MAX).prop_map(|(ip, port)| SocketAddr::new(ip, port))
}

/// Owned values from which any message can be borrowed.
#[derive(Debug, Clone)]
enum Owned {
    Hello(NodeId, u16, String, Need, String),
    Chat(bool, bool, u8, MsgId, u64, String, String),
    Have(Vec<IdRange>),
    Peers(Vec<(NodeId, SocketAddr)>),
    Roster(Vec<(MsgId, String)>),
    Joined(Vec<(MsgId, String)>),
    Suspect(Vec<MsgId>),
    Digest(Vec<u64>),
    Ping,
    Presence(PresenceKind, u8, MsgId, String),
    Error(String),
    Prune(Vec<MsgId>),
    IHave(Vec<IdRange>),
    Graft(Vec<IdRange>),
    Start(u64),
}

fn id_range() -> impl Strategy<Value = IdRange> {
    (node_id(), any::<u64>(), any::<u64>()).prop_map(|(origin, a, b)| IdRange {
        origin,
        first: a.min(b),
        last: a.max(b),
    })
}

fn need() -> impl Strategy<Value = Need> {
    prop_oneof![Just(Need::Spare), Just(Need::Needed), Just(Need::Heal)]
}

fn presence_kind() -> impl Strategy<Value = PresenceKind> {
    prop_oneof![Just(PresenceKind::Nick), Just(PresenceKind::Leave),]
}

fn owned() -> impl Strategy<Value = Owned> {
    prop_oneof![
        (node_id(), 1..=u16::MAX, name(), need(), name())
            .prop_map(|(i, p, r, w, n)| Owned::Hello(i, p, r, w, n)),
        (
            any::<bool>(),
            any::<bool>(),
            any::<u8>(),
            msg_id(),
            any::<u64>(),
            name(),
            ".+"
        )
            .prop_map(|(h, a, t, i, ms, n, x)| Owned::Chat(h, a, t, i, ms, n, x)),
        proptest::collection::vec((msg_id(), name()), 0..20).prop_map(Owned::Roster),
        proptest::collection::vec((msg_id(), name()), 0..20).prop_map(Owned::Joined),
        proptest::collection::vec(msg_id(), 0..20).prop_map(Owned::Suspect),
        (0..=10u32)
            .prop_flat_map(|bits| proptest::collection::vec(any::<u64>(), 1usize << bits))
            .prop_map(Owned::Digest),
        Just(Owned::Ping),
        proptest::collection::vec(id_range(), 0..20).prop_map(Owned::Have),
        proptest::collection::vec((node_id(), addr()), 0..20).prop_map(Owned::Peers),
        (presence_kind(), any::<u8>(), msg_id(), name())
            .prop_map(|(k, t, i, n)| Owned::Presence(k, t, i, n)),
        ".+".prop_map(Owned::Error),
        proptest::collection::vec(msg_id(), 0..20).prop_map(Owned::Prune),
        proptest::collection::vec(id_range(), 0..20).prop_map(Owned::IHave),
        proptest::collection::vec(id_range(), 0..20).prop_map(Owned::Graft),
        any::<u64>().prop_map(Owned::Start),
    ]
}

/// Encodes an owned value; lists only exist as parsed text, so they are
/// written first and parsed back.
fn encode_owned(o: &Owned) -> Vec<u8> {
    let mut out = Vec::new();
    match o {
        Owned::Have(ids) => encode_have(ids.iter().copied(), &mut out).map_err(EncodeError::from),
        Owned::Peers(p) => encode_peers(p.iter().copied(), &mut out).map_err(EncodeError::from),
        Owned::Hello(id, port, room, need, name) => Message::Hello(Hello {
            version: VERSION,
            id: *id,
            port: *port,
            room,
            need: *need,
            name,
        })
        .encode(&mut out),
        Owned::Roster(members) => {
            encode_roster(members.iter().map(|(id, n)| (*id, n.as_str())), &mut out)
        }
        Owned::Joined(members) => {
            encode_joined(members.iter().map(|(id, n)| (*id, n.as_str())), &mut out)
        }
        Owned::Chat(history, action, ttl, id, time_ms, name, text) => Message::Chat(Chat {
            history: *history,
            action: *action,
            ttl: *ttl,
            id: *id,
            time_ms: *time_ms,
            name,
            text,
        })
        .encode(&mut out),
        Owned::Presence(kind, ttl, id, name) => Message::Presence(Presence {
            kind: *kind,
            ttl: *ttl,
            id: *id,
            name,
        })
        .encode(&mut out),
        Owned::Error(text) => Message::Error(text).encode(&mut out),
        Owned::Prune(ids) => encode_prune(ids.iter().copied(), &mut out).map_err(EncodeError::from),
        Owned::Suspect(ids) => {
            encode_suspect(ids.iter().copied(), &mut out).map_err(EncodeError::from)
        }
        Owned::Digest(hashes) => encode_digest(hashes.iter().copied(), &mut out),
        Owned::Ping => Message::Ping.encode(&mut out),
        Owned::IHave(r) => encode_ihave(r.iter().copied(), &mut out).map_err(EncodeError::from),
        Owned::Graft(r) => encode_graft(r.iter().copied(), &mut out).map_err(EncodeError::from),
        Owned::Start(seq) => Message::Start(*seq).encode(&mut out),
    }
    .unwrap();
    out
}

fn matches_owned(m: &Message<'_>, o: &Owned) -> bool {
    match (m, o) {
        (Message::Hello(h), Owned::Hello(id, port, room, need, name)) => {
            h.version == VERSION
                && h.id == *id
                && h.port == *port
                && h.room == room
                && h.need == *need
                && h.name == name
        }
        (Message::Chat(c), Owned::Chat(history, action, ttl, id, ms, name, text)) => {
            c.history == *history
                && c.action == *action
                && c.ttl == *ttl
                && c.id == *id
                && c.time_ms == *ms
                && c.name == name
                && c.text == text
        }
        (Message::Have(l), Owned::Have(ids)) => l.iter().eq(ids.iter().copied()),
        (Message::Peers(l), Owned::Peers(p)) => l.iter().eq(p.iter().copied()),
        (Message::Presence(p), Owned::Presence(kind, ttl, id, name)) => {
            p.kind == *kind && p.ttl == *ttl && p.id == *id && p.name == name
        }
        (Message::Roster(l), Owned::Roster(members))
        | (Message::Joined(l), Owned::Joined(members)) => {
            l.iter().eq(members.iter().map(|(id, n)| (*id, n.as_str())))
        }
        (Message::Error(t), Owned::Error(text)) => t == text,
        (Message::Prune(l), Owned::Prune(ids)) => l.iter().eq(ids.iter().copied()),
        (Message::Suspect(l), Owned::Suspect(ids)) => l.iter().eq(ids.iter().copied()),
        (Message::Digest(l), Owned::Digest(h)) => l.iter().eq(h.iter().copied()),
        (Message::Ping, Owned::Ping) => true,
        (Message::IHave(l), Owned::IHave(r)) => l.iter().eq(r.iter().copied()),
        (Message::Graft(l), Owned::Graft(r)) => l.iter().eq(r.iter().copied()),
        (Message::Start(s), Owned::Start(seq)) => s == seq,
        _ => false,
    }
}

proptest! {
    #[test]
    fn any_valid_message_round_trips(o in owned()) {
        let frame = encode_owned(&o);
        let body = std::str::from_utf8(&frame[4..]).unwrap();
        let parsed = Message::parse(body);
        prop_assert!(matches!(&parsed, Ok(m) if matches_owned(m, &o)), "{:?} from {:?}", parsed, body);
        // Encoding the parsed message gives the same bytes again.
        let mut again = Vec::new();
        parsed.unwrap().encode(&mut again).unwrap();
        prop_assert_eq!(again, frame);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC*|(HELLO|MSG|ME|HIST|HISTME|HAVE|PEERS|ROSTER|JOIN|NICK|LEAVE|ERROR|PRUNE|IHAVE|GRAFT|SUSPECT|DIGEST|PING)( [0-9a-f:@.\\[\\]-]{0,20}){0,6}.{0,10}") {
        if let Ok(m) = Message::parse(&text) {
            // Whatever parses re-encodes and parses to the same message.
            let mut out = Vec::new();
            m.encode(&mut out).unwrap();
            let body = std::str::from_utf8(&out[4..]).unwrap();
            prop_assert_eq!(Message::parse(body), Ok(m));
        }
    }

    #[test]
    fn relaying_a_chat_is_encoding_it_with_the_new_hop_limit(o in owned(), ttl in any::<u8>()) {
        let frame = encode_owned(&o);
        let body = std::str::from_utf8(&frame[4..]).unwrap();
        let mut relayed = Vec::new();
        let result = encode_relayed(body, ttl, &mut relayed);
        match Message::parse(body).unwrap() {
            Message::Chat(chat) => {
                prop_assert!(result.is_ok());
                let mut expected = Vec::new();
                Message::Chat(Chat { ttl, ..chat }).encode(&mut expected).unwrap();
                prop_assert_eq!(relayed, expected);
            }
            // Only chat messages are relayed this way; nothing is written.
            _ => prop_assert!(result.is_err() && relayed.is_empty()),
        }
    }

    #[test]
    fn a_burst_writes_the_frames_encode_writes(
        origin in node_id(),
        ttl in any::<u8>(),
        time_ms in any::<u64>(),
        name in prop_oneof![name(), "[ a-z#]{0,3}"],
        lines in proptest::collection::vec((any::<u64>(), any::<bool>(), "\\PC{0,12}"), 1..4),
        long in any::<bool>(),
    ) {
        let long_text = "x".repeat(crate::message::MAX_BODY - 40);
        let burst = ChatBurst::new(origin, ttl, time_ms, &name);
        for (seq, action, text) in &lines {
            let text = if long { &long_text } else { text };
            let chat = Chat { history: false, action: *action, ttl, id: MsgId { origin, seq: *seq }, time_ms, name: &name, text };
            let (mut expected, mut written) = (vec![7], vec![7]);
            let result = Message::Chat(chat).encode(&mut expected);
            match &burst {
                Ok(burst) => prop_assert_eq!(burst.encode(*seq, *action, text, &mut written), result),
                Err(e) => prop_assert_eq!(Err(e.clone()), result),
            }
            prop_assert_eq!(written, expected);
        }
    }

    #[test]
    fn number_fields_read_as_the_standard_parsers_do(s in "[0-9a-fA-F +-]{0,22}|[0-9]{17,22}") {
        let digits_only = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let expected = s.parse::<u64>().ok().filter(|_| digits_only);
        prop_assert_eq!(fields::decimal(&s), expected);
        let hex = s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let expected = u64::from_str_radix(&s, 16).ok().filter(|_| hex).map(NodeId);
        prop_assert_eq!(fields::node_id(&s).ok(), expected);
    }

    #[test]
    fn the_first_space_is_found(s in "[a-z ]{0,40}") {
        prop_assert_eq!(find_space(s.as_bytes()), s.bytes().position(|b| b == b' '));
    }

    #[test]
    fn valid_names_are_accepted(n in name()) {
        prop_assert_eq!(validate_name(&n), Ok(n.as_str()));
    }
}

#[test]
fn a_have_lists_as_many_runs_as_a_frame_holds() {
    let runs = (0..5_000u64).map(|n| IdRange {
        origin: NodeId(u64::MAX - n),
        first: u64::MAX - 2 * n - 1,
        last: u64::MAX - 2 * n,
    });
    let mut out = Vec::new();
    encode_have(runs, &mut out).expect("fits");
    let Ok(crate::message::Decoded::Frame { body, .. }) = crate::message::decode(&out) else {
        panic!("not one frame")
    };
    let Ok(Message::Have(listed)) = Message::parse(body) else {
        panic!("not a HAVE")
    };
    assert_eq!(listed.iter().count(), MAX_HAVE_RUNS);
    const { assert!(MAX_HAVE_RUNS > 1_000) };
}
