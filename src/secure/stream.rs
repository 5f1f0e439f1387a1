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
    /// Sealed bytes read: `sealed[opened..read]` is not opened yet.
    sealed: Vec<u8>,
    opened: usize,
    read: usize,
    /// A message opened for a caller whose buffer was too small to take it
    /// whole: `plain[taken..filled]` is not handed out yet. Allocated on
    /// first use; a caller with room gets its messages opened in place.
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
            sealed: vec![0; 2 + MAX_MESSAGE],
            opened: 0,
            read: 0,
            plain: Vec::new(),
            filled: 0,
            taken: 0,
        }
    }

    /// The stream it reads from.
    pub fn inner_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Opens the first whole message not yet opened, if there is one:
    /// straight into `out` if it has room for the sealed message (snow
    /// opens in place there), else into `plain`. Returns the bytes put in
    /// `out`, or `None` if no whole message is buffered.
    fn open(&mut self, out: &mut [u8]) -> io::Result<Option<usize>> {
        let pending = &self.sealed[self.opened..self.read];
        let Some(header) = pending.first_chunk::<2>() else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes(*header));
        let Some(sealed) = pending.get(2..2 + len) else {
            return Ok(None);
        };
        let direct = out.len() >= len;
        if !direct && self.plain.is_empty() {
            self.plain = vec![0; MAX_MESSAGE];
        }
        let target = match direct {
            true => out,
            false => &mut self.plain[..],
        };
        let n = self
            .transport
            .read_message(self.nonce, sealed, target)
            .map_err(|_| broken("a message did not decrypt"))?;
        self.nonce += 1;
        self.opened += 2 + len;
        if direct {
            return Ok(Some(n));
        }
        self.filled = n;
        self.taken = 0;
        Ok(Some(0))
    }

    /// Makes room to read: moves the unopened tail to the front when the
    /// buffer's end is reached (one message at most: the buffer holds one).
    fn make_room(&mut self) {
        if self.opened == self.read {
            self.opened = 0;
            self.read = 0;
        } else if self.read == self.sealed.len() {
            self.sealed.copy_within(self.opened..self.read, 0);
            self.read -= self.opened;
            self.opened = 0;
        }
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
            match this.open(out)? {
                // An empty message opened in place reads as no bytes, which
                // would look like the end of the stream: go on instead.
                Some(0) => continue,
                Some(n) => return Poll::Ready(Ok(n)),
                None => {}
            }
            this.make_room();
            let room = &mut this.sealed[this.read..];
            let n = ready!(Pin::new(&mut this.inner).poll_read(cx, room))?;
            if n == 0 {
                return Poll::Ready(match this.opened == this.read {
                    true => Ok(0),
                    false => Err(io::ErrorKind::UnexpectedEof.into()),
                });
            }
            this.read += n;
        }
    }
}

/// Encrypts into a stream.
pub struct SecureWriter<W> {
    inner: W,
    transport: Arc<StatelessTransportState>,
    nonce: u64,
    /// Sealed messages not yet written: `out[sent..filled]`. The buffer
    /// keeps its length between batches, so that sealing into it need not
    /// zero it first each time.
    out: Vec<u8>,
    filled: usize,
    sent: usize,
}

impl<W> SecureWriter<W> {
    pub(super) fn new(inner: W, transport: Arc<StatelessTransportState>) -> Self {
        SecureWriter {
            inner,
            transport,
            nonce: 0,
            out: Vec::new(),
            filled: 0,
            sent: 0,
        }
    }
}

impl<W: AsyncWrite + Unpin> SecureWriter<W> {
    /// Writes out what is sealed.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.filled {
            let pending = &self.out[self.sent..self.filled];
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.filled = 0;
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
        if this.filled >= OUT_LIMIT {
            ready!(this.poll_send(cx))?;
        }
        let piece = &data[..data.len().min(MAX_PLAIN)];
        let start = this.filled;
        let end = start + 2 + piece.len() + TAG_LEN;
        if this.out.len() < end {
            this.out.resize(end, 0);
        }
        let n = this
            .transport
            .write_message(this.nonce, piece, &mut this.out[start + 2..end])
            .map_err(|_| broken("a message could not be sealed"))?;
        this.nonce += 1;
        let len = u16::try_from(n).map_err(|_| broken("a sealed message is too long"))?;
        this.out[start..start + 2].copy_from_slice(&len.to_be_bytes());
        this.filled = start + 2 + n;
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
