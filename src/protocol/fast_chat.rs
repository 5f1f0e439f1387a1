//! The usual chat message read in one pass over its bytes.
//!
//! Chat messages are nearly all a node reads, and cutting one into fields
//! and then reading each field cost a receiver more than a fifth of its
//! instructions. This reads the usual form (numbers of at most 19 digits,
//! an ASCII name, and enough bytes after each number to load a word) a word
//! at a time, without cutting. Anything else, every error included, is left
//! to the general parser, which is the reference; a proptest checks that the
//! two agree.

use super::fields::is_plain_name;
use super::numbers::{fixed_digits, hex16, leading_digits, word_at};
use super::parse::find_space;
use super::{Chat, MsgId, NodeId};

/// Powers of ten, for appending a run of digits to a number.
const POW10: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// `MSG|ME|HIST|HISTME <ttl> <origin>:<seq> <unix-ms> <name> <text>`, when
/// it is in the usual form; `None` otherwise, valid or not.
pub(super) fn parse(body: &str) -> Option<Chat<'_>> {
    let bytes = body.as_bytes();
    let (history, action, mut at) = match bytes.get(..5)? {
        [b'M', b'S', b'G', b' ', _] => (false, false, 4),
        [b'M', b'E', b' ', ..] => (false, true, 3),
        b"HIST " => (true, false, 5),
        b"HISTM" if bytes.get(5..7) == Some(b"E ") => (true, true, 7),
        _ => return None,
    };
    let ttl = u8::try_from(number(bytes, &mut at)?).ok()?;
    let origin = hex16(bytes.get(at..at + 16)?)?;
    if bytes.get(at + 16) != Some(&b':') {
        return None;
    }
    at += 17;
    let seq = number_of::<16>(bytes, &mut at)?;
    let time_ms = number_of::<13>(bytes, &mut at)?;
    let name_len = find_space(bytes.get(at..)?)?;
    if !is_plain_name(&bytes[at..at + name_len]) {
        return None;
    }
    // Cut at spaces, which are single bytes: both are whole characters.
    let name = body.get(at..at + name_len)?;
    let text = body.get(at + name_len + 1..).filter(|t| !t.is_empty())?;
    Some(Chat {
        history,
        action,
        ttl,
        id: MsgId {
            origin: NodeId(origin),
            seq,
        },
        time_ms,
        name,
        text,
    })
}

/// As [`number`] reads, trying first for exactly `N` digits, the width
/// such numbers have (see [`fixed_digits`]).
#[inline(always)]
fn number_of<const N: usize>(bytes: &[u8], at: &mut usize) -> Option<u64> {
    match fixed_digits::<N>(bytes, *at) {
        Some(n) => {
            *at += N + 1;
            Some(n)
        }
        None => number(bytes, at),
    }
}

