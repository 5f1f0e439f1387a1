//! Hostile nodes (`Options::liars`): nodes that run the honest core and,
//! every [`LIE_EVERY`], also lie to each of their peers as any member of a
//! room can while authorship is not signed:
//! - a `SUSPECT` of every user they show online, at the newest number they
//!   heard: each user must answer, and stay online everywhere;
//! - a chat line in another user's name, numbered [`FORGED_AHEAD`] above
//!   theirs. The line is shown (nothing can tell it from theirs yet), but
//!   their own later lines must still be shown, in order, and a suspicion
//!   at the made-up number must still be answered.
//!
//! The run's usual checks (delivery, presence, splits, crash detection)
//! are the verdict.

use super::world::*;
use crate::node::clock::Clock;
use crate::node::link::gather::push_now;
use crate::node::state::encode_with;
use crate::protocol::{self, Chat, Message, MsgId};
use std::time::Duration;

/// How often a liar lies.
pub(super) const LIE_EVERY: Duration = Duration::from_secs(2);
/// How far above a user's newest number a forged line is numbered: well
/// inside what the seen-cache takes from an origin at once.
const FORGED_AHEAD: u64 = 1 << 19;
/// Users named in one `SUSPECT` lie, at most: one frame's worth.
const SUSPECTED_AT_ONCE: usize = 400;

impl World {
    /// Whether the node in `slot` lies: the last `liars` slots do.
    pub(super) fn is_liar(&self, slot: usize) -> bool {
        slot >= self.options.nodes.saturating_sub(self.options.liars)
    }

    /// Node `slot` lies to each of its peers, and plans its next lie; the
    /// timer's caller sends what it queued.
    pub(super) fn lie(&mut self, slot: usize, run: u32) {
        let Some(shared) = self.shared_of(slot, run) else {
            return;
        };
        let me = shared.id;
        let victim = self.rng.next_u64();
        let unix_ms = self.clock.unix_micros() / 1000;
        let state = shared.lock();
        let online: Vec<_> = state
            .roster
            .online()
            .into_iter()
            .filter(|(id, _)| *id != me)
            .filter_map(|(id, name)| Some((id, name, state.roster.seq_of(id)?)))
            .collect();
        let suspected = online
            .iter()
            .take(SUSPECTED_AT_ONCE)
            .map(|(origin, _, seq)| MsgId {
                origin: *origin,
                seq: *seq,
            });
        let suspect = encode_with(|out| protocol::encode_suspect(suspected, out));
        let forged = (!online.is_empty())
            .then(|| &online[(victim % online.len() as u64) as usize])
            .and_then(|(origin, name, seq)| {
                let chat = Chat {
                    history: false,
                    action: false,
                    ttl: 32,
                    id: MsgId {
                        origin: *origin,
                        seq: seq.saturating_add(FORGED_AHEAD),
                    },
                    time_ms: unix_ms,
                    name,
                    text: "a line they never typed",
                };
                encode_with(|out| Message::Chat(chat).encode(out))
            });
        for (_, peer) in state.peers.iter() {
            for frame in [&suspect, &forged].into_iter().flatten() {
                push_now(&peer.outbox, Some(frame.clone()));
            }
        }
        drop(state);
        self.found.lies += 1;
        self.after(LIE_EVERY, timer(slot, run, Timer::Lie));
    }
}
