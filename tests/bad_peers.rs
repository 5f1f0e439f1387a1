//! Peers that break the protocol lose their own connection, with the reason
//! logged; the node keeps chatting and accepting new peers.
//!
//! The bad peer here completes the Noise handshake as a real node would,
//! then sends whatever bytes a test gives it through the encrypted link, so
//! every check below reaches the protocol layer behind encryption. Raw
//! sockets that never speak Noise are refused before it.
//!
//! Discovery is off (the harness's loopback default): each check needs the
//! node's only link to be the bad peer's, or one honest peer it names.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::wire::{frame, hello, poke};
use support::Peer;

const T: Duration = Duration::from_secs(10);

/// The node still chats with its real peer and still accepts a new one.
fn still_works(alice: &Peer, bob: &Peer, tag: &str) {
    alice.say(&format!("still here after {tag}"));
    bob.expect_line(&format!("alice: still here after {tag}"), T);
    let carol = Peer::join(&format!("carol-{tag}"), alice);
    carol.say("hello");
    bob.expect_line(&format!("carol-{tag}: hello"), T);
}

/// alice logs what she refuses (`RUST_LOG`), where these tests look for it:
/// refusals never reach the chat.
fn alice_and_bob() -> (Peer, Peer) {
    let alice = Peer::start_logged("alice");
    let bob = Peer::join("bob", &alice);
    alice.wait_for_line(T, |l| l.starts_with("*** connected to bob"));
    (alice, bob)
}

