//! The roster's members, kept dense: the entries side by side in one
//! list, and a map from each user's id to their place in it.
//!
//! A hash map of the entries themselves keeps a third to a half of its
//! room empty, and each empty slot is a whole 72-byte entry. Here only the
//! index keeps such room, at 16 bytes a slot, and the list grows an eighth
//! at a time. A walk over everyone (a digest, an answer, the doubts) reads
//! the entries in a row.

use super::member::Member;
use crate::node::id_hash::BuildIdHasher;
use crate::protocol::NodeId;
use std::collections::HashMap;

#[derive(Default)]
pub(super) struct Members {
    /// Each member's place in `ids` and `list`.
    index: HashMap<NodeId, u32, BuildIdHasher>,
    ids: Vec<NodeId>,
    list: Vec<Member>,
}

impl Members {
    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    pub(super) fn get(&self, id: &NodeId) -> Option<&Member> {
        let &at = self.index.get(id)?;
        self.list.get(at as usize)
    }

    pub(super) fn get_mut(&mut self, id: &NodeId) -> Option<&mut Member> {
        let &at = self.index.get(id)?;
        self.list.get_mut(at as usize)
    }

    /// Adds `id`, which must not be a member yet.
    pub(super) fn insert(&mut self, id: NodeId, member: Member) {
        debug_assert!(!self.index.contains_key(&id));
        if self.list.len() == self.list.capacity() {
            // An eighth more at a time: a doubling would leave up to half
            // the list's room empty, in every node's roster.
            let more = (self.list.len() / 8).max(16);
            self.list.reserve_exact(more);
            self.ids.reserve_exact(more);
        }
        self.index.insert(id, self.list.len() as u32);
        self.ids.push(id);
        self.list.push(member);
    }

    pub(super) fn remove(&mut self, id: &NodeId) -> Option<Member> {
        let at = self.index.remove(id)? as usize;
        self.ids.swap_remove(at);
        let member = self.list.swap_remove(at);
        // The last member moved into the place left.
        if let Some(moved) = self.ids.get(at) {
            self.index.insert(*moved, at as u32);
        }
        Some(member)
    }

    /// Keeps only the members `keep` is true of.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&NodeId, &mut Member) -> bool) {
        let mut at = 0;
        while at < self.list.len() {
            match keep(&self.ids[at], &mut self.list[at]) {
                true => at += 1,
                false => {
                    let id = self.ids[at];
                    self.remove(&id);
                }
            }
        }
    }

    /// Every member with their id, in no order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&NodeId, &Member)> + Clone {
        self.ids.iter().zip(&self.list)
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (&NodeId, &mut Member)> {
        self.ids.iter().zip(&mut self.list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    proptest::proptest! {
        /// Through any adds, removals and sweeps, the members are those a
        /// plain map would hold, each found under its own id.
        #[test]
        fn members_agree_with_a_plain_map(
            steps in proptest::collection::vec((0u64..40, 0u8..4), 0..200),
        ) {
            let mut members = Members::default();
            let mut model: BTreeMap<NodeId, u64> = BTreeMap::new();
            for (k, (id, op)) in steps.into_iter().enumerate() {
                let id = NodeId(id);
                match op {
                    0 => proptest::prop_assert_eq!(
                        members.remove(&id).map(|m| m.seq),
                        model.remove(&id)
                    ),
                    // A sweep: the members whose number and id share a
                    // parity stay.
                    1 => {
                        members.retain(|id, m| (m.seq + id.0) % 2 == 0);
                        model.retain(|id, seq| (*seq + id.0) % 2 == 0);
                    }
                    _ if model.contains_key(&id) => {
                        members.get_mut(&id).unwrap().seq = k as u64;
                        model.insert(id, k as u64);
                    }
                    _ => {
                        members.insert(id, Member::new("n", 0, k as u64, 1));
                        model.insert(id, k as u64);
                    }
                }
                let listed: BTreeMap<NodeId, u64> =
                    members.iter().map(|(id, m)| (*id, m.seq)).collect();
                proptest::prop_assert_eq!(&listed, &model);
                proptest::prop_assert_eq!(members.len(), model.len());
                for (id, seq) in &model {
                    proptest::prop_assert_eq!(members.get(id).map(|m| m.seq), Some(*seq));
                }
            }
        }
    }
}
