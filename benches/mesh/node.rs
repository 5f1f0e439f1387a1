//! The nodes measured: `p2pchat` processes whose output lines are counted
//! as they come.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How a node is started. Discovery is always off: the bench's nodes are
/// told whom to join, and other runs on the machine must not join them.
#[derive(Clone, Copy)]
pub struct Setup {
    /// Off runs the benchmark-only `--insecure-plaintext`.
    pub encrypted: bool,
    /// Off runs the benchmark-only `--no-tree`: every message whole over
    /// every link.
    pub tree: bool,
    /// `--max-peers`, if set: 2 keeps a chain of nodes nearly a chain
    /// (five nodes otherwise all link to each other).
    pub max_peers: Option<usize>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            encrypted: true,
            tree: true,
            max_peers: None,
        }
    }
}

/// The binary measured: this build's, or another's (for comparing two
/// builds in turn) named by `MESH_BENCH_BIN`.
pub fn bin() -> String {
    std::env::var("MESH_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_p2pchat").into())
}

/// Where the nodes' standard error goes, kept if a part fails so that what
/// the nodes said can be read.
pub fn log_dir() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("p2pchat-mesh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory for the nodes' logs");
        dir
    })
}

/// A new log file for a node called `name`; names repeat from part to part.
fn log_file(name: &str, what: &str) -> std::fs::File {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    std::fs::File::create(log_dir().join(format!("{n:04}-{name}.{what}"))).expect("a log file")
}

/// A node process whose stdout lines matching a prefix are counted.
pub struct Node {
    child: Child,
    stdin: Option<ChildStdin>,
    pub port: u16,
    pub seen: Arc<AtomicUsize>,
    /// Counted lines whose number (the digits right after the prefix) was
    /// shown before: repeats, where the counted lines are numbered.
    pub repeats: Arc<AtomicUsize>,
    /// When the last lines counted arrived; signalled at each count, so
    /// that a wait sleeps until then rather than polling, which would take
    /// CPU from the nodes measured.
    last: Arc<(Mutex<Option<Instant>>, Condvar)>,
}

impl Node {
    pub fn start(name: &str, join: Option<u16>, count_prefix: &'static str) -> Node {
        Node::start_with(name, join, count_prefix, Setup::default())
    }

    pub fn start_with(
        name: &str,
        join: Option<u16>,
        count_prefix: &'static str,
        setup: Setup,
    ) -> Node {
        let mut cmd = Command::new(bin());
        cmd.arg(name).arg("--no-discovery");
        if !setup.encrypted {
            cmd.arg("--insecure-plaintext");
        }
        if !setup.tree {
            cmd.arg("--no-tree");
        }
        if let Some(max) = setup.max_peers {
            cmd.args(["--max-peers", &max.to_string()]);
        }
        if let Some(port) = join {
            cmd.args(["127.0.0.1", &port.to_string()]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file(name, "err"))
            .spawn()
            .expect("start p2pchat");
        let mut out = BufReader::with_capacity(1 << 20, child.stdout.take().expect("stdout"));
        let mut first = String::new();
        out.read_line(&mut first).expect("a first line");
        let port = first
            .split("listening on ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .expect("a port");
        let seen = Arc::new(AtomicUsize::new(0));
        let repeats = Arc::new(AtomicUsize::new(0));
        let last = Arc::new((Mutex::new(None), Condvar::new()));
        let (s, r, l) = (seen.clone(), repeats.clone(), last.clone());
        // The lines not counted (the node's notices: who connected, who
        // left), for reading when a part fails.
        let mut notices = std::io::BufWriter::new(log_file(name, "notices"));
        // Counts whole reads, not lines one by one: at hundreds of thousands
        // of lines a second, five of these threads would otherwise take CPU
        // from the nodes they measure. A line's time is its read's. Reads go
        // straight into the buffer that is scanned, behind the part of a line
        // the last read ended in; only that part is ever moved.
        thread::spawn(move || {
            // Twice the reader's capacity, so that its reads bypass it.
            let mut pending = vec![0u8; 2 << 20];
            let mut kept = 0;
            let mut shown: Vec<bool> = Vec::new();
            loop {
                if pending.len() - kept < 1 << 20 {
                    pending.resize(kept + (2 << 20), 0);
                }
                let n = match out.read(&mut pending[kept..]) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let now = Instant::now();
                let filled = kept + n;
                let (mut counted, mut repeated, mut start) = (0, 0, 0);
                for end in memchr::memchr_iter(b'\n', &pending[..filled]) {
                    let line = &pending[start..end];
                    start = end + 1;
                    if let Some(rest) = line.strip_prefix(count_prefix.as_bytes()) {
                        counted += 1;
                        if let Some(k) = number(rest) {
                            if k >= shown.len() {
                                shown.resize(k + 1, false);
                            }
                            repeated += usize::from(shown[k]);
                            shown[k] = true;
                        }
                    } else if line.starts_with(b"*** ") {
                        let _ = notices.write_all(line);
                        let _ = notices.write_all(b"\n");
                        let _ = notices.flush();
                    }
                }
                pending.copy_within(start..filled, 0);
                kept = filled - start;
                if counted > 0 {
                    r.fetch_add(repeated, Ordering::SeqCst);
                    s.fetch_add(counted, Ordering::SeqCst);
                    *l.0.lock().unwrap() = Some(now);
                    l.1.notify_all();
                }
            }
        });
        Node {
            stdin: child.stdin.take(),
            child,
            port,
            seen,
            repeats,
            last,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn send(&mut self, bytes: &[u8]) {
        if let Some(stdin) = &mut self.stdin {
            stdin.write_all(bytes).expect("write to stdin");
        }
    }

    pub fn wait_count(&self, n: usize, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        let (last, counted) = &*self.last;
        // The count rises before the reader takes the lock to signal, and
        // is read here under it: no signal is missed.
        let mut guard = last.lock().unwrap();
        while self.seen.load(Ordering::SeqCst) < n {
            let left = deadline.checked_duration_since(Instant::now())?;
            guard = counted.wait_timeout(guard, left).unwrap().0;
        }
        *guard
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The number a counted line starts with, if it does. Read digit by
/// digit: this runs for every line of every node, on the cores the nodes
/// are measured on.
fn number(rest: &[u8]) -> Option<usize> {
    let mut digits = rest.iter().take_while(|b| b.is_ascii_digit()).peekable();
    digits.peek()?;
    digits.try_fold(0usize, |n, b| {
        n.checked_mul(10)?.checked_add(usize::from(b - b'0'))
    })
}
