//! The prompt loop: turns the user's lines into chat messages and commands.

use crate::input::Input;
use crate::message::FrameError;
use crate::node::{max_text_len, Node};
use crate::protocol::EncodeError;
use futures::channel::mpsc;
use futures::{select, StreamExt};

/// The commands, with what `:help` says of each.
const COMMANDS: &[(&str, &str)] = &[
    (":peers", "list your direct connections"),
    (":help", "show this list"),
    (
        ":quit or :q",
        "leave the chat (end of input and Ctrl-C do too)",
    ),
];

/// What one line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command<'a> {
    Say(&'a str),
    Peers,
    Help,
    Quit,
    Unknown(&'a str),
    Nothing,
}

impl<'a> Command<'a> {
    /// A line starting with `:` and a letter is a command; `::` sends a
    /// line that starts with `:`; anything else is chat.
    fn parse(line: &'a str) -> Self {
        if line.trim().is_empty() {
            return Command::Nothing;
        }
        if line.starts_with("::") {
            return Command::Say(&line[1..]);
        }
        let Some(word) = line
            .strip_prefix(':')
            .filter(|rest| rest.starts_with(|c: char| c.is_ascii_alphabetic()))
        else {
            return Command::Say(line);
        };
        match word.trim_end() {
            "quit" | "q" => Command::Quit,
            "peers" => Command::Peers,
            "help" => Command::Help,
            _ => Command::Unknown(line.split_whitespace().next().unwrap_or(line)),
        }
    }
}

/// Runs until the user quits, input ends, or `interrupt` fires.
pub async fn run(
    node: &Node,
    name: &str,
    mut input: mpsc::Receiver<Input>,
    mut interrupt: mpsc::UnboundedReceiver<()>,
) {
    loop {
        let next = select! {
            i = input.next() => i.unwrap_or(Input::End),
            _ = interrupt.next() => Input::End,
        };
        let line = match next {
            Input::End => return,
            Input::Unreadable { bytes, reason } => {
                node.notice(format!(
                    "a line of {bytes} bytes was not sent: it is {reason}"
                ));
                continue;
            }
            Input::Line(line) => line,
        };
        match Command::parse(&line) {
            Command::Nothing => {}
            Command::Quit => return,
            Command::Say(text) => say(node, name, text).await,
            Command::Peers => show_peers(node),
            Command::Help => {
                node.notice("commands:");
                for (command, what) in COMMANDS {
                    node.notice(format!("  {command:<12} {what}"));
                }
                node.notice("  any other line is sent as a chat message; start it with :: to send a leading ':'");
            }
            Command::Unknown(word) => {
                node.notice(format!("unknown command {word}; :help lists the commands"))
            }
        }
    }
}

async fn say(node: &Node, name: &str, text: &str) {
    match node.say(text).await {
        Ok(()) => {}
        Err(EncodeError::Frame(FrameError::TooLong { .. })) => node.notice(format!(
            "message not sent: it is {} bytes, and the limit is {} bytes",
            text.len(),
            max_text_len(name)
        )),
        Err(e) => node.notice(format!("message not sent: {e}")),
    }
}

fn show_peers(node: &Node) {
    let peers = node.peers();
    match peers.len() {
        0 => node.notice("no direct connections"),
        1 => node.notice("1 direct connection:"),
        n => node.notice(format!("{n} direct connections:")),
    }
    for p in peers {
        let how = if p.outbound { "dialed" } else { "accepted" };
        node.notice(format!("  {} {} ({how}, node {})", p.name, p.remote, p.id));
    }
}

#[cfg(test)]
mod tests {
    use super::Command::*;
    use super::*;

    #[test]
    fn lines_parse_into_commands_and_chat() {
        assert_eq!(Command::parse(":q"), Quit);
        assert_eq!(Command::parse(":quit"), Quit);
        assert_eq!(Command::parse(":peers "), Peers);
        assert_eq!(Command::parse(":help"), Help);
        assert_eq!(Command::parse(":frob now"), Unknown(":frob"));
        assert_eq!(Command::parse("hello"), Say("hello"));
        assert_eq!(Command::parse(":) hi"), Say(":) hi"));
        assert_eq!(Command::parse("::quit"), Say(":quit"));
        assert_eq!(Command::parse("   "), Nothing);
    }
}
