//! Users who left lately, each with the number of its `LEAVE`: no earlier
//! message brings one back. A heartbeat still on its way, or a peer's
//! roster that has not heard of the leave yet, would otherwise list a user
//! who quit as online, and, 12 seconds later, as lost. Only the origin's
//! own later message (a restart with the same key) brings it back.
//!
//! Bounded: the oldest leave is forgotten first.

use crate::protocol::NodeId;
use std::collections::{HashMap, VecDeque};

/// Leaves remembered at most.
pub const MAX_DEPARTED: usize = 1024;

#[derive(Default)]
pub struct Departed {
    leaves: HashMap<NodeId, u64>,
    /// In the order they left, to forget the oldest.
    order: VecDeque<NodeId>,
}

impl Departed {
    /// Notes that `origin` left with its message numbered `seq`.
    pub fn left(&mut self, origin: NodeId, seq: u64) {
        if self.leaves.insert(origin, seq).is_none() {
            if self.order.len() >= MAX_DEPARTED {
                if let Some(oldest) = self.order.pop_front() {
                    self.leaves.remove(&oldest);
                }
            }
            self.order.push_back(origin);
        }
    }

    /// Whether a message of `origin` numbered `seq` may show it online: not
    /// if it left with a later number. A later one is a return, and the
    /// leave is forgotten.
    pub fn may_return(&mut self, origin: NodeId, seq: u64) -> bool {
        if self.leaves.is_empty() {
            return true;
        }
        match self.leaves.get(&origin) {
            None => true,
            Some(left) if seq > *left => {
                self.leaves.remove(&origin);
                self.order.retain(|o| *o != origin);
                true
            }
            Some(_) => false,
        }
    }

    /// Whether `origin` left and has not come back: a roster that lists it
    /// (with no number to tell when) is not believed.
    pub fn has_left(&self, origin: NodeId) -> bool {
        !self.leaves.is_empty() && self.leaves.contains_key(&origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_later_message_brings_a_user_back() {
        let mut d = Departed::default();
        let a = NodeId(1);
        assert!(d.may_return(a, 5));
        d.left(a, 10);
        assert!(d.has_left(a));
        assert!(!d.may_return(a, 9), "sent before the leave");
        assert!(d.has_left(a));
        assert!(d.may_return(a, 11), "a restart");
        assert!(!d.has_left(a));
    }

    #[test]
    fn the_oldest_leave_is_forgotten_first() {
        let mut d = Departed::default();
        for i in 0..=MAX_DEPARTED as u64 {
            d.left(NodeId(i), 1);
        }
        assert!(!d.has_left(NodeId(0)));
        assert!(d.has_left(NodeId(1)) && d.has_left(NodeId(MAX_DEPARTED as u64)));
        assert_eq!(d.leaves.len(), MAX_DEPARTED);
    }
}
