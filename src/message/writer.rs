//! Writes frames to any byte stream, several at a time.

use super::{encode_with_limit, FrameError, MAX_BODY};
use futures::io::{AsyncWrite, AsyncWriteExt};
use std::io::{self, IoSlice};

/// Queues frames in one buffer and sends them all with one write.
///
/// Frames can be queued as text ([`queue`](Self::queue)) or, when one encoded
/// frame is fanned out to many peers, as ready-made bytes
/// ([`queue_encoded`](Self::queue_encoded)); a batch of ready-made frames
/// can also be sent as it is ([`send_encoded`](Self::send_encoded)).
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

    /// Sends what is queued, then `frames`, already encoded, and flushes
    /// the stream. The frames go to the stream in one vectored write
    /// rather than being copied into the batch first: a plain socket takes
    /// them as they are, and an encrypting stream gathers them straight
    /// into the messages it seals.
    pub async fn send_encoded<F: AsRef<[u8]>>(&mut self, frames: &[F]) -> io::Result<()> {
        let mut slices = Vec::with_capacity(frames.len() + 1);
        slices.push(IoSlice::new(&self.buf));
        slices.extend(frames.iter().map(|f| IoSlice::new(f.as_ref())));
        self.inner.write_all_vectored(&mut slices).await?;
        self.buf.clear();
        self.inner.flush().await
    }

    /// Closes the writing half of the stream after sending what is queued.
    pub async fn close(&mut self) -> io::Result<()> {
        self.flush().await?;
        self.inner.close().await
    }
}
