//! Reads frames from any byte stream, lending each from the buffer it was
//! read into.

use super::source::{Buffered, Source};
use super::{check, FrameError, Status, HEADER_LEN, MAX_BODY};
use futures::future::poll_fn;
use futures::io::AsyncRead;
use std::{fmt, io};

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

/// Reads frames from a [`Source`], lending each body from the source's
/// buffer. Reading allocates nothing.
pub struct FrameReader<S> {
    source: S,
}

impl<R: AsyncRead + Unpin> FrameReader<Buffered<R>> {
    /// A reader of a plain stream, enforcing the default body limit.
    pub fn new(inner: R) -> Self {
        Self::over(Buffered::new(inner))
    }
}

impl<S: Source> FrameReader<S> {
    /// A reader of a source that holds frames of the default body limit,
    /// enforcing that limit on every body.
    pub fn over(source: S) -> Self {
        FrameReader { source }
    }

    /// The source, to hand it bytes that came by other means (the
    /// simulator's virtual links).
    pub fn source_mut(&mut self) -> &mut S {
        &mut self.source
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
            match check(self.source.buffered(), MAX_BODY)? {
                Status::Complete(_) => return Ok(true),
                Status::Partial { needed } => {
                    let source = &mut self.source;
                    let more = poll_fn(|cx| source.poll_more(cx, needed)).await;
                    if !more.map_err(ReadError::Io)? {
                        return match self.source.buffered().len() {
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
            check(self.source.buffered(), MAX_BODY),
            Ok(Status::Partial { .. })
        )
    }

    /// The next frame if it is already buffered, without reading: the
    /// frame as it came (length prefix and all) and its body. `Ok(None)`
    /// when the buffer holds no whole frame. Lets a caller handle every
    /// frame one read brought in one go, and keep a frame without
    /// encoding it again.
    pub fn buffered_frame(&mut self) -> Result<Option<(&[u8], &str)>, ReadError> {
        match check(self.source.buffered(), MAX_BODY)? {
            Status::Complete(len) => {
                let frame = self.source.take(len);
                Ok(Some((frame, super::body(&frame[HEADER_LEN..])?)))
            }
            Status::Partial { .. } => Ok(None),
        }
    }
}
