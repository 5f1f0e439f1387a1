//! How each line looks: `NAME: TEXT`, `* NAME TEXT`, `*** notice`, with the
//! time, a tag for equal names and a colour per name where asked. Text
//! from the network is neutralised on the way in.

use super::{Event, Style};
use crate::display::sanitize::push_sanitized;
use crate::node::short_id;
use crate::protocol::ChatShape;

/// Appends the line for `event`, newline included. The user's own lines
/// look like everyone else's (the line editor's echo of them is erased).
/// Writes bytes, all of them UTF-8: the name and text are copied from the
/// frame, neutralised on the way.
pub fn format_event(event: &Event, style: Style, out: &mut Vec<u8>) {
    format_line(event, style, false, out)
}

/// [`format_event`], with the text highlighted if it `mentions` the user.
pub fn format_line(event: &Event, style: Style, mention: bool, out: &mut Vec<u8>) {
    match event {
        Event::Chat {
            frame,
            shape,
            tagged,
            ..
        } => match shape.name_and_text(frame) {
            Some((name, text)) => {
                let highlight = mention && style.colour;
                format_chat(shape, name, text, *tagged, style, highlight, out)
            }
            None => out.extend_from_slice(b"*** (a message could not be shown)"),
        },
        Event::Marker(text) => push_sanitized(out, text.as_bytes()),
        Event::Notice(text) => {
            if style.timestamps {
                let now = jiff::Timestamp::now().as_millisecond();
                out.push(b'[');
                out.extend_from_slice(local_time(u64::try_from(now).unwrap_or(0)).as_bytes());
                out.extend_from_slice(b"] ");
            }
            out.extend_from_slice(b"*** ");
            push_sanitized(out, text.as_bytes());
        }
    }
    out.push(b'\n');
}

/// `NAME: TEXT`, or `* NAME TEXT` for an action; history is prefixed with
/// `[history HH:MM] `, and with `timestamps` live lines with `[HH:MM] `.
fn format_chat(
    chat: &ChatShape,
    name: &[u8],
    text: &[u8],
    tagged: bool,
    style: Style,
    highlight: bool,
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
    if highlight {
        out.extend_from_slice(HIGHLIGHT.as_bytes());
    }
    // The text is the peer's to fill: neutralise every control in it.
    push_sanitized(out, text);
    if highlight {
        out.extend_from_slice(RESET.as_bytes());
    }
}

/// How a line that mentions the user stands out: bold, in reverse video.
const HIGHLIGHT: &str = "\x1b[1;7m";

/// True if `text` mentions `name` as a word: `hi bob`, `@Bob:`, not
/// `bobby`. Letters are compared without case.
pub fn mentions(text: &[u8], name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let text = String::from_utf8_lossy(text).to_lowercase();
    let name = name.to_lowercase();
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-');
    text.match_indices(&name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !word(before) && !word(after)
    })
}

/// Bold foreground colours that read on dark and light backgrounds; not
/// red, which reads as an error, nor dark blue, which is hard to read on
/// black.
const COLOURS: [&str; 8] = [
    "\x1b[1;32m",
    "\x1b[1;33m",
    "\x1b[1;35m",
    "\x1b[1;36m",
    "\x1b[1;92m",
    "\x1b[1;93m",
    "\x1b[1;95m",
    "\x1b[1;96m",
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

    /// A message by "bob", as the node hands it over: its frame, and how
    /// to show it.
    #[derive(Clone)]
    struct Msg {
        frame: Vec<u8>,
        shape: ChatShape,
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
            shape: ChatShape::of(&chat),
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
            shape: m.shape,
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
        assert_eq!(line(own), "bob: mine\n", "like anyone else's");
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
        let n = shown(&Event::Notice("bob joined"), style);
        let (time, rest) = n.split_at(7);
        assert_eq!(rest, " *** bob joined\n", "{n}");
        assert!(
            time.starts_with('[') && time.ends_with(']') && time.as_bytes()[3] == b':',
            "{n}"
        );
    }

    #[test]
    fn history_is_marked_with_its_time() {
        let l = line(event(true, false, "old news", false, false));
        assert!(l.starts_with("[history 2023-11-1"), "{l}");
        assert!(l.ends_with("] bob: old news\n"), "{l}");
    }

    #[test]
    fn control_characters_never_reach_the_output() {
        let l = line(chat("\u{1b}[2J\u{7}boom"));
        assert_eq!(l, "bob: ^[[2J^Gboom\n");
        let n = shown(&Event::Notice("x\u{1b}]0;t\u{7}"), Style::default());
        assert_eq!(n, "*** x^[]0;t^G\n");
    }

    #[test]
    fn a_mention_is_a_whole_word_in_any_case() {
        for yes in ["bob", "hi bob", "Hi Bob!", "@bob: look", "BOB?", "ok, bob."] {
            assert!(mentions(yes.as_bytes(), "bob"), "{yes}");
        }
        for no in ["bobby", "kebob", "bob_2", "b o b", ""] {
            assert!(!mentions(no.as_bytes(), "bob"), "{no}");
        }
        assert!(mentions("salut zoë".as_bytes(), "Zoë"));
    }

    #[test]
    fn a_mention_is_highlighted_only_in_colour() {
        let colour = Style {
            colour: true,
            ..Style::default()
        };
        let e = chat("hi alice");
        let ev = Event::Chat {
            frame: &e.frame,
            shape: e.shape,
            tagged: false,
            own: false,
        };
        let mut out = Vec::new();
        format_line(&ev, colour, true, &mut out);
        let l = String::from_utf8(out).unwrap();
        assert!(
            l.ends_with(&format!("{HIGHLIGHT}hi alice{RESET}\n")),
            "{l:?}"
        );
        let mut plain = Vec::new();
        format_line(&ev, Style::default(), true, &mut plain);
        assert_eq!(plain, b"bob: hi alice\n");
    }
}
