//! The test harness: runs real `p2pchat` processes on loopback and watches
//! what they print.
//!
//! Every wait has a deadline and panics with the node's output when it
//! passes, and every process is killed when its handle drops, so a failing
//! test stops by itself and leaves nothing behind.

#![allow(dead_code)] // each test binary uses part of it

pub mod hand;
pub mod lan;
pub mod relay;
pub mod tmux;
pub mod wire;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_p2pchat");

/// Output lines, with a condition variable signalled on each batch.
#[derive(Default)]
struct Output {
    lines: Mutex<Vec<String>>,
    changed: Condvar,
}

/// Nodes the harness starts show links made and closed (`--verbose`):
/// tests wait for those lines to know the network's shape. The quiet
/// default is tested in `tests/terminal.rs`.
pub const VERBOSE: &str = "--verbose";

/// A running p2pchat process.
pub struct Peer {
    pub name: String,
    pub port: u16,
    child: Child,
    stdin: Option<std_mpsc::Sender<Vec<u8>>>,
    writer: Option<thread::JoinHandle<()>>,
    stdout: Arc<Output>,
    stderr: Arc<Output>,
    stopped: AtomicBool,
    /// The config directory made for it, deleted with it.
    config: Option<std::path::PathBuf>,
}

impl Peer {
    /// Starts a new chat.
    pub fn start(name: &str) -> Peer {
        Peer::spawn(name, &[])
    }

    /// Starts a new chat whose node logs at the debug level
    /// (`RUST_LOG=p2pchat=debug`) to standard error, for tests of what a
    /// node refuses: that goes to the log, not the chat.
    pub fn start_logged(name: &str) -> Peer {
        Peer::spawn_logged(name, &[])
    }

    /// [`start_logged`](Self::start_logged), with more arguments.
    pub fn spawn_logged(name: &str, args: &[&str]) -> Peer {
        let mut command = Command::new(BIN);
        command
            .arg(name)
            .args(["--no-discovery", VERBOSE])
            .args(args);
        command.env("RUST_LOG", "p2pchat=debug");
        Peer::listening(Peer::spawn_command(name, command))
    }

    /// Waits for a line of standard error (the log) that `pred` accepts.
    pub fn wait_for_log(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        let mut lines = self.stderr.lines.lock().unwrap();
        loop {
            if let Some(l) = lines.iter().find(|l| pred(l)) {
                return l.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                let all = lines.join("\n");
                drop(lines);
                panic!(
                    "{}: timed out after {timeout:?} waiting for a log line\n--- stderr:\n{all}",
                    self.name
                );
            }
            let wait = (deadline - now).min(Duration::from_millis(50));
            lines = self.stderr.changed.wait_timeout(lines, wait).unwrap().0;
        }
    }

    /// Joins the chat through `via`.
    pub fn join(name: &str, via: &Peer) -> Peer {
        Peer::spawn(name, &["127.0.0.1", &via.port.to_string()])
    }

    /// Runs `p2pchat NAME ARGS...` and waits for its listening line.
    pub fn spawn(name: &str, args: &[&str]) -> Peer {
        Peer::listening(Peer::spawn_raw(name, args))
    }

    /// Waits for `peer`'s listening line and notes its port.
    pub fn listening(mut peer: Peer) -> Peer {
        let line = peer.wait_for_line(Duration::from_secs(20), |l| l.contains("listening on "));
        peer.port =
            listening_port(&line).unwrap_or_else(|| panic!("{}: no port in {line:?}", peer.name));
        peer
    }

    /// The node id its start-up line gives.
    /// (its key's fingerprint, which is the id grouped in fours; or, on
    /// a link without encryption, the id itself).
    pub fn node_id(&self) -> String {
        let marks = ["key fingerprint ", "(node "];
        let line = self.wait_for_line(Duration::from_secs(10), |l| {
            l.starts_with("*** you are ") && marks.iter().any(|m| l.contains(m))
        });
        let after = marks
            .iter()
            .find_map(|m| line.split(m).nth(1))
            .unwrap_or_default();
        let id: String = after.chars().filter(|c| *c != '-').take(16).collect();
        assert!(id.len() == 16, "no node id in {line:?}");
        id
    }

