//! Floods from a hostile peer (PROTOCOL.md §6.1): requests that make a
//! node work or queue (`HAVE`, `DIGEST`, `GRAFT`, `IHAVE`), and connections refused
//! by the thousand while the terminal is stalled. Each costs a bounded
//! amount of memory and bytes queued, and delays no honest line for long.
//!
//! Discovery is off (the harness's loopback default): the hostile peer
//! must reach the node through links the test makes.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::hand::{Hand, EMPTY_DIGEST};
use support::{rss, worst_delay, Peer};

const T: Duration = Duration::from_secs(10);

#[test]
fn a_hundred_have_frames_cost_one_history() {
    // A full history: 8 MiB in lines of 40 KB.
    let alice = Peer::start("alice");
    let line = "x".repeat(40_000);
    for i in 0..210 {
        alice.say(&format!("{i} {line}"));
    }
    alice.wait_until(T, "the last long line", |ls| {
        ls.iter().any(|l| l.starts_with("alice: 209 "))
    });
    // Old enough to be replayed as history.
    std::thread::sleep(Duration::from_millis(2500));
    let before = rss(alice.pid());
    let hand = Hand::connect(&alice, "mallory");
    hand.send("HAVE");
    // The one answer comes whole; the repeats add nothing.
    let mut got = 0;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(500));
        let now = hand.received("HIST ").len();
        if now == got && got > 0 {
            break;
        }
        got = now;
    }
    assert!(got >= 150, "the history came: {got} lines");
    for _ in 0..99 {
        hand.send("HAVE");
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(hand.received("HIST ").len(), got, "answered once");
    let grown = rss(alice.pid()).saturating_sub(before);
    assert!(grown < 64 << 20, "RSS grew by {} MiB", grown >> 20);
    // And the node still chats.
    let bob = Peer::join("bob", &alice);
    bob.say("still fine");
    alice.expect_line("bob: still fine", T);
}

/// A `DIGEST` is answered once per link, with the roster entries in the
/// buckets that differ: every user for the digest of an empty roster,
/// none for the node's own digest sent back, and nothing at all for a
/// repeat, which would cost a pass over the roster each time.
#[test]
fn a_digest_is_answered_once_with_only_what_differs() {
    let alice = Peer::start("alice");
    let bob = Peer::join("bob", &alice);
    alice.wait_until(T, "bob joined", |ls| {
        ls.iter().any(|l| l.ends_with("bob joined"))
    });
    let hand = Hand::connect(&alice, "mallory");
    let roster = hand.expect("ROSTER");
    for id in [alice.node_id(), bob.node_id()] {
        assert!(roster.contains(&format!("{id}:")), "{id} not in {roster:?}");
    }
    for _ in 0..100 {
        hand.send(EMPTY_DIGEST);
    }
    // A node that knows what alice knows sends her digest back.
    let twin = Hand::open_bare(&alice, "trudy", true);
    let digest = twin.expect("DIGEST");
    twin.send(&digest);
    assert_eq!(twin.expect("ROSTER"), "ROSTER", "nothing differs");
    std::thread::sleep(Duration::from_secs(2));
    // The answer: the roster, then the empty one that ends it.
    assert_eq!(hand.received("ROSTER").len(), 2, "answered once");
    assert_eq!(twin.received("ROSTER").len(), 1, "answered once");
}

#[test]
fn a_flood_of_graft_frames_costs_little_and_delays_nobody() {
    let alice = Peer::start("alice");
    let bob = Peer::join("bob", &alice);
    alice.wait_for_line(T, |l| l.starts_with("*** connected to bob"));
    // Recent messages of alice's to ask for, again and again.
    for i in 0..500 {
        alice.say(&format!("recent {i} {}", "r".repeat(200)));
    }
    bob.expect_line(&format!("alice: recent 499 {}", "r".repeat(200)), T);
    let origin = alice.node_id();
    let hand = Hand::connect(&alice, "mallory");
    let flood = std::thread::spawn(move || {
        for _ in 0..40_000 {
            // alice may close the link instead, if this test's reader of
            // her answers stalls for 4 s on a loaded machine (PROTOCOL.md
            // §5.3.1): a flooder losing its link is allowed, and what it
            // was sent is still counted below.
            if !hand.try_send(&format!("GRAFT {origin}:0-{}", u64::MAX)) {
                break;
            }
        }
        hand
    });
    let lines: Vec<String> = (0..20).map(|i| format!("honest {i}")).collect();
    let worst = worst_delay(&bob, &alice, &lines);
    let hand = flood.join().unwrap();
    eprintln!("worst delay of an honest line during the flood: {worst:?}");
    assert!(worst < Duration::from_millis(1500), "{worst:?}");
    // What was resent in answer is bounded by the link's allowance (the
    // recent cache's size, 3.5 MiB, per 10 s), not by the number of
    // requests; every request costs 16 KiB of it before any work.
    std::thread::sleep(Duration::from_millis(500));
    let frames = [hand.received("MSG "), hand.received("HIST ")].concat();
    let resent: usize = frames.iter().map(String::len).sum();
    assert!(resent <= (3 << 20) + (1 << 19), "{resent} bytes resent");
}

