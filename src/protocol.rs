//! The typed messages that travel as frame bodies.
//!
//! A body is one line of human-readable text: a kind word, then fields
//! separated by single spaces, so a packet capture reads like a log.
//! `PROTOCOL.md` specifies every kind. Parsing borrows every string from the
//! frame; nothing is copied. Every field is validated here, so the node only
//! ever sees well-formed values.
//!
//! This file has the types; `parse.rs` reads a body, `fields.rs` and
//! `numbers.rs` each field, and `encode.rs` writes a body.

use crate::message::FrameError;
use std::fmt;
use std::net::SocketAddr;

mod chat_shape;
mod discovery;
mod encode;
mod fast_chat;
mod fields;
mod numbers;
mod parse;

pub use chat_shape::ChatShape;
pub use discovery::{Announcement, MAX_ANNOUNCEMENT};
pub use encode::{
    encode_digest, encode_graft, encode_have, encode_ihave, encode_joined, encode_peers,
    encode_prune, encode_relayed, encode_roster, encode_suspect, ChatBurst, MAX_HAVE_RUNS,
};
pub use fields::{validate_name, validate_room, NameError, MAX_NAME_CHARS};
#[cfg(test)]
use parse::find_space;
use parse::{chat_kind, shown, split_at_space};

/// The protocol version this build speaks. Any change to the wire format bumps it.
pub const VERSION: u32 = 13;

/// Hops a flooded message may still take when it is first sent.
pub const INITIAL_TTL: u8 = 32;

/// A node's identity: random, 64 bits, written as 16 lower-case hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u64);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A flooded message's identity: its origin and that origin's sequence number.
/// Saying the same text twice makes two ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MsgId {
    pub origin: NodeId,
    pub seq: u64,
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.origin, self.seq)
    }
}

/// One protocol message, borrowing its strings from the frame body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// The first message on every connection, from both sides.
    Hello(Hello<'a>),
    /// A chat line, flooded to every node.
    Chat(Chat<'a>),
    /// A user renamed or left; flooded like a chat line.
    Presence(Presence<'a>),
    /// The ids of the chat messages the sender keeps in its history.
    Have(RangeList<'a>),
    /// Listen addresses of nodes the sender knows.
    Peers(PeerList<'a>),
    /// The users the sender knows to be online, each with the newest
    /// sequence number heard from them.
    Roster(RosterList<'a>),
    /// Users who just joined the network, each at its join's number, in a
    /// roster's form: passed on as news.
    Joined(RosterList<'a>),
    /// The hashes of the sender's roster in buckets (see
    /// `node/store/digest.rs`): answered with a `ROSTER` of the entries in
    /// the buckets that differ. Sent once, as the link opens.
    Digest(DigestList<'a>),
    /// The sender lost its link to these users' nodes without hearing them
    /// leave: each `<origin>:<seq>` is suspected of being gone since that
    /// number, until it says something newer.
    Suspect(IdList<'a>),
    /// Nothing: keeps a quiet link from looking dead.
    Ping,
    /// Why the sender is closing the connection.
    Error(&'a str),
    /// Stop pushing these origins' messages whole to the sender: of each
    /// `<origin>:<start>`, announce those numbered below the start, and
    /// leave the others to the origin's own link.
    Prune(IdList<'a>),
    /// The sender has these messages (announced to a peer that gets them lazily).
    IHave(RangeList<'a>),
    /// Send the sender these messages, and push their origins' messages whole again.
    Graft(RangeList<'a>),
    /// Every message of the sender's own numbered this or later comes over
    /// this link, in order: sent once, as the link opens.
    Start(u64),
}

/// Consecutive sequence numbers of one origin, `first` to `last` inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdRange {
    pub origin: NodeId,
    pub first: u64,
    pub last: u64,
}

/// `HELLO <version> <node-id> <listen-port> <room> <need> <name>`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello<'a> {
    pub version: u32,
    pub id: NodeId,
    pub port: u16,
    /// The chat room; nodes of different rooms do not connect.
    pub room: &'a str,
    /// How much the sender needs this link: what a node at its maximum
    /// does with it.
    pub need: Need,
    pub name: &'a str,
}

/// What kind of chat line the user typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatKind {
    /// A line, shown as `NAME: TEXT`.
    Line,
    /// An action (`:me`), shown as `* NAME TEXT`.
    Action,
}

/// How much a node needs the link it opens, as its `HELLO` says; each
/// says more than the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Need {
    /// `0`: one more link would be welcome; a full node refuses it.
    Spare,
    /// `1`: the sender has fewer links than it aims for (a newcomer has
    /// none); a full node drops one of its links to take it.
    Needed,
    /// `2`: the link joins two parts of a split network; a full node takes
    /// it beyond its maximum, up to a small surplus, which it prunes later.
    Heal,
}

/// `MSG|ME|HIST|HISTME <ttl> <origin>:<seq> <unix-ms> <name> <text>`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chat<'a> {
    /// Sent as history (`HIST`, `HISTME`) to a node that lacked it, rather than live.
    pub history: bool,
    /// An action (`ME`, `HISTME`), shown as `* NAME TEXT`.
    pub action: bool,
    pub ttl: u8,
    pub id: MsgId,
    /// When the origin sent it, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub name: &'a str,
    pub text: &'a str,
}

/// `NICK|LEAVE <ttl> <origin>:<seq> <name>`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presence<'a> {
    pub kind: PresenceKind,
    pub ttl: u8,
    pub id: MsgId,
    /// The user's name; for `NICK`, the new one.
    pub name: &'a str,
}

/// What a presence message says about its origin's user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceKind {
    /// Now goes by the name in the message.
    Nick,
    /// Left on purpose.
    Leave,
}

impl PresenceKind {
    pub fn word(self) -> &'static str {
        match self {
            PresenceKind::Nick => "NICK",
            PresenceKind::Leave => "LEAVE",
        }
    }
}

/// A validated, space-separated list of message ids, read lazily.
#[derive(Debug, Clone, Copy)]
pub struct IdList<'a>(&'a str);

/// A validated, space-separated list of `<node-id>@<addr>` entries, read lazily.
#[derive(Debug, Clone, Copy)]
pub struct PeerList<'a>(&'a str);

/// A validated, space-separated list of `<node-id>:<seq>:<name>` entries, read lazily.
#[derive(Debug, Clone, Copy)]
pub struct RosterList<'a>(&'a str);

/// A validated list of bucket hashes, 16 hex digits each, as many as a
/// power of two up to [`MAX_DIGEST_BUCKETS`], read lazily.
#[derive(Debug, Clone, Copy)]
pub struct DigestList<'a>(&'a str);

