//! Presence news, gathered for the peers and sent as lists every
//! [`NEWS_EVERY`] rather than one frame per event: users who joined, users
//! online at a newer number (a heartbeat, an answer to a suspicion, a user
//! back from a crash) and suspicions. A news item then costs a roster
//! lookup and a few bytes at each node, not a frame on each link. When
//! many users change at once (a split that heals, a wave of joins), a list
//! carries hundreds of them.
//!
//! One entry per user is kept, the newest: a peer that sends a user's
//! numbers one after another within a gathering makes one entry, and what
//! is gathered never exceeds the roster.

use super::rosters::{joined_frames, roster_frames};
use super::suspect_frames;
use crate::node::id_hash::BuildIdHasher;
use crate::node::link::gather::push_now;
use crate::node::state::{Shared, State};
use crate::node::wakes::Task;
use crate::protocol::{MsgId, NodeId};
use crate::rt;
use futures::channel::mpsc;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How long news waits to be sent with more: a few link trips, short
/// beside the [`SUSPICION`](super::SUSPICION) a suspected user has to
/// answer in, since a suspicion and its answer each wait once per hop.
pub const NEWS_EVERY: Duration = Duration::from_millis(100);

/// News waiting for the next [`Shared::news_tick`]: entries, and the peer
/// each came from (which is not told it back). Names are looked up in the
/// roster as the news goes out, not copied for each item.
#[derive(Default)]
pub(in crate::node) struct News {
    /// Users who joined, at their join's number.
    joined: Vec<(MsgId, Option<NodeId>)>,
    /// Users online at a newer number.
    online: Vec<(MsgId, Option<NodeId>)>,
    /// Suspicions.
    suspects: Vec<(MsgId, Option<NodeId>)>,
    /// Where each user's entry is in the lists above.
    joined_at: HashMap<NodeId, usize, BuildIdHasher>,
    online_at: HashMap<NodeId, usize, BuildIdHasher>,
    suspect_at: HashMap<NodeId, usize, BuildIdHasher>,
    /// The tick is due: a wake-up is on its way or it is running.
    ticking: bool,
}

impl News {
    /// Gathers user `id.origin`'s join at `id.seq`, heard from `from`.
    pub(in crate::node) fn joined(&mut self, id: MsgId, from: Option<NodeId>) {
        newest(&mut self.joined, &mut self.joined_at, (id, from));
    }

    /// Gathers user `id.origin` online at `id.seq`, heard from `from`,
    /// unless their join at that number or later is gathered: it says as
    /// much.
    pub(in crate::node) fn online(&mut self, id: MsgId, from: Option<NodeId>) {
        if !self.join_covers(id) {
            newest(&mut self.online, &mut self.online_at, (id, from));
        }
    }

    /// Whether the user's join at `id.seq` or later is gathered.
    fn join_covers(&self, id: MsgId) -> bool {
        (self.joined_at.get(&id.origin)).is_some_and(|&i| self.joined[i].0.seq >= id.seq)
    }

    /// Gathers a suspicion of user `id.origin` since `id.seq`, heard from
    /// `from`.
    pub(in crate::node) fn suspect(&mut self, id: MsgId, from: Option<NodeId>) {
        newest(&mut self.suspects, &mut self.suspect_at, (id, from));
    }

    fn is_empty(&self) -> bool {
        self.joined.is_empty() && self.online.is_empty() && self.suspects.is_empty()
    }
}

/// Adds a user's entry to `list`, or puts it in place of the user's entry
/// there if it is no older.
fn newest(
    list: &mut Vec<(MsgId, Option<NodeId>)>,
    at: &mut HashMap<NodeId, usize, BuildIdHasher>,
    item: (MsgId, Option<NodeId>),
) {
    match at.get(&item.0.origin) {
        Some(&i) if list[i].0.seq <= item.0.seq => list[i] = item,
        Some(_) => {}
        None => {
            at.insert(item.0.origin, list.len());
            list.push(item);
        }
    }
}

/// The entries of a list of news.
fn all<T: Copy>(list: &[(T, Option<NodeId>)]) -> Vec<T> {
    list.iter().map(|(entry, _)| *entry).collect()
}

/// A peer's share of the news: the entries it did not bring.
fn not_from<T: Copy>(list: &[(T, Option<NodeId>)], told: NodeId) -> Vec<T> {
    let others = list.iter().filter(|(_, from)| *from != Some(told));
    others.map(|(entry, _)| *entry).collect()
}

impl Shared {
    /// Makes sure the gathered news goes out within [`NEWS_EVERY`].
    pub(in crate::node) fn news_soon(&self, state: &mut State) {
        if !state.news.is_empty() && !state.news.ticking {
            state.news.ticking = true;
            self.wakes.wake(Task::News);
        }
    }

    /// Sends the gathered news: to each peer, the entries it did not bring,
    /// as `JOIN`, `ROSTER` and `SUSPECT` lists. The peers that brought none
    /// share one copy of the frames. A user no longer online here is left
    /// out of `JOIN` and `ROSTER` lists.
    pub fn news_tick(&self) {
        let mut state = self.lock();
        let news = std::mem::take(&mut state.news);
        let state = &*state;
        // Each entry with the user's name, while they are online here.
        let named = |(id, from): &(MsgId, Option<NodeId>)| {
            let name = state.roster.name_of(id.origin)?;
            Some(((*id, name), *from))
        };
        let joined: Vec<_> = news.joined.iter().filter_map(named).collect();
        // A join gathered after the user's entry says as much.
        let not_covered = |(id, _): &&(MsgId, Option<NodeId>)| !news.join_covers(*id);
        let online: Vec<_> = (news.online.iter().filter(not_covered))
            .filter_map(named)
            .collect();
        let frames = |joined: &[(MsgId, &str)], online: &[(MsgId, &str)], suspects: &[MsgId]| {
            let frames = joined_frames(joined).into_iter();
            let frames = frames.chain(roster_frames(online));
            frames.chain(suspect_frames(suspects)).collect::<Vec<_>>()
        };
        let shared = frames(&all(&joined), &all(&online), &all(&news.suspects));
        let mut sources: Vec<NodeId> = (news.joined.iter())
            .chain(&news.online)
            .chain(&news.suspects)
            .filter_map(|(_, from)| *from)
            .collect();
        sources.sort_unstable();
        sources.dedup();
        for (id, peer) in state.peers.iter() {
            let own = match sources.contains(id) {
                true => frames(
                    &not_from(&joined, *id),
                    &not_from(&online, *id),
                    &not_from(&news.suspects, *id),
                ),
                false => shared.clone(),
            };
            for frame in own {
                push_now(&peer.outbox, Some(frame));
            }
        }
    }
}

/// The news task: sends what was gathered [`NEWS_EVERY`] after the first
/// item of it, and sleeps while there is none.
pub(in crate::node) async fn run(shared: Arc<Shared>, mut wake: mpsc::Receiver<()>) {
    while wake.next().await.is_some() {
        rt::sleep(NEWS_EVERY).await;
        if shared.is_quitting() {
            return;
        }
        shared.news_tick();
    }
}
