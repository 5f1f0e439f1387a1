//! Frames kept by copy, back to back in one ring of bytes, oldest first.
//!
//! The recent cache keeps every flooded message a node handles, letting it
//! go thousands of messages later. Copying a frame into a ring costs one
//! short copy and no allocation; holding a shared frame instead cost an
//! allocation, then a cache miss and a `free` when it was let go, on a
//! reference count that other threads had touched meanwhile.

use crate::node::mesh::peers::Frame;
use std::collections::VecDeque;

/// Frames, each with something the keeper notes beside it (`M`).
pub struct FrameRing<M> {
    /// The frames' bytes, back to back from `head`, `held` of them,
    /// wrapping from offset `room` to the start. A plain buffer with two
    /// offsets: a push is one or two copies, and a pop two additions.
    /// Bytes past `buf.len()` (at most `room`) were never written: they are
    /// appended as the ring first fills, so room is not zeroed in advance.
    buf: Vec<u8>,
    room: usize,
    head: usize,
    held: usize,
    entries: VecDeque<(M, usize)>,
    /// The most bytes it holds, and the most room it takes.
    limit: usize,
    /// Room it keeps however little it holds.
    min_room: usize,
}

/// Room a ring keeps however little it holds.
const MIN_ROOM: usize = 64 << 10;