    /// Runs `p2pchat NAME ARGS...` without waiting for anything: with
    /// `--no-discovery` on the machine's loopback, so that it never
    /// announces on the machine's real network; or, inside [`on_lan`], with
    /// discovery on (the default users run) in the test's own namespace.
    pub fn spawn_raw(name: &str, args: &[&str]) -> Peer {
        Peer::spawn_command(name, Peer::command(name, args))
    }

    /// [`spawn`](Self::spawn) with the config directory `config`, where
    /// the node keeps its key: a node started again with the same one is
    /// the same node.
    pub fn spawn_keeping(name: &str, args: &[&str], config: &std::path::Path) -> Peer {
        let mut command = Peer::command(name, args);
        command.env("XDG_CONFIG_HOME", config);
        Peer::listening(Peer::spawn_command(name, command))
    }

    /// The command [`spawn_raw`](Self::spawn_raw) runs.
    fn command(name: &str, args: &[&str]) -> Command {
        let on_lan = LAN.with(|lan| lan.borrow().as_ref().map(|lan| lan.command(1, name, args)));
        if let Some(command) = on_lan {
            return command;
        }
        let mut command = Command::new(BIN);
        command
            .arg(name)
            .args(["--no-discovery", VERBOSE])
            .args(args);
        command
    }

