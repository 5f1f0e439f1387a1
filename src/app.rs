//! One chat session: wires the display, the node and the prompt together,
//! on a terminal or on plain pipes.

use crate::display::{self, Display, Plain, Style};
use crate::input;
use crate::node::{Config, Node};
use crate::terminal::{self, PromptText};
use crate::{message, prompt};
use futures::channel::mpsc;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

/// Where to join, if anywhere.
#[derive(Debug, Clone)]
pub struct Join {
    pub host: String,
    pub port: u16,
}

/// How the session shows things.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Put the time before live messages too.
    pub timestamps: bool,
    /// What the user should know about this run's key.
    pub key_note: Option<String>,
}

/// Runs a chat until the user leaves. Returns the process exit code.
pub async fn run(config: Config, join: Option<Join>, options: Options) -> i32 {
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let style = Style {
        colour: tty && std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty()),
        timestamps: options.timestamps,
        // A line editor leaves the typed line on screen already.
        echo_own: !tty,
    };
    // Installed first, so that Ctrl-C, SIGTERM and a closed terminal
    // (SIGHUP) leave cleanly at any point.
    let (interrupt_tx, interrupt) = mpsc::unbounded();
    let handler = ctrlc::set_handler(move || {
        let _ = interrupt_tx.unbounded_send(());
    });
    let prompt_text: PromptText = Arc::new(Mutex::new(terminal::prompt_for(&config.name)));
    // The node starts first, so that a start-up error is printed before the
    // terminal is touched. Its notices wait in the queue meanwhile.
    let display = Display::new(style);
    let node = match Node::start(config, display.clone()).await {
        Ok(node) => node,
        Err(e) => {
            eprintln!("p2pchat: {e}");
            return 1;
        }
    };
    let started = if tty {
        match terminal::start(prompt_text.clone()) {
            Ok((lines, sink)) => display::spawn_printer(display.clone(), sink).map(|p| (lines, p)),
            Err(e) => {
                eprintln!("p2pchat: could not set up the terminal: {e}");
                return 1;
            }
        }
    } else {
        input::spawn_reader(std::io::stdin(), message::MAX_BODY).and_then(|lines| {
            let sink = Plain(std::io::stdout());
            display::spawn_printer(display.clone(), sink).map(|p| (lines, p))
        })
    };
    let (lines, printer) = match started {
        Ok(started) => started,
        Err(e) => {
            eprintln!("p2pchat: could not start a thread: {e}");
            return 1;
        }
    };
    let port = node.local_addr().port();
    node.notice(format!(
        "listening on {} (others join with: p2pchat NAME <this-host> {port})",
        node.local_addr()
    ));
    let key = match node.encrypted() {
        true => format!("key fingerprint {}", node.fingerprint()),
        false => "LINKS NOT ENCRYPTED: for benchmarks only".to_string(),
    };
    node.notice(format!(
        "you are {} (node {}, {key}); type :help for commands",
        node.name(),
        node.id()
    ));
    if let Some(note) = &options.key_note {
        node.notice(note.clone());
    }
    if let Err(e) = handler {
        node.notice(format!("Ctrl-C will not leave cleanly: {e}"));
    }
    let joined = match &join {
        Some(j) => node.join(&j.host, j.port).await,
        None => Ok(()),
    };
    let code = match joined {
        Ok(()) => {
            prompt::run(&node, lines, interrupt, prompt_text).await;
            node.quit().await;
            0
        }
        Err(e) => {
            eprintln!("p2pchat: {e}");
            1
        }
    };
    display.close();
    let _ = printer.join();
    code
}
