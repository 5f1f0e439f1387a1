//! Who is online in the whole network, as far as this node can tell.
//!
//! Each user is known with the newest sequence number heard of them, from
//! them or in a peer's roster. A user whose node a peer lost its link to is
//! *suspected* (`presence.rs` says when); one who says nothing newer within
//! the suspicion's time is marked lost, and so is one not heard of at all
//! for the heartbeat's long expiry. A lost user comes back only with a
//! number newer than the one they were lost at: a peer's roster that still
//! lists them at that number is stale, and never revives them. Lost users
//! are remembered for a while, so that their return can be told apart from
//! a first join.
//!
//! Any peer can name users who do not exist, so the roster is bounded
//! ([`MAX_MEMBERS`]): when it is full, the longest-lost user makes room,
//! and with none lost a newcomer is not taken until one is. Telling equal
//! names apart costs one lookup per change, not a pass over everyone.

use crate::node::dense_map::DenseMap;
use crate::node::id_hash::BuildIdHasher;
use crate::protocol::{MsgId, NodeId};
use member::skeleton_key;
use member::{Member, Stamp, Suspicion};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Users a roster holds at most: a network of 10,000 members fits.
pub const MAX_MEMBERS: usize = 16_384;

pub struct Roster {
    members: DenseMap<Member>,
    /// How many online users go by each name's skeleton (see
    /// [`skeleton_key`]): more than one, and each of them is shown with a
    /// tag.
    online_names: HashMap<u64, u32>,
    /// The moment [`Stamp`]s count from: the first one the roster was told.
    epoch: Option<Instant>,
    /// Members not online, so a full roster knows at once whether one can
    /// make room.
    lost: usize,
    max_members: usize,
    /// How long a lost user is remembered.
    forget_after: Duration,
    /// The last user [`heard_tagged`](Self::heard_tagged) found online
    /// under the same name, and when: a batch of messages from one sender,
    /// which share one `now`, then looks them up once. Every change to who
    /// is online, or by which name, and every suspicion, forgets it.
    last: Option<Last>,
    /// Suspicions in the order they end (they all last as long).
    suspicions: VecDeque<(Stamp, NodeId)>,
    /// The suspected members' suspicions, kept out of every entry.
    suspected: HashMap<NodeId, Suspicion, BuildIdHasher>,
}

struct Last {
    id: NodeId,
    name: String,
    at: Instant,
    tagged: bool,
}

/// What hearing from a user changed.
#[derive(Debug, PartialEq, Eq)]
pub enum Heard {
    /// Not known before.
    New,
    /// Known, but marked lost until now.
    Back,
    /// Known and online, but under another name, returned here.
    Renamed(String),
    /// Known and online, and now at a newer number: news to peers that
    /// may have lost or suspected the user since.
    Newer,
    /// Nothing new.
    Same,
    /// Not known, and not taken: the roster is full of online users.
    Full,
    /// Lost at this number or later, and named online at it: news to be
    /// checked with the user, first time only.
    Stale,
}

impl Roster {
    pub fn new(forget_after: Duration) -> Self {
        Roster::bounded(forget_after, MAX_MEMBERS)
    }

    /// A roster of at most `max_members` users.
    pub fn bounded(forget_after: Duration, max_members: usize) -> Self {
        Roster {
            members: DenseMap::default(),
            online_names: HashMap::new(),
            epoch: None,
            lost: 0,
            max_members,
            forget_after,
            last: None,
            suspicions: VecDeque::new(),
            suspected: HashMap::default(),
        }
    }

    /// `now` as a [`Stamp`]; the first moment the roster is told is its
    /// epoch.
    fn stamp(&mut self, now: Instant) -> Stamp {
        let epoch = *self.epoch.get_or_insert(now);
        1 + now.saturating_duration_since(epoch).as_millis() as u64
    }

    /// `now` as a [`Stamp`], for a roster that may not have been told any.
    fn stamp_of(&self, now: Instant) -> Stamp {
        let since = |epoch| now.saturating_duration_since(epoch).as_millis() as u64;
        1 + self.epoch.map_or(0, since)
    }

    /// Counts one more online user whose name's skeleton key is `skeleton`.
    fn name_in(&mut self, skeleton: u64) {
        self.last = None;
        *self.online_names.entry(skeleton).or_insert(0) += 1;
    }

    /// Counts one such online user fewer.
    fn name_out(&mut self, skeleton: u64) {
        self.last = None;
        if let Some(n) = self.online_names.get_mut(&skeleton) {
            *n -= 1;
            if *n == 0 {
                self.online_names.remove(&skeleton);
            }
        }
    }

    /// True if more than one online user goes by names of this skeleton.
    fn shared_name(&self, skeleton: u64) -> bool {
        self.online_names.get(&skeleton).is_some_and(|n| *n > 1)
    }