/// Reads 1 to 19 decimal digits at `at` and the space after them, and
/// moves `at` past both. Nineteen digits cannot overflow a `u64`.
#[inline(always)]
fn number(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let rest = bytes.get(*at..)?;
    let (mut n, mut len) = (0u64, 0);
    loop {
        let (k, value) = leading_digits(word_at(rest, len)?);
        n = n.wrapping_mul(POW10[k]).wrapping_add(value);
        len += k;
        // A whole word of digits may end just before a space (sequence
        // numbers have 16 digits): then no word more need be read.
        if k < 8 || rest.get(len) == Some(&b' ') {
            break;
        }
        if len > 19 {
            return None;
        }
    }
    // The byte after the digits was in a word already read, or checked.
    if len == 0 || len > 19 || rest.get(len) != Some(&b' ') {
        return None;
    }
    *at += len + 1;
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Message;
    use proptest::prelude::*;

    /// The general parser's reading, for comparison.
    fn general(body: &str) -> Option<Chat<'_>> {
        match Message::parse_general(body) {
            Ok(Message::Chat(chat)) => Some(chat),
            _ => None,
        }
    }

    #[test]
    fn the_usual_forms_are_read() {
        let body = "MSG 3 3f2a9c0b71d4e8a6:1732608000000001 1732608000123 alice hello there";
        let chat = parse(body).expect("read");
        assert_eq!(Some(chat), general(body));
        assert_eq!(
            (chat.ttl, chat.id.seq, chat.name),
            (3, 1_732_608_000_000_001, "alice")
        );
        assert_eq!(chat.text, "hello there");
        for (kind, history, action) in [
            ("ME", false, true),
            ("HIST", true, false),
            ("HISTME", true, true),
        ] {
            let body = format!("{kind} 32 0000000000000001:7 1732608000123 bob waves and smiles");
            let chat = parse(&body).expect(kind);
            assert_eq!((chat.history, chat.action), (history, action));
            assert_eq!(Some(chat), general(&body));
        }
    }

    #[test]
    fn unusual_forms_are_left_to_the_general_parser() {
        for body in [
            // A name that is not plain ASCII, though valid.
            "MSG 3 3f2a9c0b71d4e8a6:1 1732608000123 zoë hello there, all",
            // A sequence number of 20 digits, though it fits.
            "MSG 3 3f2a9c0b71d4e8a6:00000000000000000001 1732608000123 al hi",
            // Too short to load a word after the timestamp.
            "MSG 3 3f2a9c0b71d4e8a6:1 17 a b",
        ] {
            assert_eq!(parse(body), None, "{body}");
            assert!(general(body).is_some(), "{body}");
        }
        for body in [
            "MSG 256 3f2a9c0b71d4e8a6:1 1732608000123 alice hello there",
            "MSG 3 3F2A9C0B71D4E8A6:1 1732608000123 alice hello there",
            "MSG 3 3f2a9c0b71d4e8a6:1 1732608000123 alice ",
            "MSG 3 3f2a9c0b71d4e8a6:1  1732608000123 alice hello there",
            "MSG 3 3f2a9c0b71d4e8a6;1 1732608000123 alice hello there",
            "MSGS 3 3f2a9c0b71d4e8a6:1 1732608000123 alice hello there",
            "HISTMEX 3 3f2a9c0b71d4e8a6:1 1732608000123 alice hello there",
        ] {
            assert_eq!(parse(body), None, "{body}");
        }
    }

    /// Bodies near the usual form: each field drawn mostly from valid
    /// values, sometimes from invalid ones, then perhaps one byte changed.
    fn near_chat() -> impl Strategy<Value = String> {
        let kind = prop_oneof![4 => "MSG|ME|HIST|HISTME", 1 => "MS|HISTMEE|msg|MSGS"];
        let number = || {
            prop_oneof![
                4 => "[0-9]{1,19}",
                2 => "[0-9]{13}|[0-9]{16}",
                1 => "[0-9]{1,21}|[0-9]{0,4}[ :a/]?[0-9]{0,3}",
            ]
        };
        let origin = prop_oneof![4 => "[0-9a-f]{16}", 1 => "[0-9a-fA-F:]{15,17}"];
        let colon = prop_oneof![4 => ":", 1 => ";"];
        let name = prop_oneof![2 => "[!-~]{1,34}", 1 => "\\PC{1,5}", 1 => "[a-z#]{1,3}"];
        let text = "[ -~]{0,30}|\\PC{0,10}";
        let fields = (
            kind,
            number(),
            origin,
            colon,
            number(),
            number(),
            name,
            text,
        );
        (fields, any::<(u8, u8, bool)>()).prop_map(
            |((kind, ttl, origin, colon, seq, time, name, text), (at, byte, change))| {
                let mut body = format!("{kind} {ttl} {origin}{colon}{seq} {time} {name} {text}");
                if change {
                    let mut bytes = body.into_bytes();
                    let at = usize::from(at) % bytes.len();
                    bytes[at] = byte;
                    body = String::from_utf8_lossy(&bytes).into_owned();
                }
                body
            },
        )
    }

    /// The largest number of 19 digits.
    const MAX_19_DIGITS: u64 = 9_999_999_999_999_999_999;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn what_it_reads_the_general_parser_reads_alike(body in near_chat()) {
            if let Some(chat) = parse(&body) {
                prop_assert_eq!(Some(chat), general(&body));
            }
        }

        #[test]
        fn every_usual_message_is_read(
            kind in prop_oneof!["MSG", "ME", "HIST", "HISTME"],
            ttl in any::<u8>(),
            origin in any::<u64>(),
            seq in prop_oneof![0..=MAX_19_DIGITS, 10u64.pow(15)..10u64.pow(16)],
            time in prop_oneof![0..=MAX_19_DIGITS, 10u64.pow(12)..10u64.pow(13)],
            name in "[!-~&&[^#]]{1,32}",
            text in "[ -~]{1,80}|\\PC{1,20}",
        ) {
            let (ttl, seq, time) = (ttl.to_string(), seq.to_string(), time.to_string());
            let body = format!("{kind} {ttl} {origin:016x}:{seq} {time} {name} {text}");
            let expected = general(&body);
            prop_assert!(expected.is_some());
            // Left over only if a number's digits are read past the end: a
            // word at a time, up to the word that holds the space, unless
            // the digits fill their last word.
            let ttl_at = kind.len() + 1;
            let seq_at = ttl_at + ttl.len() + 18;
            let time_at = seq_at + seq.len() + 1;
            // A timestamp of 13 digits is read at fixed places first.
            let short = [(ttl_at, &ttl), (seq_at, &seq), (time_at, &time)]
                .iter()
                .any(|(at, digits)| {
                    digits.len() % 8 != 0
                        && !(*at == time_at && digits.len() == 13)
                        && at + 8 * (digits.len() / 8 + 1) > body.len()
                });
            prop_assert_eq!(parse(&body), if short { None } else { expected });
        }
    }
}
