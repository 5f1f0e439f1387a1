//! The properties the fuzz targets check. Shared by the targets and by the
//! `cargo test` replay of committed crash inputs (`tests/fuzz_replay.rs`), so a
//! crash found once is checked on every test run.

// Each includer uses only part of this file.
#![allow(dead_code)]

use arbitrary::Arbitrary;
use p2pchat::message::{self, Decoded};
use p2pchat::protocol::{
    self, Announcement, Chat, ChatShape, EncodeError, Hello, IdRange, Message, MsgId, Need, NodeId,
    Presence, PresenceKind, VERSION,
};

/// Parses arbitrary bytes as a LAN discovery datagram; whatever is
/// accepted must re-encode to the same announcement.
pub fn check_datagram(data: &[u8]) {
    if let Ok(a) = Announcement::parse(data) {
        let again = a.encode().expect("an accepted announcement re-encodes");
        assert_eq!(Announcement::parse(&again), Ok(a));
    }
}

/// Feeds arbitrary bytes to both sides of the Noise handshake as the
/// messages a peer sent, then (if it somehow completes) through the
/// encrypted stream: nothing panics, and nothing unauthenticated is
/// accepted as a completed handshake.
pub fn check_handshake(data: &[u8]) {
    use futures::io::AsyncReadExt;
    use p2pchat::secure::{handshake, Identity};
    // One key pair for the whole run: generating one per input is slow.
    static ME: std::sync::OnceLock<Identity> = std::sync::OnceLock::new();
    let me = ME.get_or_init(|| Identity::generate().expect("a key pair"));
    for initiator in [false, true] {
        let reader = futures::io::Cursor::new(data.to_vec());
        let result = futures::executor::block_on(handshake(
            reader,
            futures::io::sink(),
            initiator,
            me,
            None,
        ));
        // Completing XX needs the peer's proof of a static key: forged
        // bytes cannot give one.
        if let Ok(mut link) = result {
            let mut rest = Vec::new();
            let _ = futures::executor::block_on(link.reader.read_to_end(&mut rest));
            panic!("a handshake completed from unauthenticated bytes");
        }
    }
}

/// Writes to seal, how the sealed bytes arrive, and an optional flipped byte.
#[derive(Debug, Arbitrary)]
pub struct Reassembly {
    writes: Vec<Vec<u8>>,
    chunks: Vec<u16>,
    tamper: Option<(u16, u8)>,
}

/// Hands out its bytes in chunks of the given sizes, as a socket would.
struct Chunks {
    data: Vec<u8>,
    at: usize,
    sizes: Vec<u16>,
    turn: usize,
}

impl futures::io::AsyncRead for Chunks {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        out: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let size = match self.sizes.len() {
            0 => usize::MAX,
            n => usize::from(self.sizes[self.turn % n]).max(1),
        };
        self.turn += 1;
        let n = size.min(out.len()).min(self.data.len() - self.at);
        out[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        std::task::Poll::Ready(Ok(n))
    }
}

/// Seals the writes into Noise transport messages, delivers them in the
/// given chunks (with one byte flipped, if asked), and reads them back:
/// untouched, the same bytes come out; tampered, the read may fail but
/// never yields different bytes.
pub fn check_reassembly(input: &Reassembly) {
    use futures::io::{AsyncReadExt, AsyncWriteExt};
    let chunks = Chunks {
        data: Vec::new(),
        at: 0,
        sizes: input.chunks.clone(),
        turn: 0,
    };
    let mut sealed = Vec::new();
    let (mut writer, mut reader) =
        p2pchat::secure::memory_pair(&mut sealed, chunks).expect("a key pair");
    let plain: Vec<u8> = input.writes.concat();
    futures::executor::block_on(async {
        for w in &input.writes {
            writer.write_all(w).await.expect("writing to memory");
        }
        writer.flush().await.expect("flushing to memory");
    });
    drop(writer);
    let tampered = match input.tamper {
        Some((at, xor)) if xor != 0 && !sealed.is_empty() => {
            let at = usize::from(at) % sealed.len();
            sealed[at] ^= xor;
            true
        }
        _ => false,
    };
    reader.inner_mut().data = sealed;
    let mut got = Vec::new();
    let result = futures::executor::block_on(reader.read_to_end(&mut got));
    if !tampered {
        assert!(result.is_ok(), "an untouched stream failed: {result:?}");
        assert_eq!(got, plain, "an untouched stream came out different");
    } else if result.is_ok() {
        assert_eq!(
            got, plain,
            "a tampered stream was accepted with other bytes"
        );
    } else {
        // Whatever came out before the failure is a true prefix.
        assert!(
            plain.starts_with(&got),
            "a tampered stream yielded other bytes"
        );
    }
}

