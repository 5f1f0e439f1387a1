//! A chat message's shape: its fields, and where its name and text lie in
//! any frame of it.
//!
//! The node parses each message as it arrives, and hands the display the
//! frame with its shape: the display copies the name and text out of the
//! frame without parsing the line again.

use super::{Chat, MsgId};

/// A chat message's fields, without its borrowed strings. Its name and text
/// end every frame of it (`... <name> <text>`), whatever the hop limit
/// before them, so their lengths find them again in any copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatShape {
    pub history: bool,
    pub action: bool,
    pub id: MsgId,
    pub time_ms: u64,
    name_len: usize,
    text_len: usize,
}

impl ChatShape {
    pub fn of(chat: &Chat<'_>) -> Self {
        ChatShape {
            history: chat.history,
            action: chat.action,
            id: chat.id,
            time_ms: chat.time_ms,
            name_len: chat.name.len(),
            text_len: chat.text.len(),
        }
    }

    /// The bytes of the name and text in `frame`, a frame of this message;
    /// `None` if `frame` does not end with a name and a text of these
    /// lengths. Left as bytes: the display neutralises them as it copies
    /// them out, which for plain ASCII needs no UTF-8 decoding at all.
    pub fn name_and_text<'a>(&self, frame: &'a [u8]) -> Option<(&'a [u8], &'a [u8])> {
        let text_at = frame.len().checked_sub(self.text_len)?;
        let space = text_at.checked_sub(1)?;
        let name_at = space.checked_sub(self.name_len)?;
        if frame[space] != b' ' || frame.get(name_at.checked_sub(1)?) != Some(&b' ') {
            return None;
        }
        Some((&frame[name_at..space], &frame[text_at..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{encode_relayed, Message, NodeId};

    fn chat<'a>(name: &'a str, text: &'a str) -> Chat<'a> {
        Chat {
            history: false,
            action: true,
            ttl: 12,
            id: MsgId {
                origin: NodeId(7),
                seq: 9,
            },
            time_ms: 1_700_000_000_000,
            name,
            text,
        }
    }

    #[test]
    fn finds_name_and_text_in_any_copy_of_the_frame() {
        let sent = chat("zoë", "a text with spaces: and colons ünïcode");
        let mut frame = Vec::new();
        Message::Chat(sent).encode(&mut frame).unwrap();
        let shape = ChatShape::of(&sent);
        assert_eq!(
            shape.name_and_text(&frame),
            Some((sent.name.as_bytes(), sent.text.as_bytes()))
        );
        // A relayed copy has another hop limit, one digit shorter here.
        let body = std::str::from_utf8(&frame[4..]).unwrap();
        let mut relayed = Vec::new();
        encode_relayed(body, 3, &mut relayed).unwrap();
        assert_eq!(
            shape.name_and_text(&relayed),
            Some((sent.name.as_bytes(), sent.text.as_bytes()))
        );
    }

    #[test]
    fn a_frame_of_another_shape_gives_nothing() {
        let shape = ChatShape::of(&chat("bob", "hello"));
        let mut other = Vec::new();
        Message::Chat(chat("alice", "hi"))
            .encode(&mut other)
            .unwrap();
        assert_eq!(shape.name_and_text(&other), None);
        assert_eq!(shape.name_and_text(b"bob hello"), None);
        assert_eq!(shape.name_and_text(b""), None);
    }
}
