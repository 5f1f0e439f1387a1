//! Where a frame reader's bytes come from: a buffer that a stream fills.
//!
//! The buffer belongs to the source, not to the frame reader, so that a
//! source that must work on what it reads before frames can be cut from it
//! (an encrypted link opens each message) can leave the result where the
//! frames are read, with no copy between the two layers. A plain stream is
//! read into a buffer as it comes ([`Buffered`]).

use super::{HEADER_LEN, MAX_BODY};
use futures::io::AsyncRead;
use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Bytes read and not yet taken, and the means to read more.
pub trait Source {
    /// The bytes read and not yet taken, in the order they came.
    fn buffered(&self) -> &[u8];

    /// Takes the first `n` buffered bytes, `n` at most as many as are
    /// buffered, and lends them until the next read.
    fn take(&mut self, n: usize) -> &[u8];

    /// Reads more, with room for `needed` bytes more than are buffered
    /// (`needed` is at most a whole frame of the largest size). `false`
    /// when the stream ended cleanly and nothing more came.
    fn poll_more(&mut self, cx: &mut Context<'_>, needed: usize) -> Poll<io::Result<bool>>;
}

impl<S: Source + ?Sized> Source for Box<S> {
    fn buffered(&self) -> &[u8] {
        (**self).buffered()
    }

    fn take(&mut self, n: usize) -> &[u8] {
        (**self).take(n)
    }

    fn poll_more(&mut self, cx: &mut Context<'_>, needed: usize) -> Poll<io::Result<bool>> {
        (**self).poll_more(cx, needed)
    }
}

/// Room each read offers at least, so that a flood of small frames is read
/// in few system calls.
const READ_SPACE: usize = 80 * 1024;

/// A plain byte stream, read into one buffer that never grows.
///
/// Each read asks for as many bytes as fit, so a burst of small frames
/// costs one system call. Reading allocates nothing.
pub struct Buffered<R> {
    inner: R,
    buf: Vec<u8>,
    /// The bytes read and not yet taken.
    held: Range<usize>,
}

impl<R> Buffered<R> {
    /// A buffer for frames of the default body limit at most.
    pub fn new(inner: R) -> Self {
        Buffered {
            inner,
            // Room for the largest frame and a read after it, so the buffer
            // never grows; its pages take memory only once written to.
            buf: vec![0; HEADER_LEN + MAX_BODY + READ_SPACE],
            held: 0..0,
        }
    }
}

impl<R: AsyncRead + Unpin> Source for Buffered<R> {
    fn buffered(&self) -> &[u8] {
        &self.buf[self.held.clone()]
    }

    fn take(&mut self, n: usize) -> &[u8] {
        take_front(&self.buf, &mut self.held, n)
    }

    /// Reads at least once, first making room for `needed` more bytes (and
    /// at least [`READ_SPACE`]) by moving what is buffered to the front.
    fn poll_more(&mut self, cx: &mut Context<'_>, needed: usize) -> Poll<io::Result<bool>> {
        if self.held.is_empty() {
            self.held = 0..0;
        }
        if self.held.end + needed.max(READ_SPACE) > self.buf.len() {
            // What is buffered is part of one frame, at most a whole one
            // with `needed` to come, so the buffer's size leaves room for
            // both, and for `READ_SPACE`.
            self.buf.copy_within(self.held.clone(), 0);
            self.held = 0..self.held.len();
        }
        if self.held.end + needed > self.buf.len() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a frame larger than the read buffer",
            )));
        }
        loop {
            let room = &mut self.buf[self.held.end..];
            match Pin::new(&mut self.inner).poll_read(cx, room) {
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(n)) => {
                    self.held.end += n;
                    return Poll::Ready(Ok(n > 0));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Takes the first `n` bytes of `held`, a range of `buf` (all of them if
/// it holds fewer), and lends them: what [`Source::take`] does over a
/// buffer it holds.
pub(crate) fn take_front<'a>(buf: &'a [u8], held: &mut Range<usize>, n: usize) -> &'a [u8] {
    let from = held.start;
    held.start = held.end.min(from + n);
    &buf[from..held.start]
}
