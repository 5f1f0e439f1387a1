//! Writing messages: the inverse of parsing, refusing any value the parser
//! would refuse, so that what is sent always reads back as what was meant.

use super::fields::{self, validate_name};
use super::{split_at_space, EncodeError, IdRange, Message, MsgId, Need, NodeId, ProtocolError};
use crate::message::{self, BodyWriter, FrameError};
use std::net::SocketAddr;

impl Message<'_> {
    /// Appends this message as a frame to `out`. A message with a value the
    /// parser would refuse, or too long for a frame, is refused whole: an
    /// invalid name could otherwise shift the fields and read as another message.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.validate()?;
        message::encode_with(out, message::MAX_BODY, |w| self.write_body(w))?;
        Ok(())
    }

    /// Checks the values the parser checks. Lists were validated when parsed.
    fn validate(&self) -> Result<(), ProtocolError> {
        let text = |t: &str| match t.is_empty() {
            true => Err(ProtocolError::EmptyText),
            false => Ok(()),
        };
        match self {
            Message::Hello(h) => {
                if h.port == 0 {
                    return Err(ProtocolError::Invalid {
                        field: "port",
                        value: "0".into(),
                    });
                }
                fields::room(h.room)?;
                validate_name(h.name)?;
            }
            Message::Chat(c) => {
                validate_name(c.name)?;
                text(c.text)?;
            }
            Message::Presence(p) => {
                validate_name(p.name)?;
            }
            Message::Error(t) => text(t)?,
            Message::Have(_)
            | Message::Peers(_)
            | Message::Roster(_)
            | Message::Joined(_)
            | Message::Digest(_)
            | Message::Prune(_)
            | Message::Suspect(_)
            | Message::Ping
            | Message::IHave(_)
            | Message::Graft(_)
            | Message::Start(_) => {}
        }
        Ok(())
    }

    /// Writes the body text.
    fn write_body(&self, w: &mut BodyWriter<'_>) {
        match self {
            Message::Hello(h) => {
                w.push_str("HELLO ");
                w.push_u64(h.version.into());
                w.push_str(" ");
                w.push_hex16(h.id.0);
                w.push_str(" ");
                w.push_u64(h.port.into());
                w.push_str(" ");
                w.push_str(h.room);
                w.push_str(match h.need {
                    Need::Spare => " 0 ",
                    Need::Needed => " 1 ",
                    Need::Heal => " 2 ",
                });
                w.push_str(h.name);
            }
            Message::Chat(c) => {
                w.push_str(match (c.history, c.action) {
                    (false, false) => "MSG ",
                    (false, true) => "ME ",
                    (true, false) => "HIST ",
                    (true, true) => "HISTME ",
                });
                w.push_u64(c.ttl.into());
                w.push_str(" ");
                write_id(w, c.id);
                w.push_str(" ");
                w.push_u64(c.time_ms);
                w.push_str(" ");
                w.push_str(c.name);
                w.push_str(" ");
                w.push_str(c.text);
            }
            Message::Have(ranges) => write_ranges(w, "HAVE", ranges.iter()),
            Message::Peers(peers) => write_peers(w, peers.iter()),
            Message::Presence(p) => {
                w.push_str(p.kind.word());
                w.push_str(" ");
                w.push_u64(p.ttl.into());
                w.push_str(" ");
                write_id(w, p.id);
                w.push_str(" ");
                w.push_str(p.name);
            }
            Message::Roster(list) => write_members(w, "ROSTER", list.iter()),
            Message::Joined(list) => write_members(w, "JOIN", list.iter()),
            Message::Digest(list) => write_digest(w, list.iter()),
            Message::Prune(starts) => write_ids(w, "PRUNE", starts.iter()),
            Message::Suspect(ids) => write_ids(w, "SUSPECT", ids.iter()),
            Message::Ping => w.push_str("PING"),
            Message::IHave(ranges) => write_ranges(w, "IHAVE", ranges.iter()),
            Message::Graft(ranges) => write_ranges(w, "GRAFT", ranges.iter()),
            Message::Start(seq) => {
                w.push_str("START ");
                w.push_u64(*seq);
            }
            Message::Error(text) => {
                w.push_str("ERROR ");
                w.push_str(text);
            }
        }
    }
}