impl<M: Copy> FrameRing<M> {
    /// A ring of at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        FrameRing {
            buf: Vec::new(),
            room: 0,
            head: 0,
            held: 0,
            entries: VecDeque::new(),
            limit,
            min_room: MIN_ROOM,
        }
    }

    /// Keeps a copy of `frame`, newest, first forgetting the oldest frames
    /// as far as the byte bound asks. A frame larger than the whole bound
    /// is not kept, and costs no other frame its place.
    pub fn push(&mut self, note: M, frame: &[u8]) {
        if frame.len() > self.limit {
            return;
        }
        while self.held + frame.len() > self.limit && self.pop().is_some() {}
        let needed = self.held + frame.len();
        if needed > self.room {
            // Doubling, but not past the limit: a ring wraps through all
            // its room, so all of it ends up backed by memory.
            let room = (2 * self.room).clamp(needed, self.limit.max(needed));
            self.grow(room);
        }
        let tail = self.wrap(self.head + self.held);
        if let Some(place) = self.buf.get_mut(tail..tail + frame.len()) {
            // Once the ring has filled: one copy, unless it wraps.
            place.copy_from_slice(frame);
        } else {
            let first = frame.len().min(self.room - tail);
            self.write_at(tail, &frame[..first]);
            self.write_at(0, &frame[first..]);
        }
        self.held += frame.len();
        self.entries.push_back((note, frame.len()));
    }

    /// Forgets the oldest frame; returns its note and length. Gives memory
    /// back once it holds far less than it has room for, as when a flood
    /// is over.
    pub fn pop(&mut self) -> Option<(M, usize)> {
        let (note, len) = self.entries.pop_front()?;
        self.head = self.wrap(self.head + len);
        self.held -= len;
        let keep = self.min_room.max(2 * self.held);
        if self.room > 2 * keep {
            self.relayout(keep);
        }
        Some((note, len))
    }

    /// The oldest frame's note and length.
    pub fn oldest(&self) -> Option<(M, usize)> {
        self.entries.front().copied()
    }

    /// An offset into the ring from one that may have run past its end
    /// once.
    fn wrap(&self, at: usize) -> usize {
        if at >= self.room {
            at - self.room
        } else {
            at
        }
    }

    /// Writes `bytes` at offset `at`, which is within what was written or
    /// just past it, overwriting and then appending; they end by `room`.
    fn write_at(&mut self, at: usize, bytes: &[u8]) {
        let over = bytes.len().min(self.buf.len() - at);
        self.buf[at..at + over].copy_from_slice(&bytes[..over]);
        self.buf.extend_from_slice(&bytes[over..]);
    }

    /// The `len` bytes held from offset `at` on: one slice, or two where
    /// they wrap.
    fn slices(&self, at: usize, len: usize) -> (&[u8], &[u8]) {
        let first = len.min(self.room - at);
        (&self.buf[at..at + first], &self.buf[..len - first])
    }

    /// Makes `room` bytes of room. What it holds, unless it wraps, stays
    /// where it is, and the buffer grows in place: a large one is remapped,
    /// not copied, and the pages it has are not touched again. As the ring
    /// first fills, moving it to a new buffer at each doubling wrote its
    /// bytes twice and faulted in twice the pages it ends up with.
    fn grow(&mut self, room: usize) {
        if self.head + self.held <= self.room {
            self.buf.reserve_exact(room - self.buf.len());
            self.room = room;
        } else {
            self.relayout(room);
        }
    }

    /// Moves what it holds to the start of a buffer of `room` bytes (at
    /// least `held`): to grow, or to give memory back.
    fn relayout(&mut self, room: usize) {
        let mut buf = Vec::with_capacity(room);
        let (a, b) = self.slices(self.head, self.held);
        buf.extend_from_slice(a);
        buf.extend_from_slice(b);
        self.buf = buf;
        self.room = room;
        self.head = 0;
    }

    /// Frames held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.held
    }

    /// The frames' notes, oldest first.
    pub fn notes(&self) -> impl Iterator<Item = M> + '_ {
        self.entries.iter().map(|(note, _)| *note)
    }

    /// How many frames, oldest first, have notes that `pred` holds for:
    /// the notes must be ordered so that it holds for a first part only
    /// (times, say).
    pub fn partition_point(&self, pred: impl FnMut(&M) -> bool) -> usize {
        let mut pred = pred;
        self.entries.partition_point(|(note, _)| pred(note))
    }

    /// Copies of the frames, from the `first` oldest on, whose notes
    /// `wanted` picks, oldest first, each with what `wanted` made of its
    /// note, up to `max_bytes` of them: the copying stops at the first
    /// frame that would pass it.
    pub fn copies<T>(
        &self,
        first: usize,
        max_bytes: usize,
        mut wanted: impl FnMut(M) -> Option<T>,
    ) -> Vec<(Frame, T)> {
        // Where the `first` frame starts: counted back from the end, over
        // the frames looked at anyway.
        let after: usize = self
            .entries
            .range(first.min(self.entries.len())..)
            .map(|(_, len)| len)
            .sum();
        let mut at = self.wrap(self.head + (self.held - after));
        let mut found = Vec::new();
        let mut left = max_bytes;
        for &(note, len) in self.entries.range(first.min(self.entries.len())..) {
            if let Some(made) = wanted(note) {
                let Some(rest) = left.checked_sub(len) else {
                    break;
                };
                left = rest;
                let frame = match self.slices(at, len) {
                    (whole, []) => Frame::copy_from_slice(whole),
                    (a, b) => Frame::from([a, b].concat()),
                };
                found.push((frame, made));
            }
            at = self.wrap(at + len);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn room_grows_to_the_limit_at_most_and_is_given_back_after_a_flood() {
        let limit = 1 << 20;
        let mut ring = FrameRing::new(limit);
        let big = vec![7u8; 65_540];
        for k in 0..100 {
            ring.push(k, &big);
            assert!(ring.bytes() <= limit);
            assert!(ring.buf.capacity() <= limit, "{}", ring.buf.capacity());
        }
        for k in 100..400 {
            ring.pop();
            ring.push(k, b"a chat line of ordinary length");
        }
        assert!(
            ring.buf.capacity() <= 2 * MIN_ROOM,
            "{}",
            ring.buf.capacity()
        );
    }

    proptest! {
        /// Pushed and popped in any order, across wrap-around, growth and
        /// shrinking, the ring gives back the frames it holds byte for
        /// byte, as a list of copies held to the same bound would.
        #[test]
        fn the_ring_gives_back_what_a_list_of_copies_would(
            limit in 0usize..300,
            min_room in 1usize..100,
            steps in proptest::collection::vec((0usize..120, 0usize..3), 0..80),
        ) {
            let mut ring = FrameRing::new(limit);
            // Small, so that the ring also gives room back here.
            ring.min_room = min_room;
            let mut model: VecDeque<(usize, Vec<u8>)> = VecDeque::new();
            for (k, (len, pops)) in steps.into_iter().enumerate() {
                let frame: Vec<u8> = (0..len).map(|i| (k * 7 + i) as u8).collect();
                ring.push(k, &frame);
                if len <= limit {
                    while model.iter().map(|(_, f)| f.len()).sum::<usize>() + len > limit {
                        model.pop_front();
                    }
                    model.push_back((k, frame));
                }
                for _ in 0..pops {
                    prop_assert_eq!(ring.pop().map(|(k, _)| k), model.pop_front().map(|(k, _)| k));
                }
            }
            prop_assert_eq!(ring.len(), model.len());
            prop_assert_eq!(ring.bytes(), model.iter().map(|(_, f)| f.len()).sum::<usize>());
            let odd = |k: usize| (k % 2 == 1).then_some(k);
            let got: Vec<(Vec<u8>, usize)> =
                ring.copies(0, usize::MAX, odd).into_iter().map(|(f, k)| (f.to_vec(), k)).collect();
            let want: Vec<(Vec<u8>, usize)> =
                model.iter().filter(|(k, _)| k % 2 == 1).map(|(k, f)| (f.clone(), *k)).collect();
            prop_assert_eq!(got, want);
            // From the middle on: the same frames as the model's second half.
            let half = model.len() / 2;
            let all = |k: usize| Some(k);
            let got: Vec<(Vec<u8>, usize)> =
                ring.copies(half, usize::MAX, all).into_iter().map(|(f, k)| (f.to_vec(), k)).collect();
            let want: Vec<(Vec<u8>, usize)> =
                model.into_iter().skip(half).map(|(k, f)| (f, k)).collect();
            prop_assert_eq!(got, want);
        }
    }
}
