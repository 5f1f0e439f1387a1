//! The LAN discovery announcement: one UDP datagram of text,
//! `P2PCHAT <version> <room> <node-id> <port>`.
//!
//! Anyone on the LAN can send datagrams, so they go through the same strict
//! field parsers as every frame. An announcement says no more than the room,
//! the node id and the listen port; the listen address is the datagram's
//! source address.

use super::fields::{self, decimal};
use super::{NodeId, ProtocolError, VERSION};
use crate::message::BodyWriter;
use std::fmt::Write;

/// Datagrams longer than this are not announcements.
pub const MAX_ANNOUNCEMENT: usize = 256;

/// A node announcing itself to its LAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announcement<'a> {
    pub room: &'a str,
    pub id: NodeId,
    pub port: u16,
}

impl<'a> Announcement<'a> {
    /// Parses a datagram. Anything but an announcement of this protocol
    /// version is refused with the reason.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, ProtocolError> {
        if datagram.len() > MAX_ANNOUNCEMENT {
            return Err(ProtocolError::Invalid {
                field: "announcement",
                value: format!("{} bytes", datagram.len()),
            });
        }
        let text = std::str::from_utf8(datagram).map_err(|_| ProtocolError::Invalid {
            field: "announcement",
            value: "bytes that are not UTF-8".into(),
        })?;
        let mut parts = text.split(' ');
        let mut next = |field: &'static str| {
            parts
                .next()
                .filter(|s| !s.is_empty())
                .ok_or(ProtocolError::Missing {
                    kind: "P2PCHAT",
                    field,
                })
        };
        if next("magic")? != "P2PCHAT" {
            return Err(ProtocolError::UnknownKind(super::shown(text)));
        }
        let version = next("version")?;
        if decimal(version) != Some(u64::from(VERSION)) {
            return Err(ProtocolError::UnsupportedVersion {
                got: super::shown(version),
                ours: VERSION,
            });
        }
        let room = fields::room(next("room")?)?;
        let id = fields::node_id(next("node id")?)?;
        let port = fields::port(next("port")?)?;
        if parts.next().is_some() {
            return Err(ProtocolError::Trailing { kind: "P2PCHAT" });
        }
        Ok(Announcement { room, id, port })
    }

    /// The datagram for this announcement.
    pub fn encode(&self) -> Result<Vec<u8>, ProtocolError> {
        fields::room(self.room)?;
        let mut out = Vec::with_capacity(64);
        let mut w = BodyWriter::new(&mut out);
        // Writing to a Vec cannot fail.
        let _ = write!(w, "P2PCHAT {VERSION} {} ", self.room);
        w.push_hex16(self.id.0);
        w.push_str(" ");
        w.push_u64(self.port.into());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ID: NodeId = NodeId(0x0123_4567_89ab_cdef);

    #[test]
    fn round_trips_as_readable_text() {
        let a = Announcement {
            room: "lobby",
            id: ID,
            port: 40123,
        };
        let bytes = a.encode().unwrap();
        assert_eq!(bytes, b"P2PCHAT 13 lobby 0123456789abcdef 40123");
        assert_eq!(Announcement::parse(&bytes), Ok(a));
    }

    #[test]
    fn refuses_anything_else() {
        for bad in [
            &b""[..],
            b"P2PCHAT",
            b"P2PCHAT 3 lobby 0123456789abcdef",
            b"P2PCHAT 2 lobby 0123456789abcdef 40123",
            b"P2PCHAT 3 lo\x1bby 0123456789abcdef 40123",
            b"P2PCHAT 3 lobby 0123456789abcdef 0",
            b"P2PCHAT 3 lobby 0123456789abcdef 40123 extra",
            b"P2PCHAT 3  lobby 0123456789abcdef 40123",
            b"HELLO 3 lobby 0123456789abcdef 40123",
            b"P2PCHAT 3 lobby 0123456789abcdef 4012\xff",
        ] {
            assert!(Announcement::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Announcement::parse(&[b'x'; MAX_ANNOUNCEMENT + 1]).is_err());
        let bad_room = Announcement {
            room: "two words",
            id: ID,
            port: 1,
        };
        assert!(bad_room.encode().is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_datagrams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(a) = Announcement::parse(&bytes) {
                let again = a.encode().unwrap();
                prop_assert_eq!(Announcement::parse(&again), Ok(a));
            }
        }
    }
}
