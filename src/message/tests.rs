//! Unit and property tests of the frame codec.

use super::*;
use proptest::prelude::*;

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

#[test]
fn decodes_a_frame_and_borrows_its_body() {
    let bytes = frame("héllo".as_bytes());
    let Ok(Decoded::Frame { body, consumed }) = decode(&bytes) else {
        panic!("expected a frame");
    };
    assert_eq!(body, "héllo");
    assert_eq!(consumed, bytes.len());
    // The body lies inside the input: no copy was made.
    assert_eq!(body.as_ptr(), bytes[HEADER_LEN..].as_ptr());
}

#[test]
fn empty_body_is_a_valid_frame() {
    assert_eq!(
        decode(&[0, 0, 0, 0]),
        Ok(Decoded::Frame {
            body: "",
            consumed: 4
        })
    );
}

#[test]
fn truncated_header_asks_for_the_rest_of_it() {
    assert_eq!(decode(&[]), Ok(Decoded::Partial { needed: 4 }));
    assert_eq!(decode(&[0, 0, 1]), Ok(Decoded::Partial { needed: 1 }));
}

#[test]
fn truncated_body_says_exactly_how_much_is_missing() {
    let bytes = frame(b"hello");
    assert_eq!(decode(&bytes[..6]), Ok(Decoded::Partial { needed: 3 }));
}

#[test]
fn over_limit_length_fails_with_only_the_header() {
    for len in [MAX_BODY as u32 + 1, 1 << 30, u32::MAX] {
        assert_eq!(
            decode(&len.to_be_bytes()),
            Err(FrameError::TooLong {
                len: len as usize,
                limit: MAX_BODY
            })
        );
    }
    let exactly = (MAX_BODY as u32).to_be_bytes();
    assert_eq!(decode(&exactly), Ok(Decoded::Partial { needed: MAX_BODY }));
}

#[test]
fn invalid_utf8_reports_where() {
    // Start, middle and end of the body.
    for (body, offset) in [
        (&b"\xffabc"[..], 0),
        (&b"ab\xffcd"[..], 2),
        (&b"abc\xe2\x82"[..], 3), // a sequence cut short at the end
    ] {
        assert_eq!(
            decode(&frame(body)),
            Err(FrameError::InvalidUtf8 { offset }),
            "{body:?}"
        );
    }
}

#[test]
fn overlong_encodings_and_surrogates_are_refused() {
    for body in [
        &b"\xc0\xaf"[..],         // overlong '/'
        &b"\xe0\x80\xaf"[..],     // overlong '/', three bytes
        &b"\xf0\x80\x80\xaf"[..], // overlong '/', four bytes
        &b"\xed\xa0\x80"[..],     // U+D800, a surrogate
        &b"\xed\xbf\xbf"[..],     // U+DFFF, a surrogate
        &b"\xf4\x90\x80\x80"[..], // above U+10FFFF
    ] {
        assert_eq!(
            decode(&frame(body)),
            Err(FrameError::InvalidUtf8 { offset: 0 }),
            "{body:?}"
        );
    }
}

#[test]
fn encode_refuses_over_limit_and_leaves_output_untouched() {
    let mut out = b"keep".to_vec();
    let body = "x".repeat(MAX_BODY + 1);
    assert_eq!(
        encode(&body, &mut out),
        Err(FrameError::TooLong {
            len: MAX_BODY + 1,
            limit: MAX_BODY
        })
    );
    assert_eq!(out, b"keep");

    let refused = encode_with(&mut out, 3, |w| w.push_str("four"));
    assert_eq!(refused, Err(FrameError::TooLong { len: 4, limit: 3 }));
    assert_eq!(out, b"keep");
}

#[test]
fn encode_with_writes_numbers_and_patches_the_header() {
    let mut out = Vec::new();
    encode_with(&mut out, MAX_BODY, |w| {
        w.push_u64(0);
        w.push_str(" ");
        w.push_u64(u64::MAX);
        w.push_str(" ");
        w.push_hex16(0xab);
    })
    .unwrap();
    let expected = format!("0 {} 00000000000000ab", u64::MAX);
    assert_eq!(out, frame(expected.as_bytes()));
}

proptest! {
    #[test]
    fn numbers_are_written_as_format_writes_them(n in any::<u64>()) {
        let mut out = Vec::new();
        encode_with(&mut out, MAX_BODY, |w| {
            w.push_u64(n);
            w.push_str(" ");
            w.push_hex16(n);
        })
        .unwrap();
        let expected = format!("{n} {n:016x}");
        prop_assert_eq!(out, frame(expected.as_bytes()));
    }
}

