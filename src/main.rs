//! The `p2pchat` command: parses the command line and starts the runtime.

use argh::FromArgs;
use p2pchat::amount;
use p2pchat::app::{self, Join, Options};
use p2pchat::key_store;
use p2pchat::node::{Config, HistoryWindow, Limits};
use p2pchat::protocol::{validate_name, validate_room};
use p2pchat::secure::room_key;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A peer-to-peer chat for the terminal. Every user's program is a server
/// and a client at once: start a chat with a name, or join one through any
/// of its members.
#[derive(FromArgs)]
#[argh(
    example = "Start a new chat, and note the port it prints:\n  $ {command_name} alice\nOn the same LAN, others in the room find it by themselves:\n  $ {command_name} bob\nA separate room on the same LAN:\n  $ {command_name} carol --room team\nA private room: only those with the secret get in:\n  $ P2PCHAT_SECRET='correct horse' {command_name} dave --room team\nJoin through any member, from another terminal or machine:\n  $ {command_name} bob localhost 40123\n  $ {command_name} carol 192.168.1.20 40123\n  $ {command_name} dave 2001:db8::20 40123\nListen on a fixed port, IPv4 only:\n  $ {command_name} alice --port 4000 --bind 0.0.0.0",
    note = "In the chat, type a line to send it. Commands: :who lists who is online, :peers your direct connections, :nick NAME renames you, :me TEXT sends an action, :help lists them all, :quit (or :q, Ctrl-C, end of input) leaves. Colour is off when output is not a terminal or NO_COLOR is set."
)]
struct Args {
    /// your name in the chat: 1 to 32 characters, no spaces, no '#'
    #[argh(positional)]
    name: String,

    /// to join a chat: any member's host name, IPv4 or IPv6 address, then its port
    #[argh(positional, arg_name = "peer port")]
    join: Vec<String>,

    /// listen on this port (default: the OS picks a free one)
    #[argh(option, long = "port", from_str_fn(port_number))]
    listen_port: Option<u16>,

    /// listen on this address (default: all interfaces, IPv6 and IPv4)
    #[argh(option)]
    bind: Option<IpAddr>,

    /// the chat room to join (default: lobby); rooms on one LAN stay apart
    #[argh(option, default = "String::from(\"lobby\")")]
    room: String,

    /// do not find or announce nodes on the LAN by multicast
    #[argh(switch)]
    no_discovery: bool,

    /// a secret that makes the room private: only nodes with the same
    /// secret can connect (or set P2PCHAT_SECRET, which stays out of shell
    /// history and the process list)
    #[argh(option)]
    secret: Option<String>,

    /// keep this node's key in FILE (created with mode 0600 if absent); by
    /// default each name has a key of its own under the config directory
    /// ($XDG_CONFIG_HOME/p2pchat/keys), so a restart is the same user
    #[argh(option, arg_name = "FILE")]
    key: Option<PathBuf>,

    /// how long chat history is kept, for newcomers and for the other side
    /// of a split once it heals: like 90s, 10m or 2h (default 10m; 0 keeps
    /// none)
    #[argh(option, arg_name = "AGE", from_str_fn(amount_duration))]
    history: Option<Duration>,

    /// how many bytes of chat history are kept at most: like 512KiB, 8MiB
    /// or 1GiB (default 8MiB)
    #[argh(option, arg_name = "SIZE", from_str_fn(amount_bytes))]
    history_size: Option<usize>,

    /// do not ring the terminal's bell when a line mentions your name
    #[argh(switch)]
    no_bell: bool,

    /// show connection-level events in the chat (links made and closed);
    /// :peers lists the last ones either way
    #[argh(switch, short = 'v')]
    verbose: bool,

    /// show the time before every message and notice, not only before
    /// history
    #[argh(switch)]
    timestamps: bool,

    /// write diagnostics to FILE rather than standard error; what is
    /// logged is set by RUST_LOG (for example RUST_LOG=p2pchat=debug),
    /// and nothing is without it
    #[argh(option, arg_name = "FILE")]
    log: Option<PathBuf>,

    /// for benchmarks only: links without encryption
    #[argh(switch, hidden_help)]
    insecure_plaintext: bool,

    /// for benchmarks only: every message whole over every link, without
    /// the broadcast tree, to measure what the tree saves
    #[argh(switch, hidden_help)]
    no_tree: bool,

    /// for tests: the most links this node keeps (default 8); it aims for
    /// 4, or this many if fewer
    #[argh(option, hidden_help)]
    max_peers: Option<usize>,
}

