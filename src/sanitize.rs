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
    // Fast path: printable ASCII, the common case, needs no decoding. The
    // fold has no early exit, so the compiler checks many bytes at a time.
    let outside = text
        .bytes()
        .fold(0u8, |any, b| any | u8::from(b.wrapping_sub(0x20) > 0x5e));
    let printable_ascii = outside == 0;
    if printable_ascii || !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_visible(&mut out, c);
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || is_invisible_format(c)
}

/// Characters that change how surrounding text is ordered or shown.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
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

    proptest! {
        #[test]
        fn output_never_holds_a_control_character(s in "\\PC*|[\\x00-\\x1f\\x7f-\\x9f a-z]*") {
            let out = sanitize(&s);
            prop_assert!(!out.chars().any(needs_escape), "{:?}", out);
        }
    }
}