#[test]
fn errors_read_as_sentences() {
    let e = FrameError::TooLong {
        len: 70000,
        limit: 65536,
    };
    assert_eq!(
        e.to_string(),
        "message of 70000 bytes is over the limit of 65536 bytes"
    );
    assert!(FrameError::InvalidUtf8 { offset: 7 }
        .to_string()
        .contains("offset 7"));
}

/// Decodes a whole buffer frame by frame, as far as it goes.
fn decode_all(mut buf: &[u8]) -> (Vec<String>, Result<usize, FrameError>) {
    let mut bodies = Vec::new();
    loop {
        match decode(buf) {
            Ok(Decoded::Frame { body, consumed }) => {
                bodies.push(body.to_owned());
                buf = &buf[consumed..];
            }
            Ok(Decoded::Partial { .. }) => return (bodies, Ok(buf.len())),
            Err(e) => return (bodies, Err(e)),
        }
    }
}

fn body_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => ".{0,64}",
        1 => proptest::collection::vec(any::<char>(), 0..2000).prop_map(|c| c.into_iter().collect()),
        1 => (0..=MAX_BODY).prop_map(|n| "é".repeat(n / 2) + &"x".repeat(n % 2)),
    ]
}

proptest! {
    #[test]
    fn round_trips_any_body_up_to_the_limit(body in body_strategy()) {
        let mut out = Vec::new();
        encode(&body, &mut out).unwrap();
        prop_assert_eq!(
            decode(&out),
            Ok(Decoded::Frame { body: body.as_str(), consumed: out.len() })
        );
    }

    #[test]
    fn chunked_stream_decodes_like_one_shot(
        bodies in proptest::collection::vec(".{0,40}", 0..30),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
    ) {
        let mut stream = Vec::new();
        for b in &bodies {
            encode(b, &mut stream).unwrap();
        }
        let (one_shot, rest) = decode_all(&stream);
        prop_assert_eq!(&one_shot, &bodies);
        prop_assert_eq!(rest, Ok(0));

        // Feed the same bytes in arbitrary chunks, as a socket would.
        let mut cut_at: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        cut_at.push(stream.len());
        cut_at.sort_unstable();
        let mut pending = Vec::new();
        let mut chunked = Vec::new();
        let mut from = 0;
        for to in cut_at {
            pending.extend_from_slice(&stream[from..to]);
            from = to;
            let (got, left) = decode_all(&pending);
            let left = left.unwrap();
            pending.drain(..pending.len() - left);
            chunked.extend(got);
        }
        prop_assert_eq!(chunked, bodies);
        prop_assert!(pending.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_overconsume(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        match decode_with_limit(&bytes, 200) {
            Ok(Decoded::Frame { body, consumed }) => {
                prop_assert!(consumed <= bytes.len());
                prop_assert_eq!(consumed, HEADER_LEN + body.len());
            }
            Ok(Decoded::Partial { needed }) => prop_assert!(needed > 0),
            Err(FrameError::TooLong { len, limit }) => prop_assert!(len > limit),
            Err(FrameError::InvalidUtf8 { offset }) => prop_assert!(offset + HEADER_LEN < bytes.len()),
        }
    }

    #[test]
    fn over_limit_lengths_are_refused_at_once(len in (MAX_BODY as u32 + 1)..=u32::MAX) {
        prop_assert_eq!(
            check(&len.to_be_bytes(), MAX_BODY),
            Err(FrameError::TooLong { len: len as usize, limit: MAX_BODY })
        );
    }
}

/// A byte source that hands out its data in fixed-size pieces, the way a
/// socket returns whatever has arrived so far.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    pieces: Vec<usize>,
    next_piece: usize,
}

impl Trickle {
    fn new(data: Vec<u8>, pieces: Vec<usize>) -> Self {
        Trickle {
            data,
            pos: 0,
            pieces,
            next_piece: 0,
        }
    }
}

impl futures::io::AsyncRead for Trickle {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let piece = match self.pieces.len() {
            0 => usize::MAX,
            n => self.pieces[self.next_piece % n].max(1),
        };
        self.next_piece += 1;
        let n = piece.min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        std::task::Poll::Ready(Ok(n))
    }
}

fn read_all(data: Vec<u8>, pieces: Vec<usize>) -> (Vec<String>, Result<(), ReadError>) {
    futures::executor::block_on(async {
        let mut reader = FrameReader::new(Trickle::new(data, pieces));
        let mut got = Vec::new();
        loop {
            match reader.next_frame().await {
                Ok(Some(body)) => got.push(body.to_owned()),
                Ok(None) => return (got, Ok(())),
                Err(e) => return (got, Err(e)),
            }
        }
    })
}