fn main() {
    let args = parse_args();
    raise_open_file_limit();
    if let Err(e) = validate_name(&args.name) {
        eprintln!("p2pchat: {e}");
        std::process::exit(2);
    }
    let join = match args.join.as_slice() {
        [] => None,
        [host, port] => match port_number(port) {
            Ok(port) => Some(Join {
                host: host.clone(),
                port,
            }),
            Err(e) => usage_error(&e),
        },
        _ => usage_error("to join, give a member's address and its port, and nothing more"),
    };
    if let Err(e) = validate_room(&args.room) {
        usage_error(&format!("bad room name: {e}"));
    }
    if let Err(e) = p2pchat::log::init(args.log.as_deref()) {
        eprintln!("p2pchat: {e}");
        std::process::exit(2);
    }
    let key = match &args.key {
        Some(path) => key_store::at(path),
        None => key_store::for_name(&args.name),
    };
    let key = key.unwrap_or_else(|e| {
        eprintln!("p2pchat: {e}");
        std::process::exit(1);
    });
    let secret = args
        .secret
        .or_else(|| std::env::var("P2PCHAT_SECRET").ok())
        .filter(|s| !s.is_empty());
    let room_key = secret.map(|s| room_key(&s, &args.room));
    let config = Config {
        name: args.name,
        room_key,
        identity: key.identity,
        encrypt: !args.insecure_plaintext,
        room: args.room,
        discovery: !args.no_discovery,
        bind: args.bind,
        port: args.listen_port.unwrap_or(0),
        limits: limits(args.max_peers),
        history: history(args.history, args.history_size),
        verbose: args.verbose,
        tree: !args.no_tree,
    };
    let options = Options {
        timestamps: args.timestamps,
        key_note: key.note,
        bell: !args.no_bell,
    };
    // The key's lock is held until the process ends.
    let _lock = key.lock;
    std::process::exit(p2pchat::rt::run_main(app::run(config, join, options)));
}

/// The command line, or the end of the process: `--help` prints the help
/// and exits with 0; a usage error says what is wrong, prefixed like every
/// other error, and exits with 2.
fn parse_args() -> Args {
    let strings: Vec<String> = std::env::args_os()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let command = strings
        .first()
        .and_then(|c| std::path::Path::new(c).file_name())
        .and_then(|c| c.to_str())
        .unwrap_or("p2pchat");
    let rest: Vec<&str> = strings.iter().skip(1).map(String::as_str).collect();
    match Args::from_args(&[command], &rest) {
        Ok(args) => args,
        Err(argh::EarlyExit {
            output,
            status: Ok(()),
        }) => {
            println!("{output}");
            std::process::exit(0);
        }
        Err(argh::EarlyExit { output, .. }) => usage_error(&as_sentence(output.trim_end())),
    }
}

/// The argument parser's complaint, said as p2pchat's other errors are.
fn as_sentence(complaint: &str) -> String {
    if complaint.starts_with("Required positional arguments not provided") {
        return "a name is needed: p2pchat NAME starts a chat, p2pchat NAME HOST PORT joins one"
            .to_string();
    }
    if let Some(arg) = complaint.strip_prefix("Unrecognized argument: ") {
        return format!("{arg} is not an option of p2pchat");
    }
    if let Some(rest) = complaint.strip_prefix("Error parsing option '") {
        if let Some((option, rest)) = rest.split_once('\'') {
            if let Some((_, why)) = rest.split_once("': ") {
                return format!("{option}: {why}");
            }
        }
    }
    if let Some(option) = complaint.strip_prefix("No value provided for option '") {
        return format!("{} needs a value", option.trim_end_matches(['\'', '.']));
    }
    complaint.to_string()
}

/// Raises the soft limit on open files to the hard limit: every link and
/// every connection in its handshake holds one, and a flood of them should
/// meet the node's own bounds, not the system's default of 1,024.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            // Failing leaves the limit as it was, which still works.
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// The default limits, with at most `max_peers` links if given.
fn limits(max_peers: Option<usize>) -> Limits {
    let default = Limits::default();
    match max_peers {
        None => default,
        Some(0) => usage_error("--max-peers must be at least 1"),
        Some(max) => Limits {
            max,
            target: default.target.min(max),
            ..default
        },
    }
}

/// The default history window, with what the user changed.
fn history(age: Option<Duration>, bytes: Option<usize>) -> HistoryWindow {
    let default = HistoryWindow::default();
    HistoryWindow {
        age: age.unwrap_or(default.age),
        bytes: bytes.unwrap_or(default.bytes),
    }
}

/// A port number, in the same words wherever one is given.
fn port_number(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(format!("{text:?} is not a port number (1 to 65535)")),
    }
}

fn amount_duration(text: &str) -> Result<Duration, String> {
    amount::duration(text)
}

fn amount_bytes(text: &str) -> Result<usize, String> {
    amount::bytes(text)
}

fn usage_error(message: &str) -> ! {
    eprintln!("p2pchat: {message}\nRun p2pchat --help for how to use it.");
    std::process::exit(2);
}
