//! Diagnostics for when a node does not connect: what it dials and how
//! that went, what it refuses and why, which announcements it ignores.
//!
//! `RUST_LOG` picks what is logged, with the `tracing` ecosystem's usual
//! filter syntax (`RUST_LOG=p2pchat=debug`); `--log FILE` picks where it
//! goes, standard error by default. Nothing is logged without `RUST_LOG`,
//! and the log never goes into the chat on standard output.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;
use tracing_subscriber::EnvFilter;

/// Starts logging as `RUST_LOG` says, to `file` (appended to) or to
/// standard error. Does nothing when `RUST_LOG` is unset or empty.
pub fn init(file: Option<&Path>) -> Result<(), String> {
    let Some(filter) = std::env::var("RUST_LOG").ok().filter(|f| !f.is_empty()) else {
        return Ok(());
    };
    let filter = EnvFilter::try_new(&filter)
        .map_err(|e| format!("RUST_LOG={filter:?} is not a log filter: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false);
    let result = match file {
        Some(path) => {
            let out = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("could not open the log file {}: {e}", path.display()))?;
            builder.with_writer(Mutex::new(out)).try_init()
        }
        None => builder.with_writer(std::io::stderr).try_init(),
    };
    result.map_err(|e| format!("could not start logging: {e}"))
}
