//! A peer the test scripts byte by byte: it completes the Noise handshake
//! as a real node would, then sends whatever frames the test gives it
//! through the encrypted link.

use futures::io::{AsyncReadExt, AsyncWriteExt};
use p2pchat::rt;
use p2pchat::secure::{self, Identity};
use std::time::{Duration, Instant};

/// `body` behind its length prefix.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// A valid `HELLO` for the node whose id is `id`.
pub fn hello(id: &str, name: &str) -> Vec<u8> {
    let version = p2pchat::protocol::VERSION;
    frame(format!("HELLO {version} {id} 1 lobby 1 {name}").as_bytes())
}

/// Connects as a real node would (a Noise handshake with a fresh key),
/// sends the bytes `script` makes from this peer's node id, and returns
/// what the node sends back before it closes the link, or within 8 seconds.
pub fn poke(port: u16, script: impl FnOnce(&str) -> Vec<u8>) -> String {
    let identity = Identity::generate().unwrap();
    let bytes = script(&identity.node_id().to_string());
    rt::block_on(async {
        let addr = ([127, 0, 0, 1], port).into();
        let stream = rt::connect(addr).await.unwrap();
        let link = secure::handshake(stream.clone(), stream, true, &identity, None)
            .await
            .unwrap();
        let (mut reader, mut writer) = (link.reader, link.writer);
        let _ = writer.write_all(&bytes).await;
        let _ = writer.flush().await;
        let deadline = Instant::now() + Duration::from_secs(8);
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match rt::timeout(left, reader.read(&mut buf)).await {
                Some(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    })
}
