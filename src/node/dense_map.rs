//! A map from node ids to values kept dense: the values side by side in
//! one list, and a map from each id to its place in it.
//!
//! A hash map of whole values keeps a third to a half of its room empty,
//! and each empty slot is as big as a value. Here only the index keeps
//! such room, at 16 bytes a slot, and the list grows an eighth at a time:
//! the roster, which holds every user of the network at every node, costs
//! little more than its entries. A walk over every value reads them in a
//! row, and a walk over a share of them (`iter_mut().skip(n).take(m)`)
//! reads only that share.

use crate::node::id_hash::BuildIdHasher;
use crate::protocol::NodeId;
use std::collections::HashMap;

pub struct DenseMap<V> {
    /// Each value's place in `ids` and `list`.
    index: HashMap<NodeId, u32, BuildIdHasher>,
    ids: Vec<NodeId>,
    list: Vec<V>,
}

impl<V> Default for DenseMap<V> {
    fn default() -> Self {
        DenseMap {
            index: HashMap::default(),
            ids: Vec::new(),
            list: Vec::new(),
        }
    }
}

impl<V> DenseMap<V> {
    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn get(&self, id: &NodeId) -> Option<&V> {
        let &at = self.index.get(id)?;
        self.list.get(at as usize)
    }

    pub fn get_mut(&mut self, id: &NodeId) -> Option<&mut V> {
        let &at = self.index.get(id)?;
        self.list.get_mut(at as usize)
    }

    /// Sets `id`'s value; returns the one it had.
    pub fn insert(&mut self, id: NodeId, value: V) -> Option<V> {
        if let Some(old) = self.get_mut(&id) {
            return Some(std::mem::replace(old, value));
        }
        if self.list.len() == self.list.capacity() {
            // An eighth more at a time: a doubling would leave up to half
            // the list's room empty, in every node's roster.
            let more = (self.list.len() / 8).max(16);
            self.list.reserve_exact(more);
            self.ids.reserve_exact(more);
        }
        self.index.insert(id, self.list.len() as u32);
        self.ids.push(id);
        self.list.push(value);
        None
    }

    pub fn remove(&mut self, id: &NodeId) -> Option<V> {
        let at = self.index.remove(id)? as usize;
        self.ids.swap_remove(at);
        let value = self.list.swap_remove(at);
        // The last value moved into the place left.
        if let Some(moved) = self.ids.get(at) {
            self.index.insert(*moved, at as u32);
        }
        Some(value)
    }

    /// Keeps only the values `keep` is true of.
    pub fn retain(&mut self, mut keep: impl FnMut(&NodeId, &mut V) -> bool) {
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

    /// Every value with its id, in no order.
    pub fn iter(&self) -> std::iter::Zip<std::slice::Iter<'_, NodeId>, std::slice::Iter<'_, V>> {
        self.ids.iter().zip(&self.list)
    }

    /// Every value with its id, in the order of [`iter`](Self::iter).
    pub fn iter_mut(
        &mut self,
    ) -> std::iter::Zip<std::slice::Iter<'_, NodeId>, std::slice::IterMut<'_, V>> {
        self.ids.iter().zip(&mut self.list)
    }

    pub fn values(&self) -> std::slice::Iter<'_, V> {
        self.list.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    proptest::proptest! {
        /// Through any adds, changes, removals and sweeps, the values are
        /// those a plain map would hold, each found under its own id.
        #[test]
        fn a_dense_map_agrees_with_a_plain_map(
            steps in proptest::collection::vec((0u64..40, 0u8..4), 0..200),
        ) {
            let mut map: DenseMap<u64> = DenseMap::default();
            let mut model: BTreeMap<NodeId, u64> = BTreeMap::new();
            for (k, (id, op)) in steps.into_iter().enumerate() {
                let id = NodeId(id);
                match op {
                    0 => proptest::prop_assert_eq!(
                        map.remove(&id),
                        model.remove(&id)
                    ),
                    // A sweep: the values whose number and id share a
                    // parity stay.
                    1 => {
                        map.retain(|id, seq| (*seq + id.0) % 2 == 0);
                        model.retain(|id, seq| (*seq + id.0) % 2 == 0);
                    }
                    2 if model.contains_key(&id) => {
                        *map.get_mut(&id).unwrap() = k as u64;
                        model.insert(id, k as u64);
                    }
                    _ => proptest::prop_assert_eq!(
                        map.insert(id, k as u64),
                        model.insert(id, k as u64)
                    ),
                }
                let listed: BTreeMap<NodeId, u64> =
                    map.iter().map(|(id, seq)| (*id, *seq)).collect();
                proptest::prop_assert_eq!(&listed, &model);
                proptest::prop_assert_eq!(map.len(), model.len());
                for (id, seq) in &model {
                    proptest::prop_assert_eq!(map.get(id), Some(seq));
                }
            }
        }
    }
}
