//! Unit and property tests of the protocol messages.

use super::*;
use proptest::prelude::*;

fn body_of(m: &Message<'_>) -> String {
    let mut out = Vec::new();
    m.encode(&mut out).unwrap();
    String::from_utf8(out[4..].to_vec()).unwrap()
}

const ID: NodeId = NodeId(0x0123_4567_89ab_cdef);

#[test]
fn hello_reads_as_text_and_parses_back() {
    let hello = Message::Hello(Hello {
        version: VERSION,
        id: ID,
        port: 40123,
        room: "lobby",
        need: Need::Heal,
        name: "zoë",
    });
    let body = body_of(&hello);
    assert_eq!(body, "HELLO 11 0123456789abcdef 40123 lobby 2 zoë");
    assert_eq!(Message::parse(&body), Ok(hello));
}

#[test]
fn chat_text_keeps_its_spaces_and_borrows_from_the_body() {
    let body = "MSG 32 0123456789abcdef:7 1700000000000 bob hello  there, world ";
    let Ok(Message::Chat(chat)) = Message::parse(body) else {
        panic!("expected a chat")
    };
    assert_eq!(chat.text, "hello  there, world ");
    assert_eq!(chat.id, MsgId { origin: ID, seq: 7 });
    assert!(!chat.history);
    let text_at = body.len() - chat.text.len();
    assert_eq!(chat.text.as_ptr(), body[text_at..].as_ptr());
    assert_eq!(body_of(&Message::Chat(chat)), body);
}

#[test]
fn hist_is_a_chat_marked_as_history() {
    let body = "HIST 3 0123456789abcdef:7 1700000000000 bob hi";
    let Ok(Message::Chat(chat)) = Message::parse(body) else {
        panic!("expected a chat")
    };
    assert!(chat.history);
    assert_eq!(body_of(&Message::Chat(chat)), body);
}

#[test]
fn lists_parse_lazily_and_may_be_empty() {
    let Ok(Message::Have(ids)) = Message::parse("HAVE 0123456789abcdef:1-3 00000000000000ff:2-2")
    else {
        panic!()
    };
    assert_eq!(
        ids.iter().collect::<Vec<_>>(),
        vec![
            IdRange {
                origin: ID,
                first: 1,
                last: 3
            },
            IdRange {
                origin: NodeId(255),
                first: 2,
                last: 2
            }
        ]
    );
    let Ok(Message::Have(none)) = Message::parse("HAVE") else {
        panic!()
    };
    assert_eq!(none.iter().count(), 0);

    let body = "PEERS 0123456789abcdef@127.0.0.1:4000 00000000000000ff@[::1]:5000";
    let Ok(Message::Peers(peers)) = Message::parse(body) else {
        panic!()
    };
    let got: Vec<_> = peers.iter().collect();
    assert_eq!(got[0], (ID, "127.0.0.1:4000".parse().unwrap()));
    assert_eq!(got[1], (NodeId(255), "[::1]:5000".parse().unwrap()));
    assert_eq!(body_of(&Message::Peers(peers)), body);
}

#[test]
fn presence_roster_actions_and_error_round_trip() {
    for body in [
        "LEAVE 32 0123456789abcdef:9 alice",
        "JOIN 32 0123456789abcdef:9 alice",
        "ALIVE 0 0123456789abcdef:9 alice",
        "NICK 7 0123456789abcdef:9 alicia",
        "ME 7 0123456789abcdef:9 1700000000000 alice waves",
        "HISTME 7 0123456789abcdef:9 1700000000000 alice waved",
        "ROSTER 0123456789abcdef:5:alice 00000000000000ff:7:bo:b",
        "ROSTER",
        "SUSPECT 0123456789abcdef:5 00000000000000ff:7",
        "PING",
        "ERROR protocol version 3 is not supported",
    ] {
        let m = Message::parse(body).unwrap();
        assert_eq!(body_of(&m), body);
    }
}

