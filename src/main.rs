//! The `p2pchat` command: parses the command line and starts the runtime.

use argh::FromArgs;
use p2pchat::app::{self, Join, Options};
use p2pchat::node::{Config, Limits};
use p2pchat::protocol::{validate_name, validate_room};
use std::net::IpAddr;

/// A peer-to-peer chat for the terminal. Every user's program is a server
/// and a client at once: start a chat with a name, or join one through any
/// of its members.
#[derive(FromArgs)]
#[argh(
    example = "Start a new chat, and note the port it prints:\n  $ {command_name} alice\nOn the same LAN, others in the room find it by themselves:\n  $ {command_name} bob\nA separate room on the same LAN:\n  $ {command_name} carol --room team\nJoin through any member, from another terminal or machine:\n  $ {command_name} bob localhost 40123\n  $ {command_name} carol 192.168.1.20 40123\n  $ {command_name} dave 2001:db8::20 40123\nListen on a fixed port, IPv4 only:\n  $ {command_name} alice --port 4000 --bind 0.0.0.0",
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
    #[argh(option, long = "port")]
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

    /// show the time before every message, not only before history
    #[argh(switch)]
    timestamps: bool,
}

fn main() {
    let args: Args = argh::from_env();
    if let Err(e) = validate_name(&args.name) {
        eprintln!("p2pchat: {e}");
        std::process::exit(2);
    }
    let join = match args.join.as_slice() {
        [] => None,
        [host, port] => match port.parse::<u16>() {
            Ok(port) if port != 0 => Some(Join {
                host: host.clone(),
                port,
            }),
            _ => usage_error(&format!("{port:?} is not a port number (1 to 65535)")),
        },
        _ => usage_error("to join, give a member's address and its port, and nothing more"),
    };
    if let Err(e) = validate_room(&args.room) {
        usage_error(&format!("bad room name: {e}"));
    }
    let config = Config {
        name: args.name,
        room: args.room,
        discovery: !args.no_discovery,
        bind: args.bind,
        port: args.listen_port.unwrap_or(0),
        limits: Limits::default(),
    };
    let options = Options {
        timestamps: args.timestamps,
    };
    std::process::exit(p2pchat::rt::block_on(app::run(config, join, options)));
}

fn usage_error(message: &str) -> ! {
    eprintln!("p2pchat: {message}\nRun p2pchat --help for how to use it.");
    std::process::exit(2);
}
