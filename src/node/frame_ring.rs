//! Frames kept by copy, back to back in one ring of bytes, oldest first.
//!
//! The recent cache keeps every flooded message a node handles, letting it
//! go thousands of messages later. Copying a frame into a ring costs one
//! short copy and no allocation; holding a shared frame instead cost an
//! allocation, then a cache miss and a `free` when it was let go, on a
//! reference count that other threads had touched meanwhile.

use super::peers::Frame;
use std::collections::VecDeque;

/// Frames, each with something the keeper notes beside it (`M`).
pub struct FrameRing<M> {
    bytes: VecDeque<u8>,
    entries: VecDeque<(M, usize)>,
    /// The most bytes it holds, and the most room it takes.
    limit: usize,
}

/// Room a ring keeps however little it holds.
const MIN_ROOM: usize = 64 << 10;

impl<M: Copy> FrameRing<M> {
    /// A ring of at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        FrameRing {
            bytes: VecDeque::new(),
            entries: VecDeque::new(),
            limit,
        }
    }

    /// Keeps a copy of `frame`, newest, first forgetting the oldest frames
    /// as far as the byte bound asks. A frame larger than the whole bound
    /// is not kept, and costs no other frame its place.
    pub fn push(&mut self, note: M, frame: &[u8]) {
        if frame.len() > self.limit {
            return;
        }
        while self.bytes.len() + frame.len() > self.limit && self.pop().is_some() {}
        let needed = self.bytes.len() + frame.len();
        if needed > self.bytes.capacity() {
            // Doubling, but not past the limit: a ring wraps through all
            // its room, so all of it ends up backed by memory.
            let room = (2 * self.bytes.capacity()).clamp(needed, self.limit.max(needed));
            self.bytes.reserve_exact(room - self.bytes.len());
        }
        self.bytes.extend(frame);
        self.entries.push_back((note, frame.len()));
    }

    /// Forgets the oldest frame; returns its note and length. Gives memory
    /// back once it holds far less than it has room for, as when a flood
    /// is over.
    pub fn pop(&mut self) -> Option<(M, usize)> {
        let (note, len) = self.entries.pop_front()?;
        self.bytes.drain(..len);
        let keep = MIN_ROOM.max(2 * self.bytes.len());
        if self.bytes.capacity() > 2 * keep {
            self.bytes.shrink_to(keep);
        }
        Some((note, len))
    }

    /// The oldest frame's note and length.
    pub fn oldest(&self) -> Option<(M, usize)> {
        self.entries.front().copied()
    }

    /// Frames held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes held.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Copies of the frames whose notes `wanted` picks, oldest first, each
    /// with what `wanted` made of its note.
    pub fn copies<T>(&self, mut wanted: impl FnMut(M) -> Option<T>) -> Vec<(Frame, T)> {
        let (front, back) = self.bytes.as_slices();
        let mut start = 0;
        let mut found = Vec::new();
        for &(note, len) in &self.entries {
            if let Some(made) = wanted(note) {
                let end = start + len;
                let frame = match (front.get(start..end), start.checked_sub(front.len())) {
                    (Some(whole), _) => Frame::copy_from_slice(whole),
                    (None, Some(at)) => Frame::copy_from_slice(&back[at..at + len]),
                    (None, None) => {
                        Frame::from([&front[start..], &back[..end - front.len()]].concat())
                    }
                };
                found.push((frame, made));
            }
            start += len;
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
            assert!(ring.bytes.capacity() <= limit, "{}", ring.bytes.capacity());
        }
        for k in 100..400 {
            ring.pop();
            ring.push(k, b"a chat line of ordinary length");
        }
        assert!(
            ring.bytes.capacity() <= 2 * MIN_ROOM,
            "{}",
            ring.bytes.capacity()
        );
    }

    proptest! {
        /// Pushed and popped in any order, across wrap-around, growth and
        /// shrinking, the ring gives back the frames it holds byte for
        /// byte, as a list of copies held to the same bound would.
        #[test]
        fn the_ring_gives_back_what_a_list_of_copies_would(
            limit in 0usize..300,
            steps in proptest::collection::vec((0usize..120, 0usize..3), 0..80),
        ) {
            let mut ring = FrameRing::new(limit);
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
                ring.copies(odd).into_iter().map(|(f, k)| (f.to_vec(), k)).collect();
            let want: Vec<(Vec<u8>, usize)> =
                model.into_iter().filter(|(k, _)| k % 2 == 1).map(|(k, f)| (f, k)).collect();
            prop_assert_eq!(got, want);
        }
    }
}
