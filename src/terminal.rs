//! The prompt on a terminal: a line editor (rustyline) on a thread of its
//! own, and its printer, which shows incoming lines above the line being
//! typed without disturbing it.
//!
//! rustyline does the terminal work (raw mode, Unicode-aware editing,
//! history recall with the arrow keys) so that no escape codes are written
//! by hand here.

use crate::display::Sink;
use crate::input::{Input, Lines};
use futures::channel::mpsc;
use futures::SinkExt;
use rustyline::error::ReadlineError;
use rustyline::{DefaultEditor, ExternalPrinter};
use std::io;
use std::sync::{Arc, Mutex};

/// The prompt text, shared so that `:nick` can change it.
pub type PromptText = Arc<Mutex<String>>;

/// Shows lines through the line editor.
pub struct Printer<P>(P);

impl<P: ExternalPrinter + Send> Sink for Printer<P> {
    fn write_lines(&mut self, chunks: &[Vec<u8>]) -> io::Result<()> {
        // The display writes UTF-8 only; nothing is replaced here.
        let text = String::from_utf8(chunks.concat())
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        self.0.print(text).map_err(io::Error::other)
    }
}

/// Starts the line editor. Returns the user's lines and the printer for
/// everything else.
///
/// The editor reads a line only when asked for one, so the terminal is in
/// raw mode only while the prompt waits for input, never when it exits.
pub fn start(
    prompt: PromptText,
) -> rustyline::Result<(Lines, Printer<impl ExternalPrinter + Send>)> {
    let mut editor = DefaultEditor::new()?;
    let printer = editor.create_external_printer()?;
    let (mut tx, rx) = mpsc::channel(1);
    let (requests, asked) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::Builder::new().name("line editor".into());
    reader.spawn(move || {
        for () in asked {
            let text = prompt.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let input = match editor.readline(&text) {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = editor.add_history_entry(line.as_str());
                    }
                    Input::Line(line.into())
                }
                // Ctrl-C and Ctrl-D leave, like :quit.
                Err(ReadlineError::Interrupted | ReadlineError::Eof) => Input::End,
                Err(_) => Input::End,
            };
            let end = input == Input::End;
            if futures::executor::block_on(tx.send(vec![input])).is_err() || end {
                return;
            }
        }
    })?;
    Ok((Lines::on_request(requests, rx), Printer(printer)))
}

/// The prompt for a user called `name`.
pub fn prompt_for(name: &str) -> String {
    format!("{name}> ")
}
