//! Reads the user's lines from standard input on a thread of its own.
//!
//! Reading blocks, so it stays off the runtime's threads. Lines go to the
//! prompt over a small bounded channel: when the chat cannot keep up (a peer's
//! queue is full), the channel fills, this thread waits, and a pipe into
//! stdin slows down instead of piling up in memory.

use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use memchr::memchr;
use std::fmt;
use std::io::{BufRead, Read};
use std::ops::{Deref, Range};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;

/// What the user typed.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// One line, without its line ending.
    Line(Line),
    /// A line that is not UTF-8, or longer than `max_line` bytes; it was skipped.
    Unreadable { bytes: usize, reason: &'static str },
    /// Standard input ended (or failed).
    End,
}

/// One line of text. The lines read together share one buffer, so that a
/// burst of piped lines costs one allocation, not one a line.
#[derive(Clone)]
pub struct Line {
    text: Arc<String>,
    range: Range<usize>,
}

impl Deref for Line {
    type Target = str;

    fn deref(&self) -> &str {
        self.text.get(self.range.clone()).unwrap_or_default()
    }
}

impl From<String> for Line {
    fn from(text: String) -> Self {
        let range = 0..text.len();
        Line {
            text: Arc::new(text),
            range,
        }
    }
}

impl From<&str> for Line {
    fn from(text: &str) -> Self {
        Line::from(text.to_owned())
    }
}

impl PartialEq for Line {
    fn eq(&self, other: &Line) -> bool {
        **self == **other
    }
}

impl Eq for Line {}

impl fmt::Debug for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// The user's lines, from whichever reader runs. Lines travel in batches:
/// one channel message (and one wake-up) for all the lines a read brought.
pub struct Lines {
    /// Asks the reader for the next line, for a reader that must not read
    /// ahead (a line editor holds the terminal in raw mode while it reads).
    requests: Option<std_mpsc::Sender<()>>,
    replies: mpsc::Receiver<Vec<Input>>,
    ready: std::collections::VecDeque<Input>,
}

impl Lines {
    /// A reader that reads ahead into `replies` by itself.
    pub fn ahead(replies: mpsc::Receiver<Vec<Input>>) -> Self {
        Lines {
            requests: None,
            replies,
            ready: Default::default(),
        }
    }

    /// A reader that reads one line per request.
    pub fn on_request(requests: std_mpsc::Sender<()>, replies: mpsc::Receiver<Vec<Input>>) -> Self {
        Lines {
            requests: Some(requests),
            replies,
            ready: Default::default(),
        }
    }

    /// The next line if it is already read and `accept` takes it, with
    /// what `accept` made of it; never waits. Lets a caller handle a burst
    /// of lines in one go.
    pub fn ready_line<T>(&mut self, accept: impl FnOnce(&str) -> Option<T>) -> Option<(Line, T)> {
        let Some(Input::Line(line)) = self.ready.front() else {
            return None;
        };
        let made = accept(line)?;
        match self.ready.pop_front() {
            Some(Input::Line(line)) => Some((line, made)),
            _ => None,
        }
    }

    /// The next line (or the end of input).
    pub async fn next(&mut self) -> Input {
        if let Some(input) = self.ready.pop_front() {
            return input;
        }
        if let Some(requests) = &self.requests {
            if requests.send(()).is_err() {
                return Input::End;
            }
        }
        match self.replies.next().await {
            Some(batch) => {
                self.ready.extend(batch);
                self.ready.pop_front().unwrap_or(Input::End)
            }
            None => Input::End,
        }
    }
}

/// Lines per batch at most, so a slow chat still slows a pipe down.
const BATCH_LINES: usize = 512;

