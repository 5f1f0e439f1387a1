//! A node's key pair, its id and fingerprint, and the room key.

use crate::protocol::NodeId;
use blake2::{Blake2s256, Digest};
use std::fmt;
use std::io::{self, Write};
use std::path::Path;

/// A node's static X25519 key pair.
pub struct Identity {
    private: [u8; 32],
    public: [u8; 32],
}

/// Why a key file could not be used.
#[derive(Debug)]
pub enum KeyError {
    Io { path: String, error: io::Error },
    Malformed { path: String },
    Generate,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Io { path, error } => write!(f, "key file {path}: {error}"),
            KeyError::Malformed { path } => write!(
                f,
                "key file {path} does not hold a p2pchat key (64 hex digits)"
            ),
            KeyError::Generate => write!(f, "could not generate a key pair"),
        }
    }
}

impl std::error::Error for KeyError {}

impl Identity {
    /// A fresh key pair from the operating system's randomness.
    pub fn generate() -> Result<Identity, KeyError> {
        let params = super::OPEN.parse().map_err(|_| KeyError::Generate)?;
        let pair = snow::Builder::new(params)
            .generate_keypair()
            .map_err(|_| KeyError::Generate)?;
        Identity::from_private(&pair.private).ok_or(KeyError::Generate)
    }

    /// The key pair kept in `path`, created there (mode 0600) if absent.
    pub fn load_or_create(path: &Path) -> Result<Identity, KeyError> {
        let shown = path.display().to_string();
        let io_error = |error| KeyError::Io {
            path: shown.clone(),
            error,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => decode_hex32(text.trim())
                .and_then(|k| Identity::from_private(&k))
                .ok_or(KeyError::Malformed { path: shown }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let identity = Identity::generate()?;
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(io_error)?;
                writeln!(file, "{}", hex(&identity.private)).map_err(io_error)?;
                Ok(identity)
            }
            Err(e) => Err(io_error(e)),
        }
    }

    fn from_private(private: &[u8]) -> Option<Identity> {
        let private: [u8; 32] = private.try_into().ok()?;
        let public = x25519_public(&private)?;
        Some(Identity { private, public })
    }

    pub(super) fn private(&self) -> &[u8] {
        &self.private
    }

    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    pub fn node_id(&self) -> NodeId {
        node_id_of(&self.public)
    }

    pub fn fingerprint(&self) -> String {
        fingerprint_of(&self.public)
    }
}

/// The public key of a private one: a throwaway in-memory XX handshake
/// against a responder holding `private` reveals it as the responder's
/// static key (snow has no direct call for it, and no cryptography is
/// written here).
fn x25519_public(private: &[u8; 32]) -> Option<[u8; 32]> {
    let params = |()| super::OPEN.parse().ok();
    let throwaway = snow::Builder::new(params(())?).generate_keypair().ok()?;
    let mut initiator = snow::Builder::new(params(())?)
        .local_private_key(&throwaway.private)
        .ok()?
        .build_initiator()
        .ok()?;
    let mut responder = snow::Builder::new(params(())?)
        .local_private_key(private)
        .ok()?
        .build_responder()
        .ok()?;
    let (mut msg, mut payload) = ([0u8; 256], [0u8; 256]);
    let len = initiator.write_message(&[], &mut msg).ok()?;
    responder.read_message(&msg[..len], &mut payload).ok()?;
    let len = responder.write_message(&[], &mut msg).ok()?;
    initiator.read_message(&msg[..len], &mut payload).ok()?;
    initiator.get_remote_static()?.try_into().ok()
}

/// The node id of a public key: the first 8 bytes of its BLAKE2s hash.
pub fn node_id_of(public: &[u8; 32]) -> NodeId {
    let hash = Blake2s256::digest(public);
    let mut id = [0u8; 8];
    id.copy_from_slice(&hash[..8]);
    NodeId(u64::from_be_bytes(id))
}

/// The key's fingerprint, to compare out loud: its node id in groups of four.
pub fn fingerprint_of(public: &[u8; 32]) -> String {
    let id = format!("{:016x}", node_id_of(public).0);
    format!("{}-{}-{}-{}", &id[..4], &id[4..8], &id[8..12], &id[12..])
}

/// The pre-shared key of a room with a secret: Argon2id (memory-hard, so a
/// captured handshake does not make guessing the secret cheap), salted with
/// the room name.
pub fn room_key(secret: &str, room: &str) -> [u8; 32] {
    let salt = format!("p2pchat room {room}");
    let params = argon2::Params::new(64 * 1024, 3, 1, Some(32)).expect("valid Argon2 parameters");
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = [0u8; 32];
    argon
        .hash_password_into(secret.as_bytes(), salt.as_bytes(), &mut key)
        .expect("a salt of at least 8 bytes and a 32-byte output are valid");
    key
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
