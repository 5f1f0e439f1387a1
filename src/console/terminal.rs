//! The prompt on a terminal: a line editor (rustyline) on a thread of its
//! own, and its printer, which shows incoming lines above the line being
//! typed without disturbing it.
//!
//! rustyline does the terminal work (raw mode, Unicode-aware editing,
//! history recall with the arrow keys) so that no escape codes are written
//! by hand here.

use crate::console::completion::complete;
use crate::console::input::{Input, Lines};
use crate::display::wrap::wrap;
use crate::display::Sink;
use futures::channel::mpsc;
use futures::SinkExt;
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{
    Cmd, ConditionalEventHandler, Event, EventContext, EventHandler, ExternalPrinter, Helper,
    KeyCode, KeyEvent, Modifiers, RepeatCount,
};
use std::collections::VecDeque;
use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use unicode_width::UnicodeWidthStr;

/// The prompt text, shared so that `:nick` can change it.
pub type PromptText = Arc<Mutex<String>>;

/// Shows lines through the line editor.
pub struct Printer<P> {
    printer: P,
    shown: Shown,
}

/// The last lines shown, as they came (not folded), to paint the screen
/// again after a resize.
type Shown = Arc<Mutex<VecDeque<String>>>;
/// Lines kept for that: more than a screen holds.
const SHOWN_KEPT: usize = 500;

impl<P: ExternalPrinter + Send> Sink for Printer<P> {
    /// Folds each line to the terminal's width as it is now.
    fn write_lines(&mut self, chunks: &[Vec<u8>]) -> io::Result<()> {
        // The display writes UTF-8 only; nothing is replaced here.
        let text = String::from_utf8(chunks.concat())
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        let columns = columns();
        let mut folded = String::with_capacity(text.len());
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        for line in text.lines() {
            folded.push_str(&wrap(line, columns));
            folded.push('\n');
            if shown.len() == SHOWN_KEPT {
                shown.pop_front();
            }
            shown.push_back(line.to_string());
        }
        drop(shown);
        self.printer.print(folded).map_err(io::Error::other)
    }
}

/// Paints the screen again after each resize, and when the returned
/// stream is written to (Ctrl-L): the last lines that fit, folded to the
/// width, and the line being typed below them. The terminal reflows what
/// it shows, and the editor, which redraws by the rows it counted at the
/// old width, would otherwise erase a line above the one being typed, or
/// leave copies of it.
fn repaint_on_resize(
    mut printer: impl ExternalPrinter + Send + 'static,
    shown: Shown,
) -> io::Result<UnixStream> {
    use std::io::Read;
    let (mut woken, wake) = UnixStream::pair()?;
    signal_hook::low_level::pipe::register(libc::SIGWINCH, wake.try_clone()?)?;
    let painter = std::thread::Builder::new().name("repaint".into());
    painter.spawn(move || {
        let mut byte = [0u8; 64];
        while woken.read(&mut byte).is_ok_and(|n| n > 0) {
            // A drag sends many: paint once it has settled, after the
            // editor has taken the new size.
            std::thread::sleep(SETTLE);
            let _ = woken.set_nonblocking(true);
            while woken.read(&mut byte).is_ok_and(|n| n > 0) {}
            let _ = woken.set_nonblocking(false);
            let screen = screen_of(&shown, columns(), rows());
            if printer.print(screen).is_err() {
                return;
            }
        }
    })?;
    Ok(wake)
}

/// Ctrl-L: paints the screen again, lines included (the editor's own
/// Ctrl-L would leave only the line being typed).
struct Repaint(Mutex<UnixStream>);

impl ConditionalEventHandler for Repaint {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, _: &EventContext) -> Option<Cmd> {
        let mut wake = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = wake.write_all(b"L");
        Some(Cmd::Noop)
    }
}

/// How long a resize must settle before the screen is painted again.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(100);

