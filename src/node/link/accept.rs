//! The accept loop: takes each inbound connection through the handshake
//! and serves it, within the bounds `pending.rs` keeps.
//!
//! A connection must start its Noise handshake within [`FIRST_MESSAGE`],
//! and one that waits displaces nobody for long. A connection that fails
//! is counted and logged, never shown in the chat: a flood of them must
//! cost neither lines on the screen nor memory.

use crate::node::link::admission::{Direction, Purpose};
use crate::node::link::handshake;
use crate::node::link::pending::REFUSAL_WINDOW;
use crate::node::state::Shared;
use crate::rt;
use futures::future::{AbortHandle, Abortable};
use futures::FutureExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a new connection has to send its first byte.
pub const FIRST_MESSAGE: Duration = Duration::from_secs(1);
/// The longest pause after the listener fails (out of file descriptors).
const MOST_PAUSE: Duration = Duration::from_secs(1);

pub(in crate::node) async fn run(shared: Arc<Shared>, listener: rt::Listener) {
    let mut pause = Duration::from_millis(10);
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: pause, longer each
                // time, rather than spin.
                tracing::debug!("could not accept a connection: {e}");
                rt::sleep(pause).await;
                pause = (pause * 2).min(MOST_PAUSE);
                continue;
            }
        };
        pause = Duration::from_millis(10);
        if shared.is_quitting() {
            continue;
        }
        let remote = canonical(remote);
        // A peer usually sends its first message as soon as it connects:
        // by now it is here, and protects the connection from displacement.
        let mut first = [0u8; 1];
        let spoke = matches!(stream.peek(&mut first).now_or_never(), Some(Ok(1..)));
        let (abort, registration) = AbortHandle::new_pair();
        let (ticket, displaced) = shared.pending().add(remote.ip(), abort, spoke);
        if let Some(displaced) = displaced {
            displaced.abort();
        }
        let shared = shared.clone();
        rt::spawn(async move {
            let work = async {
                let mut first = [0u8; 1];
                match rt::timeout(FIRST_MESSAGE, stream.peek(&mut first)).await {
                    Some(Ok(1..)) => shared.pending().spoke(ticket),
                    _ => {
                        let reason = format!("nothing within {} s", FIRST_MESSAGE.as_secs());
                        return Err(handshake::NotLinked::from(reason));
                    }
                }
                let reader = stream.clone();
                handshake::handshake(
                    &shared,
                    reader,
                    stream,
                    remote,
                    Direction::Inbound,
                    Purpose::Ordinary,
                )
                .await
            };
            let result = Abortable::new(work, registration).await;
            shared.pending().remove(ticket);
            let reason = match result {
                Ok(Ok(session)) => return session.serve().await,
                Ok(Err(failed)) if failed.routine => {
                    tracing::debug!(%remote, "turned a connection down: {}", failed.reason);
                    return;
                }
                Ok(Err(failed)) => failed.reason,
                Err(_) => "displaced by newer connections".to_string(),
            };
            tracing::debug!(%remote, "refused a connection: {reason}");
            shared.pending().refused(remote.ip(), Instant::now());
        });
    }
}

/// `addr` with an IPv4-mapped IPv6 address (a dual-stack listener's view
/// of an IPv4 peer) written as IPv4; an IPv6 address keeps its interface,
/// which a link-local one needs.
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

/// Sources of refused connections named in the chat at most, with
/// `--verbose`; `:peers` names them all.
const REFUSALS_SHOWN: usize = 3;

impl Shared {
    /// With `--verbose`, tells the chat of the connections turned away,
    /// summed up, at most once per [`REFUSAL_WINDOW`]; without it, they are
    /// only logged and listed by `:peers`.
    pub(in crate::node) fn tell_refusals(&self, last_told: &mut Option<Instant>) {
        if !self.verbose.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let now = Instant::now();
        if last_told.is_some_and(|t| now.duration_since(t) < REFUSAL_WINDOW) {
            return;
        }
        let summary = self.pending().summary(now);
        if summary.is_empty() {
            return;
        }
        *last_told = Some(now);
        for line in summary.iter().take(REFUSALS_SHOWN) {
            self.notice(line.clone());
        }
        if summary.len() > REFUSALS_SHOWN {
            let more = summary.len() - REFUSALS_SHOWN;
            self.notice(format!("and from {more} more sources (see :peers)"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::canonical;
    use std::net::SocketAddr;

    #[test]
    fn canonical_addresses_unmap_ipv4_and_keep_an_ipv6_interface() {
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:4000".parse().unwrap();
        assert_eq!(canonical(mapped), "10.0.0.1:4000".parse().unwrap());
        let link_local: SocketAddr = "[fe80::1%7]:4000".parse().unwrap();
        let SocketAddr::V6(kept) = canonical(link_local) else {
            panic!("an IPv6 address stays one")
        };
        assert_eq!(kept.scope_id(), 7);
    }
}