#[test]
fn bad_messages_are_refused_with_a_reason() {
    use ProtocolError::*;
    let cases: &[(&str, ProtocolError)] = &[
        ("", Empty),
        ("HI there", UnknownKind("HI".into())),
        (
            "hello 3 0123456789abcdef 1 lobby a",
            UnknownKind("hello".into()),
        ),
        (
            "HELLO 2 0123456789abcdef 1 a",
            UnsupportedVersion {
                got: "2".into(),
                ours: VERSION,
            },
        ),
        (
            "HELLO",
            Missing {
                kind: "HELLO",
                field: "version",
            },
        ),
        (
            "HELLO 11 0123456789abcdef 4000 lobby 0",
            Missing {
                kind: "HELLO",
                field: "name",
            },
        ),
        (
            "HELLO 11 0123456789ABCDEF 4000 lobby 0 a",
            Invalid {
                field: "node id",
                value: "0123456789ABCDEF".into(),
            },
        ),
        (
            "HELLO 11 0123456789abcdef 0 lobby 0 a",
            Invalid {
                field: "port",
                value: "0".into(),
            },
        ),
        (
            "HELLO 11 0123456789abcdef 65536 lobby 0 a",
            Invalid {
                field: "port",
                value: "65536".into(),
            },
        ),
        (
            "HELLO 11 0123456789abcdef 4000 lobby 0 a b",
            Trailing { kind: "HELLO" },
        ),
        (
            "HELLO 11 0123456789abcdef 4000 lobby 0  a",
            Missing {
                kind: "HELLO",
                field: "name",
            },
        ),
        (
            "HELLO 11 0123456789abcdef 4000 lobby yes a",
            Invalid {
                field: "need",
                value: "yes".into(),
            },
        ),
        (
            "HELLO 11 0123456789abcdef 4000 lobby 3 a",
            Invalid {
                field: "need",
                value: "3".into(),
            },
        ),
        (
            "MSG 256 0123456789abcdef:1 0 a hi",
            Invalid {
                field: "hop limit",
                value: "256".into(),
            },
        ),
        (
            "MSG 1 0123456789abcdef:+1 0 a hi",
            Invalid {
                field: "sequence number",
                value: "+1".into(),
            },
        ),
        ("MSG 1 0123456789abcdef:1 0 a", EmptyText),
        ("MSG 1 0123456789abcdef:1 0 a ", EmptyText),
        ("ERROR", EmptyText),
        (
            "HAVE 0123456789abcdef:1-1 ",
            Invalid {
                field: "list",
                value: "an empty entry (two spaces in a row, or a trailing space)".into(),
            },
        ),
        (
            "PEERS 0123456789abcdef@127.0.0.1:0",
            Invalid {
                field: "peer address",
                value: "0123456789abcdef@127.0.0.1:0".into(),
            },
        ),
        (
            "IHAVE 0123456789abcdef:9-8",
            Invalid {
                field: "message range",
                value: "0123456789abcdef:9-8".into(),
            },
        ),
        (
            "GRAFT 0123456789abcdef:9",
            Invalid {
                field: "message range",
                value: "0123456789abcdef:9".into(),
            },
        ),
        (
            "GRAFT 0123456789abcdef:1-2-3",
            Invalid {
                field: "message range",
                value: "0123456789abcdef:1-2-3".into(),
            },
        ),
        (
            "PRUNE 0123456789ABCDEF:1",
            Invalid {
                field: "node id",
                value: "0123456789ABCDEF".into(),
            },
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(Message::parse(body).as_ref(), Err(expected), "{body:?}");
    }
}

#[test]
fn tree_messages_parse_and_encode() {
    let body = "IHAVE 0123456789abcdef:5-9 00000000000000ff:7-7";
    let Ok(Message::IHave(ranges)) = Message::parse(body) else {
        panic!("IHAVE should parse");
    };
    let got: Vec<IdRange> = ranges.iter().collect();
    assert_eq!(
        got,
        [
            IdRange {
                origin: ID,
                first: 5,
                last: 9
            },
            IdRange {
                origin: NodeId(0xff),
                first: 7,
                last: 7
            },
        ]
    );
    assert_eq!(body_of(&Message::IHave(ranges)), body);
    let Ok(Message::Prune(starts)) = Message::parse("PRUNE 0123456789abcdef:7") else {
        panic!("PRUNE should parse");
    };
    assert_eq!(
        starts.iter().collect::<Vec<_>>(),
        [MsgId { origin: ID, seq: 7 }]
    );
    assert!(
        Message::parse("PRUNE 0123456789abcdef").is_err(),
        "a start is needed"
    );
    assert!(matches!(Message::parse("GRAFT"), Ok(Message::Graft(r)) if r.iter().count() == 0));
}

#[test]
fn start_carries_one_sequence_number() {
    assert_eq!(Message::parse("START 42"), Ok(Message::Start(42)));
    assert_eq!(body_of(&Message::Start(42)), "START 42");
    for bad in [
        "START",
        "START x",
        "START -1",
        "START 1 2",
        "START 18446744073709551616",
    ] {
        assert!(Message::parse(bad).is_err(), "{bad} parsed");
    }
}

#[test]
fn names_are_validated() {
    assert_eq!(validate_name("ümlaut-ok_1"), Ok("ümlaut-ok_1"));
    assert_eq!(validate_name(""), Err(NameError::Empty));
    assert_eq!(
        validate_name(&"a".repeat(33)),
        Err(NameError::TooLong {
            chars: 33,
            limit: 32
        })
    );
    assert_eq!(validate_name(&"é".repeat(32)).map(str::len), Ok(64));
    for (name, ch) in [
        ("a b", ' '),
        ("a\tb", '\t'),
        ("a\u{1b}[2J", '\u{1b}'),
        ("a\u{7f}", '\u{7f}'),
        ("a\u{9b}", '\u{9b}'),
        ("evil\u{202e}", '\u{202e}'),
        ("zero\u{200b}width", '\u{200b}'),
        ("alice#3f2a", '#'),
        ("a\u{3000}b", '\u{3000}'),
    ] {
        assert_eq!(
            validate_name(name),
            Err(NameError::Forbidden { ch }),
            "{name:?}"
        );
    }
    // Names in messages go through the same rule.
    assert_eq!(
        Message::parse("LEAVE 1 0123456789abcdef:1 a\u{7}"),
        Err(ProtocolError::Name(NameError::Forbidden { ch: '\u{7}' }))
    );
    assert_eq!(
        Message::parse("ROSTER 0123456789abcdef:1:a b"),
        Err(ProtocolError::Invalid {
            field: "roster entry",
            value: "b".into()
        })
    );
    assert_eq!(
        Message::parse("ROSTER 0123456789abcdef:1:"),
        Err(ProtocolError::Name(NameError::Empty))
    );
    // An entry without its number is not one.
    assert_eq!(
        Message::parse("ROSTER 0123456789abcdef:alice"),
        Err(ProtocolError::Invalid {
            field: "roster entry",
            value: "0123456789abcdef:alice".into()
        })
    );
    assert!(Message::parse("PING now").is_err());
}

#[test]
fn errors_read_as_sentences() {
    let e = Message::parse("HELLO 12 0123456789abcdef 1 a").unwrap_err();
    assert_eq!(
        e.to_string(),
        "protocol version 12 is not supported (this node speaks version 11)"
    );
    assert_eq!(
        NameError::Forbidden { ch: ' ' }.to_string(),
        "a name cannot contain ' ' (U+0020): no spaces, control characters, invisible characters or '#'"
    );
}

#[test]
fn a_message_too_long_for_a_frame_is_refused_whole() {
    let text = "x".repeat(crate::message::MAX_BODY);
    let chat = Message::Chat(Chat {
        history: false,
        action: false,
        ttl: 1,
        id: MsgId { origin: ID, seq: 1 },
        time_ms: 0,
        name: "a",
        text: &text,
    });
    let mut out = vec![1, 2, 3];
    assert!(matches!(
        chat.encode(&mut out),
        Err(EncodeError::Frame(FrameError::TooLong { .. }))
    ));
    assert_eq!(out, [1, 2, 3]);
}

#[test]
fn invalid_values_are_refused_by_the_encoder() {
    // A space in a name would shift the text into the name field.
    let chat = |name, text| {
        Message::Chat(Chat {
            history: false,
            action: false,
            ttl: 1,
            id: MsgId { origin: ID, seq: 1 },
            time_ms: 0,
            name,
            text,
        })
    };
    let mut out = Vec::new();
    for (m, e) in [
        (
            chat("two words", "hi"),
            ProtocolError::Name(NameError::Forbidden { ch: ' ' }),
        ),
        (chat("a", ""), ProtocolError::EmptyText),
        (Message::Error(""), ProtocolError::EmptyText),
        (
            Message::Hello(Hello {
                version: VERSION,
                id: ID,
                port: 0,
                room: "lobby",
                need: Need::Spare,
                name: "a",
            }),
            ProtocolError::Invalid {
                field: "port",
                value: "0".into(),
            },
        ),
    ] {
        assert_eq!(m.encode(&mut out), Err(EncodeError::Invalid(e)));
        assert!(out.is_empty());
    }
}

#[test]
fn a_relayed_message_keeps_its_fields_as_they_came() {
    // Leading zeros are valid, if not how this node writes numbers.
    let body = "ME 012 00000000000000ab:007 0001 zoë waves  twice";
    let mut frame = Vec::new();
    encode_relayed(body, 11, &mut frame).unwrap();
    assert_eq!(
        std::str::from_utf8(&frame[4..]),
        Ok("ME 11 00000000000000ab:007 0001 zoë waves  twice")
    );
    let Ok(Message::Chat(before)) = Message::parse(body) else {
        panic!("the body parses");
    };
    let after = Message::parse(std::str::from_utf8(&frame[4..]).unwrap());
    assert_eq!(after, Ok(Message::Chat(Chat { ttl: 11, ..before })));
    assert!(encode_relayed("ALIVE 3 00000000000000ab:1 zoë", 2, &mut frame).is_err());
}

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
    Suspect(Vec<MsgId>),
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
    prop_oneof![
        Just(PresenceKind::Join),
        Just(PresenceKind::Alive),
        Just(PresenceKind::Nick),
        Just(PresenceKind::Leave),
    ]
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
        proptest::collection::vec(msg_id(), 0..20).prop_map(Owned::Suspect),
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
        (Message::Roster(l), Owned::Roster(members)) => {
            l.iter().eq(members.iter().map(|(id, n)| (*id, n.as_str())))
        }
        (Message::Error(t), Owned::Error(text)) => t == text,
        (Message::Prune(l), Owned::Prune(ids)) => l.iter().eq(ids.iter().copied()),
        (Message::Suspect(l), Owned::Suspect(ids)) => l.iter().eq(ids.iter().copied()),
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
    fn arbitrary_text_never_panics(text in "\\PC*|(HELLO|MSG|ME|HIST|HISTME|HAVE|PEERS|ROSTER|JOIN|ALIVE|NICK|LEAVE|ERROR|PRUNE|IHAVE|GRAFT|SUSPECT|PING)( [0-9a-f:@.\\[\\]-]{0,20}){0,6}.{0,10}") {
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
