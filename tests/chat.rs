//! Two-node chat, leaving, and start-up errors, with real processes.

mod support;

use std::time::{Duration, Instant};
use support::{Peer, BIN};

const T: Duration = Duration::from_secs(10);

#[test]
fn two_nodes_chat_both_ways_with_non_ascii_text() {
    let alice = Peer::start("alice");
    let bob = Peer::join("bøb", &alice);
    alice.wait_for_line(T, |l| l.starts_with("*** connected to bøb"));

    alice.say("grüße aus köln, 你好 🙂");
    bob.say("ça va? — très bien");
    for p in [&alice, &bob] {
        p.expect_line("alice: grüße aus köln, 你好 🙂", T);
        p.expect_line("bøb: ça va? — très bien", T);
    }
    // Each side shows each message once.
    assert_eq!(bob.count("alice: grüße aus köln, 你好 🙂"), 1);
    assert_eq!(alice.count("bøb: ça va? — très bien"), 1);
    // Piped output is plain: no colour codes, though NO_COLOR is not set.
    for p in [&alice, &bob] {
        assert!(
            !p.lines().iter().any(|l| l.contains('\u{1b}')),
            "{}",
            p.name
        );
    }
}

#[test]
fn timestamps_put_the_time_before_live_messages() {
    let alice = Peer::start("alice");
    let bob = Peer::spawn(
        "bob",
        &["--timestamps", "127.0.0.1", &alice.port.to_string()],
    );
    alice.wait_for_line(T, |l| l.starts_with("*** connected to bob"));
    alice.say("what time is it");
    let line = bob.wait_for_line(T, |l| l.ends_with("alice: what time is it"));
    // [HH:MM] alice: what time is it
    let (time, rest) = line.split_at(8);
    assert_eq!(rest, "alice: what time is it", "{line}");
    let b = time.as_bytes();
    assert!(
        b[0] == b'[' && b[3] == b':' && b[6] == b']' && b[7] == b' ',
        "{line}"
    );
    assert!(time[1..3].parse::<u8>().unwrap() < 24 && time[4..6].parse::<u8>().unwrap() < 60);
    // Without the option, the same line has no time.
    alice.expect_line("alice: what time is it", T);
}

#[test]
fn the_first_line_says_where_it_listens_and_how_to_join() {
    let alice = Peer::start("alice");
    let first = alice.lines()[0].clone();
    assert!(first.contains("listening on "), "{first}");
    // The machine's own addresses, not a placeholder.
    let join = first.split("(others join with: p2pchat NAME ").nth(1);
    let hosts = join.and_then(|j| j.strip_suffix(&format!(" {})", alice.port)));
    let hosts = hosts.unwrap_or_else(|| panic!("{first}"));
    for host in hosts.split(" or ") {
        assert!(
            host.parse::<std::net::IpAddr>().is_ok(),
            "{host:?} in {first}"
        );
    }
}

