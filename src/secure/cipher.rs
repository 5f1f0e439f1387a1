//! One direction of a link's transport encryption, as Noise defines it for
//! AES-256-GCM: the nonce is 32 zero bits followed by the big-endian count
//! of messages sent before, there is no associated data, and the count
//! 2^64 - 1 is never used.
//!
//! It is done here with ring rather than through snow's transport state so
//! that a message is sealed and opened where it lies: snow first copies
//! every message into its output buffer, and those 64 KiB copies cost more
//! than the encryption. The handshake, and with it the keys, stay snow's.

use super::TAG_LEN;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use std::io;

/// The key and message count of one direction.
pub struct Cipher {
    key: LessSafeKey,
    count: u64,
}

impl Cipher {
    /// A cipher for a direction whose key the handshake derived, before
    /// its first message.
    pub fn new(key: &[u8; 32]) -> io::Result<Self> {
        let key = UnboundKey::new(&AES_256_GCM, key).map_err(|_| broken("an unusable key"))?;
        Ok(Cipher {
            key: LessSafeKey::new(key),
            count: 0,
        })
    }

    /// The next message's nonce; an error once the count is used up.
    fn next_nonce(&mut self) -> io::Result<Nonce> {
        if self.count == u64::MAX {
            return Err(broken("the link's message count is used up"));
        }
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&self.count.to_be_bytes());
        self.count += 1;
        Ok(Nonce::assume_unique_for_key(nonce))
    }

    /// Seals the next message in place: `message` is the plaintext followed
    /// by [`TAG_LEN`] bytes of room, which take the tag.
    pub fn seal(&mut self, message: &mut [u8]) -> io::Result<()> {
        let split = message
            .len()
            .checked_sub(TAG_LEN)
            .ok_or_else(|| broken("no room for the tag"))?;
        let nonce = self.next_nonce()?;
        let (plain, tag) = message.split_at_mut(split);
        let sealed = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::empty(), plain)
            .map_err(|_| broken("a message could not be sealed"))?;
        tag.copy_from_slice(sealed.as_ref());
        Ok(())
    }

    /// Opens the next message, sealed at `in_out[sealed..]`, and moves
    /// its plaintext to the front of `in_out` as it decrypts it; returns
    /// the plaintext's length.
    pub fn open_within(&mut self, in_out: &mut [u8], sealed: usize) -> io::Result<usize> {
        let nonce = self.next_nonce()?;
        self.key
            .open_within(nonce, Aad::empty(), in_out, sealed..)
            .map(|plain| plain.len())
            .map_err(|_| broken("a message did not decrypt"))
    }
}

pub(super) fn broken(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}
