//! The wire frame: a 4-byte big-endian body length, then a UTF-8 body.
//!
//! Every byte a peer sends passes through here, so this module trusts nothing:
//! the length is checked against a limit as soon as the header is present (a
//! peer announcing a 4 GiB body costs nothing), and the body must be UTF-8.
//!
//! Decoding borrows: [`decode`] returns the body as a `&str` inside the caller's
//! buffer and never allocates. Splitting "is a whole frame here?" ([`check`])
//! from "hand me the body" ([`decode`]) lets a stream reader wait for more bytes
//! without holding a borrow of its buffer.
//!
//! A decode error means the byte stream can no longer be trusted to be aligned
//! on frame boundaries, so the only safe reaction is to close the connection.

use std::fmt;

mod reader;
mod source;
mod writer;

pub use reader::{FrameReader, ReadError};
pub(crate) use source::take_front;
pub use source::{Buffered, Source};
pub use writer::FrameWriter;

/// Bytes in the length prefix.
pub const HEADER_LEN: usize = 4;

/// The default body limit, in bytes. Both [`decode`] and [`encode`] enforce it.
pub const MAX_BODY: usize = 64 * 1024;

/// What a buffer holds, as far as the header tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A whole frame of this many bytes (header included) starts the buffer.
    Complete(usize),
    /// At least `needed` more bytes must arrive. The figure is exact once the
    /// header is in, and a lower bound before that.
    Partial { needed: usize },
}

/// The result of decoding the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole frame: its body, borrowed from the input, and the bytes it took.
    Frame { body: &'a str, consumed: usize },
    /// Not enough bytes yet; see [`Status::Partial`].
    Partial { needed: usize },
}

/// Why bytes are not a valid frame, or a body cannot be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The body is longer than the limit.
    TooLong { len: usize, limit: usize },
    /// The body is not UTF-8; the first bad byte is at `offset` in the body.
    InvalidUtf8 { offset: usize },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameError::TooLong { len, limit } => write!(
                f,
                "message of {len} bytes is over the limit of {limit} bytes"
            ),
            FrameError::InvalidUtf8 { offset } => write!(
                f,
                "message is not valid UTF-8 text (bad byte at offset {offset})"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// Looks at the header only: is a whole frame at the start of `buf`?
///
/// The announced length is checked against `limit` here, before a single body
/// byte is awaited, so an over-limit frame fails as soon as 4 bytes are in.
pub fn check(buf: &[u8], limit: usize) -> Result<Status, FrameError> {
    let Some(header) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(Status::Partial {
            needed: HEADER_LEN - buf.len(),
        });
    };
    // u32 always fits in usize on the targets we build for (32 and 64 bit).
    let len = u32::from_be_bytes(*header) as usize;
    if len > limit {
        return Err(FrameError::TooLong { len, limit });
    }
    let total = HEADER_LEN + len;
    Ok(match buf.len().checked_sub(total) {
        Some(_) => Status::Complete(total),
        None => Status::Partial {
            needed: total - buf.len(),
        },
    })
}

/// Decodes the frame at the start of `buf` with the default limit.
pub fn decode(buf: &[u8]) -> Result<Decoded<'_>, FrameError> {
    decode_with_limit(buf, MAX_BODY)
}

/// Decodes the frame at the start of `buf`, borrowing its body. No allocation.
pub fn decode_with_limit(buf: &[u8], limit: usize) -> Result<Decoded<'_>, FrameError> {
    match check(buf, limit)? {
        Status::Partial { needed } => Ok(Decoded::Partial { needed }),
        Status::Complete(consumed) => Ok(Decoded::Frame {
            body: body(&buf[HEADER_LEN..consumed])?,
            consumed,
        }),
    }
}

/// Validates a body's UTF-8.
fn body(bytes: &[u8]) -> Result<&str, FrameError> {
    std::str::from_utf8(bytes).map_err(|e| FrameError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })
}

/// Appends the frame for `body` to `out`, with the default limit.
pub fn encode(body: &str, out: &mut Vec<u8>) -> Result<(), FrameError> {
    encode_with_limit(body, MAX_BODY, out)
}

/// Appends the frame for `body` to `out`. A body over `limit` is refused whole:
/// nothing is appended and nothing is truncated.
pub fn encode_with_limit(body: &str, limit: usize, out: &mut Vec<u8>) -> Result<(), FrameError> {
    let header = header_for(body.len(), limit)?;
    out.reserve(HEADER_LEN + body.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(body.as_bytes());
    Ok(())
}

/// Appends a frame whose body is written by `write_body`, with no intermediate
/// copy. If the body turns out longer than `limit`, `out` is restored to its
/// previous length and the frame is refused.
pub fn encode_with(
    out: &mut Vec<u8>,
    limit: usize,
    write_body: impl FnOnce(&mut BodyWriter<'_>),
) -> Result<(), FrameError> {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_LEN]);
    write_body(&mut BodyWriter { out });
    let len = out.len() - start - HEADER_LEN;
    match header_for(len, limit) {
        Ok(header) => {
            out[start..start + HEADER_LEN].copy_from_slice(&header);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// Each byte value as two lower-case hex digits.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [HEX[i >> 4], HEX[i & 0xf]];
        i += 1;
    }
    table
};

/// Writes a frame body in place. It takes only `&str`, so a body is UTF-8 by
/// construction.
pub struct BodyWriter<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> BodyWriter<'a> {
    /// Writes text onto the end of `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        BodyWriter { out }
    }

    /// Appends text to the body.
    pub fn push_str(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    /// Appends a decimal number to the body.
    pub fn push_u64(&mut self, n: u64) {
        self.out
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    /// Appends `n` as exactly 16 lower-case hex digits: a byte, two digits,
    /// at a time.
    pub fn push_hex16(&mut self, n: u64) {
        let mut digits = [0u8; 16];
        for (pair, byte) in digits.chunks_exact_mut(2).zip(n.to_be_bytes()) {
            pair.copy_from_slice(&HEX_PAIRS[usize::from(byte)]);
        }
        self.out.extend_from_slice(&digits);
    }
}

impl fmt::Write for BodyWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

fn header_for(len: usize, limit: usize) -> Result<[u8; HEADER_LEN], FrameError> {
    let too_long = FrameError::TooLong { len, limit };
    if len > limit {
        return Err(too_long);
    }
    u32::try_from(len)
        .map(u32::to_be_bytes)
        .map_err(|_| too_long)
}

#[cfg(test)]
mod tests;