/// Decodes arbitrary bytes as a stream of frames, parses each body as a
/// protocol message, and checks that whatever is accepted round-trips.
pub fn check_stream(mut data: &[u8]) {
    loop {
        match message::decode(data) {
            Ok(Decoded::Frame { body, consumed }) => {
                assert!(consumed <= data.len(), "consumed more than given");
                assert_eq!(consumed, message::HEADER_LEN + body.len());
                let mut again = Vec::new();
                message::encode(body, &mut again).expect("a decoded body re-encodes");
                assert_eq!(&again[..], &data[..consumed], "frame did not round-trip");
                if let Ok(m) = Message::parse(body) {
                    check_message(&m);
                    // The body as it came, perhaps not as this node would
                    // write it (a number with leading zeros, say).
                    if let Message::Chat(chat) = m {
                        check_relay(body, &chat);
                    }
                }
                data = &data[consumed..];
            }
            Ok(Decoded::Partial { needed }) => {
                assert!(needed > 0);
                return;
            }
            Err(_) => return,
        }
    }
}

/// Relays a chat message as a node does, copying the body after its hop
/// limit, and checks the copy reads as the same message with the new hop
/// limit, and that the display finds its name and text in it.
pub fn check_relay(body: &str, chat: &Chat<'_>) {
    let ttl = chat.ttl.wrapping_sub(1);
    let mut frame = Vec::new();
    protocol::encode_relayed(body, ttl, &mut frame).expect("a parsed chat message relays");
    let Ok(Decoded::Frame { body: relayed, .. }) = message::decode(&frame) else {
        panic!("a relayed message does not decode as a frame");
    };
    let expected = Message::Chat(Chat { ttl, ..*chat });
    assert_eq!(
        Message::parse(relayed),
        Ok(expected),
        "relay changed the message"
    );
    assert_eq!(
        ChatShape::of(chat).name_and_text(&frame),
        Some((chat.name.as_bytes(), chat.text.as_bytes())),
        "the display cannot find the name and text"
    );
}

/// Encodes a message and checks it parses back to the same message.
pub fn check_message(m: &Message<'_>) {
    let mut frame = Vec::new();
    if m.encode(&mut frame).is_err() {
        return; // Too long for a frame: refused whole, which is correct.
    }
    let Ok(Decoded::Frame { body, .. }) = message::decode(&frame) else {
        panic!("an encoded message does not decode as a frame");
    };
    assert_eq!(
        Message::parse(body).as_ref(),
        Ok(m),
        "message did not round-trip"
    );
    if let Message::Chat(chat) = m {
        check_relay(body, chat);
    }
}

/// Structured input: field values from which a message is built.
#[derive(Debug, Arbitrary)]
pub enum Input {
    Hello {
        id: u64,
        port: u16,
        room: String,
        /// `<need>`, from its value modulo 3.
        need: u8,
        name: String,
    },
    Chat {
        history: bool,
        action: bool,
        ttl: u8,
        origin: u64,
        seq: u64,
        time_ms: u64,
        name: String,
        text: String,
    },
    Presence {
        kind: u8,
        ttl: u8,
        origin: u64,
        seq: u64,
        name: String,
    },
    Error {
        text: String,
    },
    Frame {
        body: String,
    },
    /// `IHAVE` or `GRAFT`: `(origin, one end, other end)` per range.
    Ranges {
        graft: bool,
        ranges: Vec<(u64, u64, u64)>,
    },
    Start {
        seq: u64,
    },
}

