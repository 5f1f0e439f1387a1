//! Where each name's key lives between runs: one key per name, under the
//! user's config directory (`$XDG_CONFIG_HOME/p2pchat/keys`, or
//! `~/.config/p2pchat/keys`), created on first use with mode 0600. A
//! restart keeps its node id, so the others see the same user come back
//! rather than a second one beside a ghost.
//!
//! A run holds a lock beside its key for as long as it runs: a second run
//! under the same name on the same machine takes a fresh key instead, and
//! says so, since two nodes with one id would refuse each other.

use crate::secure::{Identity, KeyError};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// A key, with the lock that keeps it this run's alone.
pub struct HeldKey {
    pub identity: Identity,
    /// Something the user should know about which key this is.
    pub note: Option<String>,
    /// Held until the process ends; the system lets it go then.
    pub lock: Option<File>,
}

/// The key kept for `name`, or a fresh one (and why) where there is no
/// config directory, it cannot be written, or another run holds the key.
pub fn for_name(name: &str) -> Result<HeldKey, KeyError> {
    for_name_in(name, keys_dir())
}

/// [`for_name`], with the keys kept in `dir`.
fn for_name_in(name: &str, dir: Option<PathBuf>) -> Result<HeldKey, KeyError> {
    let Some(dir) = dir else {
        return fresh(format!(
            "no config directory (set XDG_CONFIG_HOME or HOME): {name} has a new key this run"
        ));
    };
    // A directory that cannot be written (a read-only home, say) costs the
    // key's persistence, not the chat.
    let made = std::fs::DirBuilder::new()
        .recursive(true)
        .mode_owner_only()
        .create(&dir);
    let path = dir.join(format!("{}.key", file_name(name)));
    let locked = made.map_err(|error| KeyError::Io {
        path: dir.display().to_string(),
        error,
    });
    let locked = locked.and_then(|()| lock(&path));
    let locked = match locked {
        Ok(locked) => locked,
        Err(e) => {
            return fresh(format!(
                "could not keep a key for {name} ({e}): {name} has a new key this run"
            ))
        }
    };
    match locked {
        Some(lock) => Ok(HeldKey {
            identity: Identity::load_or_create(&path)?,
            note: None,
            lock: Some(lock),
        }),
        None => fresh(format!(
            "another p2pchat runs as {name} on this machine: this one has a new key"
        )),
    }
}

/// The key kept in `path` (`--key FILE`); an error if another run holds it.
pub fn at(path: &Path) -> Result<HeldKey, KeyError> {
    match lock(path)? {
        Some(lock) => Ok(HeldKey {
            identity: Identity::load_or_create(path)?,
            note: None,
            lock: Some(lock),
        }),
        None => Err(KeyError::Io {
            path: path.display().to_string(),
            error: io::Error::other("another p2pchat is using this key"),
        }),
    }
}

fn fresh(note: String) -> Result<HeldKey, KeyError> {
    Ok(HeldKey {
        identity: Identity::generate()?,
        note: Some(note),
        lock: None,
    })
}

/// `$XDG_CONFIG_HOME/p2pchat/keys`, or `$HOME/.config/p2pchat/keys`.
fn keys_dir() -> Option<PathBuf> {
    let set = |var| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let config = set("XDG_CONFIG_HOME").or_else(|| set("HOME").map(|h| h.join(".config")))?;
    Some(config.join("p2pchat").join("keys"))
}

/// A file name for `name`: letters, digits, `-` and `_` as they are, any
/// other byte as `%XX`, so that no name can reach outside the directory.
fn file_name(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => out.push(char::from(b)),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Takes the lock beside `key`; `None` if another process holds it.
fn lock(key: &Path) -> Result<Option<File>, KeyError> {
    let path = key.with_extension("lock");
    let io_error = |error| KeyError::Io {
        path: path.display().to_string(),
        error,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_error)?;
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this function holds open.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if locked == 0 {
        return Ok(Some(file));
    }
    let error = io::Error::last_os_error();
    match error.kind() {
        io::ErrorKind::WouldBlock => Ok(None),
        _ => Err(io_error(error)),
    }
}

/// Directories only the user can enter.
trait OwnerOnly {
    fn mode_owner_only(&mut self) -> &mut Self;
}

impl OwnerOnly for std::fs::DirBuilder {
    fn mode_owner_only(&mut self) -> &mut Self {
        use std::os::unix::fs::DirBuilderExt;
        self.mode(0o700)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_file_names_that_stay_in_the_directory() {
        assert_eq!(file_name("alice_2-b"), "alice_2-b");
        assert_eq!(file_name("../x"), "%2E%2E%2Fx");
        assert_eq!(file_name("zoë"), "zo%C3%AB");
    }

    #[test]
    fn a_directory_that_cannot_be_written_costs_only_the_key_s_persistence() {
        // Nothing can be made under /proc.
        let kept = for_name_in("alice", Some(PathBuf::from("/proc/p2pchat/keys"))).unwrap();
        let note = kept.note.unwrap_or_default();
        assert!(note.ends_with("alice has a new key this run"), "{note}");
        assert!(kept.lock.is_none());
    }

    #[test]
    fn a_key_is_kept_between_runs_in_its_directory() {
        let dir = std::env::temp_dir().join(format!("p2pchat-keys-{}", std::process::id()));
        let first = for_name_in("bob", Some(dir.clone())).unwrap();
        let id = first.identity.node_id();
        assert!(first.note.is_none());
        drop(first);
        let again = for_name_in("bob", Some(dir.clone())).unwrap();
        assert_eq!(again.identity.node_id(), id);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_second_lock_on_one_key_is_refused_until_the_first_goes() {
        let dir = std::env::temp_dir().join(format!("p2pchat-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("a.key");
        let first = lock(&key).unwrap();
        assert!(first.is_some());
        assert!(lock(&key).unwrap().is_none(), "held");
        drop(first);
        assert!(lock(&key).unwrap().is_some(), "free again");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
