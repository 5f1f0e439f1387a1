//! The prompt in a real pseudo-terminal, driven through tmux: incoming lines
//! never garble the line being typed, editing is by whole characters, arrow
//! keys recall input, colour follows NO_COLOR, and the terminal is restored.
//!
//! Needs tmux. Without it the tests say so and pass, except under CI
//! (`CI` set), where `.ci/run` installs tmux and a missing one is a failure.
//!
//! Discovery is off (the harness's loopback default): these tests are of
//! the terminal, with one peer linked as the test says.

mod support;

use std::time::{Duration, Instant};
use support::tmux::{last_line, Tmux};
use support::{wait_who, Peer, BIN};

const T: Duration = Duration::from_secs(10);

/// alice in a tmux window of her own, joined to `bob`, at her prompt;
/// `None` without tmux.
fn alice_joining(bob: &Peer, name: &str) -> Option<Tmux> {
    let cmd = format!("{BIN} alice --no-discovery 127.0.0.1 {}", bob.port);
    let tmux = Tmux::start(name, &cmd)?;
    tmux.wait("the prompt", |s| last_line(s) == "alice>");
    Some(tmux)
}

#[test]
fn an_incoming_message_leaves_the_half_typed_line_intact_and_editable() {
    let bob = Peer::start("bob");
    let Some(tmux) = alice_joining(&bob, "intact") else {
        return;
    };
    bob.wait_for_line(T, |l| l == "*** alice joined");

    tmux.type_text("half typed é");
    tmux.wait("the typed text", |s| last_line(s) == "alice> half typed é");
    bob.say("incoming while you type");
    let screen = tmux.wait("the incoming line", |s| {
        s.contains("bob: incoming while you type")
    });
    // The message is shown above, and the typed line is still whole below it.
    assert_eq!(last_line(&screen), "alice> half typed é", "{screen}");
    let above = screen
        .lines()
        .position(|l| l.contains("bob: incoming while you type"));
    let prompt = screen
        .lines()
        .position(|l| l.starts_with("alice> half typed"));
    assert!(above < prompt, "{screen}");

    // And it can still be edited and sent.
    tmux.type_text(" and more");
    tmux.press(&["Enter"]);
    bob.expect_line("alice: half typed é and more", T);
}

#[test]
fn editing_moves_by_whole_characters_and_arrows_recall_input() {
    let bob = Peer::start("bob");
    let Some(tmux) = alice_joining(&bob, "editing") else {
        return;
    };
    // Left moves over 'ñ' (two bytes) in one step; Backspace deletes it whole.
    tmux.type_text("mañana");
    tmux.press(&["Left", "Left", "Left", "BSpace"]);
    tmux.type_text("n");
    tmux.press(&["Enter"]);
    bob.expect_line("alice: manana", T);
    // Up recalls the previous line; send it again.
    tmux.press(&["Up"]);
    tmux.wait("the recalled line", |s| last_line(s) == "alice> manana");
    tmux.press(&["Enter"]);
    bob.wait_until(T, "the line twice", |ls| {
        ls.iter().filter(|l| *l == "alice: manana").count() == 2
    });
}

#[test]
fn names_are_coloured_on_a_terminal_unless_no_color_is_set() {
    let bob = Peer::start("bob");
    for (no_color, coloured) in [(false, true), (true, false)] {
        let env = if no_color { "env NO_COLOR=1 " } else { "" };
        let cmd = format!("{env}{BIN} alice --no-discovery 127.0.0.1 {}", bob.port);
        let Some(tmux) = Tmux::start(&format!("colour-{no_color}"), &cmd) else {
            return;
        };
        tmux.wait("the prompt", |s| last_line(s) == "alice>");
        let text = format!("colour check {no_color}");
        bob.say(&text);
        tmux.wait("the message", |s| s.contains(&text));
        let screen = tmux.screen(true);
        let line = screen
            .lines()
            .find(|l| l.contains(&text))
            .unwrap_or_default();
        assert_eq!(line.contains('\u{1b}'), coloured, "{line:?}");
        tmux.type_text(":quit");
        tmux.press(&["Enter"]);
        bob.wait_until(T, "alice left", |ls| {
            ls.iter().filter(|l| *l == "*** alice left").count() == 1 + usize::from(no_color)
        });
    }
}

