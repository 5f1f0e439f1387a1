//! The broadcast tree: which links carry each origin's messages whole and
//! which announce them, what to ask for, and the recent messages kept for
//! peers that ask.

pub mod broadcast;
pub mod link;
pub mod recent;
pub mod wants;

use crate::node::state::{RECENT_AGE, RECENT_BYTES};
use recent::Recent;
use wants::Wants;

/// The tree's own state, beyond each link's: the messages announced to
/// this node that it lacks, the recent messages kept for peers that ask,
/// and whether its ticks run. Each link's part (which origins each side
/// pruned) lives with its peer, as a [`link::Link`], since the fan-out
/// reads it in its one pass over the peers.
pub(in crate::node) struct Tree {
    pub recent: Recent,
    pub wants: Wants,
    /// Off (`--no-tree`), nothing is pruned: every message goes whole over
    /// every link, as if there were no tree; to measure what it is worth.
    pub prunes: bool,
    /// The ticks run (or a wake-up for them is on its way).
    pub ticking: bool,
}

impl Tree {
    pub fn new(prunes: bool) -> Self {
        Tree {
            recent: Recent::new(RECENT_BYTES, RECENT_AGE),
            wants: Wants::default(),
            prunes,
            ticking: false,
        }
    }
}
