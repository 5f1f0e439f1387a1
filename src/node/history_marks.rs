//! Marks where the history a node is sent starts and ends, so that a
//! newcomer tells what was said before from what is said now:
//! `--- history ---` before the first line replayed, and
//! `--- end of history: 37 messages ---` once none has come for a moment,
//! or before the next live line, whichever is first.

use crate::display::Event;
use crate::node::state::{Shared, State};
use crate::node::wakes::Task;
use crate::rt;
use futures::channel::mpsc;
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// History is over once none has come for this long.
pub const QUIET: Duration = Duration::from_millis(300);

/// The history lines shown since the start mark.
#[derive(Default)]
pub struct Run {
    count: u64,
    last: Option<Instant>,
}

impl Shared {
    /// Notes a history line about to be shown; the first of a run gets the
    /// start mark, and wakes the task that marks the end.
    pub(super) fn history_line(&self, state: &mut State, now: Instant) {
        if state.history_run.last.is_none() {
            self.show(state, Event::Marker("--- history ---"));
            self.wakes.wake(Task::HistoryMarks);
        }
        state.history_run.count += 1;
        state.history_run.last = Some(now);
    }

    /// Marks the end of a run of history lines, if one is open.
    pub(super) fn end_history(&self, state: &mut State) {
        if state.history_run.last.take().is_none() {
            return;
        }
        let n = std::mem::take(&mut state.history_run.count);
        let what = match n {
            1 => "1 message".to_string(),
            n => format!("{n} messages"),
        };
        self.show(
            state,
            Event::Marker(&format!("--- end of history: {what} ---")),
        );
    }
}

/// Waits for a run of history to start, then marks its end once it has
/// been quiet for [`QUIET`]. Idle otherwise.
pub(super) async fn run(shared: Arc<Shared>, mut wake: mpsc::Receiver<()>) {
    while wake.next().await.is_some() {
        loop {
            rt::sleep(QUIET).await;
            if shared.is_quitting() {
                return;
            }
            let mut state = shared.lock();
            match state.history_run.last {
                Some(last) if last.elapsed() < QUIET => continue,
                Some(_) => {
                    shared.end_history(&mut state);
                    let mut waits = Default::default();
                    shared.hand_over(&mut state, &mut waits);
                    break;
                }
                None => break,
            }
        }
    }
}