/// Builds the message if its values are valid, checks the round trip, and
/// checks that invalid values are refused rather than encoded.
pub fn check_input(input: &Input) {
    let id = |origin, seq| MsgId {
        origin: NodeId(origin),
        seq,
    };
    let message = match input {
        Input::Hello {
            id,
            port,
            room,
            need,
            name,
        } => Message::Hello(Hello {
            version: VERSION,
            id: NodeId(*id),
            port: *port,
            room,
            need: [Need::Spare, Need::Needed, Need::Heal][usize::from(*need % 3)],
            name,
        }),
        Input::Chat {
            history,
            action,
            ttl,
            origin,
            seq,
            time_ms,
            name,
            text,
        } => Message::Chat(Chat {
            history: *history,
            action: *action,
            ttl: *ttl,
            id: id(*origin, *seq),
            time_ms: *time_ms,
            name,
            text,
        }),
        Input::Presence {
            kind,
            ttl,
            origin,
            seq,
            name,
        } => Message::Presence(Presence {
            kind: [PresenceKind::Nick, PresenceKind::Leave][usize::from(*kind % 2)],
            ttl: *ttl,
            id: id(*origin, *seq),
            name,
        }),
        Input::Error { text } => Message::Error(text),
        Input::Start { seq } => Message::Start(*seq),
        Input::Frame { body } => {
            let mut out = Vec::new();
            match message::encode(body, &mut out) {
                Ok(()) => assert_eq!(
                    message::decode(&out),
                    Ok(Decoded::Frame {
                        body,
                        consumed: out.len()
                    })
                ),
                Err(_) => assert!(out.is_empty() && body.len() > message::MAX_BODY),
            }
            return;
        }
        Input::Ranges { graft, ranges } => {
            check_ranges(*graft, ranges);
            return;
        }
    };
    // Values that break a rule (an empty name, a space in a name, port 0...)
    // must be refused by the encoder, never sent as some other message.
    let mut frame = Vec::new();
    match message.encode(&mut frame) {
        Err(EncodeError::Invalid(_)) => {
            assert!(!is_valid(input), "valid values were refused: {input:?}");
            assert!(frame.is_empty());
        }
        Err(EncodeError::Frame(_)) => assert!(frame.is_empty()),
        Ok(()) => {
            assert!(is_valid(input), "invalid values were encoded: {input:?}");
            check_message(&message);
        }
    }
}

fn is_valid(input: &Input) -> bool {
    let name_ok = |n: &str| p2pchat::protocol::validate_name(n).is_ok();
    match input {
        Input::Hello {
            port, room, name, ..
        } => *port != 0 && name_ok(name) && name_ok(room),
        Input::Chat { name, text, .. } => name_ok(name) && !text.is_empty(),
        Input::Presence { name, .. } => name_ok(name),
        Input::Error { text } => !text.is_empty(),
        Input::Frame { .. } | Input::Ranges { .. } | Input::Start { .. } => true,
    }
}

/// Range lists round-trip exactly, in order, or are refused whole when too
/// long for a frame.
fn check_ranges(graft: bool, ranges: &[(u64, u64, u64)]) {
    let ranges: Vec<IdRange> = ranges
        .iter()
        .map(|&(origin, a, b)| IdRange {
            origin: NodeId(origin),
            first: a.min(b),
            last: a.max(b),
        })
        .collect();
    let mut frame = Vec::new();
    let encoded = match graft {
        true => protocol::encode_graft(ranges.iter().copied(), &mut frame),
        false => protocol::encode_ihave(ranges.iter().copied(), &mut frame),
    };
    if encoded.is_err() {
        assert!(frame.is_empty());
        return;
    }
    let body = std::str::from_utf8(&frame[message::HEADER_LEN..]).expect("UTF-8");
    let parsed = Message::parse(body).expect("an encoded range list parses");
    let list = match parsed {
        Message::Graft(list) if graft => list,
        Message::IHave(list) if !graft => list,
        other => panic!("ranges parsed as {other:?}"),
    };
    assert!(list.iter().eq(ranges.iter().copied()));
    check_message(&parsed);
}
