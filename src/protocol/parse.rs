//! Parsing a frame body into a [`Message`]: the kind word, then each field,
//! every one validated, every string borrowed from the body.

use super::{
    fast_chat, fields, validate_name, Chat, DigestList, Hello, IdList, Message, PeerList, Presence,
    PresenceKind, ProtocolError, RangeList, RosterList, VERSION,
};

/// Splits at the first space.
pub(super) fn split_at_space(s: &str) -> (&str, Option<&str>) {
    match find_space(s.as_bytes()) {
        // A space is one byte, so both sides are on character boundaries.
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

/// The index of the first space. Fields are short, too short for a search
/// routine's set-up to pay, so this looks at eight bytes per step in a
/// plain integer: a byte that is a space becomes zero after the XOR, and the
/// subtraction borrows through the lowest zero byte first.
pub(super) fn find_space(bytes: &[u8]) -> Option<usize> {
    const SPACES: u64 = u64::from_ne_bytes([b' '; 8]);
    const LOW: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ SPACES;
        let zero = x.wrapping_sub(LOW) & !x & HIGH;
        if zero != 0 {
            return Some(at + zero.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let tail = chunks.remainder().iter().position(|&b| b == b' ')?;
    Some(at + tail)
}

/// The kinds a chat message travels as: the word, whether it is history,
/// and whether it is an action.
pub(super) fn chat_kind(kind: &str) -> Option<(&'static str, bool, bool)> {
    // Matched as bytes: the length, then the bytes in place, with no call
    // to a comparison routine. Chat messages are by far the most common.
    match kind.as_bytes() {
        b"MSG" => Some(("MSG", false, false)),
        b"ME" => Some(("ME", false, true)),
        b"HIST" => Some(("HIST", true, false)),
        b"HISTME" => Some(("HISTME", true, true)),
        _ => None,
    }
}

/// Cuts a borrowed copy of a bad value short, so errors stay small in logs.
pub(super) fn shown(value: &str) -> String {
    value.chars().take(40).collect()
}

/// Takes space-separated fields off the front of a body.
struct Fields<'a> {
    kind: &'static str,
    rest: Option<&'a str>,
}

impl<'a> Fields<'a> {
    fn next(&mut self, field: &'static str) -> Result<&'a str, ProtocolError> {
        let missing = || ProtocolError::Missing {
            kind: self.kind,
            field,
        };
        let (head, tail) = split_at_space(self.rest.ok_or_else(missing)?);
        if head.is_empty() {
            return Err(missing());
        }
        self.rest = tail;
        Ok(head)
    }

    /// Everything left, spaces included (the free text at the end of a line).
    fn remainder(&mut self) -> Option<&'a str> {
        self.rest.take()
    }

    fn end(self) -> Result<(), ProtocolError> {
        match self.rest {
            None => Ok(()),
            Some(_) => Err(ProtocolError::Trailing { kind: self.kind }),
        }
    }
}

impl<'a> Message<'a> {
    /// Parses a frame body. Borrows every string from `body`. The usual
    /// chat message takes a quicker path (see `fast_chat.rs`).
    pub fn parse(body: &'a str) -> Result<Self, ProtocolError> {
        match fast_chat::parse(body) {
            Some(chat) => Ok(Message::Chat(chat)),
            None => Self::parse_general(body),
        }
    }

    /// Parses any frame body, and words the error for a bad one.
    pub(super) fn parse_general(body: &'a str) -> Result<Self, ProtocolError> {
        if body.is_empty() {
            return Err(ProtocolError::Empty);
        }
        let (kind, rest) = split_at_space(body);
        let fields = |kind| Fields { kind, rest };
        if let Some((word, history, action)) = chat_kind(kind) {
            return parse_chat(fields(word), history, action).map(Message::Chat);
        }
        match kind {
            "HELLO" => parse_hello(fields("HELLO")).map(Message::Hello),
            "NICK" => parse_presence(fields("NICK"), PresenceKind::Nick),
            "LEAVE" => parse_presence(fields("LEAVE"), PresenceKind::Leave),
            "HAVE" => parse_list(rest, fields::id_range).map(|s| Message::Have(RangeList(s))),
            "PEERS" => parse_list(rest, fields::peer).map(|s| Message::Peers(PeerList(s))),
            "ROSTER" => parse_list(rest, |s| fields::member(s).map(drop))
                .map(|s| Message::Roster(RosterList(s))),
            "JOIN" => parse_list(rest, |s| fields::member(s).map(drop))
                .map(|s| Message::Joined(RosterList(s))),
            "DIGEST" => parse_digest(rest),
            "PRUNE" => parse_list(rest, fields::msg_id).map(|s| Message::Prune(IdList(s))),
            "SUSPECT" => parse_list(rest, fields::msg_id).map(|s| Message::Suspect(IdList(s))),
            "PING" => match rest {
                None => Ok(Message::Ping),
                Some(_) => Err(ProtocolError::Invalid {
                    field: "PING",
                    value: "fields after it".into(),
                }),
            },
            "IHAVE" => parse_list(rest, fields::id_range).map(|s| Message::IHave(RangeList(s))),
            "GRAFT" => parse_list(rest, fields::id_range).map(|s| Message::Graft(RangeList(s))),
            "START" => {
                let mut f = fields("START");
                let seq = fields::seq(f.next("sequence number")?)?;
                f.end()?;
                Ok(Message::Start(seq))
            }
            "ERROR" => match rest {
                Some(text) if !text.is_empty() => Ok(Message::Error(text)),
                _ => Err(ProtocolError::EmptyText),
            },
            other => Err(ProtocolError::UnknownKind(shown(other))),
        }
    }
}

fn parse_hello(mut f: Fields<'_>) -> Result<Hello<'_>, ProtocolError> {
    // The version comes first and is checked first: a later version may change
    // every other field.
    let version = f.next("version")?;
    let version = match fields::decimal(version) {
        Some(v) if v == u64::from(VERSION) => VERSION,
        _ => {
            return Err(ProtocolError::UnsupportedVersion {
                got: shown(version),
                ours: VERSION,
            })
        }
    };
    let id = fields::node_id(f.next("node id")?)?;
    let port = fields::port(f.next("listen port")?)?;
    let room = fields::room(f.next("room")?)?;
    let need = fields::need(f.next("need")?)?;
    let name = validate_name(f.next("name")?)?;
    f.end()?;
    Ok(Hello {
        version,
        id,
        port,
        room,
        need,
        name,
    })
}

fn parse_chat(mut f: Fields<'_>, history: bool, action: bool) -> Result<Chat<'_>, ProtocolError> {
    let ttl = fields::ttl(f.next("hop limit")?)?;
    let id = fields::msg_id(f.next("message id")?)?;
    let time_ms = fields::timestamp(f.next("timestamp")?)?;
    let name = validate_name(f.next("name")?)?;
    let text = match f.remainder() {
        Some(text) if !text.is_empty() => text,
        _ => return Err(ProtocolError::EmptyText),
    };
    Ok(Chat {
        history,
        action,
        ttl,
        id,
        time_ms,
        name,
        text,
    })
}

fn parse_presence(mut f: Fields<'_>, kind: PresenceKind) -> Result<Message<'_>, ProtocolError> {
    let ttl = fields::ttl(f.next("hop limit")?)?;
    let id = fields::msg_id(f.next("message id")?)?;
    let name = validate_name(f.next("name")?)?;
    f.end()?;
    Ok(Message::Presence(Presence {
        kind,
        ttl,
        id,
        name,
    }))
}

/// A `DIGEST`'s hashes: a power of two of them, up to the most.
fn parse_digest(rest: Option<&str>) -> Result<Message<'_>, ProtocolError> {
    let list = parse_list(rest, fields::bucket_hash)?;
    fields::bucket_count(list.split(' ').filter(|s| !s.is_empty()).count())?;
    Ok(Message::Digest(DigestList(list)))
}

/// Validates every item of a list up front, so iterating later cannot fail.
fn parse_list<T>(
    rest: Option<&str>,
    item: impl Fn(&str) -> Result<T, ProtocolError>,
) -> Result<&str, ProtocolError> {
    let Some(list) = rest else {
        return Ok("");
    };
    for s in list.split(' ') {
        if s.is_empty() {
            return Err(ProtocolError::Invalid {
                field: "list",
                value: "an empty entry (two spaces in a row, or a trailing space)".into(),
            });
        }
        item(s)?;
    }
    Ok(list)
}
