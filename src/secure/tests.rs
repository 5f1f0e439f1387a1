//! Tests of the encrypted links.

use super::*;
use proptest::prelude::*;

type Outcome = Result<Link<crate::rt::Stream, crate::rt::Stream>, HandshakeError>;

/// Runs the handshake between two in-process ends of a real loopback
/// connection and returns both results.
fn connect(
    psk_a: Option<[u8; 32]>,
    psk_b: Option<[u8; 32]>,
) -> (Outcome, Outcome, Identity, Identity) {
    let (a, b) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let (ra, rb) = crate::rt::block_on(async {
        let listener = crate::rt::Listener::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let dial = async {
            let s = crate::rt::connect(addr).await.unwrap();
            handshake(s.clone(), s, true, &a, psk_a.as_ref()).await
        };
        let accept = async {
            let (s, _) = listener.accept().await.unwrap();
            let result = handshake(s.clone(), s.clone(), false, &b, psk_b.as_ref()).await;
            if result.is_err() {
                // A real node closes a connection it refuses.
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            result
        };
        futures::join!(dial, accept)
    });
    (ra, rb, a, b)
}

#[test]
fn both_ends_learn_each_others_key_and_bytes_cross_intact() {
    let (ra, rb, a, b) = connect(None, None);
    let (mut la, mut lb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(&la.peer_key, b.public());
    assert_eq!(&lb.peer_key, a.public());
    // More than three transport messages' worth, and a small tail.
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let got = crate::rt::block_on(async {
        use futures::io::{AsyncReadExt, AsyncWriteExt};
        let send = async {
            la.writer.write_all(&data).await.unwrap();
            la.writer.write_all(b"tail").await.unwrap();
            la.writer.flush().await.unwrap();
        };
        let recv = async {
            let mut got = vec![0u8; data.len() + 4];
            lb.reader.read_exact(&mut got).await.unwrap();
            got
        };
        futures::join!(send, recv).1
    });
    assert_eq!(&got[..data.len()], &data[..]);
    assert_eq!(&got[data.len()..], b"tail");
}

#[test]
fn the_same_secret_connects_and_a_different_or_missing_one_does_not() {
    let key = room_key("hunter2", "lobby");
    let (ra, rb, _, _) = connect(Some(key), Some(key));
    assert!(ra.is_ok() && rb.is_ok());
    let other = room_key("hunter3", "lobby");
    for (pa, pb) in [
        (Some(key), Some(other)),
        (Some(key), None),
        (None, Some(key)),
    ] {
        let (ra, rb, _, _) = connect(pa, pb);
        assert!(
            matches!(ra, Err(HandshakeError::Refused)),
            "initiator: {:?}",
            ra.err()
        );
        assert!(
            matches!(rb, Err(HandshakeError::Refused)),
            "responder: {:?}",
            rb.err()
        );
    }
}

#[test]
fn garbage_and_plaintext_frames_are_refused() {
    let me = Identity::generate().unwrap();
    let mut frame = Vec::new();
    crate::message::encode("HELLO 3 00000000deadbeef 1 lobby mallory", &mut frame).unwrap();
    for input in [
        frame,
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        vec![0xff; 70_000],
        vec![],
    ] {
        let reader = futures::io::Cursor::new(input);
        let writer = futures::io::sink();
        let result = futures::executor::block_on(handshake(reader, writer, false, &me, None));
        assert!(
            matches!(result, Err(HandshakeError::Refused)),
            "{:?}",
            result.err()
        );
    }
}

#[test]
fn room_keys_depend_on_secret_and_room() {
    let k = room_key("s3cret", "lobby");
    assert_eq!(k, room_key("s3cret", "lobby"));
    assert_ne!(k, room_key("s3cret", "team"));
    assert_ne!(k, room_key("s3cret!", "lobby"));
}

#[test]
fn a_key_file_keeps_the_identity_and_is_private() {
    let dir = std::env::temp_dir().join(format!("p2pchat-key-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let first = Identity::load_or_create(&dir).unwrap();
    let again = Identity::load_or_create(&dir).unwrap();
    assert_eq!(first.public(), again.public());
    assert_eq!(first.fingerprint(), again.fingerprint());
    assert_eq!(first.node_id(), node_id_of(first.public()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    std::fs::write(&dir, "not a key\n").unwrap();
    assert!(matches!(
        Identity::load_or_create(&dir),
        Err(KeyError::Malformed { .. })
    ));
    let _ = std::fs::remove_file(&dir);
}

#[test]
fn fingerprints_read_in_groups() {
    let f = Identity::generate().unwrap().fingerprint();
    assert_eq!(f.len(), 19);
    assert_eq!(f.matches('-').count(), 3);
}

/// Hands out bytes in pieces of the given sizes.
struct Pieces {
    data: Vec<u8>,
    at: usize,
    sizes: Vec<usize>,
    turn: usize,
}

impl AsyncRead for Pieces {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        out: &mut [u8],
    ) -> std::task::Poll<io::Result<usize>> {
        let size = self
            .sizes
            .get(self.turn % self.sizes.len().max(1))
            .copied()
            .unwrap_or(usize::MAX);
        self.turn += 1;
        let n = size.max(1).min(out.len()).min(self.data.len() - self.at);
        out[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        std::task::Poll::Ready(Ok(n))
    }
}

proptest! {
    // Each case seals up to half a megabyte: fewer cases than the default.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn writes_of_any_size_are_reassembled_over_any_chunking(
        writes in proptest::collection::vec(0usize..100_000, 1..6),
        sizes in proptest::collection::vec(1usize..70_000, 0..6),
        // What the caller asks for per read: small buffers take a message
        // in parts, large ones have it opened straight into them.
        asks in proptest::collection::vec(1usize..140_000, 1..4),
    ) {
        use futures::io::{AsyncReadExt, AsyncWriteExt};
        let mut sealed = Vec::new();
        let mut plain = Vec::new();
        let pieces = Pieces { data: Vec::new(), at: 0, sizes, turn: 0 };
        let (mut w, mut r) = memory_pair(&mut sealed, pieces).unwrap();
        futures::executor::block_on(async {
            for (i, len) in writes.iter().enumerate() {
                let chunk: Vec<u8> = (0..*len).map(|k| (k + i) as u8).collect();
                if i % 2 == 0 {
                    w.write_all(&chunk).await.unwrap();
                } else {
                    // Gathered from slices of many sizes, empty ones too.
                    let (a, rest) = chunk.split_at(len / 3);
                    let (b, c) = rest.split_at(rest.len() / 2);
                    let mut slices = [a, &[], b, c].map(std::io::IoSlice::new);
                    w.write_all_vectored(&mut slices).await.unwrap();
                }
                plain.extend_from_slice(&chunk);
            }
            w.flush().await.unwrap();
        });
        drop(w);
        r.inner_mut().data = sealed;
        let mut got = Vec::new();
        futures::executor::block_on(async {
            for turn in 0.. {
                let mut buf = vec![0; asks[turn % asks.len()]];
                match r.read(&mut buf).await.unwrap() {
                    0 => break,
                    n => got.extend_from_slice(&buf[..n]),
                }
            }
        });
        prop_assert_eq!(got, plain);
    }

    /// Frames read straight from the plaintext, as a node reads them, come
    /// out whole and in order wherever transport messages and socket reads
    /// cut them, across the buffer's end and back to its start.
    #[test]
    fn frames_are_read_whole_wherever_messages_and_reads_cut_them(
        lens in proptest::collection::vec(
            prop_oneof![0usize..200, 0usize..=crate::message::MAX_BODY],
            1..30,
        ),
        per_write in 1usize..6,
        sizes in proptest::collection::vec(1usize..70_000, 0..6),
    ) {
        use crate::message::{encode, FrameReader};
        use futures::io::AsyncWriteExt;
        let bodies: Vec<String> = lens
            .iter()
            .enumerate()
            .map(|(i, len)| (0..*len).map(|k| char::from(b'a' + ((i + k) % 26) as u8)).collect())
            .collect();
        let mut sealed = Vec::new();
        let pieces = Pieces { data: Vec::new(), at: 0, sizes, turn: 0 };
        let (mut w, mut r) = memory_pair(&mut sealed, pieces).unwrap();
        futures::executor::block_on(async {
            for group in bodies.chunks(per_write) {
                let mut frames = Vec::new();
                for body in group {
                    encode(body, &mut frames).unwrap();
                }
                w.write_all(&frames).await.unwrap();
            }
            w.flush().await.unwrap();
        });
        drop(w);
        r.inner_mut().data = sealed;
        let mut reader = FrameReader::over(r);
        let mut got = Vec::new();
        futures::executor::block_on(async {
            while let Some(body) = reader.next_frame().await.unwrap() {
                got.push(body.to_owned());
            }
        });
        prop_assert_eq!(got, bodies);
    }

    #[test]
    fn arbitrary_sealed_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        use futures::io::AsyncReadExt;
        let (_, mut r) = memory_pair(futures::io::sink(), futures::io::Cursor::new(bytes)).unwrap();
        let mut got = Vec::new();
        // Forged bytes fail to decrypt (or end early); they never panic.
        let result = futures::executor::block_on(r.read_to_end(&mut got));
        prop_assert!(result.is_err() || got.is_empty());
    }
}

/// A finished XX handshake between two fresh key pairs, made in memory.
fn handshaken() -> (snow::HandshakeState, snow::HandshakeState) {
    let params = || OPEN.parse::<NoiseParams>().unwrap();
    let (a, b) = (
        snow::Builder::new(params()).generate_keypair().unwrap(),
        snow::Builder::new(params()).generate_keypair().unwrap(),
    );
    let mut i = snow::Builder::new(params())
        .local_private_key(&a.private)
        .unwrap()
        .build_initiator()
        .unwrap();
    let mut r = snow::Builder::new(params())
        .local_private_key(&b.private)
        .unwrap()
        .build_responder()
        .unwrap();
    let (mut msg, mut buf) = ([0u8; 256], [0u8; 256]);
    for (from, to) in [(0, 1), (1, 0), (0, 1)] {
        let ends = [&mut i, &mut r];
        let n = ends[from].write_message(&[], &mut msg).unwrap();
        ends[to].read_message(&msg[..n], &mut buf).unwrap();
    }
    (i, r)
}

/// The messages of a sealed stream: each after its 2-byte length.
fn messages(mut stream: &[u8]) -> Vec<&[u8]> {
    let mut list = Vec::new();
    while let Some((len, rest)) = stream.split_first_chunk::<2>() {
        let (message, rest) = rest.split_at(usize::from(u16::from_be_bytes(*len)));
        list.push(message);
        stream = rest;
    }
    list
}

/// The transport sealed here with ring is Noise's: snow's own transport
/// state opens what this side seals, and this side opens what it seals,
/// message after message, in both directions.
#[test]
fn sealing_in_place_speaks_noise_transport_as_snow_does() {
    use futures::io::{AsyncReadExt, AsyncWriteExt};
    let (mut i, r) = handshaken();
    let mut sealed = Vec::new();
    let (mut writer, _) = transport(&mut i, &mut sealed, futures::io::empty()).unwrap();
    let data: Vec<u8> = (0..150_000u32).map(|k| (k % 253) as u8).collect();
    futures::executor::block_on(async {
        writer.write_all(&data).await.unwrap();
        writer.write_all(b"end").await.unwrap();
        writer.flush().await.unwrap();
    });
    drop(writer);
    let snow_r = r.into_stateless_transport_mode().unwrap();
    let mut opened = Vec::new();
    for (nonce, message) in messages(&sealed).into_iter().enumerate() {
        let mut out = vec![0u8; message.len()];
        let n = snow_r
            .read_message(nonce as u64, message, &mut out)
            .unwrap();
        opened.extend_from_slice(&out[..n]);
    }
    assert_eq!(opened.len(), data.len() + 3);
    assert_eq!(&opened[..data.len()], &data[..]);

    // The other way: snow seals as the responder, this side opens.
    let mut stream = Vec::new();
    for (nonce, piece) in data.chunks(40_000).enumerate() {
        let mut message = vec![0u8; piece.len() + TAG_LEN];
        let n = snow_r
            .write_message(nonce as u64, piece, &mut message)
            .unwrap();
        stream.extend_from_slice(&(n as u16).to_be_bytes());
        stream.extend_from_slice(&message[..n]);
    }
    let (_, mut reader) = transport(&mut i, futures::io::sink(), &stream[..]).unwrap();
    let mut got = Vec::new();
    futures::executor::block_on(reader.read_to_end(&mut got)).unwrap();
    assert_eq!(got, data);
}
