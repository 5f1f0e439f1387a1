//! A small LAN built from network namespaces, for tests that run nodes
//! with discovery on, as users do: a bridge in a namespace of its own, and
//! one namespace per host plugged into it by a veth pair, each with its own
//! addresses (10.77.0.N and fd77::N). No announcement leaves it.
//!
//! Needs root and iproute2 (`ip netns`). iproute2 is installed if missing
//! and possible; without the privilege, [`Lan::new`] prints a skip line and
//! returns `None`, except under CI (`CI` set), where it panics: CI runs as
//! root and must run these tests. Every namespace is deleted on drop.

use super::{Peer, BIN};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// A small LAN of namespaces, deleted on drop.
pub struct Lan {
    prefix: String,
    switch: String,
    hosts: Vec<String>,
}

/// Addresses of one host.
#[derive(Clone, Copy)]
pub struct Addrs {
    pub v4: bool,
    pub v6: bool,
}

pub const DUAL: Addrs = Addrs { v4: true, v6: true };
pub const V6_ONLY: Addrs = Addrs {
    v4: false,
    v6: true,
};

impl Lan {
    /// A LAN with one host per entry of `hosts`, or `None` where namespaces
    /// cannot be made here.
    pub fn new(hosts: &[Addrs]) -> Option<Lan> {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("p2pt{}x{n}", std::process::id());
        if !can_make_namespaces(&prefix) {
            return None;
        }
        let mut lan = Lan {
            switch: format!("{prefix}sw"),
            prefix,
            hosts: Vec::new(),
        };
        ip(&["netns", "add", &lan.switch]);
        ip(&["-n", &lan.switch, "link", "add", "br0", "type", "bridge"]);
        // Without a querier, snooping would hold multicast back; flood it.
        let _ = try_ip(&[
            "-n",
            &lan.switch,
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        ip(&["-n", &lan.switch, "link", "set", "br0", "up"]);
        for (i, addrs) in hosts.iter().enumerate() {
            lan.add_host(i + 1, *addrs);
        }
        Some(lan)
    }

    fn add_host(&mut self, i: usize, addrs: Addrs) {
        let ns = format!("{}h{i}", self.prefix);
        ip(&["netns", "add", &ns]);
        self.hosts.push(ns.clone());
        // Addresses are usable at once: no duplicate address detection.
        for conf in ["all", "default"] {
            netns_sh(
                &ns,
                &format!("echo 0 > /proc/sys/net/ipv6/conf/{conf}/accept_dad"),
            );
        }
        let port = format!("p{i}");
        ip(&[
            "-n",
            &self.switch,
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &ns,
        ]);
        ip(&["-n", &self.switch, "link", "set", &port, "master", "br0"]);
        ip(&["-n", &self.switch, "link", "set", &port, "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        if !addrs.v6 {
            netns_sh(&ns, "echo 1 > /proc/sys/net/ipv6/conf/eth0/disable_ipv6");
        }
        if addrs.v4 {
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("10.77.0.{i}/24"),
                "dev",
                "eth0",
            ]);
        }
        if addrs.v6 {
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("fd77::{i}/64"),
                "dev",
                "eth0",
                "nodad",
            ]);
        }
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
    }

    /// Starts `p2pchat NAME ARGS...` on host `i` (from 1), discovery on,
    /// and waits for its listening line.
    pub fn node(&self, i: usize, name: &str, args: &[&str]) -> Peer {
        Peer::listening(self.spawn(i, name, args))
    }

    /// Starts `p2pchat NAME ARGS...` on host `i` (from 1), discovery on,
    /// without waiting for anything.
    pub fn spawn(&self, i: usize, name: &str, args: &[&str]) -> Peer {
        Peer::spawn_command(name, self.command(i, name, args))
    }

    /// The command that runs `p2pchat NAME ARGS...` on host `i`.
    pub fn command(&self, i: usize, name: &str, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command
            .args([
                "netns",
                "exec",
                &self.hosts[i - 1],
                BIN,
                name,
                super::VERBOSE,
            ])
            .args(args);
        command
    }

    /// Host `i`'s namespace, for [`enter`].
    pub fn namespace(&self, i: usize) -> String {
        format!("/run/netns/{}", self.hosts[i - 1])
    }

    /// Host `i`'s IPv4 address.
    pub fn v4(i: usize) -> String {
        format!("10.77.0.{i}")
    }

    /// Unplugs host `i` from the switch, or plugs it back.
    pub fn link(&self, i: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.switch, "link", "set", &format!("p{i}"), state]);
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in self.hosts.iter().chain([&self.switch]) {
            let _ = try_ip(&["netns", "del", ns]);
        }
    }
}

/// Moves the calling thread into `namespace` (from [`Lan::namespace`]):
/// the sockets it opens from then on are that host's, for a hostile host
/// written in the test itself.
pub fn enter(namespace: &str) {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(namespace).unwrap_or_else(|e| panic!("{namespace}: {e}"));
    // SAFETY: setns on a descriptor that is open for the whole call.
    let done = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    let error = std::io::Error::last_os_error();
    assert_eq!(done, 0, "setns {namespace}: {error}");
}

/// Runs `ip ARGS`, panicking with its error if it fails.
fn ip(args: &[&str]) {
    if let Err(e) = try_ip(args) {
        panic!("ip {}: {e}", args.join(" "));
    }
}

fn try_ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    match out.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
    }
}

/// Runs a shell command inside a namespace (for its /proc/sys).
fn netns_sh(ns: &str, script: &str) {
    ip(&["netns", "exec", ns, "sh", "-c", script]);
}

/// Whether this process may make namespaces, installing iproute2 first if
/// it is missing. Prints the reason when it may not.
fn can_make_namespaces(prefix: &str) -> bool {
    if Command::new("ip").arg("-V").output().is_err() {
        let _ = Command::new("apt-get")
            .args(["install", "-y", "-qq", "iproute2"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
    }
    let probe = format!("{prefix}probe");
    let result = try_ip(&["netns", "add", &probe]);
    let _ = try_ip(&["netns", "del", &probe]);
    match result {
        Ok(()) => true,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must be able to make network namespaces: {e}"
            );
            eprintln!(
                "skipped: cannot make network namespaces here (needs root and iproute2): {e}"
            );
            false
        }
    }
}
