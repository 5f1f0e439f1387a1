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
use std::io::{self, BufRead, BufReader, Read};
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
    /// Something to tell the user about their input (a paste not sent).
    Notice(String),
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

/// Lines per batch at most, so a slow chat still slows a pipe down: about
/// what one read of 64 KiB brings of lines of 60 bytes, so that such a read
/// is one batch, sent in one burst.
pub const BATCH_LINES: usize = 1024;

/// Starts the reader thread. Lines longer than `max_line` bytes are skipped
/// whole; one longer than the read buffer (64 KiB) is never held in memory.
pub fn spawn_reader(source: impl Read + Send + 'static, max_line: usize) -> io::Result<Lines> {
    let (mut tx, rx) = mpsc::channel(4);
    let reader = std::thread::Builder::new().name("input".into());
    reader.spawn(move || {
        let mut reader = BufReader::with_capacity(64 * 1024, source);
        let mut scratch = Vec::new();
        loop {
            let (text, batch) = read_batch(&mut reader, max_line, &mut scratch);
            let end = batch.last() == Some(&Found::End);
            let text = Arc::new(text);
            let batch = batch.into_iter().map(|r| r.input(&text)).collect();
            if futures::executor::block_on(tx.send(batch)).is_err() || end {
                return;
            }
        }
    })?;
    Ok(Lines::ahead(rx))
}

/// Reads a batch: one line, waiting if need be, then every line already
/// buffered, [`BATCH_LINES`] at most. The lines' text is one string.
fn read_batch<R: Read>(
    reader: &mut BufReader<R>,
    max: usize,
    scratch: &mut Vec<u8>,
) -> (String, Vec<Found>) {
    let mut text = String::new();
    let mut batch = vec![read_line(reader, max, scratch, &mut text)];
    if !reader.buffer().is_empty() {
        // Room for all of them at once spares growing step by step.
        text.reserve(reader.buffer().len());
        batch.reserve(BATCH_LINES - 1);
    }
    while batch.len() < BATCH_LINES && batch.last() != Some(&Found::End) {
        let most = BATCH_LINES - batch.len();
        if take_buffered(reader, max, most, &mut text, &mut batch) > 0 {
            continue;
        }
        // A line the quick way cannot take (it is not UTF-8), or none.
        match memchr(b'\n', reader.buffer()) {
            Some(_) => batch.push(read_line(reader, max, scratch, &mut text)),
            None => break,
        }
    }
    (text, batch)
}

/// Takes up to `most` whole lines from what `reader` has buffered, in one
/// pass: the bytes are checked as UTF-8 and copied into `text` at once, and
/// each line is a range of them. Stops before a line that is not UTF-8,
/// which [`read_line`] then reports. Returns how many lines it took. Reads
/// as [`read_line`] does, a line at a time: a proptest checks that.
fn take_buffered<R: Read>(
    reader: &mut BufReader<R>,
    max: usize,
    most: usize,
    text: &mut String,
    batch: &mut Vec<Found>,
) -> usize {
    let buffered = reader.buffer();
    let (base, first) = (text.len(), batch.len());
    // One pass finds the lines; the text they make is checked after.
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', buffered).take(most) {
        batch.push(Found::of_line(&buffered[start..end], base + start, max));
        start = end + 1;
    }
    let whole = &buffered[..start];
    let valid = match std::str::from_utf8(whole) {
        Ok(lines) => lines,
        // Only the lines before the first that is not UTF-8.
        Err(e) => {
            let good = memchr::memrchr(b'\n', &whole[..e.valid_up_to()]).map_or(0, |end| end + 1);
            batch.truncate(first + memchr::memchr_iter(b'\n', &whole[..good]).count());
            std::str::from_utf8(&whole[..good]).unwrap_or_default()
        }
    };
    text.push_str(valid);
    reader.consume(valid.len());
    batch.len() - first
}

/// What reading one line found; a line is a range of the batch's text.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    Line(Range<usize>),
    Unreadable { bytes: usize, reason: &'static str },
    End,
}

impl Found {
    /// A whole line read, its newline taken off, that starts at `at` in
    /// the batch's text: its range there, the CR of a CRLF taken off too,
    /// or why it is not sent.
    fn of_line(line: &[u8], at: usize, max: usize) -> Found {
        if line.len() > max {
            return Found::Unreadable {
                bytes: line.len(),
                reason: "too long",
            };
        }
        let len = line.len() - usize::from(line.last() == Some(&b'\r'));
        Found::Line(at..at + len)
    }

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
    use proptest::prelude::*;

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
        let mut lines = spawn_reader(std::io::Cursor::new(input.into_bytes()), 100).unwrap();
        futures::executor::block_on(async {
            for i in 0..1500 {
                assert_eq!(lines.next().await, Input::Line(format!("line {i}").into()));
            }
            assert_eq!(lines.next().await, Input::End);
        });
    }

    /// Every line of `input`, as batches read them through a buffer of
    /// `capacity` bytes.
    fn batched(input: &[u8], max: usize, capacity: usize) -> Vec<Input> {
        let mut r = BufReader::with_capacity(capacity, input);
        let mut scratch = Vec::new();
        let mut read = Vec::new();
        loop {
            let (text, batch) = read_batch(&mut r, max, &mut scratch);
            let text = Arc::new(text);
            for found in batch {
                match found {
                    Found::End => return read,
                    found => read.push(found.input(&text)),
                }
            }
        }
    }

    #[test]
    fn a_batch_takes_buffered_lines_at_once_and_the_odd_ones_one_by_one() {
        let input = b"one\r\ntoo long a line\n\xff\nzo\xc3\xab\n\npart";
        let mut r = BufReader::with_capacity(64, &input[..]);
        let (text, batch) = read_batch(&mut r, 10, &mut Vec::new());
        let text = Arc::new(text);
        let read: Vec<Input> = batch.into_iter().map(|f| f.input(&text)).collect();
        assert_eq!(
            read,
            [
                Input::Line("one".into()),
                Input::Unreadable {
                    bytes: 15,
                    reason: "too long"
                },
                Input::Unreadable {
                    bytes: 1,
                    reason: "not valid UTF-8"
                },
                Input::Line("zoë".into()),
                Input::Line("".into()),
            ]
        );
        assert_eq!(
            r.buffer(),
            b"part",
            "a line not whole waits for the next batch"
        );
    }

    #[test]
    fn a_batch_holds_at_most_batch_lines() {
        let input = "x\n".repeat(BATCH_LINES + 100);
        let mut r = BufReader::with_capacity(input.len(), input.as_bytes());
        let (_, batch) = read_batch(&mut r, 10, &mut Vec::new());
        assert_eq!(batch.len(), BATCH_LINES);
        assert_eq!(batched(input.as_bytes(), 10, 1000).len(), BATCH_LINES + 100);
    }

    proptest! {
        #[test]
        fn batches_read_what_reading_line_by_line_reads(
            // Lines, line endings, and the bytes of a two-byte character,
            // alone or in order: valid UTF-8 and not.
            bytes in prop::collection::vec(prop::sample::select(&b"a\r\n\xc3\xab"[..]), 0..200),
            max in 0usize..12,
            capacity in 1usize..40,
        ) {
            prop_assert_eq!(batched(&bytes, max, capacity), lines(&bytes, max));
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
