//! Lines folded to the terminal's width at word boundaries, each row after
//! the first indented under the text (after `NAME: `, or after `*** `), as
//! chat programs do. A row that continues a line therefore never begins
//! like a line of its own, a notice (`***`) least of all, however the text
//! is padded.
//!
//! Widths count columns on screen: wide characters take two, combining
//! marks none, and colour codes (`ESC [ ... m`) nothing.

use unicode_width::UnicodeWidthChar;

/// Continuation rows are indented at most this share of the width.
const MAX_INDENT_SHARE: usize = 2;
/// The indent where the line has no `NAME: ` or `*** ` to align with.
const DEFAULT_INDENT: usize = 2;

/// `line` (one line, no newline) folded to `columns`, rows joined by
/// newlines.
pub fn wrap(line: &str, columns: usize) -> String {
    let columns = columns.max(8);
    let pieces = pieces(line);
    let total: usize = pieces.iter().map(|p| p.width).sum();
    if total <= columns {
        return line.to_string();
    }
    let indent = indent_of(&pieces, columns);
    let mut out = Rows {
        text: String::with_capacity(line.len() + 16),
        col: 0,
        columns,
        indent,
        style: String::new(),
    };
    let mut word: Vec<&Piece> = Vec::new();
    for piece in &pieces {
        if piece.text == " " {
            out.word(&word);
            word.clear();
            out.space();
        } else {
            word.push(piece);
        }
    }
    out.word(&word);
    out.text
}

/// A character or a colour code, with its width.
struct Piece<'a> {
    text: &'a str,
    width: usize,
}

fn pieces(line: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::with_capacity(line.len());
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        let len = match c {
            // A colour code: ESC [ parameters, up to its final letter.
            '\x1b' if rest[1..].starts_with('[') => rest[2..]
                .find(|c: char| c.is_ascii_alphabetic())
                .map_or(rest.len(), |end| end + 3),
            c => c.len_utf8(),
        };
        let (text, after) = rest.split_at(len);
        let width = match c {
            '\x1b' => 0,
            c => c.width().unwrap_or(0),
        };
        out.push(Piece { text, width });
        rest = after;
    }
    out
}

/// Where continuation rows start: under the text after `NAME: ` or
/// `*** `, if that is in the first half of the row.
fn indent_of(pieces: &[Piece], columns: usize) -> usize {
    let limit = columns / MAX_INDENT_SHARE;
    let mut col = 0;
    let mut last = "";
    for (i, p) in pieces.iter().enumerate() {
        col += p.width;
        if col > limit {
            break;
        }
        let next_is_space = pieces.get(i + 1).is_some_and(|n| n.text == " ");
        if next_is_space && (p.text == ":" || (p.text == "*" && last == "*")) {
            return col + 1;
        }
        if p.width > 0 {
            last = p.text;
        }
    }
    DEFAULT_INDENT
}

/// Rows being written.
struct Rows {
    text: String,
    col: usize,
    columns: usize,
    indent: usize,
    /// The colour code in force, to carry over a break.
    style: String,
}

impl Rows {
    fn word(&mut self, word: &[&Piece]) {
        let width: usize = word.iter().map(|p| p.width).sum();
        if width == 0 && word.is_empty() {
            return;
        }
        if self.col + width > self.columns && width <= self.columns - self.indent {
            self.newline();
        }
        for p in word {
            if self.col + p.width > self.columns {
                self.newline();
            }
            self.push(p);
        }
    }

    /// A space between words; a space that would pass the row's end is
    /// where the row breaks.
    fn space(&mut self) {
        if self.col < self.columns {
            self.text.push(' ');
            self.col += 1;
        } else {
            self.newline();
        }
    }

    fn push(&mut self, p: &Piece) {
        if p.text.starts_with('\x1b') {
            match p.text {
                "\x1b[0m" | "\x1b[m" => self.style.clear(),
                code => self.style.push_str(code),
            }
        }
        self.text.push_str(p.text);
        self.col += p.width;
    }

    fn newline(&mut self) {
        // The spaces where a row breaks are not kept.
        let kept = self.text.trim_end_matches(' ').len();
        self.text.truncate(kept);
        if !self.style.is_empty() {
            self.text.push_str("\x1b[0m");
        }
        self.text.push('\n');
        self.text.push_str(&" ".repeat(self.indent));
        self.text.push_str(&self.style);
        self.col = self.indent;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_width::UnicodeWidthStr;

    fn rows(line: &str, columns: usize) -> Vec<String> {
        wrap(line, columns).split('\n').map(String::from).collect()
    }

    #[test]
    fn a_short_line_is_left_alone() {
        assert_eq!(wrap("bob: hi", 40), "bob: hi");
    }

    #[test]
    fn long_lines_break_between_words_indented_under_the_text() {
        let r = rows("bob: the quick brown fox jumps over the lazy dog", 20);
        assert_eq!(
            r,
            [
                "bob: the quick brown",
                "     fox jumps over",
                "     the lazy dog"
            ]
        );
        let n = rows("*** carol is now known as caroline the great", 20);
        assert_eq!(n[0], "*** carol is now");
        assert!(n[1..]
            .iter()
            .all(|r| r.starts_with("    ") && !r.starts_with("     ")));
    }

    #[test]
    fn a_word_longer_than_a_row_is_cut() {
        let r = rows(&format!("bob: {}", "x".repeat(50)), 20);
        assert!(r.iter().all(|row| row.width() <= 20), "{r:?}");
        assert_eq!(r.concat().matches('x').count(), 50);
    }

    #[test]
    fn colour_codes_take_no_room_and_carry_over_a_break() {
        let line = "\x1b[1;32mbob\x1b[0m: \x1b[1;7mone two three four five\x1b[0m";
        let r = rows(line, 16);
        assert_eq!(r[0], "\x1b[1;32mbob\x1b[0m: \x1b[1;7mone two\x1b[0m");
        assert!(r[1].starts_with("     \x1b[1;7m"), "{r:?}");
    }

    #[test]
    fn wide_characters_take_two_columns() {
        let r = rows("bob: 日本語 日本語 日本語", 14);
        assert!(r.iter().all(|row| row.width() <= 14), "{r:?}");
    }

    proptest::proptest! {
        /// Whatever the text, no row is wider than the terminal, no row
        /// after the first begins like a notice, and no character is lost
        /// (only the spaces where rows break).
        #[test]
        fn rows_fit_and_lose_nothing_and_never_look_like_notices(
            text in "[a-z* ]{0,200}",
            columns in 8usize..60,
        ) {
            let line = format!("bob: {text}");
            let r = rows(&line, columns);
            for row in &r {
                proptest::prop_assert!(row.width() <= columns, "{row:?}");
            }
            for row in &r[1..] {
                proptest::prop_assert!(!row.starts_with("***"), "{r:?}");
                proptest::prop_assert!(row.is_empty() || row.starts_with(' '), "{r:?}");
            }
            let kept: String = r.concat().chars().filter(|c| *c != ' ').collect();
            let want: String = line.chars().filter(|c| *c != ' ').collect();
            proptest::prop_assert_eq!(kept, want);
        }
    }
}