    /// Makes room for one more member if the roster is full: forgets the
    /// longest-lost eighth of the lost ones at once, so that a flood of
    /// newcomers costs one pass per eighth, not per newcomer. False if
    /// every member is online.
    fn make_room(&mut self) -> bool {
        if self.members.len() < self.max_members {
            return true;
        }
        if self.lost == 0 {
            return false;
        }
        let mut lost: Vec<(Stamp, NodeId)> = self
            .members
            .iter()
            .filter(|(_, m)| !m.online)
            .map(|(id, m)| (m.at, *id))
            .collect();
        let cut = (self.max_members / 8).clamp(1, lost.len());
        if cut < lost.len() {
            lost.select_nth_unstable(cut);
        }
        for (_, id) in &lost[..cut] {
            self.members.remove(id);
            self.lost -= 1;
        }
        true
    }

    /// `id`'s suspicion, if it is under one.
    fn suspicion_of(&self, id: NodeId, m: &Member) -> Option<Suspicion> {
        match m.suspected {
            true => self.suspected.get(&id).copied(),
            false => None,
        }
    }

    /// Records that `id`, called `name`, was heard of at `now`, with
    /// sequence number `seq`: from them, or in a peer's roster. A number
    /// no newer than the one a user was lost at does not bring them back,
    /// and only a newer number than the roster's renames them.
    pub fn heard(&mut self, id: NodeId, name: &str, seq: u64, now: Instant) -> Heard {
        let now = self.stamp(now);
        let Some(m) = self.members.get_mut(&id) else {
            if !self.make_room() {
                return Heard::Full;
            }
            let skeleton = skeleton_key(name);
            self.name_in(skeleton);
            self.members
                .insert(id, Member::new(name, skeleton, seq, now));
            return Heard::New;
        };
        if !m.online && seq <= m.seq {
            return match std::mem::replace(&mut m.asked, true) {
                false => Heard::Stale,
                true => Heard::Same,
            };
        }
        let was_online = std::mem::replace(&mut m.online, true);
        // A late or replayed message must not roll the clock back; a user
        // back from lost is heard of now.
        m.at = if was_online { m.at.max(now) } else { now };
        answered(m, id, seq, &mut self.suspected);
        let advanced = seq > m.seq;
        m.seq = m.seq.max(seq);
        // A name goes with a number: only a newer one renames, so a
        // repeat costs no look at the name.
        let old = (advanced && *m.name != *name).then(|| {
            let old_skeleton = std::mem::replace(&mut m.skeleton, skeleton_key(name));
            (std::mem::replace(&mut m.name, name.into()), old_skeleton)
        });
        let new_skeleton = m.skeleton;
        match (was_online, old) {
            (true, None) if advanced => Heard::Newer,
            (true, None) => Heard::Same,
            (true, Some((old, old_skeleton))) => {
                self.name_out(old_skeleton);
                self.name_in(new_skeleton);
                Heard::Renamed(old.into())
            }
            (false, _) => {
                m.asked = false;
                self.lost -= 1;
                self.name_in(new_skeleton);
                Heard::Back
            }
        }
    }

    /// Notes that `id` joined the network at `seq`: true the first time
    /// this join, or a later one, is heard of, however many ways it comes,
    /// so that it is shown and passed on once. False for a user not online
    /// here.
    pub fn joined(&mut self, id: NodeId, seq: u64) -> bool {
        match self.members.get_mut(&id) {
            Some(m) if m.online && seq > m.joined => {
                m.joined = seq;
                true
            }
            _ => false,
        }
    }

    /// Suspects `id` of being gone since sequence number `seq`, for `for_`:
    /// true if that is news (the user is online, not already suspected
    /// since then, and said nothing newer), to be passed on.
    pub fn suspect(&mut self, id: NodeId, seq: u64, now: Instant, for_: Duration) -> bool {
        let until = self.stamp(now) + for_.as_millis() as u64;
        let Some(m) = self.members.get_mut(&id) else {
            return false;
        };
        let already = m.suspected && (self.suspected.get(&id)).is_some_and(|s| s.since >= seq);
        if !m.online || already || m.seq > seq {
            return false;
        }
        m.suspected = true;
        self.suspected.insert(id, Suspicion { since: seq, until });
        m.seq = seq;
        self.suspicions.push_back((until, id));
        self.last = None;
        true
    }

