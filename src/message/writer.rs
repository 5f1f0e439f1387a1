//! Writes frames to any byte stream, several at a time.

use super::{encode_with_limit, FrameError, MAX_BODY};
use futures::io::{AsyncWrite, AsyncWriteExt};
use std::io;

/// Queues frames in one buffer and sends them all with one write.
///
/// Frames can be queued as text ([`queue`](Self::queue)) or, when one encoded
/// frame is fanned out to many peers, as ready-made bytes
/// ([`queue_encoded`](Self::queue_encoded)).
pub struct FrameWriter<W> {
    inner: W,
    buf: Vec<u8>,
    limit: usize,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// A writer enforcing the default body limit.
    pub fn new(inner: W) -> Self {
        Self::with_limit(inner, MAX_BODY)
    }

    /// A writer enforcing `limit` on every body it encodes.
    pub fn with_limit(inner: W, limit: usize) -> Self {
        FrameWriter {
            inner,
            buf: Vec::new(),
            limit,
        }
    }

    /// Encodes `body` as a frame into the batch. Over the limit, nothing is queued.
    pub fn queue(&mut self, body: &str) -> Result<(), FrameError> {
        encode_with_limit(body, self.limit, &mut self.buf)
    }

    /// Adds an already encoded frame to the batch.
    pub fn queue_encoded(&mut self, frame: &[u8]) {
        self.buf.extend_from_slice(frame);
    }

    /// Bytes waiting to be sent.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Sends the whole batch and flushes the stream. On error the batch is
    /// dropped with the connection.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.inner.write_all(&self.buf).await?;
            self.buf.clear();
        }
        self.inner.flush().await
    }

    /// Closes the writing half of the stream after sending what is queued.
    pub async fn close(&mut self) -> io::Result<()> {
        self.flush().await?;
        self.inner.close().await
    }
}
