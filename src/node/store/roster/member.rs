//! One user as the roster keeps them. There is one such entry per user of
//! the network at every node, so it is kept small: times as
//! milliseconds, the name within the entry, its skeleton as a hash.

use compact_str::CompactString;
use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;

/// A moment, in milliseconds since the roster's epoch, plus one: 8 bytes
/// rather than an `Instant`'s 16, in an entry kept for every user of the
/// network.
pub(super) type Stamp = u64;

/// A user, as the roster keeps them: one per user of the network at every
/// node, so it is kept small (64 bytes, the name within them up to 24
/// bytes long). A suspicion's numbers are kept aside
/// ([`Suspicion`]): few users are suspected at a time.
#[derive(Debug, Clone)]
pub(super) struct Member {
    pub(super) name: CompactString,
    /// The name's [`skeleton_key`], worked out once per name.
    pub(super) skeleton: u64,
    /// The newest sequence number heard of the user.
    pub(super) seq: u64,
    /// The number of the user's newest join heard of (0 for none).
    pub(super) joined: u64,
    /// While online, when the user was last heard of; while lost, when
    /// they were lost.
    pub(super) at: Stamp,
    pub(super) online: bool,
    /// Lost, and a peer that still listed the user was asked to check.
    pub(super) asked: bool,
    /// Under a suspicion, kept in the roster's list of them.
    pub(super) suspected: bool,
}

/// A suspicion that a user is gone: since which of their numbers, and
/// until when.
#[derive(Debug, Clone, Copy)]
pub(super) struct Suspicion {
    pub(super) since: u64,
    pub(super) until: Stamp,
}

impl Member {
    /// A user first heard of at `now`, online at `seq`.
    pub(super) fn new(name: &str, skeleton: u64, seq: u64, now: Stamp) -> Self {
        Member {
            name: name.into(),
            skeleton,
            seq,
            joined: 0,
            at: now,
            online: true,
            asked: false,
            suspected: false,
        }
    }
}

/// What a name looks like, as Unicode's confusables list has it (UTS #39),
/// hashed: `bob` and `bоb` (a Cyrillic о) have one skeleton, so each of
/// them is shown with a tag while both are online, as if they were equal.
/// A hash keeps it to 8 bytes per user; two skeletons that collide (one
/// chance in 2^64 for names nobody chose to collide) only tag two names.
pub(super) fn skeleton_key(name: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    for c in unicode_security::skeleton(name) {
        hasher.write_u32(c.into());
    }
    hasher.finish()
}
