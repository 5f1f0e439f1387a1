//! The prompt loop: turns the user's lines into chat messages and commands.

use crate::console::input::{Input, Line, Lines};
use crate::console::terminal::{prompt_for, PromptText};
use crate::message::FrameError;
use crate::node::{max_text_len, Node};
use crate::protocol::{validate_name, ChatKind, EncodeError};
use futures::channel::mpsc;
use futures::{select, FutureExt, StreamExt};

/// The commands, with what `:help` says of each.
const COMMANDS: &[(&str, &str)] = &[
    (":who", "list the users online in the whole chat"),
    (":peers", "list your direct connections"),
    (":nick NAME", "change your name, for everyone"),
    (":me TEXT", "send an action, shown as '* NAME TEXT'"),
    (
        ":join HOST PORT",
        "link this chat to another through one of its members",
    ),
    (":help", "show this list"),
    (
        ":quit or :q",
        "leave the chat (end of input and Ctrl-C do too)",
    ),
];

/// The commands' words, for completion: `:who`, `:nick`...
pub fn command_words() -> Vec<&'static str> {
    let words = COMMANDS
        .iter()
        .flat_map(|(c, _)| c.split(' ').filter(|w| w.starts_with(':')));
    words.collect()
}

/// What one line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command<'a> {
    Say(&'a str),
    Me(&'a str),
    Nick(&'a str),
    Join(&'a str, u16),
    Who,
    Peers,
    Help,
    Quit,
    /// A command used the wrong way, with how to use it.
    Usage(&'static str),
    Unknown(&'a str),
    Nothing,
}

impl<'a> Command<'a> {
    /// The text of a chat line, and its kind.
    fn chat(&self) -> Option<(&'a str, ChatKind)> {
        match *self {
            Command::Say(text) => Some((text, ChatKind::Line)),
            Command::Me(text) => Some((text, ChatKind::Action)),
            _ => None,
        }
    }

    /// A line starting with `:` and a letter is a command; `::` sends a
    /// line that starts with `:`; anything else is chat.
    fn parse(line: &'a str) -> Self {
        // The usual line, chat that starts with a visible ASCII character
        // other than `:`, is told at its first byte: a pasted or piped
        // burst is thousands of them.
        match line.as_bytes().first() {
            Some(&b) if b.is_ascii_graphic() && b != b':' => Command::Say(line),
            _ => Self::parse_any(line),
        }
    }

    /// Reads any line, as [`parse`](Self::parse) does.
    fn parse_any(line: &'a str) -> Self {
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
        let (word, arg) = match word.split_once(' ') {
            Some((w, a)) => (w, a.trim()),
            None => (word.trim_end(), ""),
        };
        match (word, arg) {
            ("quit" | "q", _) => Command::Quit,
            ("who", _) => Command::Who,
            ("peers", _) => Command::Peers,
            ("help", _) => Command::Help,
            ("me", "") => Command::Usage(":me TEXT, for example :me waves"),
            ("me", _) => Command::Me(line.split_once(' ').map_or("", |(_, text)| text)),
            ("nick", "") => Command::Usage(":nick NEWNAME"),
            ("nick", name) => Command::Nick(name),
            ("join", arg) => match arg.split_whitespace().collect::<Vec<_>>()[..] {
                [host, port] => match port.parse::<u16>() {
                    Ok(port) if port != 0 => Command::Join(host, port),
                    _ => Command::Usage(":join HOST PORT, the port a number from 1 to 65535"),
                },
                _ => Command::Usage(":join HOST PORT, for example :join 192.168.1.20 40123"),
            },
            _ => Command::Unknown(line.split_whitespace().next().unwrap_or(line)),
        }
    }
}

/// Runs until the user quits, input ends, or `interrupt` fires.
pub async fn run(
    node: &Node,
    mut lines: Lines,
    mut interrupt: mpsc::UnboundedReceiver<()>,
    prompt: PromptText,
) {
    loop {
        let next = select! {
            i = lines.next().fuse() => i,
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
            Input::Notice(text) => {
                node.notice(text);
                continue;
            }
            Input::Line(line) => line,
        };
        match Command::parse(&line) {
            Command::Nothing => {}
            Command::Quit => return,
            command @ (Command::Say(_) | Command::Me(_)) => {
                // Chat lines already read go with this one.
                let mut burst = Vec::new();
                if let Some(chat) = command.chat() {
                    let part = chat_part(&line, chat);
                    burst.push((line, part));
                }
                while burst.len() < MAX_BURST {
                    let chat = |l: &str| Command::parse(l).chat().map(|chat| chat_part(l, chat));
                    match lines.ready_line(chat) {
                        Some(line) => burst.push(line),
                        None => break,
                    }
                }
                say(node, &burst).await;
            }
            Command::Nick(name) if *name == *node.name() => {
                node.notice(format!("you are already {name}"))
            }
            Command::Nick(name) => match validate_name(name).map(|n| (n, node.name_taken(n))) {
                Ok((name, Some(holder))) => {
                    node.notice(format!("name not changed: {holder} goes by {name} already"))
                }
                Ok((name, None)) => {
                    node.rename(name).await;
                    *prompt.lock().unwrap_or_else(|e| e.into_inner()) = prompt_for(name);
                    node.notice(format!("you are now known as {name}"));
                }
                Err(e) => node.notice(format!("name not changed: {e}")),
            },
            Command::Join(host, port) => {
                node.notice(format!("joining through {host} port {port}..."));
                match node.join(host, port).await {
                    Ok(()) => node.notice(format!("joined through {host} port {port}")),
                    Err(e) => node.notice(e.to_string()),
                }
            }
            Command::Who => {
                let users = node.who();
                node.notice(format!("{} online: {}", users.len(), users.join(", ")));
            }
            Command::Peers => show_peers(node),
            Command::Usage(usage) => node.notice(format!("usage: {usage}")),
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

/// Chat lines sent in one go at most: a batch of piped lines.
const MAX_BURST: usize = crate::console::input::BATCH_LINES;

/// Where a chat line's text starts in its line (the text is always the
/// line's end), and its kind: kept beside the line, so that a line of a
/// burst is parsed once.
fn chat_part(line: &str, (text, kind): (&str, ChatKind)) -> (usize, ChatKind) {
    debug_assert!(line.ends_with(text), "{text:?} does not end {line:?}");
    (line.len() - text.len(), kind)
}

/// Sends chat lines (each with its [`chat_part`]), in order, and tells the
/// user of any that could not be sent.
async fn say(node: &Node, lines: &[(Line, (usize, ChatKind))]) {
    let chat: Vec<(&str, ChatKind)> = lines
        .iter()
        .filter_map(|(line, (start, kind))| Some((line.get(*start..)?, *kind)))
        .collect();
    let mut rest = &chat[..];
    while !rest.is_empty() {
        let (sent, refused) = node.say_all(rest).await;
        let Some(e) = refused else {
            return;
        };
        match e {
            EncodeError::Frame(FrameError::TooLong { .. }) => node.notice(format!(
                "message not sent: it is {} bytes, and the limit is {} bytes",
                rest[sent].0.len(),
                max_text_len(&node.name())
            )),
            e => node.notice(format!("message not sent: {e}")),
        }
        // The refused line is skipped; the others go on in order.
        rest = &rest[sent + 1..];
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
        let key = match &p.fingerprint {
            Some(f) => format!("key {f}"),
            None => "NOT ENCRYPTED".to_string(),
        };
        node.notice(format!("  {} {} ({how}, {key})", p.name, p.remote));
    }
    for line in node.connection_notes() {
        node.notice(line);
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
        assert_eq!(Command::parse(":who"), Who);
        assert_eq!(Command::parse(":me waves  hello"), Me("waves  hello"));
        assert_eq!(
            Command::parse(":me"),
            Usage(":me TEXT, for example :me waves")
        );
        assert_eq!(Command::parse(":nick zoë "), Nick("zoë"));
        assert_eq!(Command::parse(":nick"), Usage(":nick NEWNAME"));
        assert_eq!(
            Command::parse(":join h.example 4000"),
            Join("h.example", 4000)
        );
        assert!(matches!(Command::parse(":join h.example"), Usage(_)));
        assert!(matches!(Command::parse(":join h.example 0"), Usage(_)));
    }

    proptest::proptest! {
        #[test]
        fn the_first_byte_tells_chat_as_the_whole_line_does(
            line in "[ :a-z\\t]{0,3}\\PC{0,8}|\\PC{0,12}|:[a-z]{0,6}( [ a-z]{0,6})?",
        ) {
            proptest::prop_assert_eq!(Command::parse(&line), Command::parse_any(&line));
        }
    }
}
