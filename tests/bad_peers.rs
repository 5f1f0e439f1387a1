//! Raw sockets that break the protocol lose their own connection, with the
//! reason logged; the node keeps chatting and accepting new peers.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use support::Peer;

const T: Duration = Duration::from_secs(10);

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn hello(name: &str) -> Vec<u8> {
    let version = p2pchat::protocol::VERSION;
    frame(format!("HELLO {version} 00000000deadbeef 1 lobby {name}").as_bytes())
}

/// Connects, sends `bytes`, and returns whatever the node sends back before
/// it closes the connection, or within 8 seconds at most.
fn poke(port: u16, bytes: &[u8]) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(bytes).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// The node still chats with its real peer and still accepts a new one.
fn still_works(alice: &Peer, bob: &Peer, tag: &str) {
    alice.say(&format!("still here after {tag}"));
    bob.expect_line(&format!("alice: still here after {tag}"), T);
    let carol = Peer::join(&format!("carol-{tag}"), alice);
    carol.say("hello");
    bob.expect_line(&format!("carol-{tag}: hello"), T);
}

#[test]
fn garbage_and_broken_frames_close_only_that_connection() {
    let alice = Peer::start("alice");
    let bob = Peer::join("bob", &alice);
    alice.wait_for_line(T, |l| l.starts_with("*** connected to bob"));

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            "over the limit",
        ),
        (
            "over-limit",
            u32::MAX.to_be_bytes().to_vec(),
            "message of 4294967295 bytes is over the limit of 65536 bytes",
        ),
        (
            "bad-utf8",
            frame(b"HELLO 3 00000000deadbeef 1 lobby \xff\xfe"),
            "not valid UTF-8",
        ),
        (
            "pre-handshake",
            frame(b"MSG 3 00000000deadbeef:1 0 mallory hi"),
            "expected HELLO as the first message",
        ),
        (
            "unknown-kind",
            frame(b"WHAT is this"),
            "unknown message kind",
        ),
        (
            "bad-name",
            hello("mal\u{1b}[2Jlory"),
            "a name cannot contain",
        ),
    ];
    for (tag, bytes, reason) in cases {
        let reply = poke(alice.port, &bytes);
        // The peer is told why, after alice's own HELLO.
        assert!(
            reply.contains("ERROR ") && reply.contains(reason),
            "{tag}: {reply:?}"
        );
        alice.wait_for_line(T, |l| {
            l.starts_with("*** refused a connection from") && l.contains(reason)
        });
        still_works(&alice, &bob, tag);
    }
}

#[test]
fn a_bad_message_after_the_handshake_closes_that_connection() {
    let alice = Peer::start("alice");
    let bob = Peer::join("bob", &alice);
    alice.wait_for_line(T, |l| l.starts_with("*** connected to bob"));
    let mut bytes = hello("mallory");
    bytes.extend(frame(b"MSG 3 00000000deadbeef:1 0 mallory fine"));
    bytes.extend(frame(b"MSG x 00000000deadbeef:2 0 mallory broken"));
    let reply = poke(alice.port, &bytes);
    assert!(reply.contains("ERROR invalid hop limit"), "{reply:?}");
    // The good message before it was delivered; the connection then closed.
    bob.expect_line("mallory: fine", T);
    alice.wait_for_line(T, |l| {
        l.starts_with("*** connection to mallory") && l.contains("invalid hop limit")
    });
    still_works(&alice, &bob, "bad-message");
}

#[test]
fn a_silent_connection_is_dropped_after_the_handshake_timeout() {
    let alice = Peer::start("alice");
    let bob = Peer::join("bob", &alice);
    alice.wait_for_line(T, |l| l.starts_with("*** connected to bob"));
    let started = std::time::Instant::now();
    let reply = poke(alice.port, b"");
    assert!(
        reply.contains("ERROR no handshake within 5 seconds"),
        "{reply:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(8));
    still_works(&alice, &bob, "silence");
}

#[test]
fn another_protocol_version_is_told_so_and_refused() {
    let alice = Peer::start("alice");
    let reply = poke(
        alice.port,
        &frame(b"HELLO 4 00000000deadbeef 1 lobby future"),
    );
    assert!(
        reply.contains("ERROR protocol version 4 is not supported"),
        "{reply:?}"
    );
    alice.wait_for_line(T, |l| l.contains("protocol version 4 is not supported"));
}

#[test]
fn escape_sequences_from_a_peer_never_reach_the_terminal() {
    let alice = Peer::start("alice");
    let bob = Peer::join("bob", &alice);
    alice.wait_for_line(T, |l| l.starts_with("*** connected to bob"));
    let mut bytes = hello("mallory");
    bytes.extend(frame(
        "MSG 3 00000000deadbeef:1 0 mallory \u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}31mred".as_bytes(),
    ));
    let mut s = TcpStream::connect(("127.0.0.1", alice.port)).unwrap();
    s.write_all(&bytes).unwrap();
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
}
