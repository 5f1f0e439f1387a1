//! Flooders (`Options::flooders`): nodes that run the honest core and,
//! every [`FLOOD_EVERY`], also send each of their peers the requests and
//! the news that cost a node the most, as any peer can (PROTOCOL.md §6.1):
//! - `PEERS` naming made-up nodes at addresses where nobody answers: each
//!   dial to one waits for its whole patience, and the dial book must
//!   still find the real nodes, to heal the partition above all;
//! - `GRAFT` of every number of every user they show online: the resend
//!   allowance must bound what it brings;
//! - `IHAVE` of numbers those users never reached: what a node asks for in
//!   answer must stay bounded, and its real wants must still be met;
//! - `HAVE` and `DIGEST` of nothing, answered once per link.
//!
//! They sit just below the liars, if any. The run's usual checks are the
//! verdict; the report adds what was delivered to the flooders.

use super::world::*;
use crate::node::link::gather::push_now;
use crate::node::state::encode_with;
use crate::protocol::{self, IdRange, NodeId};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// How often a flooder floods.
pub(super) const FLOOD_EVERY: Duration = Duration::from_secs(1);
/// Made-up nodes named in one `PEERS`: more than a node takes from one.
const MADE_UP_PEERS: usize = 16;
/// Users named in one `GRAFT` or `IHAVE`, at most: one frame's worth.
const RANGES_AT_ONCE: usize = 400;
/// How far above a user's newest number the announced numbers go.
const ANNOUNCED_AHEAD: u64 = 1000;

impl World {
    /// Whether the node in `slot` floods: the `flooders` slots below the
    /// liars do.
    pub(super) fn is_flooder(&self, slot: usize) -> bool {
        let below = self.options.nodes.saturating_sub(self.options.liars);
        slot < below && slot >= below.saturating_sub(self.options.flooders)
    }

    /// Node `slot` floods each of its peers, and plans its next flood; the
    /// timer's caller sends what it queued.
    pub(super) fn flood(&mut self, slot: usize, run: u32) {
        let Some(shared) = self.shared_of(slot, run) else {
            return;
        };
        let me = shared.id;
        let made_up: Vec<(NodeId, SocketAddr)> = (0..MADE_UP_PEERS)
            .map(|_| (NodeId(self.rng.next_u64()), nowhere(self.rng.next_u64())))
            .collect();
        let state = shared.lock();
        let online: Vec<(NodeId, u64)> = state
            .roster
            .online()
            .into_iter()
            .filter(|(id, _)| *id != me)
            .filter_map(|(id, _)| Some((id, state.roster.seq_of(id)?)))
            .take(RANGES_AT_ONCE)
            .collect();
        let everything = online.iter().map(|(origin, _)| IdRange {
            origin: *origin,
            first: 0,
            last: u64::MAX,
        });
        let never_sent = online.iter().map(|(origin, seq)| IdRange {
            origin: *origin,
            first: seq.saturating_add(1),
            last: seq.saturating_add(ANNOUNCED_AHEAD),
        });
        let frames = [
            encode_with(|out| protocol::encode_peers(made_up.into_iter(), out)),
            encode_with(|out| protocol::encode_graft(everything, out)),
            encode_with(|out| protocol::encode_ihave(never_sent, out)),
            encode_with(|out| protocol::encode_have(std::iter::empty(), out)),
            encode_with(|out| protocol::encode_digest(std::iter::once(0), out)),
        ];
        for (_, peer) in state.peers.iter() {
            for frame in frames.iter().flatten() {
                push_now(&peer.outbox, Some(frame.clone()));
            }
        }
        drop(state);
        self.found.floods += 1;
        self.after(FLOOD_EVERY, timer(slot, run, Timer::Flood));
    }
}

/// An address no machine of the simulation has (10.255.0.0/16): a dial
/// to it is never answered.
fn nowhere(draw: u64) -> SocketAddr {
    let ip = Ipv4Addr::new(10, 255, (draw >> 8) as u8, draw as u8);
    SocketAddr::new(IpAddr::V4(ip), PORT)
}