/// The screen's text after a resize: cleared, then the last lines that fit
/// in `rows` (less two, for the line being typed), folded to `columns`.
fn screen_of(shown: &Shown, columns: usize, rows: usize) -> String {
    let shown = shown.lock().unwrap_or_else(|e| e.into_inner());
    let mut room = rows.saturating_sub(2);
    let mut kept: Vec<String> = Vec::new();
    for line in shown.iter().rev() {
        let folded = wrap(line, columns);
        let n = folded.lines().count().max(1);
        if n > room {
            break;
        }
        room -= n;
        kept.push(folded);
    }
    let mut screen = String::from("\x1b[H\x1b[2J");
    for folded in kept.iter().rev() {
        screen.push_str(folded);
        screen.push('\n');
    }
    screen
}

/// Completes names and commands with Tab (see `completion.rs`).
pub struct Completion {
    /// The names of the users online, asked for at each Tab.
    pub names: Box<dyn Fn() -> Vec<String> + Send + Sync>,
    pub commands: Vec<&'static str>,
}

impl Completer for Completion {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(complete(line, pos, &(self.names)(), &self.commands))
    }
}

impl Hinter for Completion {
    type Hint = String;
}
impl Highlighter for Completion {}
impl Validator for Completion {}
impl Helper for Completion {}

type Editor = rustyline::Editor<Completion, DefaultHistory>;

/// Lines of one paste sent without asking, at most.
pub const PASTE_WITHOUT_ASKING: usize = 5;

/// Where a bracketed paste stands, as the editor's key handlers see it.
#[derive(Default)]
struct Paste {
    /// Between the paste's start and end marks.
    open: AtomicBool,
    /// The end mark came (with the line that it ended).
    ended: AtomicBool,
}

/// Handles the marks around a bracketed paste. The pasted text then comes
/// as if typed, each newline an Enter, so that every line of it is a line
/// of its own; the reader holds them back until the end mark to count them.
struct PasteMark {
    paste: Arc<Paste>,
    start: bool,
}

impl ConditionalEventHandler for PasteMark {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, _: &EventContext) -> Option<Cmd> {
        match self.start {
            true => {
                self.paste.open.store(true, Ordering::SeqCst);
                Some(Cmd::Noop)
            }
            false => {
                self.paste.open.store(false, Ordering::SeqCst);
                self.paste.ended.store(true, Ordering::SeqCst);
                // Hands over what follows the last newline, if anything, to
                // be edited on as the next line's start.
                Some(Cmd::AcceptLine)
            }
        }
    }
}