/// Starts the reader thread. Lines longer than `max_line` bytes are skipped
/// whole, without holding them in memory.
pub fn spawn_reader(source: impl Read + Send + 'static, max_line: usize) -> Lines {
    let (mut tx, rx) = mpsc::channel(4);
    std::thread::spawn(move || {
        let mut reader = std::io::BufReader::with_capacity(64 * 1024, source);
        let mut scratch = Vec::new();
        loop {
            // One line, waiting if need be, then every line already buffered:
            // room for all of those at once spares growing step by step.
            let mut text = String::new();
            let mut batch = vec![read_line(&mut reader, max_line, &mut scratch, &mut text)];
            let ahead = reader.buffer().len();
            if ahead > 0 {
                text.reserve(ahead);
                batch.reserve(BATCH_LINES - 1);
            }
            while batch.len() < BATCH_LINES
                && batch.last() != Some(&Found::End)
                && memchr(b'\n', reader.buffer()).is_some()
            {
                batch.push(read_line(&mut reader, max_line, &mut scratch, &mut text));
            }
            let end = batch.last() == Some(&Found::End);
            let text = Arc::new(text);
            let batch = batch.into_iter().map(|r| r.input(&text)).collect();
            if futures::executor::block_on(tx.send(batch)).is_err() || end {
                return;
            }
        }
    });
    Lines::ahead(rx)
}

/// What reading one line found; a line is a range of the batch's text.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    Line(Range<usize>),
    Unreadable { bytes: usize, reason: &'static str },
    End,
}

impl Found {
    fn input(self, text: &Arc<String>) -> Input {
        match self {
            Found::Line(range) => Input::Line(Line {
                text: text.clone(),
                range,
            }),
            Found::Unreadable { bytes, reason } => Input::Unreadable { bytes, reason },
            Found::End => Input::End,
        }
    }
}

/// Reads one line of at most `max` bytes and appends it to `text` (through
/// `scratch`, which keeps its memory from line to line); longer ones are
/// consumed and reported.
fn read_line(
    reader: &mut impl BufRead,
    max: usize,
    scratch: &mut Vec<u8>,
    text: &mut String,
) -> Found {
    let line = scratch;
    line.clear();
    let mut total = 0;
    loop {
        let chunk = match reader.fill_buf() {
            Ok([]) if total == 0 => return Found::End,
            Ok([]) => break,
            Ok(chunk) => chunk,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return Found::End,
        };
        let (part, done) = match memchr(b'\n', chunk) {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        total += part.len();
        if total <= max {
            line.extend_from_slice(part);
        }
        let used = done.unwrap_or(part.len());
        reader.consume(used);
        if done.is_some() {
            break;
        }
    }
    if total > max {
        return Found::Unreadable {
            bytes: total,
            reason: "too long",
        };
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    match std::str::from_utf8(line) {
        Ok(s) => {
            let start = text.len();
            text.push_str(s);
            Found::Line(start..text.len())
        }
        Err(_) => Found::Unreadable {
            bytes: line.len(),
            reason: "not valid UTF-8",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads every line of `input` as one batch, through a small buffer,
    /// so that lines span its refills.
    fn lines(input: &[u8], max: usize) -> Vec<Input> {
        let mut r = std::io::BufReader::with_capacity(4, input);
        let (mut scratch, mut text) = (Vec::new(), String::new());
        let mut read = Vec::new();
        loop {
            match read_line(&mut r, max, &mut scratch, &mut text) {
                Found::End => break,
                line => read.push(line),
            }
        }
        let text = Arc::new(text);
        read.into_iter().map(|r| r.input(&text)).collect()
    }

    #[test]
    fn the_reader_thread_hands_over_every_line_in_order_across_batches() {
        let input: String = (0..1500).map(|i| format!("line {i}\n")).collect();
        let mut lines = spawn_reader(std::io::Cursor::new(input.into_bytes()), 100);
        futures::executor::block_on(async {
            for i in 0..1500 {
                assert_eq!(lines.next().await, Input::Line(format!("line {i}").into()));
            }
            assert_eq!(lines.next().await, Input::End);
        });
    }

    #[test]
    fn splits_lines_and_strips_endings() {
        assert_eq!(
            lines(b"hello\r\nwo rld\n\nlast", 100),
            [
                Input::Line("hello".into()),
                Input::Line("wo rld".into()),
                Input::Line("".into()),
                Input::Line("last".into())
            ]
        );
    }

    #[test]
    fn overlong_and_non_utf8_lines_are_reported_not_cut() {
        assert_eq!(
            lines(b"0123456789\nok\n\xff\xfe\n", 5),
            [
                Input::Unreadable {
                    bytes: 10,
                    reason: "too long"
                },
                Input::Line("ok".into()),
                Input::Unreadable {
                    bytes: 2,
                    reason: "not valid UTF-8"
                },
            ]
        );
    }
}
