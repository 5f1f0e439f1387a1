//! The encrypted byte stream after the handshake.
//!
//! Written bytes are cut into pieces of at most 65,519 bytes, each sealed in
//! one Noise transport message sent with a 2-byte big-endian length; many
//! small frames share one message, and a 64 KiB frame spans two. The reader
//! joins them again, so the frame codec above sees the same byte stream as
//! on a plain connection. A message that does not decrypt, or a stream cut
//! inside one, is an error: the connection then ends.

use super::{MAX_MESSAGE, TAG_LEN};
use futures::io::{AsyncRead, AsyncWrite};
use snow::StatelessTransportState;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// Plaintext bytes sealed in one transport message at most.
pub const MAX_PLAIN: usize = MAX_MESSAGE - TAG_LEN;
/// Sealed bytes a writer holds before it sends them.
const OUT_LIMIT: usize = 256 * 1024;

fn broken(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Decrypts an encrypted stream.
pub struct SecureReader<R> {
    inner: R,
    transport: Arc<StatelessTransportState>,
    nonce: u64,
    /// Sealed bytes read but not yet opened.
    sealed: Vec<u8>,
    /// The last message opened: `plain[taken..filled]` is not handed out yet.
    plain: Vec<u8>,
    filled: usize,
    taken: usize,
}

impl<R> SecureReader<R> {
    pub(super) fn new(inner: R, transport: Arc<StatelessTransportState>) -> Self {
        SecureReader {
            inner,
            transport,
            nonce: 0,
            sealed: Vec::with_capacity(2 + MAX_MESSAGE),
            plain: vec![0; MAX_PLAIN],
            filled: 0,
            taken: 0,
        }
    }

    /// Opens the first whole message in `sealed`, if there is one.
    fn open(&mut self) -> io::Result<bool> {
        let Some(header) = self.sealed.first_chunk::<2>() else {
            return Ok(false);
        };
        let len = usize::from(u16::from_be_bytes(*header));
        if self.sealed.len() < 2 + len {
            return Ok(false);
        }
        let n = self
            .transport
            .read_message(self.nonce, &self.sealed[2..2 + len], &mut self.plain)
            .map_err(|_| broken("a message did not decrypt"))?;
        self.nonce += 1;
        self.filled = n;
        self.taken = 0;
        self.sealed.drain(..2 + len);
        Ok(true)
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for SecureReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            if this.taken < this.filled {
                let n = out.len().min(this.filled - this.taken);
                out[..n].copy_from_slice(&this.plain[this.taken..this.taken + n]);
                this.taken += n;
                return Poll::Ready(Ok(n));
            }
            if this.open()? {
                continue;
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = ready!(Pin::new(&mut this.inner).poll_read(cx, &mut chunk))?;
            if n == 0 {
                return Poll::Ready(match this.sealed.is_empty() {
                    true => Ok(0),
                    false => Err(io::ErrorKind::UnexpectedEof.into()),
                });
            }
            this.sealed.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Encrypts into a stream.
pub struct SecureWriter<W> {
    inner: W,
    transport: Arc<StatelessTransportState>,
    nonce: u64,
    /// Sealed messages not yet written, from `sent` on.
    out: Vec<u8>,
    sent: usize,
}

impl<W> SecureWriter<W> {
    pub(super) fn new(inner: W, transport: Arc<StatelessTransportState>) -> Self {
        SecureWriter {
            inner,
            transport,
            nonce: 0,
            out: Vec::new(),
            sent: 0,
        }
    }
}

impl<W: AsyncWrite + Unpin> SecureWriter<W> {
    /// Writes out what is sealed.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.out.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.out.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for SecureWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.out.len() >= OUT_LIMIT {
            ready!(this.poll_send(cx))?;
        }
        let piece = &data[..data.len().min(MAX_PLAIN)];
        let start = this.out.len();
        this.out.resize(start + 2 + piece.len() + TAG_LEN, 0);
        let n = this
            .transport
            .write_message(this.nonce, piece, &mut this.out[start + 2..])
            .map_err(|_| broken("a message could not be sealed"))?;
        this.nonce += 1;
        let len = u16::try_from(n).map_err(|_| broken("a sealed message is too long"))?;
        this.out[start..start + 2].copy_from_slice(&len.to_be_bytes());
        this.out.truncate(start + 2 + n);
        Poll::Ready(Ok(piece.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.inner).poll_close(cx)
    }
}
