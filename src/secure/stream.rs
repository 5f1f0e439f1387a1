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
use crate::message::{take_front, Source, HEADER_LEN, MAX_BODY};
use futures::io::{AsyncRead, AsyncWrite};
use std::io::{self, IoSlice};
use std::ops::Range;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Plaintext bytes sealed in one transport message at most.
pub const MAX_PLAIN: usize = MAX_MESSAGE - TAG_LEN;
/// Sealed bytes a writer holds before it sends them.
const OUT_LIMIT: usize = 256 * 1024;
/// Bytes a reader buffers at most: room for several whole messages, so
/// that a flood is read in few system calls and wake-ups, and what is left
/// at the buffer's end (part of a frame and part of a message), moved to
/// its start, is a small share of what is read. What is left leaves room
/// for a whole message at least.
const IN_BUFFER: usize = 4 * (2 + MAX_MESSAGE);
const _: () = assert!(IN_BUFFER >= HEADER_LEN + MAX_BODY + 2 * (2 + MAX_MESSAGE));

/// Decrypts an encrypted stream, as a [`Source`] of frames or as a byte
/// stream.
pub struct SecureReader<R> {
    inner: R,
    cipher: Cipher,
    /// Bytes read. `buf[plain]` is plaintext not taken yet, and
    /// `buf[opened..read]` sealed bytes not opened yet, after it. Each
    /// message is opened where it lies, its plaintext moved down onto the
    /// end of the one before as it is decrypted: the plaintext is one run,
    /// in which frames are read whole wherever messages cut them.
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

    /// Opens the first whole message not yet opened, if there is one, onto
    /// the end of the plaintext. False when no whole message is buffered.
    fn open(&mut self) -> io::Result<bool> {
        let pending = &self.buf[self.opened..self.read];
        let Some(header) = pending.first_chunk::<2>() else {
            return Ok(false);
        };
        let len = usize::from(u16::from_be_bytes(*header));
        if pending.len() < 2 + len {
            return Ok(false);
        }
        let (to, end) = (self.plain.end, self.opened + 2 + len);
        let n = self
            .cipher
            .open_within(&mut self.buf[to..end], self.opened + 2 - to)?;
        self.plain.end += n;
        self.opened = end;
        Ok(true)
    }

    /// Makes room to read: starts from the front when nothing is left, and
    /// moves what is left there when the buffer's end is reached. What is
    /// left then is part of a frame's plaintext (the frame reader asks for
    /// more only when no whole frame is buffered) and part of a message.
    fn make_room(&mut self) -> io::Result<()> {
        if self.plain.is_empty() && self.opened == self.read {
            self.plain = 0..0;
            self.opened = 0;
            self.read = 0;
        } else if self.read == self.buf.len() {
            let kept = self.plain.len();
            self.buf.copy_within(self.plain.clone(), 0);
            self.buf.copy_within(self.opened..self.read, kept);
            self.read -= self.opened - kept;
            self.opened = kept;
            self.plain = 0..kept;
        }
        match self.read < self.buf.len() {
            true => Ok(()),
            false => Err(broken("no room to read")),
        }
    }
}

impl<R: AsyncRead + Unpin> Source for SecureReader<R> {
    fn buffered(&self) -> &[u8] {
        &self.buf[self.plain.clone()]
    }

    fn take(&mut self, n: usize) -> &[u8] {
        take_front(&self.buf, &mut self.plain, n)
    }

    /// Opens the whole messages buffered, reading until there is one. The
    /// buffer holds at least a largest frame and two largest messages, so
    /// what is left when it is full leaves room to read a whole message.
    fn poll_more(&mut self, cx: &mut Context<'_>, _needed: usize) -> Poll<io::Result<bool>> {
        loop {
            let before = self.plain.end;
            while self.open()? {}
            // An empty message opens to no bytes: then read on.
            if self.plain.end > before {
                return Poll::Ready(Ok(true));
            }
            self.make_room()?;
            let room = &mut self.buf[self.read..];
            let n = ready!(Pin::new(&mut self.inner).poll_read(cx, room))?;
            if n == 0 {
                return Poll::Ready(match self.opened == self.read {
                    true => Ok(false),
                    false => Err(io::ErrorKind::UnexpectedEof.into()),
                });
            }
            self.read += n;
        }
    }
}

/// The plaintext as a byte stream, for a reader of bytes rather than
/// frames.
impl<R: AsyncRead + Unpin> AsyncRead for SecureReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.plain.is_empty() && !out.is_empty() && !ready!(this.poll_more(cx, 1))? {
            return Poll::Ready(Ok(0));
        }
        let n = out.len().min(this.plain.len());
        out[..n].copy_from_slice(this.take(n));
        Poll::Ready(Ok(n))
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
