//! Reads the user's lines from standard input on a thread of its own.
//!
//! Reading blocks, so it stays off the runtime's threads. Lines go to the
//! prompt over a small bounded channel: when the chat cannot keep up (a peer's
//! queue is full), the channel fills, this thread waits, and a pipe into
//! stdin slows down instead of piling up in memory.

use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use memchr::memchr;
use std::io::{BufRead, Read};
use std::sync::mpsc as std_mpsc;

/// What the user typed.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// One line, without its line ending.
    Line(String),
    /// A line that is not UTF-8, or longer than `max_line` bytes; it was skipped.
    Unreadable { bytes: usize, reason: &'static str },
    /// Standard input ended (or failed).
    End,
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

    /// The next line if it is already read and `accept` takes it; never
    /// waits. Lets a caller handle a burst of lines in one go.
    pub fn ready_line(&mut self, accept: impl FnOnce(&str) -> bool) -> Option<String> {
        match self.ready.front() {
            Some(Input::Line(line)) if accept(line) => match self.ready.pop_front() {
                Some(Input::Line(line)) => Some(line),
                _ => None,
            },
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
        loop {
            // One line, waiting if need be, then every line already buffered.
            let mut batch = vec![read_line(&mut reader, max_line)];
            while batch.len() < BATCH_LINES
                && batch.last() != Some(&Input::End)
                && memchr(b'\n', reader.buffer()).is_some()
            {
                batch.push(read_line(&mut reader, max_line));
            }
            let end = batch.last() == Some(&Input::End);
            if futures::executor::block_on(tx.send(batch)).is_err() || end {
                return;
            }
        }
    });
    Lines::ahead(rx)
}

/// Reads one line of at most `max` bytes; longer ones are consumed and reported.
fn read_line(reader: &mut impl BufRead, max: usize) -> Input {
    let mut line = Vec::new();
    let mut total = 0;
    loop {
        let chunk = match reader.fill_buf() {
            Ok([]) if total == 0 => return Input::End,
            Ok([]) => break,
            Ok(chunk) => chunk,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return Input::End,
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
        return Input::Unreadable {
            bytes: total,
            reason: "too long",
        };
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    match String::from_utf8(line) {
        Ok(s) => Input::Line(s),
        Err(e) => Input::Unreadable {
            bytes: e.as_bytes().len(),
            reason: "not valid UTF-8",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<Input> {
        let mut r = std::io::BufReader::with_capacity(4, input);
        let mut out = Vec::new();
        loop {
            let i = read_line(&mut r, max);
            if i == Input::End {
                return out;
            }
            out.push(i);
        }
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
