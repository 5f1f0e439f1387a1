//! Reads frames from any byte stream into one reusable buffer.

use super::{check, FrameError, Status, HEADER_LEN};
use futures::io::{AsyncRead, AsyncReadExt};
use std::{fmt, io};

/// Room each read offers at least: more than one encrypted transport
/// message (64 KiB), so that the layer below can hand over each message's
/// plaintext in one read.
const READ_SPACE: usize = 80 * 1024;

/// Why no frame could be read. Each one ends the stream for good.
#[derive(Debug)]
pub enum ReadError {
    /// The transport failed.
    Io(io::Error),
    /// The bytes are not a valid frame.
    Frame(FrameError),
    /// The stream ended inside a frame, `missing` bytes short of its end.
    Truncated { missing: usize },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "connection failed: {e}"),
            ReadError::Frame(e) => e.fmt(f),
            ReadError::Truncated { missing } => write!(
                f,
                "connection closed in the middle of a message ({missing} bytes missing)"
            ),
        }
    }
}

impl std::error::Error for ReadError {}

impl From<FrameError> for ReadError {
    fn from(e: FrameError) -> Self {
        ReadError::Frame(e)
    }
}

/// Reads frames from `R`, lending each body from its own buffer.
///
/// Each read asks for as many bytes as fit, so a burst of small frames costs one
/// system call. Reading allocates nothing.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Start of the bytes not yet handed out.
    start: usize,
    /// End of the bytes read so far.
    end: usize,
    limit: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader enforcing the default body limit.
    pub fn new(inner: R) -> Self {
        Self::with_limit(inner, super::MAX_BODY)
    }

    /// A reader enforcing `limit` on every body.
    pub fn with_limit(inner: R, limit: usize) -> Self {
        FrameReader {
            inner,
            // Room for the largest frame and a read after it, so the buffer
            // never grows; its pages take memory only once written to.
            buf: vec![0; HEADER_LEN + limit + READ_SPACE],
            start: 0,
            end: 0,
            limit,
        }
    }

    /// The next frame's body, or `None` at a clean end of stream.
    ///
    /// After an error the stream is out of step with frame boundaries: drop it.
    pub async fn next_frame(&mut self) -> Result<Option<&str>, ReadError> {
        if !self.wait_frame().await? {
            return Ok(None);
        }
        Ok(self.buffered_frame()?.map(|(_, body)| body))
    }

    /// Reads until a whole frame is buffered (true), or the stream ends
    /// cleanly between frames (false).
    pub async fn wait_frame(&mut self) -> Result<bool, ReadError> {
        loop {
            match check(&self.buf[self.start..self.end], self.limit)? {
                Status::Complete(_) => return Ok(true),
                Status::Partial { needed } => {
                    if !self.fill(needed).await? {
                        return match self.end - self.start {
                            0 => Ok(false),
                            _ => Err(ReadError::Truncated { missing: needed }),
                        };
                    }
                }
            }
        }
    }

    /// True when [`wait_frame`](Self::wait_frame) will finish without
    /// reading: a whole frame (or a bad header) is already buffered. A caller
    /// can then skip arming a timeout for it.
    pub fn has_frame(&self) -> bool {
        !matches!(
            check(&self.buf[self.start..self.end], self.limit),
            Ok(Status::Partial { .. })
        )
    }

    /// The next frame if it is already buffered, without reading: the
    /// frame as it came (length prefix and all) and its body. `Ok(None)`
    /// when the buffer holds no whole frame. Lets a caller handle every
    /// frame one read brought in one go, and keep a frame without
    /// encoding it again.
    pub fn buffered_frame(&mut self) -> Result<Option<(&[u8], &str)>, ReadError> {
        match check(&self.buf[self.start..self.end], self.limit)? {
            Status::Complete(len) => {
                let frame = &self.buf[self.start..self.start + len];
                self.start += len;
                Ok(Some((frame, super::body(&frame[HEADER_LEN..])?)))
            }
            Status::Partial { .. } => Ok(None),
        }
    }

    /// Reads at least once, making room for `needed` more bytes (and at
    /// least [`READ_SPACE`]) first. Returns false at end of stream.
    async fn fill(&mut self, needed: usize) -> Result<bool, ReadError> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end + needed.max(READ_SPACE) > self.buf.len() {
            // Move the unread tail to the front. It is part of one frame, at
            // most `HEADER_LEN + limit` bytes with `needed` to come, so the
            // buffer's size leaves room for both, and for `READ_SPACE`.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = loop {
            match self.inner.read(&mut self.buf[self.end..]).await {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => break result.map_err(ReadError::Io)?,
            }
        };
        self.end += n;
        Ok(n > 0)
    }

    /// Gives back the underlying stream.
    pub fn into_inner(self) -> R {
        self.inner
    }
}
