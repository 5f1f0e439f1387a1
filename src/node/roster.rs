//! Who is online in the whole network, as far as this node can tell.
//!
//! Every node floods a heartbeat every few seconds; a user not heard from
//! within the expiry is marked lost. Hearing from a user through any path
//! keeps them online, so a dropped link that leaves them reachable another
//! way shows nothing. Lost users are remembered for a while, so that their
//! return can be told apart from a first join.
//!
//! Any peer can name users who do not exist, so the roster is bounded
//! ([`MAX_MEMBERS`]): when it is full, the longest-lost user makes room,
//! and with none lost a newcomer is not taken until one is. Telling equal
//! names apart costs one lookup per change, not a pass over everyone.

use super::id_hash::BuildIdHasher;
use crate::protocol::NodeId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Users a roster holds at most: a network of 10,000 members fits.
pub const MAX_MEMBERS: usize = 16_384;

pub struct Roster {
    members: HashMap<NodeId, Member, BuildIdHasher>,
    /// How many online users go by each name's skeleton (see
    /// [`skeleton`]): more than one, and each of them is shown with a tag.
    online_names: HashMap<String, u32>,
    /// Members not online, so a full roster knows at once whether one can
    /// make room.
    lost: usize,
    max_members: usize,
    /// How long a lost user is remembered.
    forget_after: Duration,
    /// The last user [`heard_tagged`](Self::heard_tagged) found online
    /// under the same name, and when: a batch of messages from one sender,
    /// which share one `now`, then looks them up once. Every change to who
    /// is online, or by which name, forgets it.
    last: Option<Last>,
}

struct Last {
    id: NodeId,
    name: String,
    at: Instant,
    tagged: bool,
}

#[derive(Debug, Clone)]
struct Member {
    name: String,
    /// The name's [`skeleton`], worked out once per name.
    skeleton: String,
    last_heard: Instant,
    online: bool,
}

/// What a name looks like, as Unicode's confusables list has it (UTS #39):
/// `bob` and `bоb` (a Cyrillic о) have one skeleton, so each of them is
/// shown with a tag while both are online, as if they were equal.
pub fn skeleton(name: &str) -> String {
    unicode_security::skeleton(name).collect()
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
    /// Nothing new.
    Same,
    /// Not known, and not taken: the roster is full of online users.
    Full,
}

impl Roster {
    pub fn new(forget_after: Duration) -> Self {
        Roster::bounded(forget_after, MAX_MEMBERS)
    }

    /// A roster of at most `max_members` users.
    pub fn bounded(forget_after: Duration, max_members: usize) -> Self {
        Roster {
            members: HashMap::default(),
            online_names: HashMap::new(),
            lost: 0,
            max_members,
            forget_after,
            last: None,
        }
    }

    /// Counts one more online user whose name's skeleton is `skeleton`.
    fn name_in(&mut self, skeleton: &str) {
        self.last = None;
        match self.online_names.get_mut(skeleton) {
            Some(n) => *n += 1,
            None => {
                self.online_names.insert(skeleton.to_owned(), 1);
            }
        }
    }

    /// Counts one such online user fewer.
    fn name_out(&mut self, skeleton: &str) {
        self.last = None;
        if let Some(n) = self.online_names.get_mut(skeleton) {
            *n -= 1;
            if *n == 0 {
                self.online_names.remove(skeleton);
            }
        }
    }

