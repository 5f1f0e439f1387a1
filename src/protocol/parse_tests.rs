//! Messages as text: examples of each kind parsed and written back, and of
//! what is refused, and why. The property tests are in `tests.rs`.

use super::*;

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
    assert_eq!(body, "HELLO 13 0123456789abcdef 40123 lobby 2 zoë");
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
        "JOIN 0123456789abcdef:9:alice 00000000000000ff:7:bob",
        "JOIN",
        "NICK 0 0123456789abcdef:9 alice",
        "NICK 7 0123456789abcdef:9 alicia",
        "ME 7 0123456789abcdef:9 1700000000000 alice waves",
        "HISTME 7 0123456789abcdef:9 1700000000000 alice waved",
        "ROSTER 0123456789abcdef:5:alice 00000000000000ff:7:bo:b",
        "ROSTER",
        "SUSPECT 0123456789abcdef:5 00000000000000ff:7",
        "DIGEST 0123456789abcdef",
        "DIGEST 0123456789abcdef 0000000000000000",
        "PING",
        "ERROR protocol version 3 is not supported",
    ] {
        let m = Message::parse(body).unwrap();
        assert_eq!(body_of(&m), body);
    }
}

#[test]
fn a_digest_has_a_power_of_two_of_hashes_up_to_the_most() {
    let hash = "0123456789abcdef";
    let of = |n: usize| {
        ["DIGEST"]
            .into_iter()
            .chain(vec![hash; n])
            .collect::<Vec<_>>()
            .join(" ")
    };
    for n in [1, 2, 64, MAX_DIGEST_BUCKETS] {
        match Message::parse(&of(n)) {
            Ok(Message::Digest(list)) => assert_eq!(list.len(), n),
            other => panic!("{n}: {other:?}"),
        }
    }
    for n in [0, 3, 6, 1000, 2 * MAX_DIGEST_BUCKETS] {
        let err = Message::parse(&of(n)).unwrap_err();
        assert!(err.to_string().contains("power of two"), "{n}: {err}");
    }
    for bad in [
        "DIGEST 0123456789ABCDEF",
        "DIGEST 0123",
        "DIGEST 0123456789abcdef ",
    ] {
        assert!(Message::parse(bad).is_err(), "{bad}");
    }
    // Nor can one be written that a peer would refuse.
    let mut out = Vec::new();
    assert!(crate::protocol::encode_digest([1, 2, 3].into_iter(), &mut out).is_err());
    assert!(out.is_empty());
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
            "HELLO 13 0123456789abcdef 4000 lobby 0",
            Missing {
                kind: "HELLO",
                field: "name",
            },
        ),
        (
            "HELLO 13 0123456789ABCDEF 4000 lobby 0 a",
            Invalid {
                field: "node id",
                value: "0123456789ABCDEF".into(),
            },
        ),
        (
            "HELLO 13 0123456789abcdef 0 lobby 0 a",
            Invalid {
                field: "port",
                value: "0".into(),
            },
        ),
        (
            "HELLO 13 0123456789abcdef 65536 lobby 0 a",
            Invalid {
                field: "port",
                value: "65536".into(),
            },
        ),
        (
            "HELLO 13 0123456789abcdef 4000 lobby 0 a b",
            Trailing { kind: "HELLO" },
        ),
        (
            "HELLO 13 0123456789abcdef 4000 lobby 0  a",
            Missing {
                kind: "HELLO",
                field: "name",
            },
        ),
        (
            "HELLO 13 0123456789abcdef 4000 lobby yes a",
            Invalid {
                field: "need",
                value: "yes".into(),
            },
        ),
        (
            "HELLO 13 0123456789abcdef 4000 lobby 3 a",
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
    let e = Message::parse("HELLO 14 0123456789abcdef 1 a").unwrap_err();
    assert_eq!(
        e.to_string(),
        "protocol version 14 is not supported (this node speaks version 13)"
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
    assert!(encode_relayed("NICK 3 00000000000000ab:1 zoë", 2, &mut frame).is_err());
}