#[test]
fn garbage_and_broken_frames_close_only_that_connection() {
    let (alice, bob) = alice_and_bob();
    type Script = Box<dyn FnOnce(&str) -> Vec<u8>>;
    let cases: Vec<(&str, Script, &str)> = vec![
        (
            "garbage",
            Box::new(|_| b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
            "over the limit",
        ),
        (
            "over-limit",
            Box::new(|_| u32::MAX.to_be_bytes().to_vec()),
            "message of 4294967295 bytes is over the limit of 65536 bytes",
        ),
        (
            "pre-handshake",
            Box::new(|_| frame(b"MSG 3 00000000deadbeef:1 0 mallory hi")),
            "expected HELLO as the first message",
        ),
        (
            "unknown-kind",
            Box::new(|_| frame(b"WHAT is this")),
            "unknown message kind",
        ),
        (
            "bad-name",
            Box::new(|id| hello(id, "mal\u{1b}[2Jlory")),
            "a name cannot contain",
        ),
        (
            "stolen-id",
            Box::new(|_| hello("00000000deadbeef", "mallory")),
            "its node id is not the one its key gives",
        ),
    ];
    for (tag, script, reason) in cases {
        let reply = poke(alice.port, script);
        // The peer is told why, after alice's own HELLO.
        assert!(
            reply.contains("ERROR ") && reply.contains(reason),
            "{tag}: {reply:?}"
        );
        alice.wait_for_log(T, |l| {
            l.contains("refused a connection: ") && l.contains(reason)
        });
        still_works(&alice, &bob, tag);
    }
    // Not one of them reached the chat; :peers sums them up.
    assert!(
        !alice.lines().iter().any(|l| l.contains("refused")),
        "{:?}",
        alice.lines()
    );
    alice.say(":peers");
    alice.wait_for_line(T, |l| {
        l.starts_with("*** refused ") && l.contains(" connections from 127.0.0.1 in the last ")
    });
}

#[test]
fn invalid_utf8_in_a_frame_closes_that_connection() {
    let (alice, bob) = alice_and_bob();
    let reply = poke(alice.port, |id| {
        let mut body = format!("HELLO 3 {id} 1 lobby ").into_bytes();
        body.push(0xff);
        frame(&body)
    });
    assert!(reply.contains("not valid UTF-8"), "{reply:?}");
    still_works(&alice, &bob, "utf8");
}

#[test]
fn a_bad_message_after_the_handshake_closes_that_connection() {
    let (alice, bob) = alice_and_bob();
    let reply = poke(alice.port, |id| {
        let mut bytes = hello(id, "mallory");
        bytes.extend(frame(b"MSG 3 00000000deadbeef:1 0 mallory fine"));
        bytes.extend(frame(b"MSG x 00000000deadbeef:2 0 mallory broken"));
        bytes
    });
    assert!(reply.contains("ERROR invalid hop limit"), "{reply:?}");
    // The good message before it was delivered; the connection then closed.
    bob.expect_line("mallory: fine", T);
    alice.wait_for_line(T, |l| {
        l.starts_with("*** connection to mallory") && l.contains("invalid hop limit")
    });
    still_works(&alice, &bob, "bad-message");
}

#[test]
fn silent_connections_are_dropped_after_the_handshake_timeout() {
    let (alice, bob) = alice_and_bob();
    // Silent after the Noise handshake: told why, through the link.
    let started = Instant::now();
    let reply = poke(alice.port, |_| Vec::new());
    assert!(
        reply.contains("ERROR no handshake within 5 seconds"),
        "{reply:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(8));
    // Silent from the start: closed within a second or so, and logged.
    let started = Instant::now();
    let mut raw = TcpStream::connect(("127.0.0.1", alice.port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    let mut buf = [0u8; 16];
    assert!(
        matches!(raw.read(&mut buf), Ok(0)),
        "the silent socket was not closed"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    alice.wait_for_log(T, |l| {
        l.contains("refused a connection: nothing within 1 s")
    });
    still_works(&alice, &bob, "silence");
}

#[test]
fn plaintext_protocol_frames_without_encryption_are_refused() {
    let (alice, bob) = alice_and_bob();
    let mut raw = TcpStream::connect(("127.0.0.1", alice.port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    // One write: the node may refuse, and reset the link, as soon as the
    // first bytes arrive, and a second write would then fail.
    let mut bytes = hello("00000000deadbeef", "plain");
    bytes.extend(frame(b"MSG 3 00000000deadbeef:1 0 plain readable"));
    raw.write_all(&bytes).unwrap();
    let mut got = Vec::new();
    let _ = raw.read_to_end(&mut got);
    alice.wait_for_log(T, |l| {
        l.contains("refused a connection: ")
            && l.contains("wrong room secret, or not a p2pchat peer")
    });
    // Nothing of it was shown, and no plaintext came back.
    assert!(!bob.lines().iter().any(|l| l.contains("readable")));
    assert!(!String::from_utf8_lossy(&got).contains("HELLO"), "{got:?}");
    still_works(&alice, &bob, "plaintext");
}

#[test]
fn another_protocol_version_is_told_so_and_refused() {
    let alice = Peer::start_logged("alice");
    let future = p2pchat::protocol::VERSION + 1;
    let reply = poke(alice.port, |id| {
        frame(format!("HELLO {future} {id} 1 lobby future").as_bytes())
    });
    let refusal = format!("protocol version {future} is not supported");
    assert!(reply.contains(&format!("ERROR {refusal}")), "{reply:?}");
    alice.wait_for_log(T, |l| l.contains(&refusal));
}

#[test]
fn escape_sequences_from_a_peer_never_reach_the_terminal() {
    let (alice, bob) = alice_and_bob();
    let port = alice.port;
    // Keep the link open while the others look.
    let sender = std::thread::spawn(move || {
        poke(port, |id| {
            let mut bytes = hello(id, "mallory");
            bytes.extend(frame(
                "MSG 3 00000000deadbeef:1 0 mallory \u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}31mred"
                    .as_bytes(),
            ));
            bytes
        })
    });
    for p in [&alice, &bob] {
        p.expect_line("mallory: ^[[2J^[]0;pwned^G<U+009B>31mred", T);
        assert!(
            !p.lines()
                .iter()
                .any(|l| l.contains('\u{1b}') || l.contains('\u{7}')),
            "{} printed a control character",
            p.name
        );
    }
    drop(sender);
}
