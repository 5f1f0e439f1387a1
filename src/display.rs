//! Shows what happens in the chat, one line per event.
//!
//! Events arrive on a bounded queue and a thread of its own writes them, so a
//! slow terminal slows the chat down (the queue fills and its producers wait)
//! but never blocks the network tasks in a system call. Lines are written in
//! batches, one system call for many.

use crate::node::queue::Queue;
use crate::protocol::{Chat, Message};
use crate::sanitize::sanitize;
use std::io::Write;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Bytes of events the display holds before producers wait.
pub const QUEUE_BYTES: usize = 1 << 20;

/// Something to show.
#[derive(Debug, Clone)]
pub enum Event {
    /// An encoded `MSG` or `HIST` frame, shared with the peers' queues.
    Chat(Arc<[u8]>),
    /// A line about the chat itself, shown after `*** `.
    Notice(String),
}

impl Event {
    /// The weight the display queue counts for this event.
    pub fn weight(&self) -> usize {
        match self {
            Event::Chat(f) => f.len(),
            Event::Notice(s) => s.len(),
        }
    }
}

/// Starts the thread that prints events to `out` until the queue is closed
/// and drained.
pub fn spawn_printer(
    queue: Arc<Queue<Event>>,
    mut out: impl Write + Send + 'static,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut batch = Vec::new();
        let mut text = String::new();
        while futures::executor::block_on(queue.pop_batch(64 * 1024, &mut batch)) {
            for event in batch.drain(..) {
                format_event(&event, &mut text);
            }
            if out
                .write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .is_err()
            {
                // Nobody reads our output any more; keep draining so that
                // producers never wait on a display no one sees.
            }
            text.clear();
        }
    })
}

/// Appends the line for `event`, newline included.
pub fn format_event(event: &Event, out: &mut String) {
    match event {
        Event::Chat(frame) => match chat_of(frame) {
            Some(chat) => format_chat(&chat, out),
            None => out.push_str("*** (a message could not be shown)"),
        },
        Event::Notice(text) => {
            out.push_str("*** ");
            out.push_str(&sanitize(text));
        }
    }
    out.push('\n');
}

fn chat_of(frame: &[u8]) -> Option<Chat<'_>> {
    let body = std::str::from_utf8(frame.get(crate::message::HEADER_LEN..)?).ok()?;
    match Message::parse(body) {
        Ok(Message::Chat(chat)) => Some(chat),
        _ => None,
    }
}

/// `NAME: TEXT`, or `[history HH:MM] NAME: TEXT` for a replayed message.
fn format_chat(chat: &Chat<'_>, out: &mut String) {
    if chat.history {
        out.push_str("[history ");
        out.push_str(&local_time(chat.time_ms));
        out.push_str("] ");
    }
    // Names are validated by the protocol; the text is the peer's to fill.
    out.push_str(chat.name);
    out.push_str(": ");
    out.push_str(&sanitize(chat.text));
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
    use crate::protocol::{MsgId, NodeId};

    fn frame(history: bool, text: &str) -> Arc<[u8]> {
        let mut out = Vec::new();
        Message::Chat(Chat {
            history,
            ttl: 3,
            id: MsgId {
                origin: NodeId(1),
                seq: 1,
            },
            time_ms: 1_700_000_000_000,
            name: "bob",
            text,
        })
        .encode(&mut out)
        .unwrap();
        out.into()
    }

    fn line(e: Event) -> String {
        let mut s = String::new();
        format_event(&e, &mut s);
        s
    }

    #[test]
    fn live_chat_is_name_colon_text() {
        assert_eq!(
            line(Event::Chat(frame(false, "hi there"))),
            "bob: hi there\n"
        );
    }

    #[test]
    fn history_is_marked_with_its_time() {
        let l = line(Event::Chat(frame(true, "old news")));
        assert!(l.starts_with("[history 2023-11-1"), "{l}");
        assert!(l.ends_with("] bob: old news\n"), "{l}");
    }

    #[test]
    fn control_characters_never_reach_the_output() {
        let l = line(Event::Chat(frame(false, "\u{1b}[2J\u{7}boom")));
        assert_eq!(l, "bob: ^[[2J^Gboom\n");
        let n = line(Event::Notice("x\u{1b}]0;t\u{7}".into()));
        assert_eq!(n, "*** x^[]0;t^G\n");
    }
}
