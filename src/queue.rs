//! A queue bounded in bytes, with one consumer and many producers.
//!
//! Pushing never waits, so a producer can push while holding the node's lock;
//! it learns from [`Queue::push_then_full`] whether the queue is full and,
//! after releasing the lock, waits for
//! [`Queue::space`]. A producer overshoots the bound by what it pushes before
//! it waits (one item, or the messages of one read), so memory stays bounded
//! while nothing is ever dropped.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Mutex, MutexGuard};
use std::task::{Poll, Waker};

pub struct Queue<T> {
    limit: usize,
    state: Mutex<State<T>>,
}

struct State<T> {
    items: VecDeque<(T, usize)>,
    bytes: usize,
    closed: bool,
    consumer: Option<Waker>,
    producers: Vec<Waker>,
}

impl<T> Queue<T> {
    /// A queue that counts as full once it holds `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Queue {
            limit,
            state: Mutex::new(State {
                items: VecDeque::new(),
                bytes: 0,
                closed: false,
                consumer: None,
                producers: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // No code panics while holding this lock; recover rather than cascade.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends an item weighing `bytes`, even past the bound. Returns false,
    /// dropping the item, if the queue is closed.
    pub fn push(&self, item: T, bytes: usize) -> bool {
        Self::push_locked(&mut self.lock(), item, bytes)
    }

    /// Appends as [`push`](Self::push) does, and tells, under the same lock,
    /// whether the producer should now wait for [`space`](Self::space).
    pub fn push_then_full(&self, item: T, bytes: usize) -> bool {
        let mut s = self.lock();
        Self::push_locked(&mut s, item, bytes) && s.bytes >= self.limit
    }

    fn push_locked(s: &mut State<T>, item: T, bytes: usize) -> bool {
        if s.closed {
            return false;
        }
        s.items.push_back((item, bytes));
        s.bytes += bytes;
        if let Some(w) = s.consumer.take() {
            w.wake();
        }
        true
    }

    /// Bytes queued now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Resolves once the queue is below its bound, or closed.
    pub async fn space(&self) {
        poll_fn(|cx| {
            let mut s = self.lock();
            if s.closed || s.bytes < self.limit {
                return Poll::Ready(());
            }
            if !s.producers.iter().any(|w| w.will_wake(cx.waker())) {
                s.producers.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Waits for items, then moves them into `out`: at least one, and more
    /// while they total at most `max_bytes`. Returns false once the queue is
    /// closed and empty.
    pub async fn pop_batch(&self, max_bytes: usize, out: &mut Vec<T>) -> bool {
        poll_fn(|cx| {
            let mut s = self.lock();
            let (mut taken, mut popped) = (0, 0);
            while let Some(&(_, bytes)) = s.items.front() {
                if popped > 0 && taken + bytes > max_bytes {
                    break;
                }
                if let Some((item, _)) = s.items.pop_front() {
                    out.push(item);
                    taken += bytes;
                    popped += 1;
                }
            }
            if popped > 0 {
                let was_full = s.bytes >= self.limit;
                s.bytes -= taken;
                if was_full && s.bytes < self.limit {
                    s.producers.drain(..).for_each(Waker::wake);
                }
                return Poll::Ready(true);
            }
            if s.closed {
                return Poll::Ready(false);
            }
            s.consumer = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Moves every queued item into `out` at once, without waiting, and
    /// tells whether the queue is closed: for a consumer that is not a
    /// task (the simulator's virtual links). `then`, if given, is woken by
    /// the next push or the close, as a waiting consumer would be.
    pub fn take_all(&self, out: &mut Vec<T>, then: Option<&Waker>) -> bool {
        let mut s = self.lock();
        let was_full = s.bytes >= self.limit;
        out.extend(s.items.drain(..).map(|(item, _)| item));
        s.bytes = 0;
        if was_full {
            s.producers.drain(..).for_each(Waker::wake);
        }
        if let Some(waker) = then {
            s.consumer = Some(waker.clone());
        }
        s.closed
    }

    /// Moves every queued item to the end of `to`, in order (for a link
    /// that replaces this one). Returns how many moved.
    pub fn move_into(&self, to: &Queue<T>) -> usize {
        let items: Vec<(T, usize)> = {
            let mut s = self.lock();
            s.bytes = 0;
            s.producers.drain(..).for_each(Waker::wake);
            s.items.drain(..).collect()
        };
        let moved = items.len();
        for (item, bytes) in items {
            to.push(item, bytes);
        }
        moved
    }

    /// Refuses further pushes and wakes everyone. Queued items can still be popped.
    pub fn close(&self) {
        let mut s = self.lock();
        s.closed = true;
        s.producers.drain(..).for_each(Waker::wake);
        if let Some(w) = s.consumer.take() {
            w.wake();
        }
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::FutureExt;

    #[test]
    fn push_never_waits_and_full_is_reported() {
        let q = Queue::new(10);
        assert!(!q.push_then_full("a", 6));
        assert!(q.push_then_full("b", 6)); // overshoots by one item
        assert_eq!(q.bytes(), 12);
        assert!(q.space().now_or_never().is_none());
    }

    #[test]
    fn popping_below_the_bound_releases_producers() {
        let q = Queue::new(10);
        q.push(1, 6);
        q.push(2, 6);
        let mut out = Vec::new();
        assert!(block_on(q.pop_batch(6, &mut out)));
        assert_eq!(out, [1]);
        assert!(q.space().now_or_never().is_some());
        assert!(!q.push_then_full(3, 3));
    }

    #[test]
    fn a_batch_takes_at_least_one_item_and_respects_the_cap() {
        let q = Queue::new(100);
        q.push(1, 50);
        q.push(2, 10);
        q.push(3, 10);
        let mut out = Vec::new();
        block_on(q.pop_batch(5, &mut out));
        assert_eq!(out, [1], "an item over the cap still goes alone");
        out.clear();
        block_on(q.pop_batch(100, &mut out));
        assert_eq!(out, [2, 3]);
    }

    #[test]
    fn close_drains_then_ends_and_refuses_pushes() {
        let q = Queue::new(10);
        q.push(1, 1);
        q.close();
        assert!(!q.push(2, 1));
        // Nor does a push to it ask its producer to wait.
        assert!(!q.push_then_full(3, 100));
        let mut out = Vec::new();
        assert!(block_on(q.pop_batch(10, &mut out)));
        assert_eq!(out, [1]);
        assert!(!block_on(q.pop_batch(10, &mut out)));
        // A closed queue never blocks producers.
        assert!(q.space().now_or_never().is_some());
    }

    #[test]
    fn queued_items_move_to_another_queue_in_order() {
        let (a, b) = (Queue::new(10), Queue::new(10));
        b.push(0, 1);
        a.push(1, 1);
        a.push(2, 1);
        assert_eq!(a.move_into(&b), 2);
        assert_eq!(a.bytes(), 0);
        let mut out = Vec::new();
        block_on(b.pop_batch(10, &mut out));
        assert_eq!(out, [0, 1, 2]);
    }

    #[test]
    fn a_waiting_consumer_is_woken_by_a_push() {
        let q = std::sync::Arc::new(Queue::new(10));
        let q2 = q.clone();
        let t = std::thread::spawn(move || {
            let mut out = Vec::new();
            block_on(q2.pop_batch(10, &mut out));
            out
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        q.push(7, 1);
        assert_eq!(t.join().unwrap(), [7]);
    }
}
