//! What the core asks of the tasks around it: to run now, because it has
//! work for them. The running program's tasks each wait on a channel; the
//! simulator notes the wake-ups and runs them as events.

use futures::channel::mpsc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A task the core wakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// The dialer: there may be addresses to dial.
    Dialer,
    /// The broadcast tree's ticks: there is something to announce or ask.
    Tree,
    /// Presence news: some is gathered, to be sent soon.
    News,
    /// The history marks: a run of history lines started.
    HistoryMarks,
}

/// Where the core's wake-ups go.
pub trait Wakes: Send + Sync {
    /// Asks `task` to run; a wake-up already pending is enough.
    fn wake(&self, task: Task);
}

/// The running program's wake-ups: a channel of one per task.
pub struct Channels {
    dialer: mpsc::Sender<()>,
    tree: mpsc::Sender<()>,
    news: mpsc::Sender<()>,
    history: mpsc::Sender<()>,
}

/// The tasks' ends of [`Channels`].
pub struct Woken {
    pub dialer: mpsc::Receiver<()>,
    pub tree: mpsc::Receiver<()>,
    pub news: mpsc::Receiver<()>,
    pub history: mpsc::Receiver<()>,
}

impl Channels {
    pub fn new() -> (Channels, Woken) {
        let (dialer, dialer_rx) = mpsc::channel(1);
        let (tree, tree_rx) = mpsc::channel(1);
        let (news, news_rx) = mpsc::channel(1);
        let (history, history_rx) = mpsc::channel(1);
        let woken = Woken {
            dialer: dialer_rx,
            tree: tree_rx,
            news: news_rx,
            history: history_rx,
        };
        (
            Channels {
                dialer,
                tree,
                news,
                history,
            },
            woken,
        )
    }
}

impl Wakes for Channels {
    fn wake(&self, task: Task) {
        let channel = match task {
            Task::Dialer => &self.dialer,
            Task::Tree => &self.tree,
            Task::News => &self.news,
            Task::HistoryMarks => &self.history,
        };
        // A full channel already holds a wake-up.
        let _ = channel.clone().try_send(());
    }
}

/// Wake-ups noted for whoever runs the tasks to take (the simulator).
#[derive(Default)]
pub struct Noted {
    dialer: AtomicBool,
    tree: AtomicBool,
    news: AtomicBool,
}

impl Noted {
    /// Whether `task` was woken since the last look; clears it.
    pub fn take(&self, task: Task) -> bool {
        match task {
            Task::Dialer => self.dialer.swap(false, Ordering::Relaxed),
            Task::Tree => self.tree.swap(false, Ordering::Relaxed),
            Task::News => self.news.swap(false, Ordering::Relaxed),
            Task::HistoryMarks => false,
        }
    }
}

impl Wakes for Noted {
    fn wake(&self, task: Task) {
        match task {
            Task::Dialer => self.dialer.store(true, Ordering::Relaxed),
            Task::Tree => self.tree.store(true, Ordering::Relaxed),
            Task::News => self.news.store(true, Ordering::Relaxed),
            // Where history ends is the terminal's business.
            Task::HistoryMarks => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_up_reaches_its_task_and_no_other() {
        let (channels, mut woken) = Channels::new();
        channels.wake(Task::Tree);
        assert_eq!(woken.tree.try_recv().ok(), Some(()));
        assert!(woken.dialer.try_recv().is_err(), "not woken");
        assert!(woken.news.try_recv().is_err(), "not woken");
        assert!(woken.history.try_recv().is_err(), "not woken");
        let noted = Noted::default();
        noted.wake(Task::Dialer);
        noted.wake(Task::Dialer);
        assert!(noted.take(Task::Dialer));
        assert!(!noted.take(Task::Dialer));
        assert!(!noted.take(Task::Tree));
    }
}