/// Starts the line editor. Returns the user's lines and the printer for
/// everything else.
///
/// The editor reads a line only when asked for one, so the terminal is in
/// raw mode only while the prompt waits for input, never when it exits.
/// What a read brings past an Enter (lines typed ahead, a paste) stays in
/// the editor's buffer for the next line. A bracketed paste of more than
/// [`PASTE_WITHOUT_ASKING`] lines is sent only once the user says yes.
pub fn start(
    prompt: PromptText,
    completion: Completion,
) -> rustyline::Result<(Lines, Printer<impl ExternalPrinter + Send>)> {
    let config = rustyline::Config::builder()
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut editor = Editor::with_config(config)?;
    editor.set_helper(Some(completion));
    let paste = Arc::new(Paste::default());
    for (code, start) in [
        (KeyCode::BracketedPasteStart, true),
        (KeyCode::BracketedPasteEnd, false),
    ] {
        let mark = PasteMark {
            paste: paste.clone(),
            start,
        };
        let handler = EventHandler::Conditional(Box::new(mark));
        editor.bind_sequence(KeyEvent(code, Modifiers::NONE), handler);
    }
    let printer = editor.create_external_printer()?;
    let shown = Shown::default();
    let repaint = repaint_on_resize(editor.create_external_printer()?, shown.clone())?;
    let handler = EventHandler::Conditional(Box::new(Repaint(Mutex::new(repaint))));
    editor.bind_sequence(KeyEvent::ctrl('L'), handler);
    let (mut tx, rx) = mpsc::channel(1);
    let (requests, asked) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::Builder::new().name("line editor".into());
    reader.spawn(move || {
        let mut send = |inputs: Vec<Input>| futures::executor::block_on(tx.send(inputs)).is_ok();
        let mut pasted: Vec<String> = Vec::new();
        let mut start = String::new();
        for () in asked {
            let text = prompt.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let read = loop {
                let read = editor.readline_with_initial(&text, (&std::mem::take(&mut start), ""));
                let Ok(line) = read else { break read };
                // The line comes back as everyone's do, from the display.
                erase_echo(&text, &line);
                if paste.ended.swap(false, Ordering::SeqCst) {
                    // The end mark: what it ended is the start of a line
                    // still being typed.
                    start = line;
                    if pasted.is_empty() {
                        continue;
                    }
                    break Ok(String::new());
                }
                if paste.open.load(Ordering::SeqCst) {
                    pasted.push(line);
                    continue;
                }
                break Ok(line);
            };
            let inputs = match read {
                Ok(_) if !pasted.is_empty() => {
                    let lines = std::mem::take(&mut pasted);
                    confirm_paste(&mut editor, lines)
                }
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = editor.add_history_entry(line.as_str());
                    }
                    vec![Input::Line(line.into())]
                }
                // Ctrl-C and Ctrl-D leave, like :quit.
                Err(ReadlineError::Interrupted | ReadlineError::Eof) => vec![Input::End],
                Err(_) => vec![Input::End],
            };
            let end = inputs.contains(&Input::End);
            if !send(inputs) || end {
                return;
            }
        }
    })?;
    Ok((Lines::on_request(requests, rx), Printer { printer, shown }))
}

/// The lines of a paste to send: all of them if they are few, or if the
/// user says yes when asked.
fn confirm_paste(editor: &mut Editor, lines: Vec<String>) -> Vec<Input> {
    let n = lines.len();
    if n > PASTE_WITHOUT_ASKING {
        let question = format!("paste {n} lines? y/n ");
        let answer = editor.readline(&question);
        if let Ok(a) = &answer {
            erase_echo(&question, a);
        }
        match answer {
            Ok(a) if a.trim().eq_ignore_ascii_case("y") || a.trim().eq_ignore_ascii_case("yes") => {
            }
            Ok(_) => {
                return vec![Input::Notice(format!(
                    "the paste of {n} lines was not sent"
                ))]
            }
            Err(_) => return vec![Input::End],
        }
    }
    lines.into_iter().map(|l| Input::Line(l.into())).collect()
}

/// Erases what the editor left on screen of a line just entered: the
/// prompt and the line, over as many rows as they took. The cursor is at
/// the start of the row below them.
fn erase_echo(prompt: &str, line: &str) {
    let width = UnicodeWidthStr::width(prompt) + UnicodeWidthStr::width(line);
    let rows = width.max(1).div_ceil(columns());
    let mut out = std::io::stdout().lock();
    // Up, to the first column, and clear to the end of the screen.
    let _ = write!(out, "\x1b[{rows}A\r\x1b[J");
    let _ = out.flush();
}

/// The terminal's width in columns (80 if it cannot be told).
pub fn columns() -> usize {
    size().map_or(80, |(columns, _)| columns)
}

/// The terminal's height in rows (24 if it cannot be told).
fn rows() -> usize {
    size().map_or(24, |(_, rows)| rows)
}

/// The terminal's columns and rows, if it says.
fn size() -> Option<(usize, usize)> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills the struct it is given, and nothing else.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0 && size.ws_row > 0)
        .then(|| (usize::from(size.ws_col), usize::from(size.ws_row)))
}

/// The prompt for a user called `name`.
pub fn prompt_for(name: &str) -> String {
    format!("{name}> ")
}