#[test]
fn the_terminal_is_restored_after_leaving() {
    let out = std::env::temp_dir().join(format!("p2pchat-stty-{}", std::process::id()));
    let cmd = format!(
        "sh -c '{BIN} alice --no-discovery; stty -a > {} 2>&1; sleep 30'",
        out.display()
    );
    let Some(tmux) = Tmux::start("restore", &cmd) else {
        return;
    };
    tmux.wait("the prompt", |s| last_line(s) == "alice>");
    tmux.type_text(":quit");
    tmux.press(&["Enter"]);
    let deadline = Instant::now() + T;
    let settings = loop {
        if let Ok(s) = std::fs::read_to_string(&out) {
            if !s.is_empty() {
                break s;
            }
        }
        assert!(Instant::now() < deadline, "alice did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = std::fs::remove_file(&out);
    // Cooked mode again: line editing and echo on.
    let words: Vec<&str> = settings.split_whitespace().collect();
    assert!(
        words.contains(&"icanon") && words.contains(&"echo"),
        "{settings}"
    );
}

/// Alice's own lines as bob shows them, in order.
fn from_alice(bob: &Peer) -> Vec<String> {
    let lines = bob.lines().into_iter();
    lines
        .filter_map(|l| l.strip_prefix("alice: ").map(str::to_string))
        .collect()
}

#[test]
fn lines_typed_ahead_or_pasted_are_all_sent_in_order() {
    let bob = Peer::start("bob");
    let Some(tmux) = alice_joining(&bob, "ahead") else {
        return;
    };
    bob.wait_for_line(T, |l| l == "*** alice joined");
    // Three lines with their Enters in one write, as over ssh.
    tmux.press(&["fast1", "Enter", "fast2", "Enter", "fast3", "Enter"]);
    bob.expect_line("alice: fast3", T);
    // Five lines pasted, plain (each newline a carriage return) and
    // bracketed (the terminal marks the paste).
    for (mark, flags) in [("plain", "-d"), ("bracketed", "-dp")] {
        let text: String = (1..=5).map(|n| format!("{mark} {n}\n")).collect();
        tmux.run(&["set-buffer", &text]);
        tmux.run(&["paste-buffer", flags, "-t", "main"]);
        bob.expect_line(&format!("alice: {mark} 5"), T);
    }
    let want = ["fast1", "fast2", "fast3"]
        .into_iter()
        .map(String::from)
        .chain((1..=5).map(|n| format!("plain {n}")))
        .chain((1..=5).map(|n| format!("bracketed {n}")));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(from_alice(&bob), want.collect::<Vec<_>>());
}

#[test]
fn a_long_bracketed_paste_is_sent_only_when_the_user_says_yes() {
    let bob = Peer::start("bob");
    let Some(tmux) = alice_joining(&bob, "long-paste") else {
        return;
    };
    bob.wait_for_line(T, |l| l == "*** alice joined");
    let paste = |mark: &str, n: usize, tail: &str| {
        let text: String = (1..=n).map(|i| format!("{mark} {i}\n")).collect();
        tmux.run(&["set-buffer", &format!("{text}{tail}")]);
        tmux.run(&["paste-buffer", "-dp", "-t", "main"]);
    };
    paste("kept", 12, "");
    tmux.wait("the question", |s| last_line(s) == "paste 12 lines? y/n");
    tmux.press(&["y", "Enter"]);
    bob.expect_line("alice: kept 12", T);
    paste("dropped", 7, "");
    tmux.wait("the question", |s| last_line(s) == "paste 7 lines? y/n");
    tmux.press(&["n", "Enter"]);
    tmux.wait("the notice", |s| {
        s.contains("the paste of 7 lines was not sent")
    });
    // A paste whose last line has no newline leaves it to be finished.
    paste("short", 2, "unfinished");
    tmux.wait("the rest of the paste", |s| {
        last_line(s) == "alice> unfinished"
    });
    tmux.type_text(" now");
    tmux.press(&["Enter"]);
    bob.expect_line("alice: unfinished now", T);
    let want = (1..=12)
        .map(|i| format!("kept {i}"))
        .chain((1..=2).map(|i| format!("short {i}")))
        .chain(["unfinished now".to_string()]);
    assert_eq!(from_alice(&bob), want.collect::<Vec<_>>());
}

#[test]
fn your_own_lines_look_like_everyone_elses() {
    let bob = Peer::start("bob");
    let cmd = format!(
        "{BIN} alice --no-discovery --timestamps 127.0.0.1 {}",
        bob.port
    );
    let Some(tmux) = Tmux::start("own", &cmd) else {
        return;
    };
    tmux.wait("the prompt", |s| last_line(s) == "alice>");
    bob.wait_for_line(T, |l| l == "*** alice joined");
    tmux.type_text("morning all");
    tmux.press(&["Enter"]);
    tmux.type_text(":me waves");
    tmux.press(&["Enter"]);
    bob.say("hey alice");
    let screen = tmux.wait("the lines", |s| {
        s.contains("] alice: morning all")
            && s.contains("] * alice waves")
            && s.contains("] bob: hey alice")
    });
    // The editor's echo is gone: only the prompt is left of it.
    assert!(!screen.contains("alice> morning"), "{screen}");
    assert!(!screen.contains("alice> :me"), "{screen}");
    assert_eq!(last_line(&screen), "alice>", "{screen}");
    // Notices get the time too.
    let joined = screen
        .lines()
        .find(|l| l.contains("*** 2 online: alice, bob"));
    assert!(joined.is_some_and(|l| l.starts_with('[')), "{screen}");
}

/// What a newcomer sees, with the defaults users run: who is online, the
/// history between marks, and no line about connections (those are for
/// `:peers` and `--verbose`). Discovery stays off: the history must come
/// from the member joined through, not from nodes found on the machine.
#[test]
fn a_joiner_sees_who_is_online_and_the_history_between_marks_and_no_connections() {
    let bob = Peer::start("bob");
    let carol = Peer::join("carol", &bob);
    wait_who(&bob, &["bob", "carol"], T);
    bob.say("said before alice came");
    carol.say("me too");
    bob.expect_line("carol: me too", T);
    // Old enough to be history, not news.
    std::thread::sleep(Duration::from_millis(2500));
    let cmd = format!("{BIN} alice --no-discovery 127.0.0.1 {}", bob.port);
    let Some(tmux) = Tmux::start("joiner", &cmd) else {
        return;
    };
    let screen = tmux.wait("the end of history", |s| s.contains("--- end of history"));
    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    let at = |text: &str| {
        lines
            .iter()
            .position(|l| l.contains(text))
            .unwrap_or_else(|| panic!("no {text:?} in\n{screen}"))
    };
    assert!(
        lines.contains(&"*** 3 online: alice, bob, carol"),
        "{screen}"
    );
    let (start, end) = (
        at("--- history ---"),
        at("--- end of history: 2 messages ---"),
    );
    assert!(
        start < at("bob: said before alice came") && at("carol: me too") < end,
        "{screen}"
    );
    assert!(!screen.contains("connected to"), "{screen}");
    // :peers still tells.
    tmux.type_text(":peers");
    tmux.press(&["Enter"]);
    tmux.wait(":peers", |s| {
        s.contains("recent connection events:") && s.contains("connected to bob")
    });
}

/// The bytes `tmux` saw the program write, from when `capture` started.
fn raw(file: &std::path::Path) -> Vec<u8> {
    std::fs::read(file).unwrap_or_default()
}

#[test]
fn a_mention_rings_the_bell_once_in_two_seconds_unless_no_bell() {
    let bob = Peer::start("bob");
    for (flag, rings, tag) in [("", true, "loud"), ("--no-bell", false, "quiet")] {
        let cmd = format!("{BIN} alice --no-discovery {flag} 127.0.0.1 {}", bob.port);
        let name = format!("bell-{tag}");
        let Some(tmux) = Tmux::start(&name, &cmd) else {
            return;
        };
        let out = tmux.config.join("raw");
        let pipe = format!("cat > {}", out.display());
        tmux.run(&["pipe-pane", "-t", "main", "-o", &pipe]);
        tmux.wait("the prompt", |s| last_line(s) == "alice>");
        bob.say(&format!("no mention here {tag}"));
        bob.say(&format!("hey alice, look {tag}"));
        bob.say(&format!("alice again {tag}"));
        tmux.wait("the mentions", |s| {
            s.contains(&format!("bob: alice again {tag}"))
        });
        std::thread::sleep(Duration::from_millis(300));
        let bells = raw(&out).iter().filter(|b| **b == 0x07).count();
        assert_eq!(bells, usize::from(rings), "{flag:?}: {bells} bells");
        tmux.type_text(":quit");
        tmux.press(&["Enter"]);
        bob.wait_for_line(T, |l| l == "*** alice left");
        bob.wait_until(T, "alice gone", |ls| {
            ls.iter().filter(|l| *l == "*** alice left").count() == 1 + usize::from(!rings)
        });
    }
}

/// `:join` links a running chat to another one: messages flow both ways.
#[test]
fn join_merges_two_running_chats() {
    let bob = Peer::start("bob");
    let carol = Peer::start("carol");
    let dave = Peer::join("dave", &carol);
    wait_who(&dave, &["carol", "dave"], T);
    let Some(tmux) = alice_joining(&bob, "join") else {
        return;
    };
    bob.wait_for_line(T, |l| l == "*** alice joined");
    tmux.type_text(&format!(":join 127.0.0.1 {}", carol.port));
    tmux.press(&["Enter"]);
    tmux.wait("the join", |s| {
        s.contains(&format!("*** joined through 127.0.0.1 port {}", carol.port))
    });
    wait_who(&bob, &["alice", "bob", "carol", "dave"], T);
    bob.say("from the first chat");
    dave.say("from the second chat");
    dave.expect_line("bob: from the first chat", T);
    bob.expect_line("dave: from the second chat", T);
    // :help lists it.
    tmux.type_text(":help");
    tmux.press(&["Enter"]);
    tmux.wait(":help", |s| s.contains(":join HOST PORT"));
}

#[test]
fn long_lines_wrap_between_words_under_the_text() {
    let bob = Peer::start("bob");
    let cmd = format!("{BIN} alice --no-discovery 127.0.0.1 {}", bob.port);
    let Some(tmux) = Tmux::start_sized("wrap", &cmd, 40, 15) else {
        return;
    };
    tmux.wait("the prompt", |s| last_line(s) == "alice>");
    bob.say("the quick brown fox jumps over the lazy dog and keeps on running far away");
    let screen = tmux.wait("the line", |s| s.contains("     away"));
    let rows: Vec<&str> = screen
        .lines()
        .skip_while(|l| !l.starts_with("bob: the"))
        .take(3)
        .collect();
    assert_eq!(
        rows,
        [
            "bob: the quick brown fox jumps over the",
            "     lazy dog and keeps on running far",
            "     away"
        ],
        "{screen}"
    );
}

#[test]
fn tab_completes_names_and_commands() {
    let bob = Peer::start("bob");
    let Some(tmux) = alice_joining(&bob, "complete") else {
        return;
    };
    wait_who(&bob, &["alice", "bob"], T);
    tmux.type_text("b");
    tmux.press(&["Tab"]);
    tmux.wait("the name", |s| last_line(s) == "alice> bob:");
    tmux.type_text("look");
    tmux.press(&["Enter"]);
    bob.expect_line("alice: bob: look", T);
    tmux.type_text(":pe");
    tmux.press(&["Tab"]);
    tmux.wait("the command", |s| last_line(s) == "alice> :peers");
}

#[test]
fn resizing_keeps_every_received_line_once_on_screen() {
    let bob = Peer::start("bob");
    let cmd = format!("{BIN} alice --no-discovery 127.0.0.1 {}", bob.port);
    let Some(tmux) = Tmux::start_sized("resize", &cmd, 80, 24) else {
        return;
    };
    tmux.wait("the prompt", |s| last_line(s) == "alice>");
    bob.say("m1 before the draft");
    tmux.wait("m1", |s| s.contains("bob: m1"));
    // A draft two rows long at 80 columns.
    let draft = format!("draft {}", "word ".repeat(18));
    tmux.type_text(&draft);
    bob.say("m2 while alice drafts");
    tmux.wait("m2", |s| s.contains("bob: m2"));
    let lines = ["m1 before the draft", "m2 while alice drafts"];
    for (columns, line) in [(120, "m3 after widening"), (40, "m4 after narrowing")] {
        tmux.run(&[
            "resize-window",
            "-t",
            "main",
            "-x",
            &columns.to_string(),
            "-y",
            "24",
        ]);
        std::thread::sleep(Duration::from_millis(500));
        bob.say(line);
        tmux.wait(line, |s| s.contains(line));
        std::thread::sleep(Duration::from_millis(300));
        let screen = tmux.screen(false);
        for shown in lines.iter().chain([&line]) {
            let n = screen.matches(shown).count();
            assert_eq!(
                n, 1,
                "{shown:?} on screen {n} times at {columns} columns:\n{screen}"
            );
        }
        // One copy of the draft's start, at the bottom.
        assert_eq!(screen.matches("alice> draft").count(), 1, "{screen}");
    }
    // The draft is whole, and still sends.
    tmux.press(&["Enter"]);
    bob.expect_line(&format!("alice: {draft}"), T);
}

#[test]
fn ctrl_l_paints_the_lines_again_not_just_the_prompt() {
    let bob = Peer::start("bob");
    let Some(tmux) = alice_joining(&bob, "ctrl-l") else {
        return;
    };
    bob.say("still here after ctrl-l");
    tmux.wait("the line", |s| s.contains("bob: still here after ctrl-l"));
    tmux.type_text("draft");
    tmux.press(&["C-l"]);
    std::thread::sleep(Duration::from_millis(500));
    let screen = tmux.wait("the draft", |s| last_line(s) == "alice> draft");
    assert_eq!(
        screen.matches("bob: still here after ctrl-l").count(),
        1,
        "{screen}"
    );
    tmux.press(&["Enter"]);
    bob.expect_line("alice: draft", T);
}

/// Closing the terminal (tmux kills the pane: SIGHUP) is a quit: the others
/// see the user leave at once, not lost later.
#[test]
fn closing_the_terminal_is_a_quit() {
    let bob = Peer::start("bob");
    let Some(tmux) = alice_joining(&bob, "hangup") else {
        return;
    };
    bob.wait_for_line(T, |l| l == "*** alice joined");
    let started = Instant::now();
    tmux.run(&["kill-pane", "-t", "main"]);
    bob.expect_line("*** alice left", T);
    let took = started.elapsed();
    eprintln!("alice seen leaving {took:?} after her terminal closed");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

/// A user who quits and starts again in the same terminal within a second
/// is one user, never shown as lost.
#[test]
fn a_quit_and_a_restart_in_the_terminal_leave_no_ghost() {
    let bob = Peer::start("bob");
    let run = format!("{BIN} frank --no-discovery 127.0.0.1 {}", bob.port);
    let cmd = format!("sh -c '{run}; {run}'");
    let Some(tmux) = Tmux::start("restart", &cmd) else {
        return;
    };
    tmux.wait("the prompt", |s| last_line(s) == "frank>");
    bob.wait_for_line(T, |l| l == "*** frank joined");
    tmux.type_text(":q");
    tmux.press(&["Enter"]);
    bob.expect_line("*** frank left", T);
    tmux.wait("the second prompt", |s| {
        s.matches("you are frank").count() == 2 && last_line(s) == "frank>"
    });
    tmux.type_text("back again");
    tmux.press(&["Enter"]);
    bob.expect_line("frank: back again", T);
    // Long enough for a ghost to be taken for lost.
    std::thread::sleep(Duration::from_secs(18));
    wait_who(&bob, &["bob", "frank"], T);
    let lost = bob
        .lines()
        .into_iter()
        .filter(|l| l.contains("lost connection"));
    assert_eq!(lost.count(), 0, "{:?}", bob.lines());
}
