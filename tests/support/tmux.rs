//! A terminal for tests: a tmux server of the test's own, whose screen the
//! test reads and whose keys it presses.

use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of our own, with one window running a command.
pub struct Tmux {
    socket: String,
    /// The nodes' config directory (where they keep their keys).
    pub config: std::path::PathBuf,
}

impl Tmux {
    /// Starts `command` in a 100x30 terminal, or returns `None` without tmux.
    pub fn start(name: &str, command: &str) -> Option<Tmux> {
        Tmux::start_sized(name, command, 100, 30)
    }

    /// Starts `command` in a terminal of `columns` by `rows`.
    pub fn start_sized(name: &str, command: &str, columns: u16, rows: u16) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "tmux is missing; .ci/run should have installed it"
            );
            eprintln!("skipped: tmux not found (apt-get install tmux)");
            return None;
        }
        let socket = format!("p2pchat-test-{}-{name}", std::process::id());
        let config = super::config_dir();
        let command = format!("env XDG_CONFIG_HOME={} {command}", config.display());
        let command = command.as_str();
        let tmux = Tmux { socket, config };
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            &columns.to_string(),
            "-y",
            &rows.to_string(),
            command,
        ]);
        Some(tmux)
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env_remove("NO_COLOR")
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types text literally.
    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "main", "-l", text]);
    }

    /// Presses keys by tmux name (Enter, Left, BSpace, Up...).
    pub fn press(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// The screen as text; with `escapes`, with its colour codes.
    pub fn screen(&self, escapes: bool) -> String {
        let mut args = vec!["capture-pane", "-t", "main", "-p"];
        if escapes {
            args.push("-e");
        }
        self.run(&args)
    }

    /// Waits until the screen satisfies `done`.
    pub fn wait(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let screen = self.screen(false);
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
        let _ = std::fs::remove_dir_all(&self.config);
    }
}

/// The last non-empty line of a screen.
pub fn last_line(screen: &str) -> &str {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}