/// A node runs one runtime thread (see `rt::run_main`), unless the user's
/// environment asks async-std for more.
#[test]
#[cfg(target_os = "linux")]
fn a_node_runs_one_runtime_thread_unless_asked_for_more() {
    let runtime_threads = |count: Option<&str>| {
        let mut command = std::process::Command::new(BIN);
        command.args(["alice", "--no-discovery", support::VERBOSE]);
        match count {
            Some(n) => command.env("ASYNC_STD_THREAD_COUNT", n),
            None => command.env_remove("ASYNC_STD_THREAD_COUNT"),
        };
        let alice = Peer::spawn_command("alice", command);
        alice.wait_for_line(T, |l| l.contains("listening on "));
        let threads = || {
            let tasks = std::fs::read_dir(format!("/proc/{}/task", alice.pid())).expect("tasks");
            tasks
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .filter(|name| name.starts_with("async-std/runti"))
                .count()
        };
        // The threads start on their own time, which on a loaded machine
        // can be after the node says it listens: the count is read until
        // it is the one expected, and no sooner than half a second on, so
        // that a thread too many has had time to show.
        let expected = count.map_or(1, |n| n.parse().unwrap());
        let (start, settled) = (Instant::now(), Duration::from_millis(500));
        loop {
            let n = threads();
            if (n == expected && start.elapsed() >= settled) || start.elapsed() > T {
                return n;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert_eq!(runtime_threads(None), 1);
    assert_eq!(runtime_threads(Some("3")), 3);
}

#[test]
fn the_same_text_twice_is_two_messages() {
    let alice = Peer::start("alice");
    let bob = Peer::join("bob", &alice);
    alice.wait_for_line(T, |l| l.starts_with("*** connected to bob"));
    alice.say("again");
    alice.say("again");
    bob.wait_until(T, "two copies", |ls| {
        ls.iter().filter(|l| *l == "alice: again").count() == 2
    });
}

#[test]
fn quit_exits_zero_and_peers_see_the_leave() {
    let alice = Peer::start("alice");
    let mut bob = Peer::join("bob", &alice);
    alice.wait_for_line(T, |l| l.starts_with("*** connected to bob"));
    bob.say(":quit");
    assert!(bob.wait_exit(T).success());
    alice.expect_line("*** bob left", T);

    let mut carol = Peer::join("carol", &alice);
    alice.wait_for_line(T, |l| l.starts_with("*** connected to carol"));
    carol.say(":q");
    assert!(carol.wait_exit(T).success());
    alice.expect_line("*** carol left", T);
}

#[test]
fn end_of_input_and_ctrl_c_leave_cleanly() {
    let alice = Peer::start("alice");
    let mut bob = Peer::join("bob", &alice);
    alice.wait_for_line(T, |l| l.starts_with("*** connected to bob"));
    bob.say("last words");
    bob.close_stdin();
    assert!(bob.wait_exit(T).success());
    alice.expect_line("bob: last words", T);
    alice.expect_line("*** bob left", T);

    let mut carol = Peer::join("carol", &alice);
    alice.wait_for_line(T, |l| l.starts_with("*** connected to carol"));
    carol.interrupt();
    assert!(carol.wait_exit(T).success());
    alice.expect_line("*** carol left", T);
}

/// A closed terminal (SIGHUP) and SIGTERM are a quit, not a crash: the
/// others see the user leave at once, not lost 16 seconds later.
#[test]
fn a_hangup_or_sigterm_is_a_quit() {
    let alice = Peer::start("alice");
    for (name, sig) in [("dave", libc::SIGHUP), ("erin", libc::SIGTERM)] {
        let mut user = Peer::join(name, &alice);
        alice.wait_for_line(T, |l| l.starts_with(&format!("*** connected to {name}")));
        let started = std::time::Instant::now();
        user.signal(sig);
        alice.expect_line(&format!("*** {name} left"), T);
        let took = started.elapsed();
        eprintln!("{name} seen leaving {took:?} after signal {sig}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        assert!(user.wait_exit(T).success());
    }
}

#[test]
fn a_late_joiner_sees_the_history_marked_as_such() {
    let alice = Peer::start("alice");
    alice.say("before you came");
    alice.expect_line("alice: before you came", T);
    // A message only seconds old is still news to a joiner; this one is past.
    std::thread::sleep(Duration::from_millis(2500));
    let bob = Peer::join("bob", &alice);
    let line = bob.wait_for_line(T, |l| l.ends_with("alice: before you came"));
    assert!(line.starts_with("[history "), "{line}");
    // Live messages after that are plain.
    alice.say("now live");
    bob.expect_line("alice: now live", T);
    assert_eq!(
        bob.lines()
            .iter()
            .filter(|l| l.contains("before you came"))
            .count(),
        1
    );
}

/// `--history` sets how long history is kept: a line older than that is
/// not replayed to a joiner, a newer one is.
#[test]
fn history_older_than_the_window_is_not_replayed() {
    let alice = Peer::spawn("alice", &["--history", "4s"]);
    alice.say("too old");
    alice.expect_line("alice: too old", T);
    std::thread::sleep(Duration::from_millis(4500));
    alice.say("still kept");
    alice.expect_line("alice: still kept", T);
    std::thread::sleep(Duration::from_millis(2500));
    let bob = Peer::join("bob", &alice);
    let line = bob.wait_for_line(T, |l| l.ends_with("alice: still kept"));
    assert!(line.starts_with("[history "), "{line}");
    alice.say("now live");
    bob.expect_line("alice: now live", T);
    let old = bob.lines().into_iter().filter(|l| l.contains("too old"));
    assert_eq!(old.count(), 0, "{:?}", bob.lines());
    let mut none = Peer::spawn_raw("carol", &["--history", "ten minutes"]);
    assert_eq!(
        none.wait_exit(T).code(),
        Some(2),
        "a bad window is a usage error"
    );
    assert!(
        none.stderr().contains("not a duration"),
        "{}",
        none.stderr()
    );
}

/// Lines piped in at once are sent as a burst; a refused line or a command
/// among them keeps its place.
#[test]
fn a_burst_of_lines_keeps_its_order_around_refusals_and_commands() {
    let alice = Peer::start("alice");
    let bob = Peer::join("bob", &alice);
    alice.wait_for_line(T, |l| l.starts_with("*** connected to bob"));
    // Who was online when bob came: shown before the burst, not within it.
    alice.wait_for_line(T, |l| l.contains(" online: "));
    let burst = format!("one\n{}\ntwo\n:who\nthree\n", "y".repeat(65_500));
    alice.send_bytes(burst.into_bytes());
    bob.expect_line("alice: three", T);
    let said: Vec<String> = bob
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("alice: "))
        .collect();
    assert_eq!(said, ["alice: one", "alice: two", "alice: three"]);
    alice.expect_line("alice: three", T);
    let lines = alice.lines();
    let at = |what: &str| {
        lines
            .iter()
            .position(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what:?} in {lines:#?}"))
    };
    assert!(at("alice: one") < at("65500 bytes"));
    assert!(at("65500 bytes") < at("alice: two"));
    // The answer to :who, not the greeting when bob came.
    let who = lines.iter().rposition(|l| l.contains(" online: ")).unwrap();
    assert!(at("alice: two") < who);
    assert!(who < at("alice: three"));
}

#[test]
fn an_over_limit_line_is_refused_not_truncated() {
    let alice = Peer::start("alice");
    let bob = Peer::join("bob", &alice);
    alice.wait_for_line(T, |l| l.starts_with("*** connected to bob"));
    alice.say(&"x".repeat(70_000));
    alice.say(&"y".repeat(65_500));
    alice.say("small");
    alice.wait_for_line(T, |l| {
        l.contains("70000 bytes was not sent: it is too long")
    });
    alice.wait_for_line(T, |l| {
        l.contains("message not sent: it is 65500 bytes, and the limit is")
    });
    bob.expect_line("alice: small", T);
    assert!(!bob
        .lines()
        .iter()
        .any(|l| l.contains("xxxx") || l.contains("yyyy")));
}

#[test]
fn commands_help_peers_and_unknown() {
    let alice = Peer::start("alice");
    let bob = Peer::join("bob", &alice);
    alice.wait_for_line(T, |l| l.starts_with("*** connected to bob"));
    alice.say(":help");
    alice.wait_for_line(T, |l| {
        l.contains(":peers") && l.contains("direct connections")
    });
    alice.wait_for_line(T, |l| l.contains(":quit or :q"));
    alice.say(":peers");
    alice.expect_line("*** 1 direct connection:", T);
    alice.wait_for_line(T, |l| l.starts_with("***   bob 127.0.0.1:"));
    alice.say(":nope");
    alice.expect_line("*** unknown command :nope; :help lists the commands", T);
    drop(bob);
}

#[test]
fn joining_where_nobody_listens_fails_clearly() {
    let port = free_port();
    let mut bob = Peer::spawn_raw("bob", &["127.0.0.1", &port.to_string()]);
    let status = bob.wait_exit(T);
    assert_eq!(status.code(), Some(1));
    let err = bob.stderr();
    assert!(
        err.contains(&format!("could not join through 127.0.0.1 port {port}"))
            && err.contains("connection refused"),
        "{err}"
    );
}

#[test]
fn a_taken_port_fails_clearly() {
    let alice = Peer::start("alice");
    let mut bob = Peer::spawn_raw("bob", &["--port", &alice.port.to_string()]);
    assert_eq!(bob.wait_exit(T).code(), Some(1));
    let err = bob.stderr();
    assert!(
        err.contains(&format!("port {} is already in use", alice.port)),
        "{err}"
    );
}

#[test]
fn a_bad_name_or_arguments_fail_clearly() {
    for (args, expected) in [
        (vec!["two words"], "a name cannot contain ' '"),
        (vec!["alice#1"], "a name cannot contain '#'"),
        (
            vec!["alice", "localhost"],
            "give a member's address and its port",
        ),
        (
            vec!["alice", "localhost", "http"],
            "\"http\" is not a port number (1 to 65535)",
        ),
        (
            vec!["alice", "--port", "70000"],
            "p2pchat: --port: \"70000\" is not a port number (1 to 65535)",
        ),
        (
            vec![],
            "p2pchat: a name is needed: p2pchat NAME starts a chat",
        ),
        (
            vec!["alice", "--bogus"],
            "p2pchat: --bogus is not an option of p2pchat",
        ),
        (vec!["alice", "--port"], "p2pchat: --port needs a value"),
    ] {
        let out = std::process::Command::new(BIN)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("p2pchat: "), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing but the error");
    }
    // A host that cannot be found is a runtime error, said before anything
    // else is shown.
    let config = support::config_dir();
    let out = std::process::Command::new(BIN)
        .args(["alice", "--no-discovery", "nosuchhost.invalid", "1"])
        .env("XDG_CONFIG_HOME", &config)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&config);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        "p2pchat: could not find the host \"nosuchhost.invalid\": check the name, or give the member's IP address"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn joining_yourself_is_refused() {
    let port = free_port();
    let mut selfie = Peer::spawn_raw(
        "selfie",
        &["--port", &port.to_string(), "127.0.0.1", &port.to_string()],
    );
    assert_eq!(selfie.wait_exit(T).code(), Some(1));
    assert!(
        selfie.stderr().contains("connected to itself"),
        "{}",
        selfie.stderr()
    );
}

/// A port nobody listens on: bound, then freed.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn joins_by_host_name_ipv4_and_ipv6_address() {
    let alice = Peer::start("alice");
    let port = alice.port.to_string();
    let by_name = Peer::spawn("byname", &["localhost", &port]);
    let by_v6 = Peer::spawn("byv6", &["::1", &port]);
    let by_v4 = Peer::spawn("byv4", &["127.0.0.1", &port]);
    for p in [&by_name, &by_v6, &by_v4] {
        p.wait_for_line(T, |l| l.starts_with("*** connected to alice"));
    }
    alice.say("hello all");
    for p in [&by_name, &by_v6, &by_v4] {
        p.expect_line("alice: hello all", T);
    }
}

#[test]
fn help_shows_usage_options_and_examples() {
    let out = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for part in [
        "<name>",
        "--port",
        "--bind",
        "Examples:",
        "p2pchat bob localhost 40123",
        ":quit",
    ] {
        assert!(help.contains(part), "--help lacks {part:?}:\n{help}");
    }
}

#[test]
fn joining_a_node_of_another_room_fails_clearly() {
    let alice = Peer::spawn_logged("alice", &["--room", "team"]);
    let mut bob = Peer::spawn_raw("bob", &["127.0.0.1", &alice.port.to_string()]);
    assert_eq!(bob.wait_exit(T).code(), Some(1));
    let err = bob.stderr();
    assert!(err.contains("it is in room team, not lobby"), "{err}");
    // alice says why in her log, not in the chat.
    alice.wait_for_log(T, |l| l.contains("it is in room lobby, not team"));
    assert!(!alice.lines().iter().any(|l| l.contains("room lobby")));
    // The same room works.
    let carol = Peer::spawn(
        "carol",
        &["--room", "team", "127.0.0.1", &alice.port.to_string()],
    );
    carol.wait_for_line(T, |l| l.starts_with("*** connected to alice"));
}

/// The tests above that chat, leave and join, again with LAN discovery on,
/// the default users run, in a network namespace of their own (see
/// `support::on_lan`): discovery links the nodes as well as the explicit
/// joins do, and nothing may differ for the user.
mod with_discovery {
    use super::support::on_lan;

    #[test]
    fn two_nodes_chat_both_ways_with_non_ascii_text() {
        on_lan(super::two_nodes_chat_both_ways_with_non_ascii_text);
    }

    #[test]
    fn quit_exits_zero_and_peers_see_the_leave() {
        on_lan(super::quit_exits_zero_and_peers_see_the_leave);
    }

    #[test]
    fn end_of_input_and_ctrl_c_leave_cleanly() {
        on_lan(super::end_of_input_and_ctrl_c_leave_cleanly);
    }

    #[test]
    fn a_late_joiner_sees_the_history_marked_as_such() {
        on_lan(super::a_late_joiner_sees_the_history_marked_as_such);
    }

    #[test]
    fn a_burst_of_lines_keeps_its_order_around_refusals_and_commands() {
        on_lan(super::a_burst_of_lines_keeps_its_order_around_refusals_and_commands);
    }
}
