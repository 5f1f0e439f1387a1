//! Shows what happens in the chat, one line per event.
//!
//! The thread that decides an event formats its line at once, while the
//! message is still in its cache, and queues the text; a thread of its own
//! writes it out. So a slow terminal slows the chat down (the queue fills
//! and its producers wait) but never blocks the network tasks in a system
//! call. Lines are queued and written in batches, one write for many.

use crate::node::queue::Queue;
use crate::node::short_id;
use crate::protocol::KeptChat;
use crate::sanitize::push_sanitized;
use std::io::{self, IoSlice, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Bytes of text the display holds before producers wait.
pub const QUEUE_BYTES: usize = 1 << 20;
/// Room of the written buffers kept for the next lines, in all: as much
/// as the queue holds, so that a flood, once its text has filled the queue,
/// writes every next line into pages it has used before.
const SPARE_ROOM: usize = QUEUE_BYTES;
/// The largest buffer kept.
const SPARE_BYTES: usize = 128 << 10;

/// Something to show.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A chat message: its encoded frame and its fields as the node parsed
    /// them.
    Chat {
        frame: &'a [u8],
        kept: KeptChat,
        /// Another online user has the same name: add a tag from the node id.
        tagged: bool,
        /// Typed by this node's user.
        own: bool,
    },
    /// A line about the chat itself, shown after `*** `.
    Notice(&'a str),
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
}

impl Display {
    pub fn new(style: Style) -> Arc<Display> {
        Arc::new(Display {
            text: Queue::new(QUEUE_BYTES),
            style,
            spare: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
        })
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
        format_event(event, self.style, out);
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
    /// Put the time before live messages too, not only history.
    pub timestamps: bool,
    /// Show the user's own chat lines. A line editor already shows them.
    pub echo_own: bool,
}

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

/// Appends the line for `event`, newline included (nothing for an own line
/// that the style does not echo). Writes bytes, all of them UTF-8: the
/// name and text are copied from the frame, neutralised on the way.
pub fn format_event(event: &Event, style: Style, out: &mut Vec<u8>) {
    match event {
        Event::Chat { own: true, .. } if !style.echo_own => return,
        Event::Chat {
            frame,
            kept,
            tagged,
            ..
        } => match kept.name_and_text(frame) {
            Some((name, text)) => format_chat(kept, name, text, *tagged, style, out),
            None => out.extend_from_slice(b"*** (a message could not be shown)"),
        },
        Event::Notice(text) => {
            out.extend_from_slice(b"*** ");
            push_sanitized(out, text.as_bytes());
        }
    }
    out.push(b'\n');
}

/// `NAME: TEXT`, or `* NAME TEXT` for an action; history is prefixed with
/// `[history HH:MM] `, and with `timestamps` live lines with `[HH:MM] `.
fn format_chat(
    chat: &KeptChat,
    name: &[u8],
    text: &[u8],
    tagged: bool,
    style: Style,
    out: &mut Vec<u8>,
) {
    if chat.history {
        out.extend_from_slice(b"[history ");
        out.extend_from_slice(local_time(chat.time_ms).as_bytes());
        out.extend_from_slice(b"] ");
    } else if style.timestamps {
        out.push(b'[');
        out.extend_from_slice(local_time(chat.time_ms).as_bytes());
        out.extend_from_slice(b"] ");
    }
    if chat.action {
        out.extend_from_slice(b"* ");
    }
    let colour = style.colour.then(|| colour_of(name));
    if let Some(c) = colour {
        out.extend_from_slice(c.as_bytes());
    }
    // The protocol allows no controls in names; neutralising costs little
    // and keeps the terminal safe whatever the protocol lets through.
    push_sanitized(out, name);
    if tagged {
        out.push(b'#');
        out.extend_from_slice(short_id(chat.id.origin).as_bytes());
    }
    if colour.is_some() {
        out.extend_from_slice(RESET.as_bytes());
    }
    out.extend_from_slice(if chat.action { b" " } else { b": " });
    // The text is the peer's to fill: neutralise every control in it.
    push_sanitized(out, text);
}

/// Bold foreground colours that read on dark and light backgrounds.
const COLOURS: [&str; 6] = [
    "\x1b[1;31m",
    "\x1b[1;32m",
    "\x1b[1;33m",
    "\x1b[1;34m",
    "\x1b[1;35m",
    "\x1b[1;36m",
];
const RESET: &str = "\x1b[0m";

/// The same colour for the same name, on every node and every run.
fn colour_of(name: &[u8]) -> &'static str {
    // FNV-1a: stable across runs and platforms, unlike std's hasher.
    let hash = name.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    COLOURS[(hash % COLOURS.len() as u64) as usize]
}

/// `HH:MM` in the local time zone, with the date if it is not today.
fn local_time(ms: u64) -> String {
    let zone = jiff::tz::TimeZone::system();
    let Ok(ts) = i64::try_from(ms)
        .map_err(|_| ())
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).map_err(|_| ()))
    else {
        return "??:??".into();
    };
    let when = ts.to_zoned(zone.clone());
    let today = jiff::Timestamp::now().to_zoned(zone).date();
    if when.date() == today {
        when.strftime("%H:%M").to_string()
    } else {
        when.strftime("%Y-%m-%d %H:%M").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Chat, Message, MsgId, NodeId};

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

    /// A message by "bob", as the node hands it over: its frame, and how
    /// to show it.
    #[derive(Clone)]
    struct Msg {
        frame: Vec<u8>,
        kept: KeptChat,
        tagged: bool,
        own: bool,
    }

    fn event(history: bool, action: bool, text: &str, tagged: bool, own: bool) -> Msg {
        let chat = Chat {
            history,
            action,
            ttl: 3,
            id: MsgId {
                origin: NodeId(0x3f2a_0000_0000_0001),
                seq: 1,
            },
            time_ms: 1_700_000_000_000,
            name: "bob",
            text,
        };
        let mut frame = Vec::new();
        Message::Chat(chat).encode(&mut frame).unwrap();
        Msg {
            frame,
            kept: KeptChat::of(&chat),
            tagged,
            own,
        }
    }

    fn chat(text: &str) -> Msg {
        event(false, false, text, false, false)
    }

    fn line(m: Msg) -> String {
        styled(m, Style::default())
    }

    fn styled(m: Msg, style: Style) -> String {
        let e = Event::Chat {
            frame: &m.frame,
            kept: m.kept,
            tagged: m.tagged,
            own: m.own,
        };
        shown(&e, style)
    }

    fn shown(e: &Event<'_>, style: Style) -> String {
        let mut s = Vec::new();
        format_event(e, style, &mut s);
        String::from_utf8(s).expect("lines are UTF-8")
    }

    #[test]
    fn live_chat_is_name_colon_text() {
        assert_eq!(line(chat("hi there")), "bob: hi there\n");
    }

    #[test]
    fn actions_tags_and_own_lines() {
        assert_eq!(
            line(event(false, true, "waves", false, false)),
            "* bob waves\n"
        );
        let tagged = event(false, false, "hi", true, false);
        assert_eq!(line(tagged), "bob#3f2a: hi\n");
        let own = event(false, false, "mine", false, true);
        assert_eq!(line(own.clone()), "");
        let echo = Style {
            echo_own: true,
            ..Style::default()
        };
        assert_eq!(styled(own, echo), "bob: mine\n");
    }

    #[test]
    fn colour_wraps_only_the_name_and_is_stable() {
        let style = Style {
            colour: true,
            ..Style::default()
        };
        let l = styled(chat("hi"), style);
        assert_eq!(l, format!("{}bob{RESET}: hi\n", colour_of(b"bob")));
        assert_eq!(colour_of(b"bob"), colour_of(b"bob"));
        assert!(!line(chat("hi")).contains('\x1b'));
    }

    #[test]
    fn timestamps_prefix_live_lines_when_asked() {
        let style = Style {
            timestamps: true,
            ..Style::default()
        };
        let l = styled(chat("hi"), style);
        assert!(
            l.starts_with("[2023-11-1") && l.ends_with("] bob: hi\n"),
            "{l}"
        );
    }

    #[test]
    fn history_is_marked_with_its_time() {
        let l = line(event(true, false, "old news", false, false));
        assert!(l.starts_with("[history 2023-11-1"), "{l}");
        assert!(l.ends_with("] bob: old news\n"), "{l}");
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
    fn control_characters_never_reach_the_output() {
        let l = line(chat("\u{1b}[2J\u{7}boom"));
        assert_eq!(l, "bob: ^[[2J^Gboom\n");
        let n = shown(&Event::Notice("x\u{1b}]0;t\u{7}"), Style::default());
        assert_eq!(n, "*** x^[]0;t^G\n");
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