    /// True if more than one online user goes by names of this skeleton.
    fn shared_name(&self, skeleton: &str) -> bool {
        self.online_names.get(skeleton).is_some_and(|n| *n > 1)
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
        let mut lost: Vec<(Instant, NodeId)> = self
            .members
            .iter()
            .filter(|(_, m)| !m.online)
            .map(|(id, m)| (m.last_heard, *id))
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

    /// Records that `id`, called `name`, was heard from at `now`.
    pub fn heard(&mut self, id: NodeId, name: &str, now: Instant) -> Heard {
        let Some(m) = self.members.get_mut(&id) else {
            if !self.make_room() {
                return Heard::Full;
            }
            let skeleton = skeleton(name);
            self.name_in(&skeleton);
            self.members.insert(
                id,
                Member {
                    name: name.to_owned(),
                    skeleton,
                    last_heard: now,
                    online: true,
                },
            );
            return Heard::New;
        };
        // A late or replayed message must not roll the clock back.
        m.last_heard = m.last_heard.max(now);
        let was_online = std::mem::replace(&mut m.online, true);
        let old = (m.name != name).then(|| {
            let old_skeleton = std::mem::replace(&mut m.skeleton, skeleton(name));
            (
                std::mem::replace(&mut m.name, name.to_owned()),
                old_skeleton,
            )
        });
        let new_skeleton = m.skeleton.clone();
        match (was_online, old) {
            (true, None) => Heard::Same,
            (true, Some((old, old_skeleton))) => {
                self.name_out(&old_skeleton);
                self.name_in(&new_skeleton);
                Heard::Renamed(old)
            }
            (false, _) => {
                self.lost -= 1;
                self.name_in(&new_skeleton);
                Heard::Back
            }
        }
    }

    /// Records a chat message from `id`, called `name`, as
    /// [`heard`](Self::heard) does, and tells whether its sender's name is
    /// shared, as [`is_ambiguous`](Self::is_ambiguous) would afterwards.
    /// The usual case, a user online under the same name, is one lookup.
    pub fn heard_tagged(&mut self, id: NodeId, name: &str, now: Instant) -> (Heard, bool) {
        if let Some(last) = &self.last {
            if last.id == id && last.at == now && last.name == name {
                debug_assert!(self
                    .members
                    .get(&id)
                    .is_some_and(|m| m.online && m.name == name && m.last_heard >= now));
                return (Heard::Same, last.tagged);
            }
        }
        if let Some(m) = self
            .members
            .get_mut(&id)
            .filter(|m| m.online && m.name == name)
        {
            m.last_heard = m.last_heard.max(now);
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
        let heard = self.heard(id, name, now);
        (heard, self.is_ambiguous(id, name))
    }

    /// An online user other than `me` whose name looks like `name` (the
    /// same [`skeleton`]), with that name.
    pub fn holder_of(&self, name: &str, me: NodeId) -> Option<(NodeId, String)> {
        let wanted = skeleton(name);
        self.online_names.get(&wanted)?;
        self.members
            .iter()
            .find(|(id, m)| **id != me && m.online && m.skeleton == wanted)
            .map(|(id, m)| (*id, m.name.clone()))
    }

    /// Removes a user who left; returns their name if they were online.
    pub fn left(&mut self, id: NodeId) -> Option<String> {
        let m = self.members.remove(&id)?;
        match m.online {
            true => self.name_out(&m.skeleton),
            false => self.lost -= 1,
        }
        m.online.then_some(m.name)
    }

    /// Marks as lost every online user not heard from since `now - expiry`
    /// (`me` never), and forgets long-lost ones. Returns the newly lost.
    pub fn expire(&mut self, now: Instant, expiry: Duration, me: NodeId) -> Vec<(NodeId, String)> {
        let forget_after = self.forget_after;
        let before = self.members.len();
        self.members
            .retain(|_, m| m.online || now.duration_since(m.last_heard) < forget_after);
        self.lost -= before - self.members.len();
        let mut lost = Vec::new();
        for (id, m) in &mut self.members {
            if *id != me && m.online && now.duration_since(m.last_heard) >= expiry {
                m.online = false;
                lost.push((*id, m.name.clone(), m.skeleton.clone()));
            }
        }
        for (_, _, skeleton) in &lost {
            self.lost += 1;
            self.name_out(skeleton);
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
            Some(m) if m.online && m.name == name => self.shared_name(&m.skeleton),
            // A name the user no longer goes by (a message from history):
            // any online user by a name of its skeleton is another.
            _ => self.online_names.contains_key(&skeleton(name)),
        }
    }

    /// True if `id` is online: heard from lately, and not gone.
    pub fn is_online(&self, id: NodeId) -> bool {
        self.members.get(&id).is_some_and(|m| m.online)
    }

    /// How many users are online.
    pub fn online_count(&self) -> usize {
        self.members.values().filter(|m| m.online).count()
    }

    /// The online users, sorted by name, then id.
    pub fn online(&self) -> Vec<(NodeId, String)> {
        let mut list: Vec<(NodeId, String)> = self
            .members
            .iter()
            .filter(|(_, m)| m.online)
            .map(|(id, m)| (*id, m.name.clone()))
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

/// The first four hex digits of a node id.
pub fn short_id(id: NodeId) -> String {
    format!("{:04x}", id.0 >> 48)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: NodeId = NodeId(0x1111_0000_0000_0000);
    const A: NodeId = NodeId(0x3f2a_0000_0000_0001);
    const B: NodeId = NodeId(0x9b1c_0000_0000_0002);

    fn roster() -> Roster {
        Roster::new(Duration::from_secs(3600))
    }

    proptest::proptest! {
        /// Through any joins, renames, leaves and expiries, `heard_tagged`
        /// answers what `heard` and then `is_ambiguous` would.
        #[test]
        fn heard_tagged_agrees_with_heard_then_is_ambiguous(
            steps in proptest::collection::vec((0u64..4, 0usize..3, 0u8..6), 0..60),
        ) {
            let t0 = Instant::now();
            let (mut fast, mut slow) = (roster(), roster());
            for (k, (who, name, op)) in steps.into_iter().enumerate() {
                let (id, name) = (NodeId(who), ["ann", "bob", "cy"][name]);
                // Some steps share an instant, as a batch's messages do.
                let now = t0 + Duration::from_secs(k as u64 / 3);
                match op {
                    0 => proptest::prop_assert_eq!(fast.left(id), slow.left(id)),
                    1 => {
                        let expiry = Duration::from_secs(3);
                        let sorted = |mut lost: Vec<(NodeId, String)>| {
                            lost.sort();
                            lost
                        };
                        proptest::prop_assert_eq!(
                            sorted(fast.expire(now, expiry, ME)),
                            sorted(slow.expire(now, expiry, ME))
                        );
                    }
                    _ => {
                        let heard = slow.heard(id, name, now);
                        let tagged = slow.is_ambiguous(id, name);
                        proptest::prop_assert_eq!(fast.heard_tagged(id, name, now), (heard, tagged));
                    }
                }
            }
        }
    }

    #[test]
    fn a_batch_looks_a_sender_up_once_but_sees_every_change() {
        let t = Instant::now();
        let mut r = roster();
        assert_eq!(r.heard_tagged(A, "ann", t), (Heard::New, false));
        assert_eq!(r.heard_tagged(A, "ann", t), (Heard::Same, false));
        assert_eq!(r.heard_tagged(A, "ann", t), (Heard::Same, false), "as kept");
        // Another user takes the name: both are tagged from now on.
        assert_eq!(r.heard(B, "ann", t), Heard::New);
        assert_eq!(r.heard_tagged(A, "ann", t), (Heard::Same, true));
        r.left(B);
        assert_eq!(r.heard_tagged(A, "ann", t), (Heard::Same, false));
        r.left(A);
        assert_eq!(r.heard_tagged(A, "ann", t), (Heard::New, false));
        let later = t + Duration::from_secs(10);
        assert_eq!(r.expire(later, Duration::from_secs(3), ME).len(), 1);
        assert_eq!(r.heard_tagged(A, "ann", t), (Heard::Back, false));
    }

    #[test]
    fn a_full_roster_makes_room_with_the_longest_lost_and_never_an_online_user() {
        let t = Instant::now();
        let mut r = Roster::bounded(Duration::from_secs(3600), 3);
        for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
            r.heard(NodeId(i as u64), name, t + Duration::from_secs(i as u64));
        }
        assert_eq!(r.heard(NodeId(9), "z", t), Heard::Full);
        assert!(!r.is_online(NodeId(9)));
        assert_eq!(r.online().len(), 3);
        // a and b go quiet; a was heard from longest ago.
        let later = t + Duration::from_secs(20);
        r.heard(NodeId(2), "c", later);
        assert_eq!(r.expire(later, Duration::from_secs(10), ME).len(), 2);
        assert_eq!(r.heard(NodeId(9), "z", later), Heard::New);
        assert_eq!(r.heard(NodeId(1), "b", later), Heard::Back, "b stayed");
        assert_eq!(r.heard(NodeId(0), "a", later), Heard::Full, "a made room");
        assert_eq!(r.online().len(), 3);
    }

    #[test]
    fn names_that_look_the_same_are_told_apart() {
        let t = Instant::now();
        let mut r = roster();
        r.heard(A, "bob", t);
        assert!(!r.is_ambiguous(A, "bob"));
        // A Cyrillic о, and a Latin one with the Cyrillic elsewhere.
        r.heard(B, "b\u{43e}b", t);
        assert!(r.is_ambiguous(A, "bob"));
        assert!(r.is_ambiguous(B, "b\u{43e}b"));
        assert!(r.display_name(B, "b\u{43e}b").contains('#'));
        r.left(B);
        assert!(!r.is_ambiguous(A, "bob"));
    }

    #[test]
    fn thousands_of_equal_names_are_tagged_and_untagged_by_counting() {
        let t = Instant::now();
        let mut r = roster();
        for i in 0..5000 {
            r.heard(NodeId(i), "same", t);
        }
        assert!(r.is_ambiguous(NodeId(7), "same"));
        for i in 1..5000 {
            r.left(NodeId(i));
        }
        assert!(!r.is_ambiguous(NodeId(0), "same"), "alone again");
        assert_eq!(r.display_name(NodeId(0), "same"), "same");
    }

    #[test]
    fn reports_new_same_renamed_and_back() {
        let t = Instant::now();
        let mut r = roster();
        assert_eq!(r.heard(A, "alice", t), Heard::New);
        assert_eq!(r.heard(A, "alice", t), Heard::Same);
        assert_eq!(r.heard(A, "alicia", t), Heard::Renamed("alice".into()));
        let lost = r.expire(t + Duration::from_secs(20), Duration::from_secs(10), ME);
        assert_eq!(lost, [(A, "alicia".to_string())]);
        assert!(!r.is_online(A));
        assert_eq!(
            r.heard(A, "alicia", t + Duration::from_secs(21)),
            Heard::Back
        );
        assert!(r.is_online(A));
        assert!(!r.is_online(B), "never heard of");
    }

    #[test]
    fn hearing_from_a_user_by_any_path_keeps_them_online() {
        let t = Instant::now();
        let mut r = roster();
        r.heard(A, "alice", t);
        r.heard(A, "alice", t + Duration::from_secs(8));
        assert!(r
            .expire(t + Duration::from_secs(15), Duration::from_secs(10), ME)
            .is_empty());
        // A stale message does not make them look older.
        r.heard(A, "alice", t);
        assert!(r
            .expire(t + Duration::from_secs(15), Duration::from_secs(10), ME)
            .is_empty());
    }

    #[test]
    fn this_node_never_expires_and_leavers_are_gone() {
        let t = Instant::now();
        let mut r = roster();
        r.heard(ME, "me", t);
        r.heard(A, "alice", t);
        assert_eq!(r.left(A), Some("alice".into()));
        assert_eq!(r.left(A), None);
        assert!(r
            .expire(t + Duration::from_secs(99), Duration::from_secs(1), ME)
            .is_empty());
        assert_eq!(r.online(), [(ME, "me".to_string())]);
    }

    #[test]
    fn equal_names_get_tags_only_while_both_are_online() {
        let t = Instant::now();
        let mut r = roster();
        r.heard(A, "carol", t);
        assert_eq!(r.display_name(A, "carol"), "carol");
        r.heard(B, "carol", t);
        assert_eq!(r.display_name(A, "carol"), "carol#3f2a");
        assert_eq!(r.display_name(B, "carol"), "carol#9b1c");
        r.left(B);
        assert_eq!(r.display_name(A, "carol"), "carol");
    }

    #[test]
    fn tags_follow_renames_expiry_and_returns() {
        let t = Instant::now();
        let mut r = roster();
        r.heard(A, "carol", t);
        r.heard(B, "carol", t + Duration::from_secs(5));
        assert!(r.is_ambiguous(A, "carol"));
        r.heard(B, "bea", t + Duration::from_secs(5));
        assert!(!r.is_ambiguous(A, "carol"));
        // A line from history under B's old name is still told apart.
        r.heard(B, "carol", t + Duration::from_secs(5));
        r.heard(A, "alice", t);
        assert!(r.is_ambiguous(A, "carol"), "B goes by carol");
        assert!(!r.is_ambiguous(B, "carol"));
        r.heard(A, "carol", t);
        // A is lost, B is not: B's name is its own again, until A is back.
        r.expire(t + Duration::from_secs(12), Duration::from_secs(10), ME);
        assert!(!r.is_ambiguous(B, "carol"));
        r.heard(A, "carol", t + Duration::from_secs(13));
        assert!(r.is_ambiguous(B, "carol"));
    }
}
