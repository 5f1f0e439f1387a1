//! One chat session: wires the display, the node and the prompt together,
//! on a terminal or on plain pipes.

use crate::console::input;
use crate::console::prompt;
use crate::console::terminal::{self, PromptText};
use crate::display::{self, Display, Plain, Style};
use crate::message;
use crate::node::{Config, Node};
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
    /// Ring the bell when a line mentions the user.
    pub bell: bool,
}

/// Runs a chat until the user leaves. Returns the process exit code.
pub async fn run(config: Config, join: Option<Join>, options: Options) -> i32 {
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let style = Style {
        colour: tty && std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty()),
        timestamps: options.timestamps,
        mentions: tty,
        bell: tty && options.bell,
    };
    // Installed first, so that Ctrl-C, SIGTERM and a closed terminal
    // (SIGHUP) leave cleanly at any point.
    let (interrupt_tx, interrupt) = mpsc::unbounded();
    let handler = ctrlc::set_handler(move || {
        let _ = interrupt_tx.unbounded_send(());
    });
    // The member's name is looked up before anything is shown.
    if let Some(j) = &join {
        if let Err(e) = Node::resolve(&j.host, j.port).await {
            eprintln!("p2pchat: {e}");
            return 1;
        }
    }
    let prompt_text: PromptText = Arc::new(Mutex::new(terminal::prompt_for(&config.name)));
    // The node starts first, so that a start-up error is printed before the
    // terminal is touched. Its notices wait in the queue meanwhile.
    let display = Display::new(style);
    display.set_name(&config.name);
    let node = match Node::start(config, display.clone()).await {
        Ok(node) => node,
        Err(e) => {
            eprintln!("p2pchat: {e}");
            return 1;
        }
    };
    let started = if tty {
        let completion = terminal::Completion {
            names: node.names_source(),
            commands: prompt::command_words(),
        };
        match terminal::start(prompt_text.clone(), completion) {
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
    let hosts = reachable_addresses(node.local_addr().ip());
    node.notice(format!(
        "listening on {} (others join with: p2pchat NAME {} {port})",
        node.local_addr(),
        hosts.join(" or ")
    ));
    // The fingerprint is the node id, grouped: one is enough.
    let key = match node.encrypted() {
        true => format!("key fingerprint {}", node.fingerprint()),
        false => format!(
            "node {}; LINKS NOT ENCRYPTED: for benchmarks only",
            node.id()
        ),
    };
    node.notice(format!(
        "you are {} ({key}); type :help for commands",
        node.name(),
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

/// Addresses of this machine that others may join at, for a node listening
/// on `bound`: the non-loopback ones of its interfaces (three at most,
/// IPv4 first), or the loopback address if it has no other.
fn reachable_addresses(bound: std::net::IpAddr) -> Vec<String> {
    if !bound.is_unspecified() {
        return vec![bound.to_string()];
    }
    let mut addrs: Vec<std::net::IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .filter(|ip| !ip.is_loopback() && (bound.is_ipv6() || ip.is_ipv4()))
        // Link-local IPv6 needs an interface to be dialed: not for sharing.
        .filter(
            |ip| !matches!(ip, std::net::IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80),
        )
        .collect();
    addrs.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    addrs.dedup();
    addrs.truncate(3);
    match addrs.is_empty() {
        true => vec![match bound.is_ipv4() {
            true => "127.0.0.1".to_string(),
            false => "::1".to_string(),
        }],
        false => addrs.iter().map(ToString::to_string).collect(),
    }
}
