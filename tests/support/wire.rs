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

/// A valid `HELLO` for the node whose id is `id`, saying it needs the link.
pub fn hello(id: &str, name: &str) -> Vec<u8> {
    frame(hello_body(id, name, true).as_bytes())
}

/// A `HELLO`'s body, saying whether the sender `need`s the link.
pub fn hello_body(id: &str, name: &str, need: bool) -> String {
    let version = p2pchat::protocol::VERSION;
    let need = u8::from(need);
    format!("HELLO {version} {id} 1 lobby {need} {name}")
}

/// An encrypted link to a node.
pub type Link = secure::Link<rt::Stream, rt::Stream>;

/// Connects to the node at `port` as a real node would: a Noise handshake
/// with a fresh key. Returns this end's node id, the link, and the socket,
/// to shut it down.
pub async fn connect(port: u16) -> (String, Link, rt::Stream) {
    let identity = Identity::generate().unwrap();
    let stream = rt::connect(([127, 0, 0, 1], port).into()).await.unwrap();
    let link = secure::handshake(stream.clone(), stream.clone(), true, &identity, None)
        .await
        .unwrap();
    (identity.node_id().to_string(), link, stream)
}

/// Connects as a real node would (a Noise handshake with a fresh key),
/// sends the bytes `script` makes from this peer's node id, and returns
/// what the node sends back before it closes the link, or within 8 seconds.
pub fn poke(port: u16, script: impl FnOnce(&str) -> Vec<u8>) -> String {
    rt::block_on(async {
        let (id, link, _) = connect(port).await;
        let bytes = script(&id);
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
