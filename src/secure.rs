//! Encrypted, authenticated links: the Noise protocol, its handshake
//! through the `snow` crate and its transport messages through `ring`'s
//! AES-GCM (see `cipher.rs`); no cryptographic primitive is written here.
//!
//! Every link starts with a Noise XX handshake (X25519, AES-256-GCM,
//! BLAKE2s), in which both nodes prove their static key. A room with a secret
//! adds a pre-shared key derived from it (`XXpsk2`), so only nodes that know
//! the secret complete the handshake. After it, the protocol's frames travel
//! inside Noise transport messages (see `stream.rs`); the rest of the
//! program is unchanged.
//!
//! A node's id is derived from its public key, so no node can claim another's
//! id on a link: the peer's `HELLO` must carry the id of the key it proved.

mod cipher;
mod identity;
mod stream;

use cipher::Cipher;
pub use identity::{fingerprint_of, node_id_of, room_key, Identity, KeyError};
pub use stream::{SecureReader, SecureWriter};

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use snow::params::NoiseParams;
use std::fmt;
use std::io;

/// The handshake for rooms without a secret. AES-GCM rather than
/// ChaCha20-Poly1305: the CPUs of today run it in hardware, about three times
/// as fast, and a flood seals and opens every byte on every link.
const OPEN: &str = "Noise_XX_25519_AESGCM_BLAKE2s";
/// The handshake for rooms with a secret: the key derived from it is mixed
/// in at the end of the second message, so both sides detect a mismatch.
const SECRET: &str = "Noise_XXpsk2_25519_AESGCM_BLAKE2s";
/// Bound into the handshake: a peer of another protocol cannot complete it.
const PROLOGUE: &[u8] = b"p2pchat";
/// The largest Noise message.
pub const MAX_MESSAGE: usize = 65535;
/// The authentication tag each transport message carries.
pub const TAG_LEN: usize = 16;

/// Why a link could not be set up.
#[derive(Debug)]
pub enum HandshakeError {
    /// The peer did not complete the handshake: another room secret (or none
    /// where one was expected), or not a p2pchat node at all.
    Refused,
    /// The connection failed or closed during the handshake.
    Io(io::Error),
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Refused => {
                write!(f, "wrong room secret, or not a p2pchat peer")
            }
            HandshakeError::Io(e) => write!(f, "connection failed during the handshake: {e}"),
        }
    }
}

impl std::error::Error for HandshakeError {}

impl From<snow::Error> for HandshakeError {
    fn from(_: snow::Error) -> Self {
        HandshakeError::Refused
    }
}

impl From<io::Error> for HandshakeError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            // A stream cut in the middle of the handshake reads as a refusal:
            // that is what a peer with another secret does.
            io::ErrorKind::UnexpectedEof => HandshakeError::Refused,
            _ => HandshakeError::Io(e),
        }
    }
}

/// An encrypted link, and the static public key its peer proved.
pub struct Link<R, W> {
    pub reader: SecureReader<R>,
    pub writer: SecureWriter<W>,
    pub peer_key: [u8; 32],
}

/// Runs the Noise handshake over a fresh connection. The caller bounds it in
/// time; every message read is length-checked before it is buffered.
pub async fn handshake<R, W>(
    mut reader: R,
    mut writer: W,
    initiator: bool,
    identity: &Identity,
    psk: Option<&[u8; 32]>,
) -> Result<Link<R, W>, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let pattern = if psk.is_some() { SECRET } else { OPEN };
    let params: NoiseParams = pattern.parse()?;
    let mut builder = snow::Builder::new(params)
        .local_private_key(identity.private())?
        .prologue(PROLOGUE)?;
    if let Some(psk) = psk {
        builder = builder.psk(2, psk)?;
    }
    let mut state = match initiator {
        true => builder.build_initiator()?,
        false => builder.build_responder()?,
    };
    let mut message = vec![0u8; MAX_MESSAGE];
    let mut payload = vec![0u8; MAX_MESSAGE];
    // XX: -> e; <- e, ee, s, es (psk); -> s, se.
    let mut my_turn = initiator;
    while !state.is_handshake_finished() {
        if my_turn {
            let len = state.write_message(&[], &mut message)?;
            write_message(&mut writer, &message[..len]).await?;
        } else {
            let len = read_message(&mut reader, &mut message).await?;
            state.read_message(&message[..len], &mut payload)?;
        }
        my_turn = !my_turn;
    }
    let peer_key: [u8; 32] = state
        .get_remote_static()
        .and_then(|k| k.try_into().ok())
        .ok_or(HandshakeError::Refused)?;
    let (writer, reader) = transport(&mut state, writer, reader)?;
    Ok(Link {
        reader,
        writer,
        peer_key,
    })
}

/// A writer and a reader that share keys, as the two ends of a link after a
/// handshake between two fresh key pairs, made in memory: for testing and
/// fuzzing the stream alone.
pub fn memory_pair<W, R>(
    writer: W,
    reader: R,
) -> Result<(SecureWriter<W>, SecureReader<R>), HandshakeError> {
    let params = || OPEN.parse::<NoiseParams>();
    let pair = |p| snow::Builder::new(p).generate_keypair();
    let (a, b) = (pair(params()?)?, pair(params()?)?);
    let mut i = snow::Builder::new(params()?)
        .local_private_key(&a.private)?
        .build_initiator()?;
    let mut r = snow::Builder::new(params()?)
        .local_private_key(&b.private)?
        .build_responder()?;
    let (mut msg, mut buf) = ([0u8; 256], [0u8; 256]);
    let n = i.write_message(&[], &mut msg)?;
    r.read_message(&msg[..n], &mut buf)?;
    let n = r.write_message(&[], &mut msg)?;
    i.read_message(&msg[..n], &mut buf)?;
    let n = i.write_message(&[], &mut msg)?;
    r.read_message(&msg[..n], &mut buf)?;
    let (writer, _) = transport(&mut i, writer, futures::io::empty())?;
    let (_, reader) = transport(&mut r, futures::io::sink(), reader)?;
    Ok((writer, reader))
}

/// The two directions of a finished handshake's link. Noise's split gives
/// the initiator's sending key first.
fn transport<W, R>(
    state: &mut snow::HandshakeState,
    writer: W,
    reader: R,
) -> io::Result<(SecureWriter<W>, SecureReader<R>)> {
    let (first, second) = state.dangerously_get_raw_split();
    let (send, receive) = match state.is_initiator() {
        true => (first, second),
        false => (second, first),
    };
    Ok((
        SecureWriter::new(writer, Cipher::new(&send)?),
        SecureReader::new(reader, Cipher::new(&receive)?),
    ))
}

/// Writes one handshake message with its 2-byte big-endian length.
async fn write_message<W: AsyncWrite + Unpin>(writer: &mut W, message: &[u8]) -> io::Result<()> {
    let len = u16::try_from(message.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
    writer.write_all(&len.to_be_bytes()).await?;
    writer.write_all(message).await?;
    writer.flush().await
}

/// Reads one handshake message into `buf`, returning its length.
async fn read_message<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut len = [0u8; 2];
    reader.read_exact(&mut len).await?;
    let len = usize::from(u16::from_be_bytes(len));
    let body = buf.get_mut(..len).ok_or(io::ErrorKind::InvalidData)?;
    reader.read_exact(body).await?;
    Ok(len)
}

#[cfg(test)]
mod tests;