    /// Marks as lost the suspected users whose suspicion ended by `now`.
    /// Returns them.
    pub fn end_suspicions(&mut self, now: Instant) -> Vec<(NodeId, String)> {
        let now = self.stamp(now);
        let mut lost = Vec::new();
        while let Some(&(until, id)) = self.suspicions.front() {
            if until > now {
                break;
            }
            self.suspicions.pop_front();
            // A suspicion answered, or begun again since, is not this one.
            if !self.suspected.get(&id).is_some_and(|s| s.until == until) {
                continue;
            }
            self.suspected.remove(&id);
            let Some(m) = self.members.get_mut(&id) else {
                continue;
            };
            m.suspected = false;
            if m.online {
                m.online = false;
                m.asked = false;
                m.at = now;
                let (name, skeleton) = (m.name.to_string(), m.skeleton);
                self.lost += 1;
                self.name_out(skeleton);
                lost.push((id, name));
            }
        }
        lost.sort_by(|a, b| a.1.cmp(&b.1));
        lost
    }

    /// `id`'s entry, if it is online and not suspected: the newest number
    /// heard of it, and its name.
    pub fn vouched(&self, id: NodeId) -> Option<(u64, &str)> {
        let m = self.members.get(&id)?;
        (m.online && !m.suspected).then_some((m.seq, &*m.name))
    }

    /// `id`'s name, if it is online.
    pub fn name_of(&self, id: NodeId) -> Option<&str> {
        self.members.get(&id).filter(|m| m.online).map(|m| &*m.name)
    }

    /// The newest sequence number heard of `id`, if it is online.
    pub fn seq_of(&self, id: NodeId) -> Option<u64> {
        self.members.get(&id).filter(|m| m.online).map(|m| m.seq)
    }

    /// Records a chat message from `id`, called `name`, as
    /// [`heard`](Self::heard) does, and tells whether its sender's name is
    /// shared, as [`is_ambiguous`](Self::is_ambiguous) would afterwards.
    /// The usual case, a user online under the same name, is one lookup.
    /// A newer number alone is [`Heard::Same`] here: a chat message is not
    /// passed on as roster news.
    pub fn heard_tagged(
        &mut self,
        id: NodeId,
        name: &str,
        seq: u64,
        now: Instant,
    ) -> (Heard, bool) {
        if let Some(last) = &self.last {
            if last.id == id && last.at == now && last.name == name {
                debug_assert!(self.members.get(&id).is_some_and(|m| {
                    m.online && *m.name == *name && m.at >= self.stamp_of(now) && !m.suspected
                }));
                // The number is noted by the batch's first message: a
                // suspicion a few numbers stale at most is checked with
                // the user, who answers it.
                return (Heard::Same, last.tagged);
            }
        }
        let stamp = self.stamp(now);
        if let Some(m) = self
            .members
            .get_mut(&id)
            .filter(|m| m.online && *m.name == *name)
        {
            m.at = m.at.max(stamp);
            m.seq = m.seq.max(seq);
            answered(m, id, seq, &mut self.suspected);
            if m.suspected {
                let tagged = self.online_names.get(&m.skeleton).is_some_and(|n| *n > 1);
                return (Heard::Same, tagged);
            }
            let tagged = self.online_names.get(&m.skeleton).is_some_and(|n| *n > 1);
            let last = self.last.get_or_insert_with(|| Last {
                id,
                name: String::new(),
                at: now,
                tagged,
            });
            (last.id, last.at, last.tagged) = (id, now, tagged);
            last.name.clear();
            last.name.push_str(name);
            return (Heard::Same, tagged);
        }
        let heard = match self.heard(id, name, seq, now) {
            Heard::Newer => Heard::Same,
            heard => heard,
        };
        (heard, self.is_ambiguous(id, name))
    }

    /// An online user other than `me` whose name looks like `name` (the
    /// same [`skeleton_key`]), with that name.
    pub fn holder_of(&self, name: &str, me: NodeId) -> Option<(NodeId, String)> {
        let wanted = skeleton_key(name);
        self.online_names.get(&wanted)?;
        self.members
            .iter()
            .find(|(id, m)| **id != me && m.online && m.skeleton == wanted)
            .map(|(id, m)| (*id, m.name.to_string()))
    }

    /// Removes a user who left; returns their name if they were online.
    pub fn left(&mut self, id: NodeId) -> Option<String> {
        let m = self.members.remove(&id)?;
        if m.suspected {
            self.suspected.remove(&id);
        }
        match m.online {
            true => self.name_out(m.skeleton),
            false => self.lost -= 1,
        }
        m.online.then(|| m.name.into())
    }

