//! Heals splits: about every second, looks for nodes of the room that
//! this node knows of (by LAN discovery or peer exchange) but that are
//! missing from its roster, which means the network is in parts, and links
//! to one of them even at or above its target. Once nothing is missing, it
//! prunes the links beyond its maximum that healing took on.
//!
//! The decisions are [`PeerSet::heal_plan`](crate::node::mesh::peers::PeerSet)'s; this
//! task only runs them.

use crate::node::link::admission::Purpose;
use crate::node::mesh::dial_book::Heal;
use crate::node::mesh::dialer;
use crate::node::random::Rng;
use crate::node::state::Shared;
use crate::rt;
use std::sync::Arc;
use std::time::Duration;

/// How often a node looks, on average. The wait varies by half of it either
/// way, so that the nodes of one part, which see the same missing nodes at
/// once, do not all dial them at the same moment.
const EVERY: Duration = Duration::from_secs(1);

pub(in crate::node) async fn run(shared: Arc<Shared>) {
    let mut rng = Rng::default();
    loop {
        let half = EVERY.as_millis() as usize / 2;
        let wait = Duration::from_millis((half + rng.below(2 * half)) as u64);
        rt::sleep(wait).await;
        if shared.is_quitting() {
            return;
        }
        match shared.heal_plan() {
            Heal::Dial(id, addr) => {
                tracing::debug!(node = %id, %addr, "not in the roster: the network is split; dialing to heal it");
                let shared = shared.clone();
                rt::spawn(async move {
                    let _ = dialer::dial(shared, addr, Purpose::Heal).await;
                });
            }
            Heal::Prune(id) => shared.prune_surplus(id),
            Heal::Nothing => {}
        }
    }
}