    /// Runs a prepared command (in a network namespace, say).
    pub fn spawn_command(name: &str, mut command: Command) -> Peer {
        // Each node its own config directory, so its own key, as on a
        // machine of its own, unless the test gives one (to restart a node
        // with its key).
        let given = command.get_envs().any(|(k, _)| k == "XDG_CONFIG_HOME");
        let config = (!given).then(config_dir);
        if let Some(dir) = &config {
            command.env("XDG_CONFIG_HOME", dir);
        }
        let mut child = command
            // Piped output must be plain whatever the environment says.
            .env_remove("NO_COLOR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start p2pchat");
        let stdout = Arc::new(Output::default());
        let stderr = Arc::new(Output::default());
        collect(child.stdout.take().expect("stdout"), stdout.clone());
        collect(child.stderr.take().expect("stderr"), stderr.clone());
        let (tx, rx) = std_mpsc::channel::<Vec<u8>>();
        let mut stdin: ChildStdin = child.stdin.take().expect("stdin");
        let writer = thread::spawn(move || {
            for chunk in rx {
                if stdin.write_all(&chunk).is_err() {
                    return;
                }
            }
        });
        Peer {
            name: name.to_string(),
            port: 0,
            child,
            stdin: Some(tx),
            writer: Some(writer),
            stdout,
            stderr,
            stopped: AtomicBool::new(false),
            config,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Types a line (without waiting for the node to read it).
    pub fn say(&self, line: &str) {
        self.send_bytes(format!("{line}\n").into_bytes());
    }

    /// Writes raw bytes to the node's stdin.
    pub fn send_bytes(&self, bytes: Vec<u8>) {
        if let Some(tx) = &self.stdin {
            let _ = tx.send(bytes);
        }
    }

    /// Closes stdin once everything sent before has been written.
    pub fn close_stdin(&mut self) {
        self.stdin.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }

    /// A copy of every stdout line so far.
    pub fn lines(&self) -> Vec<String> {
        self.stdout.lines.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lines.lock().unwrap().join("\n")
    }

    /// How many stdout lines equal `line`.
    pub fn count(&self, line: &str) -> usize {
        self.stdout
            .lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| *l == line)
            .count()
    }

    /// Waits until `done` holds for the stdout lines; panics with the output
    /// if `timeout` passes first.
    pub fn wait_until(&self, timeout: Duration, what: &str, done: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + timeout;
        let mut lines = self.stdout.lines.lock().unwrap();
        loop {
            if done(&lines) {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                let tail: Vec<_> = lines.iter().rev().take(30).rev().cloned().collect();
                // Release the lock first: panicking with it would poison it.
                drop(lines);
                panic!(
                    "{}: timed out after {timeout:?} waiting for {what}\n--- last stdout lines:\n{}\n--- stderr:\n{}",
                    self.name,
                    tail.join("\n"),
                    self.stderr()
                );
            }
            // Re-check at least every 50 ms: cheap even with many lines.
            let wait = (deadline - now).min(Duration::from_millis(50));
            lines = self.stdout.changed.wait_timeout(lines, wait).unwrap().0;
        }
    }

    /// Waits for a stdout line equal to `line`.
    pub fn expect_line(&self, line: &str, timeout: Duration) {
        self.wait_until(timeout, &format!("the line {line:?}"), |ls| {
            ls.iter().any(|l| l == line)
        });
    }

    /// Waits for a stdout line matching `pred` and returns it.
    pub fn wait_for_line(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        self.wait_until(timeout, "a matching line", |ls| ls.iter().any(|l| pred(l)));
        self.lines()
            .into_iter()
            .find(|l| pred(l))
            .unwrap_or_default()
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the collectors take the last output.
                thread::sleep(Duration::from_millis(50));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {timeout:?}\n--- stdout:\n{}\n--- stderr:\n{}",
                self.name,
                self.lines().join("\n"),
                self.stderr()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// How the process ended, if it has.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Freezes the process (SIGSTOP).
    pub fn freeze(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        signal(self.pid(), libc::SIGSTOP);
    }

    /// Thaws a frozen process (SIGCONT).
    pub fn thaw(&self) {
        signal(self.pid(), libc::SIGCONT);
        self.stopped.store(false, Ordering::SeqCst);
    }

    /// Sends SIGINT, as Ctrl-C in a terminal does.
    pub fn interrupt(&self) {
        signal(self.pid(), libc::SIGINT);
    }

    /// Sends the process `sig` (SIGHUP, SIGTERM...).
    pub fn signal(&self, sig: libc::c_int) {
        signal(self.pid(), sig);
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if self.stopped.load(Ordering::SeqCst) {
            // It may have died already; nothing to check then.
            // SAFETY: kill(2) takes plain integers and touches no memory of ours.
            unsafe { libc::kill(self.pid() as libc::pid_t, libc::SIGCONT) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.config {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A new, empty directory for a node's config (`XDG_CONFIG_HOME`): where
/// it keeps its key. The caller deletes it.
pub fn config_dir() -> std::path::PathBuf {
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("p2pchat-config-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("make a config directory");
    dir
}

fn signal(pid: u32, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits");
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
}

/// Reads lines from `source` into `out` until it ends.
fn collect(source: impl Read + Send + 'static, out: Arc<Output>) {
    thread::spawn(move || {
        let mut reader = BufReader::with_capacity(256 * 1024, source);
        let mut buf = String::new();
        loop {
            buf.clear();
            match reader.read_line(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let mut lines = out.lines.lock().unwrap_or_else(|e| e.into_inner());
                    lines.push(buf.trim_end_matches(['\n', '\r']).to_string());
                    // Take whatever else is already buffered under one lock.
                    while reader.buffer().contains(&b'\n') {
                        buf.clear();
                        if reader.read_line(&mut buf).unwrap_or(0) == 0 {
                            break;
                        }
                        lines.push(buf.trim_end_matches(['\n', '\r']).to_string());
                    }
                    drop(lines);
                    out.changed.notify_all();
                }
            }
        }
        out.changed.notify_all();
    });
}

thread_local! {
    /// The namespace that [`on_lan`] runs a test's nodes in.
    static LAN: std::cell::RefCell<Option<lan::Lan>> = const { std::cell::RefCell::new(None) };
}

/// Runs `test` with every node it starts inside a network namespace made
/// for it, with LAN discovery on, as users run p2pchat; the nodes still
/// join each other by `127.0.0.1` as the test says. Returns without running
/// it where namespaces cannot be made (never under CI: see [`lan::Lan::new`]).
pub fn on_lan(test: impl FnOnce()) {
    let Some(lan) = lan::Lan::new(&[lan::DUAL]) else {
        return;
    };
    LAN.with(|l| *l.borrow_mut() = Some(lan));
    // Cleared even if the test panics, so the namespace is deleted.
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            LAN.with(|l| l.borrow_mut().take());
        }
    }
    let _clear = Clear;
    test();
}

/// A random time from zero to `most`, different in every call: for gaps
/// between starts, where a race may hide at any spacing.
pub fn random_up_to(most: Duration) -> Duration {
    use std::hash::BuildHasher;
    let x = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    most.mul_f64((x % 10_001) as f64 / 10_000.0)
}

/// The port in a `listening on ADDR:PORT` line.
pub fn listening_port(line: &str) -> Option<u16> {
    let addr = line.split("listening on ").nth(1)?.split(' ').next()?;
    addr.rsplit(':').next()?.parse().ok()
}

/// Waits until every peer shows `line` exactly once.
pub fn expect_everywhere(peers: &[&Peer], line: &str, timeout: Duration) {
    for p in peers {
        p.expect_line(line, timeout);
    }
}

/// The names of `peer`'s direct connections, as its `:peers` command lists them.
pub fn peer_names(peer: &Peer) -> Vec<String> {
    let before = peer.lines().len();
    peer.say(":peers");
    let is_header =
        |l: &str| l.ends_with(" direct connections:") || l.ends_with(" direct connection:");
    let is_none = |l: &str| l == "*** no direct connections";
    peer.wait_until(Duration::from_secs(5), "a :peers answer", |ls| {
        ls[before.min(ls.len())..]
            .iter()
            .any(|l| is_none(l) || is_header(l))
    });
    let lines = peer.lines();
    let Some(start) = lines[before..]
        .iter()
        .position(|l| is_none(l) || is_header(l))
    else {
        return Vec::new();
    };
    let header = &lines[before + start];
    let count: usize = header
        .trim_start_matches("*** ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // The entries follow the header; wait for all of them.
    peer.wait_until(Duration::from_secs(5), "the :peers entries", |ls| {
        ls.len() > before + start + count
    });
    peer.lines()[before + start + 1..][..count]
        .iter()
        .filter_map(|l| {
            l.strip_prefix("***   ")?
                .split(' ')
                .next()
                .map(str::to_string)
        })
        .collect()
}

/// Waits until `done` holds for `peer`'s direct connections.
pub fn wait_peers(peer: &Peer, timeout: Duration, what: &str, done: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        let names = peer_names(peer);
        if done(&names) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}: timed out waiting for {what}; peers: {names:?}",
            peer.name
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `peer` has at least `n` direct connections.
pub fn wait_connections(peer: &Peer, n: usize, timeout: Duration) {
    wait_peers(peer, timeout, &format!("{n} connections"), |names| {
        names.len() >= n
    });
}

/// Asks `peer` who is online; returns its answer line.
pub fn who(peer: &Peer) -> String {
    let before = peer.lines().len();
    peer.say(":who");
    let is_answer = |l: &String| l.contains(" online: ");
    peer.wait_until(Duration::from_secs(10), "a :who answer", |ls| {
        ls[before.min(ls.len())..].iter().any(is_answer)
    });
    let lines = peer.lines();
    lines[before..]
        .iter()
        .find(|l| is_answer(l))
        .cloned()
        .unwrap_or_default()
}

/// Waits until `peer`'s `:who` lists exactly `names`.
pub fn wait_who(peer: &Peer, names: &[&str], timeout: Duration) {
    let mut sorted: Vec<&str> = names.to_vec();
    sorted.sort_unstable();
    let want = format!("*** {} online: {}", sorted.len(), sorted.join(", "));
    let deadline = Instant::now() + timeout;
    loop {
        if who(peer) == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}: never saw {want:?}; last lines:\n{}",
            peer.name,
            peer.lines().join("\n")
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Resident memory of a process, in bytes.
pub fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

/// The largest delay of `lines` sent one at a time by `from`, each timed
/// until `to` shows it.
pub fn worst_delay(from: &Peer, to: &Peer, lines: &[String]) -> Duration {
    let mut worst = Duration::ZERO;
    for line in lines {
        let started = std::time::Instant::now();
        from.say(line);
        to.expect_line(&format!("{}: {line}", from.name), Duration::from_secs(10));
        worst = worst.max(started.elapsed());
    }
    worst
}