    /// Marks as lost every online user not heard from since `now - expiry`
    /// (`me` never), and forgets long-lost ones. Returns the newly lost.
    pub fn expire(&mut self, now: Instant, expiry: Duration, me: NodeId) -> Vec<(NodeId, String)> {
        let now = self.stamp(now);
        let ago = |then: Stamp| Duration::from_millis(now.saturating_sub(then));
        let forget_after = self.forget_after;
        let before = self.members.len();
        self.members
            .retain(|_, m| m.online || ago(m.at) < forget_after);
        self.lost -= before - self.members.len();
        let mut lost = Vec::new();
        for (id, m) in self.members.iter_mut() {
            if *id != me && m.online && ago(m.at) >= expiry {
                m.online = false;
                m.at = now;
                lost.push((*id, m.name.to_string(), m.skeleton));
            }
        }
        for (_, _, skeleton) in &lost {
            self.lost += 1;
            self.name_out(*skeleton);
        }
        let mut lost: Vec<(NodeId, String)> =
            lost.into_iter().map(|(id, name, _)| (id, name)).collect();
        lost.sort_by(|a, b| a.1.cmp(&b.1));
        lost
    }

    /// True if another online user than `id` goes by `name`, or by a name
    /// that looks the same.
    pub fn is_ambiguous(&self, id: NodeId, name: &str) -> bool {
        match self.members.get(&id) {
            Some(m) if m.online && *m.name == *name => self.shared_name(m.skeleton),
            // A name the user no longer goes by (a message from history):
            // any online user by a name of its skeleton is another.
            _ => self.online_names.contains_key(&skeleton_key(name)),
        }
    }

    /// True if `id` is online: heard from lately, and not gone.
    pub fn is_online(&self, id: NodeId) -> bool {
        self.members.get(&id).is_some_and(|m| m.online)
    }

    /// The online users not under suspicion, each with the newest sequence
    /// number heard of them, in no order: what a roster vouches for. A
    /// suspected user is left out, so that a newcomer does not take on a
    /// user who is about to be lost; one who answers the suspicion comes
    /// with it. Borrowed: a digest or an answer is worked out from the
    /// roster as it is, with no copy of it.
    pub fn entries(&self) -> impl Iterator<Item = (MsgId, &str)> + Clone + '_ {
        let vouched = |m: &Member| m.online && !m.suspected;
        self.members
            .iter()
            .filter(move |(_, m)| vouched(m))
            .map(|(id, m)| {
                let id = MsgId {
                    origin: *id,
                    seq: m.seq,
                };
                (id, &*m.name)
            })
    }

    /// The users this node doubts, at the numbers it doubts them since:
    /// those suspected, and those lost within `window` of `now`. A peer
    /// that has just linked may have missed the suspicion; it is told
    /// these as suspicions of its own to check.
    pub fn doubts(&self, now: Instant, window: Duration) -> Vec<MsgId> {
        // Nobody suspected and nobody lost: no need to walk everyone, as
        // each new link's answer to a digest would.
        if self.suspected.is_empty() && self.lost == 0 {
            return Vec::new();
        }
        let now = self.stamp_of(now);
        let window = window.as_millis() as u64;
        let doubted = self.members.iter().filter_map(|(id, m)| {
            let seq = match self.suspicion_of(*id, m) {
                Some(suspicion) => suspicion.since,
                None if !m.online && now.saturating_sub(m.at) < window => m.seq,
                None => return None,
            };
            Some(MsgId { origin: *id, seq })
        });
        let mut list: Vec<MsgId> = doubted.collect();
        list.sort_by_key(|id| id.origin);
        list
    }

    /// How many users are online.
    pub fn online_count(&self) -> usize {
        // Every member is online or counted lost.
        self.members.len() - self.lost
    }

    /// The online users, sorted by name, then id.
    pub fn online(&self) -> Vec<(NodeId, String)> {
        let mut list: Vec<(NodeId, String)> = self
            .members
            .iter()
            .filter(|(_, m)| m.online)
            .map(|(id, m)| (*id, m.name.to_string()))
            .collect();
        list.sort_by(|a, b| (&a.1, a.0).cmp(&(&b.1, b.0)));
        list
    }

    /// How `id`, called `name`, is shown: with a short tag from its node id
    /// when another online user has the same name.
    pub fn display_name(&self, id: NodeId, name: &str) -> String {
        match self.is_ambiguous(id, name) {
            true => format!("{name}#{}", short_id(id)),
            false => name.to_owned(),
        }
    }
}

/// Clears `m`'s suspicion if a number above it answers it.
fn answered(
    m: &mut Member,
    id: NodeId,
    seq: u64,
    suspected: &mut HashMap<NodeId, Suspicion, BuildIdHasher>,
) {
    if m.suspected && !suspected.get(&id).is_some_and(|s| seq <= s.since) {
        m.suspected = false;
        suspected.remove(&id);
    }
}

/// The first four hex digits of a node id.
pub fn short_id(id: NodeId) -> String {
    format!("{:04x}", id.0 >> 48)
}

mod member;
#[cfg(test)]
mod tests;
