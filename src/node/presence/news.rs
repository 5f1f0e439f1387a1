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
use crate::node::random::Rng;
use crate::node::state::{Shared, State};
use crate::node::wakes::Task;
use crate::protocol::{MsgId, NodeId};
use crate::rt;
use futures::channel::mpsc;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How long news waits to be sent with more, on average: a few link
/// trips, short beside the [`SUSPICION`](super::SUSPICION) a suspected user
/// has to answer in, since a suspicion and its answer each wait once per
/// hop.
pub const NEWS_EVERY: Duration = Duration::from_millis(100);

/// How long this gathering waits: [`NEWS_EVERY`], half of it either way.
/// Two peers that hear news at once would otherwise tell each other at
/// once; drawn, the one that waits longer has heard it from the other.
pub fn news_wait(rng: &mut Rng) -> Duration {
    let half = NEWS_EVERY.as_millis() as usize / 2;
    Duration::from_millis((half + rng.below(2 * half + 1)) as u64)
}

/// Peers that told this node one news item, each kept so that it is not
/// told the item back: the first few of them, which in a mesh is most of
/// the node's peers when a wave of news passes (each tells every other).
/// A peer beyond them is told again, as it would be with none kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Told {
    peers: [NodeId; TOLD_KEPT],
    len: u8,
}

/// Peers kept per item in [`Told`].
const TOLD_KEPT: usize = 6;

impl Told {
    fn by(from: Option<NodeId>) -> Self {
        let mut told = Told {
            peers: [NodeId(0); TOLD_KEPT],
            len: 0,
        };
        told.add(from);
        told
    }

    fn add(&mut self, from: Option<NodeId>) {
        let len = usize::from(self.len);
        if let Some(from) = from.filter(|f| len < TOLD_KEPT && !self.has(*f)) {
            self.peers[len] = from;
            self.len += 1;
        }
    }

    fn has(&self, peer: NodeId) -> bool {
        self.peers[..usize::from(self.len)].contains(&peer)
    }
}

/// One gathered item: a user's entry, and who told this node of it.
type Item = (MsgId, Told);

/// News waiting for the next [`Shared::news_tick`]: entries, and the peers
/// that told each (which are not told it back). Names are looked up in the
/// roster as the news goes out, not copied for each item.
#[derive(Default)]
pub(in crate::node) struct News {
    /// Users who joined, at their join's number.
    joined: Vec<Item>,
    /// Users online at a newer number.
    online: Vec<Item>,
    /// Suspicions.
    suspects: Vec<Item>,
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
        newest(&mut self.joined, &mut self.joined_at, id, from);
    }

    /// Gathers user `id.origin` online at `id.seq`, heard from `from`,
    /// unless their join at that number or later is gathered: it says as
    /// much.
    pub(in crate::node) fn online(&mut self, id: MsgId, from: Option<NodeId>) {
        if !self.join_covers(id) {
            newest(&mut self.online, &mut self.online_at, id, from);
        }
    }

    /// Whether the user's join at `id.seq` or later is gathered.
    fn join_covers(&self, id: MsgId) -> bool {
        (self.joined_at.get(&id.origin)).is_some_and(|&i| self.joined[i].0.seq >= id.seq)
    }

    /// Gathers a suspicion of user `id.origin` since `id.seq`, heard from
    /// `from`.
    pub(in crate::node) fn suspect(&mut self, id: MsgId, from: Option<NodeId>) {
        newest(&mut self.suspects, &mut self.suspect_at, id, from);
    }

    /// Peer `from` listed user `id.origin` at `id.seq`, which was no news
    /// here: it need not be told what is gathered of the user at that
    /// number or below. A join (`join`) says what a plain entry does, and
    /// that the user joined.
    pub(in crate::node) fn told_entry(&mut self, id: MsgId, from: NodeId, join: bool) {
        told(&mut self.online, &self.online_at, id, from);
        if join {
            told(&mut self.joined, &self.joined_at, id, from);
        }
    }

    /// Peer `from` suspects user `id.origin` since `id.seq`, which was no
    /// news here: it need not be told a suspicion gathered at that number
    /// or below.
    pub(in crate::node) fn told_suspect(&mut self, id: MsgId, from: NodeId) {
        told(&mut self.suspects, &self.suspect_at, id, from);
    }

    fn is_empty(&self) -> bool {
        self.joined.is_empty() && self.online.is_empty() && self.suspects.is_empty()
    }
}

/// Adds a user's entry to `list`, or puts it in place of the user's entry
/// there if it is newer; at the same number, `from` told it too.
fn newest(
    list: &mut Vec<Item>,
    at: &mut HashMap<NodeId, usize, BuildIdHasher>,
    id: MsgId,
    from: Option<NodeId>,
) {
    match at.get(&id.origin) {
        Some(&i) if list[i].0.seq < id.seq => list[i] = (id, Told::by(from)),
        Some(&i) if list[i].0.seq == id.seq => list[i].1.add(from),
        Some(_) => {}
        None => {
            at.insert(id.origin, list.len());
            list.push((id, Told::by(from)));
        }
    }
}

/// Notes that `from` has the user's item in `list` if it is at `id.seq` or
/// below.
fn told(list: &mut [Item], at: &HashMap<NodeId, usize, BuildIdHasher>, id: MsgId, from: NodeId) {
    if let Some(item) = at.get(&id.origin).and_then(|&i| list.get_mut(i)) {
        if item.0.seq <= id.seq {
            item.1.add(Some(from));
        }
    }
}

/// The entries of a list of news.
fn all<T: Copy>(list: &[(T, Told)]) -> Vec<T> {
    list.iter().map(|(entry, _)| *entry).collect()
}

/// A peer's share of the news: the entries it did not tell this node.
fn not_from<T: Copy>(list: &[(T, Told)], peer: NodeId) -> Vec<T> {
    let others = list.iter().filter(|(_, told)| !told.has(peer));
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

    /// Sends the gathered news: to each peer, the entries it did not tell,
    /// as `JOIN`, `ROSTER` and `SUSPECT` lists. The peers that brought none
    /// share one copy of the frames. A user no longer online here is left
    /// out of `JOIN` and `ROSTER` lists.
    pub fn news_tick(&self) {
        let mut state = self.lock();
        let news = std::mem::take(&mut state.news);
        let state = &*state;
        // Each entry with the user's name, while they are online here.
        let named = |(id, told): &Item| {
            let name = state.roster.name_of(id.origin)?;
            Some(((*id, name), *told))
        };
        let joined: Vec<_> = news.joined.iter().filter_map(named).collect();
        // A join gathered after the user's entry says as much.
        let not_covered = |(id, _): &&Item| !news.join_covers(*id);
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
            .flat_map(|(_, told)| told.peers[..usize::from(told.len)].iter().copied())
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

/// The news task: sends what was gathered about [`NEWS_EVERY`] after the
/// first item of it ([`news_wait`]), and sleeps while there is none.
pub(in crate::node) async fn run(shared: Arc<Shared>, mut wake: mpsc::Receiver<()>) {
    let mut rng = Rng::default();
    while wake.next().await.is_some() {
        rt::sleep(news_wait(&mut rng)).await;
        if shared.is_quitting() {
            return;
        }
        shared.news_tick();
    }
}