/// Appends the frame of a chat message parsed from `body`, with its hop
/// limit set to `ttl`. The fields after the hop limit are copied as they
/// came: the parser has checked them, and writing them again field by field
/// would cost more than the rest of relaying the message.
pub fn encode_relayed(body: &str, ttl: u8, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let (kind, rest) = split_at_space(body);
    let rest = rest.map(split_at_space).and_then(|(_old_ttl, rest)| rest);
    let Some(rest) = rest.filter(|_| super::chat_kind(kind).is_some()) else {
        return Err(ProtocolError::Missing {
            kind: "relayed message",
            field: "hop limit",
        }
        .into());
    };
    message::encode_with(out, message::MAX_BODY, |w| {
        w.push_str(kind);
        w.push_str(" ");
        w.push_u64(ttl.into());
        w.push_str(" ");
        w.push_str(rest);
    })?;
    Ok(())
}

/// The frames of a burst of this node's own chat lines: one origin, name,
/// hop limit and time, and numbers that count up. What the lines share is
/// checked and written once, so that a frame costs a few copies and one
/// number, where [`Message::encode`] would check the name and write every
/// field again for each. The bytes are those [`Message::encode`] writes.
pub struct ChatBurst {
    /// ` <ttl> <origin>:`, after the kind word.
    head: String,
    /// ` <time> <name> `, between the number and the text.
    middle: String,
}

impl ChatBurst {
    /// Refuses a name the parser would refuse.
    pub fn new(origin: NodeId, ttl: u8, time_ms: u64, name: &str) -> Result<Self, EncodeError> {
        validate_name(name).map_err(ProtocolError::from)?;
        Ok(ChatBurst {
            head: format!(" {ttl} {:016x}:", origin.0),
            middle: format!(" {time_ms} {name} "),
        })
    }

    /// Appends the frame of line `text`, numbered `seq`, and an action if
    /// `action`; refused, with nothing appended, as [`Message::encode`]
    /// would refuse it.
    pub fn encode(
        &self,
        seq: u64,
        action: bool,
        text: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        if text.is_empty() {
            return Err(ProtocolError::EmptyText.into());
        }
        message::encode_with(out, message::MAX_BODY, |w| {
            w.push_str(if action { "ME" } else { "MSG" });
            w.push_str(&self.head);
            w.push_u64(seq);
            w.push_str(&self.middle);
            w.push_str(text);
        })?;
        Ok(())
    }
}

fn write_id(w: &mut BodyWriter<'_>, id: MsgId) {
    w.push_hex16(id.origin.0);
    w.push_str(":");
    w.push_u64(id.seq);
}

/// The most runs a `HAVE` frame lists: as many of the longest as fit.
pub const MAX_HAVE_RUNS: usize = (message::MAX_BODY - 4) / MAX_RANGE_LEN;
/// ` <16 hex>:<u64>-<u64>`, at its longest.
const MAX_RANGE_LEN: usize = 1 + 16 + 1 + 20 + 1 + 20;

/// Appends a `HAVE` frame listing the first [`MAX_HAVE_RUNS`] of `runs`.
pub fn encode_have(
    runs: impl Iterator<Item = IdRange>,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    let runs = runs.take(MAX_HAVE_RUNS);
    message::encode_with(out, message::MAX_BODY, |w| write_ranges(w, "HAVE", runs))
}

/// Appends a `PRUNE` frame listing `<origin>:<start>` pairs.
pub fn encode_prune(
    starts: impl Iterator<Item = MsgId>,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    message::encode_with(out, message::MAX_BODY, |w| write_ids(w, "PRUNE", starts))
}

