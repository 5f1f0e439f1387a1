//! Sets of message ids given as runs of numbers, as `HAVE` and `GRAFT` list
//! them: merged and sorted per origin on arrival, so that asking about an
//! id costs a lookup and a binary search however many runs a peer sent,
//! overlapping or not.

use crate::node::id_hash::BuildIdHasher;
use crate::protocol::{IdRange, MsgId, NodeId};
use std::collections::HashMap;

#[derive(Default)]
pub struct IdRuns(HashMap<NodeId, Vec<(u64, u64)>, BuildIdHasher>);

impl IdRuns {
    pub fn new(ranges: impl Iterator<Item = IdRange>) -> Self {
        let mut by_origin: HashMap<NodeId, Vec<(u64, u64)>, BuildIdHasher> = HashMap::default();
        for r in ranges {
            by_origin
                .entry(r.origin)
                .or_default()
                .push((r.first.min(r.last), r.first.max(r.last)));
        }
        for list in by_origin.values_mut() {
            list.sort_unstable();
            let mut merged: Vec<(u64, u64)> = Vec::with_capacity(list.len());
            for &(first, last) in list.iter() {
                match merged.last_mut() {
                    Some(prev) if first <= prev.1.saturating_add(1) => prev.1 = prev.1.max(last),
                    _ => merged.push((first, last)),
                }
            }
            *list = merged;
        }
        IdRuns(by_origin)
    }

    /// True if a run holds `id`.
    pub fn contains(&self, id: MsgId) -> bool {
        let Some(list) = self.0.get(&id.origin) else {
            return false;
        };
        let i = list.partition_point(|r| r.1 < id.seq);
        list.get(i).is_some_and(|r| r.0 <= id.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(seq: u64) -> MsgId {
        MsgId {
            origin: NodeId(1),
            seq,
        }
    }

    #[test]
    fn overlapping_runs_are_merged() {
        let r = |first, last| IdRange {
            origin: NodeId(1),
            first,
            last,
        };
        let runs = IdRuns::new([r(1, 10), r(5, 20), r(30, 30), r(0, 2)].into_iter());
        assert!(runs.contains(id(0)) && runs.contains(id(20)) && runs.contains(id(30)));
        assert!(!runs.contains(id(21)) && !runs.contains(id(31)));
        assert_eq!(runs.0[&NodeId(1)], [(0, 20), (30, 30)]);
    }
}