/// Buckets a `DIGEST` has at most.
pub const MAX_DIGEST_BUCKETS: usize = 1024;

/// A validated, space-separated list of `<node-id>:<first>-<last>` ranges, read lazily.
#[derive(Debug, Clone, Copy)]
pub struct RangeList<'a>(&'a str);

impl<'a> IdList<'a> {
    pub fn iter(&self) -> impl Iterator<Item = MsgId> + 'a {
        items(self.0).filter_map(|s| fields::msg_id(s).ok())
    }
}

impl<'a> PeerList<'a> {
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, SocketAddr)> + 'a {
        items(self.0).filter_map(|s| fields::peer(s).ok())
    }
}

impl<'a> RosterList<'a> {
    pub fn iter(&self) -> impl Iterator<Item = (MsgId, &'a str)> + 'a {
        items(self.0).filter_map(|s| fields::member(s).ok())
    }
}

impl<'a> DigestList<'a> {
    pub fn iter(&self) -> impl Iterator<Item = u64> + 'a {
        items(self.0).filter_map(|s| fields::bucket_hash(s).ok())
    }

    /// How many buckets: a power of two.
    pub fn len(&self) -> usize {
        items(self.0).count()
    }

    /// Never true: a digest has at least one bucket.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> RangeList<'a> {
    pub fn iter(&self) -> impl Iterator<Item = IdRange> + 'a {
        items(self.0).filter_map(|s| fields::id_range(s).ok())
    }

    /// The length of the list's text: what reading it costs, before it is
    /// read.
    pub fn text_len(&self) -> usize {
        self.0.len()
    }
}

/// Lists compare by their entries, not by their text.
macro_rules! list_eq {
    ($($list:ident),*) => {$(
        impl PartialEq for $list<'_> {
            fn eq(&self, other: &Self) -> bool {
                self.iter().eq(other.iter())
            }
        }
        impl Eq for $list<'_> {}
    )*};
}

list_eq!(IdList, PeerList, RosterList, DigestList, RangeList);

fn items(list: &str) -> impl Iterator<Item = &str> {
    list.split(' ').filter(|s| !s.is_empty())
}

/// Why a frame body is not a valid message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// The body is empty.
    Empty,
    /// The kind word is not one this version knows (kept short for the log).
    UnknownKind(String),
    /// The peer speaks another protocol version.
    UnsupportedVersion { got: String, ours: u32 },
    /// A field is absent.
    Missing {
        kind: &'static str,
        field: &'static str,
    },
    /// A field is present but malformed.
    Invalid { field: &'static str, value: String },
    /// A name breaks the naming rules.
    Name(NameError),
    /// A chat or error message has no text.
    EmptyText,
    /// Something follows the last field of a kind that ends there.
    Trailing { kind: &'static str },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Empty => write!(f, "empty message"),
            ProtocolError::UnknownKind(k) => write!(f, "unknown message kind {k:?}"),
            ProtocolError::UnsupportedVersion { got, ours } => write!(
                f,
                "protocol version {got} is not supported (this node speaks version {ours})"
            ),
            ProtocolError::Missing { kind, field } => write!(f, "{kind} message lacks its {field}"),
            ProtocolError::Invalid { field, value } => write!(f, "invalid {field} {value:?}"),
            ProtocolError::Name(e) => e.fmt(f),
            ProtocolError::EmptyText => write!(f, "message has no text"),
            ProtocolError::Trailing { kind } => write!(f, "unexpected data after a {kind} message"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Why a message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A value breaks a protocol rule.
    Invalid(ProtocolError),
    /// The message does not fit in a frame.
    Frame(FrameError),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::Invalid(e) => e.fmt(f),
            EncodeError::Frame(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for EncodeError {}

impl From<ProtocolError> for EncodeError {
    fn from(e: ProtocolError) -> Self {
        EncodeError::Invalid(e)
    }
}

impl From<FrameError> for EncodeError {
    fn from(e: FrameError) -> Self {
        EncodeError::Frame(e)
    }
}

impl From<NameError> for ProtocolError {
    fn from(e: NameError) -> Self {
        ProtocolError::Name(e)
    }
}

#[cfg(test)]
mod parse_tests;
#[cfg(test)]
mod tests;
