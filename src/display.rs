//! Shows what happens in the chat, one line per event.
//!
//! The thread that decides an event formats its line at once, while the
//! message is still in its cache, and queues the text; a thread of its own
//! writes it out. So a slow terminal slows the chat down (the queue fills
//! and its producers wait) but never blocks the network tasks in a system
//! call. Lines are queued and written in batches, one write for many.

use crate::protocol::ChatShape;
use crate::queue::Queue;
use std::io::{self, IoSlice, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The terminal's bell.
const BELL: u8 = 0x07;

/// Bytes of text the display holds before producers wait.
pub const QUEUE_BYTES: usize = 1 << 20;
/// Room of the written buffers kept for the next lines, in all: as much
/// as the queue holds, so that a flood, once its text has filled the queue,
/// writes every next line into pages it has used before.
const SPARE_ROOM: usize = QUEUE_BYTES;
/// The largest buffer kept.
const SPARE_BYTES: usize = 128 << 10;

mod format;
pub mod sanitize;
pub mod wrap;
pub use format::{format_event, mentions};

/// Something to show.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A chat message: its encoded frame and its fields as the node parsed
    /// them.
    Chat {
        frame: &'a [u8],
        shape: ChatShape,
        /// Another online user has the same name: add a tag from the node id.
        tagged: bool,
        /// Typed by this node's user.
        own: bool,
    },
    /// A line about the chat itself, shown after `*** `.
    Notice(&'a str),
    /// A line that sets lines apart (where history starts and ends), shown
    /// as it is.
    Marker(&'a str),
}

/// The node's side of the display: formats lines in a style and queues
/// their text for the printer.
pub struct Display {
    text: Queue<Vec<u8>>,
    style: Style,
    /// Buffers the printer has written, emptied, for the next lines. A
    /// freed buffer of tens of KiB goes back to the system, and the next
    /// one is faulted in again page by page as lines fill it.
    spare: Mutex<Vec<Vec<u8>>>,
    /// Notices dropped while the queue was full, to say so once it is not.
    dropped: AtomicU64,
    /// The user's name, for mentions; `:nick` changes it.
    name: Mutex<String>,
    /// When the bell last rang.
    rang: Mutex<Option<std::time::Instant>>,
}

impl Display {
    pub fn new(style: Style) -> Arc<Display> {
        Arc::new(Display {
            text: Queue::new(QUEUE_BYTES),
            style,
            spare: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
            name: Mutex::new(String::new()),
            rang: Mutex::new(None),
        })
    }

    /// Sets the user's name, whose mentions are highlighted.
    pub fn set_name(&self, name: &str) {
        let mut mine = self.name.lock().unwrap_or_else(|e| e.into_inner());
        mine.clear();
        mine.push_str(name);
    }

    /// True if `event` is someone else's live line that mentions the user.
    fn mentioned(&self, event: &Event<'_>) -> bool {
        let Event::Chat {
            frame,
            shape,
            own: false,
            ..
        } = event
        else {
            return false;
        };
        if shape.history {
            return false;
        }
        let name = self.name.lock().unwrap_or_else(|e| e.into_inner());
        shape
            .name_and_text(frame)
            .is_some_and(|(_, text)| mentions(text, &name))
    }

    /// True if the bell may ring now (and notes that it does).
    fn ring(&self) -> bool {
        let now = std::time::Instant::now();
        let mut rang = self.rang.lock().unwrap_or_else(|e| e.into_inner());
        match *rang {
            Some(at) if now.duration_since(at) < BELL_GAP => false,
            _ => {
                *rang = Some(now);
                true
            }
        }
    }

    /// An empty buffer for lines to come, with room for `room` bytes: one
    /// the printer gave back, if there is one.
    pub fn buffer(&self, room: usize) -> Vec<u8> {
        let spare = self.spare.lock().ok().and_then(|mut s| s.pop());
        let mut text = spare.unwrap_or_default();
        text.reserve(room);
        text
    }

    /// Keeps written buffers for [`buffer`](Self::buffer) while their room
    /// in all stays within [`SPARE_ROOM`], and drops the rest.
    fn give_back(&self, written: &mut Vec<Vec<u8>>) {
        let Ok(mut spare) = self.spare.lock() else {
            written.clear();
            return;
        };
        let mut kept: usize = spare.iter().map(Vec::capacity).sum();
        for mut text in written.drain(..) {
            let room = text.capacity();
            if room <= SPARE_BYTES && kept + room <= SPARE_ROOM {
                text.clear();
                kept += room;
                spare.push(text);
            }
        }
    }

    /// Appends the line for `event` to `out`, to be queued with
    /// [`queue`](Self::queue).
    pub fn format(&self, event: &Event<'_>, out: &mut Vec<u8>) {
        let mention = self.style.mentions && self.mentioned(event);
        format::format_line(event, self.style, mention, out);
        if mention && self.style.bell && self.ring() {
            // Before the newline: the bell goes with its line.
            out.insert(out.len() - 1, BELL);
        }
    }

    /// Queues formatted lines and tells whether the producer should now
    /// wait for [`space`](Self::space).
    pub fn queue(&self, text: Vec<u8>) -> bool {
        if text.is_empty() {
            return false;
        }
        let len = text.len();
        self.text.push_then_full(text, len)
    }

    /// Shows one event, without waiting. Chat lines come through
    /// [`queue`](Self::queue), whose producers wait when the terminal falls
    /// behind; what comes here does not wait, so while the queue is full it
    /// is dropped and counted instead, and the count shown once there is
    /// room: a stalled terminal must not make memory grow.
    pub fn show(&self, event: &Event<'_>) {
        if self.text.bytes() >= QUEUE_BYTES {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut text = Vec::new();
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let what = match dropped {
                1 => "1 notice".to_string(),
                n => format!("{n} notices"),
            };
            let note = format!("{what} not shown: the terminal was not keeping up");
            self.format(&Event::Notice(&note), &mut text);
        }
        self.format(event, &mut text);
        self.queue(text);
    }

    /// Resolves once the queue has room, or is closed.
    pub async fn space(&self) {
        self.text.space().await
    }

    /// Lets the printer finish: it writes what is queued, then stops.
    pub fn close(&self) {
        self.text.close()
    }
}

/// How lines look.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// Colour each name (only on a terminal, and not with `NO_COLOR`).
    pub colour: bool,
    /// Put the time before live messages and notices too, not only
    /// history.
    pub timestamps: bool,
    /// Highlight lines that mention the user's name (on a terminal).
    pub mentions: bool,
    /// Ring the terminal's bell for them, at most once per [`BELL_GAP`].
    pub bell: bool,
}

/// The shortest time between two bells.
pub const BELL_GAP: std::time::Duration = std::time::Duration::from_secs(2);

/// Where lines go: a plain stream, or a line editor's printer that keeps the
/// line being typed intact below them.
pub trait Sink: Send {
    /// Writes whole lines of UTF-8, each ending in a newline: the chunks'
    /// text, in order.
    fn write_lines(&mut self, chunks: &[Vec<u8>]) -> io::Result<()>;
}

/// A plain stream, such as stdout when it is not a terminal.
pub struct Plain<W>(pub W);

impl<W: Write + Send> Sink for Plain<W> {
    /// One vectored write for all the chunks, rather than copying them
    /// into one buffer first.
    fn write_lines(&mut self, chunks: &[Vec<u8>]) -> io::Result<()> {
        let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
        let mut rest = &mut slices[..];
        IoSlice::advance_slices(&mut rest, 0); // skips empty chunks
        while !rest.is_empty() {
            match self.0.write_vectored(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut rest, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.0.flush()
    }
}

/// Starts the thread that writes the display's lines to `sink` until it is
/// closed and drained.
pub fn spawn_printer(
    display: Arc<Display>,
    mut sink: impl Sink + 'static,
) -> io::Result<JoinHandle<()>> {
    let printer = std::thread::Builder::new().name("printer".into());
    printer.spawn(move || {
        let mut batch = Vec::new();
        while futures::executor::block_on(display.text.pop_batch(PRINT_BATCH, &mut batch)) {
            if sink.write_lines(&batch).is_err() {
                // Nobody reads our output any more; keep draining so that
                // producers never wait on a display no one sees.
            }
            let written = batch.iter().map(Vec::len).sum::<usize>();
            display.give_back(&mut batch);
            if lets_lines_gather(written, display.text.bytes()) {
                std::thread::sleep(GATHER);
            }
        }
    })
}

/// Bytes of lines written at once at most.
const PRINT_BATCH: usize = 64 << 10;
/// A batch this long means lines are pouring in: the printer then lets
/// more gather before it takes the next batch, rather than waking for every
/// few lines. A line typed at a quiet moment is shown without any wait.
const BUSY_BYTES: usize = 4096;
const GATHER: std::time::Duration = std::time::Duration::from_micros(500);

/// Whether the printer, having `written` a batch, waits [`GATHER`] before
/// the next: only when lines are pouring in and it is not behind them. A
/// printer already a batch behind goes straight on, so the wait never caps
/// how fast lines are shown (a batch per wait and write is one or two
/// million lines a second at most, about what a node now receives).
fn lets_lines_gather(written: usize, queued: usize) -> bool {
    written >= BUSY_BYTES && queued < PRINT_BATCH
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printer_waits_for_lines_only_when_busy_and_not_behind() {
        // A line or two at a quiet moment: on at once.
        assert!(!lets_lines_gather(80, 0));
        assert!(!lets_lines_gather(BUSY_BYTES - 1, 0));
        // Lines pouring in, and the printer has caught up: let more gather.
        assert!(lets_lines_gather(BUSY_BYTES, 0));
        assert!(lets_lines_gather(PRINT_BATCH, PRINT_BATCH - 1));
        // A full batch waits already: waiting more would only slow it down.
        assert!(!lets_lines_gather(PRINT_BATCH, PRINT_BATCH));
        assert!(!lets_lines_gather(BUSY_BYTES, 4 * PRINT_BATCH));
    }

    /// Takes at most three bytes per write, as a pipe may when full.
    struct Trickle(Vec<u8>);

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(3);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_plain_sink_writes_every_chunk_in_order_through_short_writes() {
        let mut sink = Plain(Trickle(Vec::new()));
        let chunks = [b"one\ntwo\n".to_vec(), Vec::new(), b"three\n".to_vec()];
        sink.write_lines(&chunks).unwrap();
        sink.write_lines(&[b"four\n".to_vec()]).unwrap();
        assert_eq!(sink.0 .0, b"one\ntwo\nthree\nfour\n");
    }

    #[test]
    fn notices_for_a_stalled_terminal_are_counted_not_queued() {
        let display = Display::new(Style::default());
        // Nothing prints: the queue fills with the first notices.
        let long = "n".repeat(1000);
        for _ in 0..1_000_000 {
            display.show(&Event::Notice(&long));
        }
        let held = display.text.bytes();
        assert!(held < QUEUE_BYTES + 2000, "{held} bytes held");
        // Once the terminal has taken them, the count comes first.
        let mut taken = Vec::new();
        crate::rt::block_on(display.text.pop_batch(usize::MAX, &mut taken));
        display.show(&Event::Notice("next"));
        let mut next = Vec::new();
        crate::rt::block_on(display.text.pop_batch(usize::MAX, &mut next));
        let text = String::from_utf8(next.concat()).unwrap();
        let dropped = 1_000_000 - taken.len();
        assert_eq!(
            text,
            format!("*** {dropped} notices not shown: the terminal was not keeping up\n*** next\n")
        );
    }

    #[test]
    fn written_buffers_come_back_for_the_next_lines_and_big_ones_do_not() {
        let display = Display::new(Style::default());
        let mut kept = Vec::with_capacity(32 << 10);
        kept.extend_from_slice(b"one\n");
        let mut big = Vec::with_capacity(SPARE_BYTES + 1);
        big.extend_from_slice(b"two\n");
        display.queue(kept);
        display.queue(big);
        display.close();
        let sink = Plain(Trickle(Vec::new()));
        spawn_printer(display.clone(), sink)
            .unwrap()
            .join()
            .unwrap();
        let next = display.buffer(16);
        assert!(next.is_empty(), "a given-back buffer is emptied");
        assert_eq!(
            next.capacity(),
            32 << 10,
            "the written buffer, not a new one"
        );
        assert!(
            display.buffer(16).capacity() < 32 << 10,
            "a buffer over {SPARE_BYTES} bytes is not kept"
        );
    }

    #[test]
    fn written_buffers_are_kept_up_to_the_queue_s_worth_of_room() {
        let display = Display::new(Style::default());
        let fit = SPARE_ROOM / SPARE_BYTES;
        for _ in 0..fit + 2 {
            let mut text = Vec::with_capacity(SPARE_BYTES);
            text.extend_from_slice(b"a line\n");
            display.queue(text);
        }
        display.close();
        spawn_printer(display.clone(), Plain(Trickle(Vec::new())))
            .unwrap()
            .join()
            .unwrap();
        for k in 0..fit {
            assert_eq!(display.buffer(16).capacity(), SPARE_BYTES, "buffer {k}");
        }
        assert!(
            display.buffer(16).capacity() < SPARE_BYTES,
            "no more than {SPARE_ROOM} bytes of room are kept"
        );
    }
}
