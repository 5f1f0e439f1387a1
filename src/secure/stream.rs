//! The encrypted byte stream after the handshake.
//!
//! Written bytes are cut into pieces of at most 65,519 bytes, each sealed in
//! one Noise transport message sent with a 2-byte big-endian length; many
//! small frames share one message, and a 64 KiB frame spans two. The reader
//! joins them again, so the frame codec above sees the same byte stream as
//! on a plain connection. A message that does not decrypt, or a stream cut
//! inside one, is an error: the connection then ends.

use super::cipher::{broken, Cipher};
use super::{MAX_MESSAGE, TAG_LEN};
use futures::io::{AsyncRead, AsyncWrite};
use std::io::{self, IoSlice};
use std::ops::Range;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Plaintext bytes sealed in one transport message at most.
pub const MAX_PLAIN: usize = MAX_MESSAGE - TAG_LEN;
/// Sealed bytes a writer holds before it sends them.
const OUT_LIMIT: usize = 256 * 1024;
/// Bytes a reader takes from the socket at most: room for several whole
/// messages, so that a flood is read in few system calls and wake-ups,
/// and the part of a message left at the buffer's end, moved to its start,
/// is a small share of what is read.
const IN_BUFFER: usize = 4 * (2 + MAX_MESSAGE);

/// Decrypts an encrypted stream.
pub struct SecureReader<R> {
    inner: R,
    cipher: Cipher,
    /// Bytes read. Messages are opened where they lie: `buf[plain]` is
    /// plaintext not handed out yet, and `buf[opened..read]` sealed bytes
    /// not opened yet.
    buf: Vec<u8>,
    plain: Range<usize>,
    opened: usize,
    read: usize,
}

impl<R> SecureReader<R> {
    pub(super) fn new(inner: R, cipher: Cipher) -> Self {
        SecureReader {
            inner,
            cipher,
            buf: vec![0; IN_BUFFER],
            plain: 0..0,
            opened: 0,
            read: 0,
        }
    }

    /// The stream it reads from.
    pub fn inner_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Opens the first whole message not yet opened, if there is one, and
    /// returns where its plaintext lies in `buf`.
    fn open(&mut self) -> io::Result<Option<Range<usize>>> {
        let pending = &self.buf[self.opened..self.read];
        let Some(header) = pending.first_chunk::<2>() else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes(*header));
        let start = self.opened + 2;
        if pending.len() < 2 + len {
            return Ok(None);
        }
        let n = self.cipher.open(&mut self.buf[start..start + len])?.len();
        self.opened = start + len;
        Ok(Some(start..start + n))
    }

    /// Makes room to read: moves the unopened tail to the front when the
    /// buffer's end is reached (less than one message, as every whole one
    /// was opened). Only called once every opened byte is handed out.
    fn make_room(&mut self) {
        if self.opened == self.read {
            self.opened = 0;
            self.read = 0;
        } else if self.read == self.buf.len() {
            self.buf.copy_within(self.opened..self.read, 0);
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
            if !this.plain.is_empty() {
                let n = out.len().min(this.plain.len());
                let from = this.plain.start;
                out[..n].copy_from_slice(&this.buf[from..from + n]);
                this.plain.start += n;
                return Poll::Ready(Ok(n));
            }
            // An empty message opens to no bytes: go on to the next.
            if let Some(plain) = this.open()? {
                this.plain = plain;
                continue;
            }
            this.make_room();
            let room = &mut this.buf[this.read..];
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
    cipher: Cipher,
    /// Sealed messages not yet written: `out[sent..filled]`. The buffer
    /// keeps its length between batches, so that sealing into it need not
    /// zero it first each time.
    out: Vec<u8>,
    filled: usize,
    sent: usize,
}

impl<W> SecureWriter<W> {
    pub(super) fn new(inner: W, cipher: Cipher) -> Self {
        SecureWriter {
            inner,
            cipher,
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
        self.poll_write_vectored(cx, &[IoSlice::new(data)])
    }

    /// Gathers the slices' bytes into transport messages, each sealed in
    /// place in the output buffer: many frames are copied once, straight
    /// to where they are encrypted. Takes as much as fits below the
    /// buffer's bound.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.filled >= OUT_LIMIT {
            ready!(this.poll_send(cx))?;
        }
        let mut left: usize = bufs.iter().map(|b| b.len()).sum();
        let mut source = Gather::new(bufs);
        let mut taken = 0;
        while left > 0 && this.filled < OUT_LIMIT {
            let start = this.filled;
            let end = start + 2 + left.min(MAX_PLAIN) + TAG_LEN;
            if this.out.len() < end {
                this.out.resize(end, 0);
            }
            let n = source.copy_to(&mut this.out[start + 2..end - TAG_LEN]);
            if n == 0 {
                break;
            }
            let end = start + 2 + n + TAG_LEN;
            this.cipher.seal(&mut this.out[start + 2..end])?;
            let len = u16::try_from(n + TAG_LEN).map_err(|_| broken("a message too long"))?;
            this.out[start..start + 2].copy_from_slice(&len.to_be_bytes());
            this.filled = end;
            taken += n;
            left -= n;
        }
        Poll::Ready(Ok(taken))
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

/// The bytes of a list of slices, taken from the front.
struct Gather<'a> {
    rest: std::slice::Iter<'a, IoSlice<'a>>,
    current: &'a [u8],
}

impl<'a> Gather<'a> {
    fn new(bufs: &'a [IoSlice<'a>]) -> Self {
        Gather {
            rest: bufs.iter(),
            current: &[],
        }
    }

    /// Fills `out` from the front of what is left; returns the bytes copied.
    fn copy_to(&mut self, out: &mut [u8]) -> usize {
        let mut copied = 0;
        while copied < out.len() {
            if self.current.is_empty() {
                match self.rest.next() {
                    Some(next) => self.current = next,
                    None => break,
                }
                continue;
            }
            let n = self.current.len().min(out.len() - copied);
            out[copied..copied + n].copy_from_slice(&self.current[..n]);
            self.current = &self.current[n..];
            copied += n;
        }
        copied
    }
}
