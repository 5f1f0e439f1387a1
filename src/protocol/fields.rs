//! Parsers for single fields. Each accepts exactly the form `PROTOCOL.md`
//! gives and nothing looser.

use super::{numbers, IdRange, MsgId, Need, NodeId, ProtocolError, MAX_DIGEST_BUCKETS};
use std::fmt;
use std::net::SocketAddr;

/// The longest name, in Unicode characters.
pub const MAX_NAME_CHARS: usize = 32;

/// Why a user name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong {
        chars: usize,
        limit: usize,
    },
    /// Whitespace, a control character, an invisible formatting character, or `#`.
    Forbidden {
        ch: char,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NameError::Empty => write!(f, "a name cannot be empty"),
            NameError::TooLong { chars, limit } => write!(
                f,
                "a name can have at most {limit} characters, this one has {chars}"
            ),
            NameError::Forbidden { ch } => write!(
                f,
                "a name cannot contain {:?} (U+{:04X}): no spaces, control characters, invisible characters or '#'",
                ch, ch as u32
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// Checks a user name: 1 to 32 characters, none of them whitespace, control,
/// invisible formatting (which could disguise a name or reorder the line) or
/// `#` (kept for telling equal names apart).
pub fn validate_name(name: &str) -> Result<&str, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if is_plain_name(name.as_bytes()) {
        return Ok(name);
    }
    if let Some(ch) = name.chars().find(|&c| forbidden_in_name(c)) {
        return Err(NameError::Forbidden { ch });
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(NameError::TooLong {
            chars,
            limit: MAX_NAME_CHARS,
        });
    }
    Ok(name)
}

/// The common case of a valid name, checked quickly: 1 to 32 printable
/// ASCII characters other than space and `#`.
pub(super) fn is_plain_name(name: &[u8]) -> bool {
    let plain = |&b: &u8| b > b' ' && b < 0x7f && b != b'#';
    !name.is_empty() && name.len() <= MAX_NAME_CHARS && name.iter().all(plain)
}

fn forbidden_in_name(c: char) -> bool {
    c.is_whitespace() || c.is_control() || c == '#' || crate::display::sanitize::is_invisible(c)
}

/// Checks a room name: the same rules as a user name.
pub fn validate_room(room: &str) -> Result<&str, NameError> {
    validate_name(room)
}

/// A room name, as a protocol field.
pub(super) fn room(s: &str) -> Result<&str, ProtocolError> {
    validate_room(s).map_err(|e| ProtocolError::Invalid {
        field: "room",
        value: format!("{} ({e})", super::shown(s)),
    })
}

/// A plain decimal number: ASCII digits only, no sign.
pub(super) fn decimal(s: &str) -> Option<u64> {
    numbers::decimal(s.as_bytes())
}

fn invalid(field: &'static str, value: &str) -> ProtocolError {
    ProtocolError::Invalid {
        field,
        value: super::shown(value),
    }
}

/// Exactly 16 lower-case hex digits.
pub(super) fn node_id(s: &str) -> Result<NodeId, ProtocolError> {
    match numbers::hex16(s.as_bytes()) {
        Some(value) => Ok(NodeId(value)),
        None => Err(invalid("node id", s)),
    }
}

/// A `DIGEST` bucket's hash: exactly 16 lower-case hex digits.
pub(super) fn bucket_hash(s: &str) -> Result<u64, ProtocolError> {
    numbers::hex16(s.as_bytes()).ok_or_else(|| invalid("bucket hash", s))
}

/// How many hashes a `DIGEST` has: a power of two, up to the most.
pub(super) fn bucket_count(count: usize) -> Result<usize, ProtocolError> {
    match count.is_power_of_two() && count <= MAX_DIGEST_BUCKETS {
        true => Ok(count),
        false => Err(ProtocolError::Invalid {
            field: "DIGEST",
            value: format!("{count} buckets (a power of two up to {MAX_DIGEST_BUCKETS})"),
        }),
    }
}

/// `<node-id>:<seq>`
pub(super) fn msg_id(s: &str) -> Result<MsgId, ProtocolError> {
    // A node id has exactly 16 digits, so the ':' can only be at 16; being
    // ASCII, it stands between characters, so both slices below are whole.
    if s.as_bytes().get(16) != Some(&b':') {
        return Err(invalid("message id", s));
    }
    let (origin, seq) = (&s[..16], &s[17..]);
    Ok(MsgId {
        origin: node_id(origin)?,
        seq: decimal(seq).ok_or_else(|| invalid("sequence number", seq))?,
    })
}

/// `<node-id>:<first>-<last>`, with `first` at most `last`.
pub(super) fn id_range(s: &str) -> Result<IdRange, ProtocolError> {
    let (id, last) = match s.split_once('-') {
        Some((id, last)) => (id, Some(last)),
        None => (s, None),
    };
    let id = msg_id(id)?;
    let last = last
        .and_then(decimal)
        .ok_or_else(|| invalid("message range", s))?;
    if last < id.seq {
        return Err(invalid("message range", s));
    }
    Ok(IdRange {
        origin: id.origin,
        first: id.seq,
        last,
    })
}

/// A TCP port, 1 to 65535.
pub(super) fn port(s: &str) -> Result<u16, ProtocolError> {
    match decimal(s).map(u16::try_from) {
        Some(Ok(p)) if p != 0 => Ok(p),
        _ => Err(invalid("port", s)),
    }
}

/// Hops left, 0 to 255.
pub(super) fn ttl(s: &str) -> Result<u8, ProtocolError> {
    match decimal(s).map(u8::try_from) {
        Some(Ok(t)) => Ok(t),
        _ => Err(invalid("hop limit", s)),
    }
}

/// `HELLO`'s `<need>`: `0`, `1` or `2`.
pub(super) fn need(s: &str) -> Result<Need, ProtocolError> {
    match s {
        "0" => Ok(Need::Spare),
        "1" => Ok(Need::Needed),
        "2" => Ok(Need::Heal),
        _ => Err(invalid("need", s)),
    }
}

/// Milliseconds since the Unix epoch.
pub(super) fn timestamp(s: &str) -> Result<u64, ProtocolError> {
    decimal(s).ok_or_else(|| invalid("timestamp", s))
}

/// A sequence number on its own.
pub(super) fn seq(s: &str) -> Result<u64, ProtocolError> {
    decimal(s).ok_or_else(|| invalid("sequence number", s))
}

/// `<node-id>@<ip>:<port>`, with an IPv6 address in brackets.
pub(super) fn peer(s: &str) -> Result<(NodeId, SocketAddr), ProtocolError> {
    let (id, addr) = s.split_once('@').ok_or_else(|| invalid("peer", s))?;
    let addr: SocketAddr = addr.parse().map_err(|_| invalid("peer address", addr))?;
    if addr.port() == 0 {
        return Err(invalid("peer address", s));
    }
    Ok((node_id(id)?, addr))
}

/// `<node-id>:<seq>:<name>`: the id is fixed-width and the number ends at
/// the first `:` after it, so the name may hold a `:`.
pub(super) fn member(s: &str) -> Result<(MsgId, &str), ProtocolError> {
    let bad = || invalid("roster entry", s);
    let (id, rest) = match (s.get(..16), s.get(16..)) {
        (Some(id), Some(rest)) => (id, rest.strip_prefix(':').ok_or_else(bad)?),
        _ => return Err(bad()),
    };
    let (seq, name) = rest.split_once(':').ok_or_else(bad)?;
    let id = MsgId {
        origin: node_id(id)?,
        seq: self::seq(seq)?,
    };
    Ok((id, validate_name(name)?))
}