/// Appends an `IHAVE` frame listing `ranges`.
pub fn encode_ihave(
    ranges: impl Iterator<Item = IdRange>,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    message::encode_with(out, message::MAX_BODY, |w| write_ranges(w, "IHAVE", ranges))
}

/// Appends a `GRAFT` frame listing `ranges`.
pub fn encode_graft(
    ranges: impl Iterator<Item = IdRange>,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    message::encode_with(out, message::MAX_BODY, |w| write_ranges(w, "GRAFT", ranges))
}

fn write_ranges(w: &mut BodyWriter<'_>, kind: &str, ranges: impl Iterator<Item = IdRange>) {
    w.push_str(kind);
    for r in ranges {
        w.push_str(" ");
        w.push_hex16(r.origin.0);
        w.push_str(":");
        w.push_u64(r.first);
        w.push_str("-");
        w.push_u64(r.last);
    }
}

/// Appends a `PEERS` frame listing `peers`.
pub fn encode_peers(
    peers: impl Iterator<Item = (NodeId, SocketAddr)>,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    message::encode_with(out, message::MAX_BODY, |w| write_peers(w, peers))
}

/// Appends a `ROSTER` frame listing `members`, each with the newest
/// sequence number heard from it. Names are validated first.
pub fn encode_roster<'n>(
    members: impl Iterator<Item = (MsgId, &'n str)> + Clone,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    encode_members("ROSTER", members, out)
}

/// Appends a `JOIN` frame: users who just joined, in a roster's form.
pub fn encode_joined<'n>(
    members: impl Iterator<Item = (MsgId, &'n str)> + Clone,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    encode_members("JOIN", members, out)
}

fn encode_members<'n>(
    kind: &str,
    members: impl Iterator<Item = (MsgId, &'n str)> + Clone,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    for (_, name) in members.clone() {
        validate_name(name).map_err(ProtocolError::from)?;
    }
    message::encode_with(out, message::MAX_BODY, |w| write_members(w, kind, members))?;
    Ok(())
}

fn write_members<'n>(
    w: &mut BodyWriter<'_>,
    kind: &str,
    members: impl Iterator<Item = (MsgId, &'n str)>,
) {
    w.push_str(kind);
    for (id, name) in members {
        w.push_str(" ");
        write_id(w, id);
        w.push_str(":");
        w.push_str(name);
    }
}

/// Appends a `DIGEST` frame of bucket hashes; as many as a power of two
/// up to [`MAX_DIGEST_BUCKETS`], or a peer would refuse it.
pub fn encode_digest(
    hashes: impl ExactSizeIterator<Item = u64>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    fields::bucket_count(hashes.len())?;
    message::encode_with(out, message::MAX_BODY, |w| write_digest(w, hashes))?;
    Ok(())
}

fn write_digest(w: &mut BodyWriter<'_>, hashes: impl Iterator<Item = u64>) {
    w.push_str("DIGEST");
    for h in hashes {
        w.push_str(" ");
        w.push_hex16(h);
    }
}

/// Appends a `SUSPECT` frame listing `<origin>:<seq>` pairs.
pub fn encode_suspect(
    ids: impl Iterator<Item = MsgId>,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    message::encode_with(out, message::MAX_BODY, |w| write_ids(w, "SUSPECT", ids))
}

fn write_ids(w: &mut BodyWriter<'_>, kind: &str, ids: impl Iterator<Item = MsgId>) {
    w.push_str(kind);
    for id in ids {
        w.push_str(" ");
        write_id(w, id);
    }
}

fn write_peers(w: &mut BodyWriter<'_>, peers: impl Iterator<Item = (NodeId, SocketAddr)>) {
    use std::fmt::Write;
    w.push_str("PEERS");
    for (id, addr) in peers {
        w.push_str(" ");
        w.push_hex16(id.0);
        // Writing to a Vec cannot fail.
        let _ = write!(w, "@{addr}");
    }
}
