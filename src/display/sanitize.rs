//! Makes text from the network safe to print on a terminal.
//!
//! A peer must never move the cursor, clear the screen, retitle the window or
//! ring the bell. Every control character is shown in caret form instead
//! (ESC as `^[`, BEL as `^G`), so an escape sequence loses its power and the
//! rest of the text stays readable. C1 controls and the invisible characters
//! that reorder or hide text are shown as `<U+XXXX>`.

use std::borrow::Cow;
use std::fmt::Write;

/// The text with every terminal control neutralised. Borrows when nothing
/// needed changing, which is the common case.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if printable_ascii(text.as_bytes()) || !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_visible(&mut out, c);
    }
    Cow::Owned(out)
}

/// Appends `bytes` (UTF-8 from a peer) to `out`, neutralised as
/// [`sanitize`] does. Printable ASCII, the common case, is copied as it is,
/// with no decoding; bytes that are not UTF-8 would show as U+FFFD.
pub fn push_sanitized(out: &mut Vec<u8>, bytes: &[u8]) {
    if printable_ascii(bytes) {
        out.extend_from_slice(bytes);
    } else {
        out.extend_from_slice(sanitize(&String::from_utf8_lossy(bytes)).as_bytes());
    }
}

/// True when every byte is printable ASCII (space to `~`). Written as a
/// fold with no early exit so that the compiler checks many bytes per step
/// in vector registers: faster, on lines of chat length, than eight per
/// step in a plain integer, or than stopping at the first other byte.
fn printable_ascii(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(true, |all, &b| all & (b.wrapping_sub(b' ') < 0x5f))
}

fn needs_escape(c: char) -> bool {
    c.is_control() || is_invisible(c)
}

/// Characters that show nothing, or change how the text around them is
/// ordered or shown: zero-width and bidirectional marks, line and
/// paragraph separators, fillers that render blank, interlinear
/// annotation marks and tag characters. A peer could hide text or fake
/// its order with them, so they are shown as `<U+XXXX>`, and no name may
/// hold them. (Variation selectors stay: emoji need them.)
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

fn push_visible(out: &mut String, c: char) {
    match c {
        // C0 controls and DEL in caret notation: ^@ .. ^_ and ^?.
        '\0'..='\u{1f}' => {
            out.push('^');
            out.push(char::from(b'@' + c as u8));
        }
        '\u{7f}' => out.push_str("^?"),
        c if needs_escape(c) => {
            // Writing to a String cannot fail.
            let _ = write!(out, "<U+{:04X}>", c as u32);
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(matches!(sanitize("héllo wörld 你好 🙂"), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_lose_their_escape() {
        assert_eq!(sanitize("\u{1b}[2Jgone"), "^[[2Jgone");
        assert_eq!(sanitize("\u{1b}]0;title\u{7}x"), "^[]0;title^Gx");
        assert_eq!(sanitize("a\rb\nc\td\u{8}"), "a^Mb^Jc^Id^H");
        assert_eq!(sanitize("del\u{7f}"), "del^?");
        assert_eq!(sanitize("csi\u{9b}2J"), "csi<U+009B>2J");
        assert_eq!(sanitize("abc\u{202e}def"), "abc<U+202E>def");
    }

    #[test]
    fn invisible_and_reordering_characters_are_shown() {
        for c in [
            '\u{00AD}',
            '\u{061C}',
            '\u{180E}',
            '\u{2028}',
            '\u{2029}',
            '\u{3164}',
            '\u{FFF9}',
            '\u{FFFB}',
            '\u{E0001}',
            '\u{E007F}',
        ] {
            let shown = sanitize(&format!("a{c}b")).into_owned();
            assert_eq!(shown, format!("a<U+{:04X}>b", c as u32));
        }
        // Emoji keep their variation selectors and joiners' neighbours.
        assert!(matches!(sanitize("❤\u{FE0F}"), Cow::Borrowed(_)));
    }

    #[test]
    fn printable_ascii_is_exactly_space_to_tilde() {
        for b in 0..=255u8 {
            let expected = (0x20..=0x7e).contains(&b);
            // At every position of a word and of the tail after it.
            for at in 0..11 {
                let mut bytes = [b'a'; 11];
                bytes[at] = b;
                assert_eq!(printable_ascii(&bytes), expected, "{b:#x} at {at}");
            }
        }
        assert!(printable_ascii(b""));
    }

    #[test]
    fn pushed_bytes_are_neutralised_like_text() {
        let mut out = Vec::new();
        push_sanitized(&mut out, "plain ".as_bytes());
        push_sanitized(&mut out, "zoë \u{1b}[2J".as_bytes());
        push_sanitized(&mut out, b"\xff!");
        assert_eq!(String::from_utf8(out).unwrap(), "plain zoë ^[[2J\u{fffd}!");
    }

    proptest! {
        #[test]
        fn printable_ascii_agrees_with_a_byte_by_byte_check(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let expected = bytes.iter().all(|b| (0x20..=0x7e).contains(b));
            prop_assert_eq!(printable_ascii(&bytes), expected);
        }

        #[test]
        fn pushed_bytes_match_sanitized_text(s in "\\PC*|[\\x00-\\x1f\\x7f-\\x9f a-z]*") {
            let mut out = Vec::new();
            push_sanitized(&mut out, s.as_bytes());
            prop_assert_eq!(String::from_utf8(out).unwrap(), sanitize(&s));
        }

        #[test]
        fn output_never_holds_a_control_character(s in "\\PC*|[\\x00-\\x1f\\x7f-\\x9f a-z]*") {
            let out = sanitize(&s);
            prop_assert!(!out.chars().any(needs_escape), "{:?}", out);
        }
    }
}
