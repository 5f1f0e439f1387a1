//! An allowance: how much of something a peer may make this node do per
//! window of time. What is over it is ignored before any work.

use std::time::{Duration, Instant};

/// What was spent (bytes, entries) in a window of time that starts over
/// when it has passed.
#[derive(Default)]
pub struct Spending(Option<(Instant, usize)>);

impl Spending {
    /// What is left of `most` in the current `window`.
    pub fn left(&mut self, most: usize, window: Duration, now: Instant) -> usize {
        let (start, spent) = self.0.get_or_insert((now, 0));
        if now.saturating_duration_since(*start) >= window {
            (*start, *spent) = (now, 0);
        }
        most.saturating_sub(*spent)
    }

    /// Counts `amount` spent, once [`left`](Self::left) has started a window.
    pub fn spend(&mut self, amount: usize) {
        if let Some((_, spent)) = &mut self.0 {
            *spent += amount;
        }
    }
}
