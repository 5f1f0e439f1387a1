//! One user as the roster keeps them. There is one such entry per user of
//! the network at every node, so it is kept small: times as
//! milliseconds, the name's skeleton as a hash.

use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;

/// A moment, in milliseconds since the roster's epoch, plus one so that
/// [`NEVER`] is none: 8 bytes rather than an `Instant`'s 16, in an entry
/// kept for every user of the network.
pub(super) type Stamp = u64;
pub(super) const NEVER: Stamp = 0;

/// A user, as the roster keeps them: one per user of the network at every
/// node, so it is kept small (80 bytes and the name).
#[derive(Debug, Clone)]
pub(super) struct Member {
    pub(super) name: Box<str>,
    /// The name's [`skeleton_key`], worked out once per name.
    pub(super) skeleton: u64,
    /// The newest sequence number heard of the user.
    pub(super) seq: u64,
    /// The number of the user's newest join heard of (0 for none).
    pub(super) joined: u64,
    /// Suspected of being gone since this number, until
    /// `suspected_until` ([`NEVER`]: not suspected).
    pub(super) suspected_since: u64,
    pub(super) suspected_until: Stamp,
    pub(super) last_heard: Stamp,
    /// When the user was lost, while offline ([`NEVER`] while online).
    pub(super) lost_at: Stamp,
    pub(super) online: bool,
    /// Lost, and a peer that still listed the user was asked to check.
    pub(super) asked: bool,
}

impl Member {
    /// A user first heard of at `now`, online at `seq`.
    pub(super) fn new(name: &str, skeleton: u64, seq: u64, now: Stamp) -> Self {
        Member {
            name: name.into(),
            skeleton,
            seq,
            joined: 0,
            suspected_since: 0,
            suspected_until: NEVER,
            last_heard: now,
            lost_at: NEVER,
            online: true,
            asked: false,
        }
    }

    /// The number the user is suspected since, if they are.
    pub(super) fn suspected(&self) -> Option<u64> {
        (self.suspected_until != NEVER).then_some(self.suspected_since)
    }

    /// Clears a suspicion that a number above it answers.
    pub(super) fn answered(&mut self, seq: u64) {
        if self.suspected().is_some_and(|since| seq > since) {
            self.suspected_until = NEVER;
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