#[test]
fn reader_ends_cleanly_between_frames() {
    let mut data = Vec::new();
    encode("one", &mut data).unwrap();
    encode("two", &mut data).unwrap();
    let (got, end) = read_all(data, vec![]);
    assert_eq!(got, ["one", "two"]);
    assert!(end.is_ok());
}

#[test]
fn reader_reports_a_stream_cut_inside_a_frame() {
    let mut data = Vec::new();
    encode("whole", &mut data).unwrap();
    encode("cut short", &mut data).unwrap();
    data.truncate(data.len() - 3);
    let (got, end) = read_all(data.clone(), vec![2]);
    assert_eq!(got, ["whole"]);
    assert!(
        matches!(end, Err(ReadError::Truncated { missing: 3 })),
        "{end:?}"
    );

    // Cut inside the header of the second frame.
    data.truncate(9 + 2);
    let (_, end) = read_all(data, vec![]);
    assert!(
        matches!(end, Err(ReadError::Truncated { missing: 2 })),
        "{end:?}"
    );
}

#[test]
fn reader_refuses_an_over_limit_header_without_waiting_for_the_body() {
    // Only the header arrives; a reader that waited for 4 GiB would hang here.
    let (got, end) = read_all(u32::MAX.to_be_bytes().to_vec(), vec![]);
    assert!(got.is_empty());
    assert!(matches!(
        end,
        Err(ReadError::Frame(FrameError::TooLong { .. }))
    ));
}

#[test]
fn reader_grows_for_a_max_size_frame() {
    let big = "y".repeat(MAX_BODY);
    let mut data = Vec::new();
    encode("small", &mut data).unwrap();
    encode(&big, &mut data).unwrap();
    encode("after", &mut data).unwrap();
    let (got, end) = read_all(data, vec![1000, 7]);
    assert!(end.is_ok());
    assert_eq!(got.len(), 3);
    assert_eq!(got[1], big);
}

#[test]
fn writer_batches_frames_into_one_write() {
    futures::executor::block_on(async {
        let mut sink = futures::io::Cursor::new(Vec::new());
        let mut writer = FrameWriter::new(&mut sink);
        writer.queue("a").unwrap();
        let mut pre = Vec::new();
        encode("b", &mut pre).unwrap();
        writer.queue_encoded(&pre);
        assert!(writer.queue(&"z".repeat(MAX_BODY + 1)).is_err());
        assert_eq!(writer.buffered(), 10);
        writer.flush().await.unwrap();
        assert_eq!(writer.buffered(), 0);
        let written = sink.into_inner();
        assert_eq!(written, [0, 0, 0, 1, b'a', 0, 0, 0, 1, b'b']);
    });
}

/// Takes at most five bytes of each write, as a full socket may.
struct ShortWrites(Vec<u8>);

impl futures::io::AsyncWrite for ShortWrites {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let n = buf.len().min(5);
        self.get_mut().0.extend_from_slice(&buf[..n]);
        std::task::Poll::Ready(Ok(n))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[test]
fn ready_made_frames_follow_the_queued_ones_whole_through_short_writes() {
    let frames: Vec<Vec<u8>> = ["one", "", "three", &"x".repeat(70)]
        .iter()
        .map(|body| {
            let mut frame = Vec::new();
            encode(body, &mut frame).unwrap();
            frame
        })
        .collect();
    let mut sink = ShortWrites(Vec::new());
    futures::executor::block_on(async {
        let mut writer = FrameWriter::new(&mut sink);
        writer.queue("first").unwrap();
        writer.send_encoded(&frames).await.unwrap();
        assert_eq!(writer.buffered(), 0);
        writer.send_encoded(&frames[..1]).await.unwrap();
    });
    let (got, end) = read_all(sink.0, vec![3]);
    assert!(end.is_ok());
    let x70 = "x".repeat(70);
    assert_eq!(got, ["first", "one", "", "three", x70.as_str(), "one"]);
}

proptest! {
    #[test]
    fn reader_over_any_chunking_matches_one_shot(
        bodies in proptest::collection::vec(body_strategy(), 0..12),
        pieces in proptest::collection::vec(1usize..5000, 0..8),
    ) {
        let mut data = Vec::new();
        for b in &bodies {
            encode(b, &mut data).unwrap();
        }
        let (got, end) = read_all(data, pieces);
        prop_assert!(end.is_ok());
        prop_assert_eq!(got, bodies);
    }
}