/// Made-up messages announced by the ten thousand: the node asks for
/// what it lacks, but its requests are bounded by what was announced (each
/// range asked for three times at most), its table of wants stays
/// bounded, and honest lines go through.
#[test]
fn a_flood_of_ihave_frames_costs_little_and_delays_nobody() {
    let alice = Peer::start("alice");
    let bob = Peer::join("bob", &alice);
    alice.wait_for_line(T, |l| l.starts_with("*** connected to bob"));
    let before = rss(alice.pid());
    let hand = Hand::connect(&alice, "mallory");
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sent = 0usize;
            let mut frames = 0u64;
            let now_us = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_micros() as u64;
            while !stop.load(Ordering::SeqCst) && frames < 20_000 {
                let ranges: Vec<String> = (0..40u64)
                    .map(|i| {
                        let origin = 0x1000_0000 + frames * 40 + i;
                        format!("{origin:016x}:{now_us}-{}", now_us + 1_000)
                    })
                    .collect();
                let body = format!("IHAVE {}", ranges.join(" "));
                sent += body.len();
                hand.send(&body);
                frames += 1;
            }
            (hand, sent, frames)
        })
    };
    let lines: Vec<String> = (0..20).map(|i| format!("honest {i}")).collect();
    let worst = worst_delay(&bob, &alice, &lines);
    stop.store(true, Ordering::SeqCst);
    let (hand, sent, frames) = flood.join().unwrap();
    eprintln!("{frames} IHAVE frames ({sent} bytes); worst delay of an honest line {worst:?}");
    assert!(worst < Duration::from_millis(1500), "{worst:?}");
    // Requests come for a while after (each want is asked again, up to
    // three times).
    std::thread::sleep(Duration::from_secs(4));
    let asked: usize = hand.received("GRAFT ").iter().map(String::len).sum();
    eprintln!(
        "GRAFT bytes sent back: {asked}, {:.2} per IHAVE byte",
        asked as f64 / sent as f64
    );
    assert!(
        asked <= 3 * sent,
        "{asked} bytes of GRAFT for {sent} of IHAVE"
    );
    let grown = rss(alice.pid()).saturating_sub(before);
    eprintln!("RSS grew by {} KiB", grown >> 10);
    assert!(grown < 64 << 20, "RSS grew by {} MiB", grown >> 20);
    bob.say("still fine");
    alice.expect_line("bob: still fine", T);
}

/// A node whose terminal has stopped reading (Ctrl-S, a stalled ssh), with
/// a flood of failed handshakes going on: refusals are counted, not
/// printed one by one, and the display's queue is bounded, so memory stays
/// bounded; once the terminal reads again the node chats as before.
#[test]
fn refusals_while_the_terminal_is_stalled_keep_memory_bounded() {
    let config = support::config_dir();
    let mut child = Command::new(support::BIN)
        .args(["alice", "--no-discovery"])
        .env("XDG_CONFIG_HOME", &config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start p2pchat");
    // Read up to the listening line, then stop reading: the pipe fills,
    // and the node's writes to its terminal stall.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let port = loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "no listening line");
        if let Some(port) = support::listening_port(&line) {
            break port;
        }
    };
    let pid = child.id();
    let before = rss(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let flooders: Vec<_> = (0..8)
        .map(|_| {
            let (stop, refused) = (stop.clone(), refused.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    // Not a Noise handshake: refused at its first bytes.
                    if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                        let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
                        let _ = s.shutdown(std::net::Shutdown::Write);
                        let mut sink = Vec::new();
                        let _ = std::io::Read::read_to_end(&mut s, &mut sink);
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    let mut peak = before;
    while started.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(500));
        peak = peak.max(rss(pid));
    }
    stop.store(true, Ordering::SeqCst);
    for f in flooders {
        f.join().unwrap();
    }
    let n = refused.load(Ordering::Relaxed);
    let grown = peak.saturating_sub(before);
    eprintln!(
        "{n} connections refused in 15 s with the terminal stalled; RSS grew by {} KiB",
        grown >> 10
    );
    assert!(n > 1_000, "the flood was too slow to show anything: {n}");
    assert!(grown < 64 << 20, "RSS grew by {} MiB", grown >> 20);
    // The terminal reads again: nothing was printed per refusal, and the
    // node is well.
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for l in out.lines() {
            let Ok(l) = l else { break };
            let done = l.contains("bob: still fine");
            lines.push(l);
            if done {
                break;
            }
        }
        lines
    });
    let bob = Peer::spawn("bob", &["127.0.0.1", &port.to_string()]);
    std::thread::sleep(Duration::from_secs(1));
    bob.say("still fine");
    let deadline = Instant::now() + T;
    while !reader.is_finished() {
        assert!(Instant::now() < deadline, "alice never showed bob's line");
        std::thread::sleep(Duration::from_millis(50));
    }
    let lines = reader.join().unwrap();
    // Without --verbose, refusals are for :peers and the log only.
    let refusals = lines.iter().filter(|l| l.contains("refused")).count();
    assert_eq!(
        refusals,
        0,
        "{refusals} refusal lines:\n{}",
        lines.join("\n")
    );
    let _ = child.stdin.take().map(|mut s| s.write_all(b":quit\n"));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&config);
}

/// With `--verbose`, connections turned away are told in the chat, summed
/// up once a minute at most, never one line each.
#[test]
fn refusals_are_summed_up_in_the_chat_with_verbose() {
    let alice = Peer::start("alice");
    for _ in 0..5 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", alice.port)).unwrap();
        let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
        let _ = s.shutdown(std::net::Shutdown::Write);
        let _ = std::io::Read::read_to_end(&mut s, &mut Vec::new());
    }
    // Told at the next heartbeat (every 4 s).
    let told = alice.wait_for_line(T, |l| l.starts_with("*** refused "));
    assert!(told.contains("5 connections from 127.0.0.1"), "{told}");
    for _ in 0..5 {
        let _ = std::net::TcpStream::connect(("127.0.0.1", alice.port))
            .and_then(|mut s| s.write_all(b"junk"));
    }
    std::thread::sleep(Duration::from_secs(9));
    let lines = alice.lines();
    let refused = lines
        .iter()
        .filter(|l| l.starts_with("*** refused "))
        .count();
    assert_eq!(refused, 1, "once a minute at most: {lines:#?}");
}
