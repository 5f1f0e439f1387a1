//! Encrypted links and private rooms, with real processes.
//!
//! Discovery is off (the harness's loopback default): a wrong or missing
//! secret must be refused on the link the test makes, and a tap between
//! two nodes must be their only link.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;
use support::relay::Relay;
use support::{Peer, BIN};

const T: Duration = Duration::from_secs(15);

/// `p2pchat NAME --no-discovery ARGS...` with `P2PCHAT_SECRET` set.
fn with_secret_env(name: &str, secret: &str, args: &[&str]) -> Peer {
    let mut command = Command::new(BIN);
    command
        .arg(name)
        .args(["--no-discovery", support::VERBOSE])
        .args(args)
        .env("P2PCHAT_SECRET", secret);
    let peer = Peer::spawn_command(name, command);
    peer.wait_for_line(T, |l| l.contains("listening on "));
    peer
}

#[test]
fn nodes_with_the_same_secret_chat() {
    let alice = Peer::spawn("alice", &["--secret", "correct horse"]);
    let port = alice.port.to_string();
    // The secret may come from the environment instead of the command line.
    let bob = with_secret_env("bob", "correct horse", &["127.0.0.1", &port]);
    alice.wait_for_line(T, |l| l.starts_with("*** connected to bob"));
    alice.say("for members only");
    bob.expect_line("alice: for members only", T);
    bob.say("received");
    alice.expect_line("bob: received", T);
}

#[test]
fn a_wrong_secret_or_none_is_refused_with_a_clear_error() {
    let alice = Peer::spawn_logged("alice", &["--secret", "correct horse"]);
    let port = alice.port.to_string();
    for (name, args) in [
        ("eve", vec!["--secret", "wrong horse", "127.0.0.1", &port]),
        ("mallory", vec!["127.0.0.1", &port]),
    ] {
        let mut intruder = Peer::spawn_raw(name, &args);
        assert_eq!(intruder.wait_exit(T).code(), Some(1), "{name}");
        let err = intruder.stderr();
        assert!(
            err.contains(&format!(
                "could not join through 127.0.0.1 port {port}: wrong room secret, or not a p2pchat peer"
            )),
            "{name}: {err}"
        );
    }
    // Alice logged one line for each, showed none in the chat, and goes on.
    let refused = |l: &str| l.contains("wrong room secret, or not a p2pchat peer");
    alice.wait_for_log(T, refused);
    let deadline = std::time::Instant::now() + T;
    while alice.stderr().lines().filter(|l| refused(l)).count() < 2 {
        assert!(std::time::Instant::now() < deadline, "{}", alice.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alice.lines().iter().any(|l| refused(l)));
    // The other way round too: a node with a secret cannot join an open room.
    let open = Peer::start("open");
    let mut secretive = Peer::spawn_raw(
        "sec",
        &["--secret", "x", "127.0.0.1", &open.port.to_string()],
    );
    assert_eq!(secretive.wait_exit(T).code(), Some(1));
}

/// alice, and bob linked to her only through a tap that keeps every byte.
/// alice logs what she refuses (`RUST_LOG`): refusals never reach the chat.
fn linked_through_a_tap() -> (Peer, Relay, Peer) {
    let alice = Peer::spawn_logged("alice", &["--bind", "127.0.0.1"]);
    let tap = Relay::capture(
        "127.0.0.1:0".parse::<SocketAddr>().unwrap(),
        SocketAddr::from(([127, 0, 0, 1], alice.port)),
    );
    let bob = Peer::spawn("bob", &["127.0.0.1", &tap.addr.port().to_string()]);
    alice.wait_for_line(T, |l| l.starts_with("*** connected to bob"));
    (alice, tap, bob)
}

#[test]
fn bytes_on_the_link_show_none_of_the_chat() {
    let (alice, tap, bob) = linked_through_a_tap();
    alice.say("the launch code is 0000");
    bob.say("understood, over");
    bob.expect_line("alice: the launch code is 0000", T);
    alice.expect_line("bob: understood, over", T);
    let bytes = tap.captured();
    assert!(bytes.len() > 200, "nothing went through the tap");
    let seen = String::from_utf8_lossy(&bytes);
    for secret in ["launch code", "understood", "alice", "bob", "HELLO", "MSG"] {
        assert!(!seen.contains(secret), "{secret:?} is readable on the wire");
    }
}

#[test]
fn a_key_file_keeps_the_fingerprint_across_restarts() {
    let path = std::env::temp_dir().join(format!("p2pchat-test-key-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let key = path.to_str().unwrap();
    let fingerprint = |peer: &Peer| {
        let line = peer.wait_for_line(T, |l| l.contains("key fingerprint "));
        line.split("key fingerprint ").nth(1).unwrap()[..19].to_string()
    };
    let first = fingerprint(&Peer::spawn("alice", &["--key", key]));
    let again = fingerprint(&Peer::spawn("alice", &["--key", key]));
    let other = fingerprint(&Peer::start("alice"));
    assert_eq!(first, again);
    assert_ne!(first, other, "without --key, a new key every run");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn peers_shows_each_peers_key_fingerprint() {
    let alice = Peer::start("alice");
    let bob = Peer::join("bob", &alice);
    let bob_key = bob.wait_for_line(T, |l| l.contains("key fingerprint "));
    let bob_key = &bob_key.split("key fingerprint ").nth(1).unwrap()[..19];
    alice.wait_for_line(T, |l| l.starts_with("*** connected to bob"));
    alice.say(":peers");
    alice.wait_for_line(T, |l| {
        l.starts_with("***   bob ") && l.contains(&format!("key {bob_key}"))
    });
}

/// Someone who recorded a whole session (handshake and chat) from one side
/// and plays it to the node again gets nothing: the node's fresh ephemeral
/// key makes the recording's last handshake message undecryptable, so no
/// second link is made and no line is shown twice.
#[test]
fn a_recorded_session_played_again_is_refused() {
    let (alice, tap, bob) = linked_through_a_tap();
    bob.say("pay the bearer");
    alice.expect_line("bob: pay the bearer", T);
    let recording = tap.captured_sent();
    assert!(recording.len() > 100, "the tap kept nothing");

    let mut replay = TcpStream::connect(("127.0.0.1", alice.port)).expect("connect");
    replay.set_read_timeout(Some(T)).unwrap();
    // Alice may close as soon as the handshake fails, before all is written.
    let _ = replay.write_all(&recording);
    let mut answer = Vec::new();
    let _ = replay.read_to_end(&mut answer);

    alice.wait_for_log(T, |l| {
        l.contains("wrong room secret, or not a p2pchat peer")
    });
    std::thread::sleep(Duration::from_millis(500));
    let lines = alice.lines();
    let count = |prefix: &str| lines.iter().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(count("*** connected to bob"), 1, "{lines:#?}");
    assert_eq!(count("bob: pay the bearer"), 1, "{lines:#?}");
}
