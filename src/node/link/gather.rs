//! How flooded frames reach the peers' queues.
//!
//! A small frame is written once into the run gathered under the node's
//! lock, however many peers take it; each peer notes the parts of the run
//! it takes (`Peer::taken`). Before the lock is released the run becomes one
//! shared buffer, and each peer's parts go into its queue as slices of it:
//! a burst of this node's own lines, which every peer takes, costs one copy
//! and one reference count a peer, not one copy a line and peer. A large
//! frame is shared between the queues as it is.

use crate::node::mesh::peers::{Frame, Peer, PeerSet};
use crate::node::state::Waits;
use crate::queue::Queue;
use std::ops::Range;

/// Frames up to this long are gathered; a longer one is shared between the
/// peers' queues rather than copied.
pub(in crate::node) const GATHER_FRAME: usize = 2048;
/// Gathered bytes that are queued at once, without waiting for the handler
/// to end: a burst of lines or a read of messages comes in pieces this big.
const GATHER_BYTES: usize = 64 << 10;
/// A run shorter than this is copied into a buffer of its own and the run's
/// kept: a fresh buffer for each, such as one message at a quiet time,
/// would spread the heap over more pages than the messages need.
const SHORT_RUN: usize = 4 << 10;
/// A peer whose parts are more than this many pieces, or less than half of
/// the run, gets a copy of them instead of slices: a queue then holds few
/// items, and never keeps a run alive for a small part of it. With the
/// room a run gives back (see `Gathered::take_run`), what a queue holds is
/// at most four times what it counts.
const MOST_SLICES: usize = 4;

/// The run of small frames gathered under one hold of the node's lock.
#[derive(Default)]
pub(in crate::node) struct Gathered {
    run: Vec<u8>,
}

impl Gathered {
    /// Appends the frame `write` appends, unless it refuses.
    pub fn append_with<E>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<Range<usize>, E> {
        self.reserve();
        let start = self.run.len();
        match write(&mut self.run) {
            Ok(()) => Ok(start..self.run.len()),
            Err(e) => {
                self.run.truncate(start);
                Err(e)
            }
        }
    }

    /// Room for a whole run at once: growing it would copy it again.
    fn reserve(&mut self) {
        if self.run.capacity() == 0 {
            self.run.reserve_exact(GATHER_BYTES + GATHER_FRAME);
        }
    }

    /// Queues what is gathered, if it is a run's worth already.
    pub fn flush_if_full(&mut self, peers: &mut PeerSet, waits: &mut Waits) {
        if self.run.len() >= GATHER_BYTES {
            self.flush(peers, waits);
        }
    }

    /// Queues every peer's parts of the run. Every handler that gathers
    /// does this before it releases the node's lock, so that frames queued
    /// by other handlers keep their order behind these.
    pub fn flush(&mut self, peers: &mut PeerSet, waits: &mut Waits) {
        if self.run.is_empty() {
            return;
        }
        let run = if self.run.len() < SHORT_RUN {
            let run = Frame::copy_from_slice(&self.run);
            self.run.clear();
            run
        } else {
            Frame::from(self.take_run())
        };
        for (_, peer) in peers.iter_mut() {
            flush_parts(peer, &run, waits);
        }
    }

    /// The run, to hand over as it is; the next one starts anew. A run cut
    /// short by the end of a handler gives back the room it did not use,
    /// which shrinks its block in place: the queues that hold parts of it
    /// then hold no more memory than twice what they count.
    fn take_run(&mut self) -> Vec<u8> {
        let mut run = std::mem::take(&mut self.run);
        if run.capacity() > 2 * run.len() {
            run.shrink_to_fit();
        }
        run
    }
}

/// Queues `peer`'s parts of `run`: as slices of it when they are few and
/// most of it, else copied into one frame of its own.
fn flush_parts(peer: &mut Peer, run: &Frame, waits: &mut Waits) {
    if peer.taken.is_empty() {
        return;
    }
    // Taken out, and given back empty with its room.
    let mut parts = std::mem::take(&mut peer.taken);
    let bytes: usize = parts.iter().map(|part| part.len()).sum();
    if parts.len() <= MOST_SLICES && 2 * bytes >= run.len() {
        for part in parts.drain(..) {
            push(peer, run.slice(part), waits);
        }
    } else {
        let mut own = Vec::with_capacity(bytes);
        for part in parts.drain(..) {
            own.extend_from_slice(&run[part]);
        }
        push(peer, own.into(), waits);
    }
    peer.taken = parts;
}

/// Queues `frame` for `peer`, counting a full queue in `waits`.
pub(in crate::node) fn push(peer: &Peer, frame: Frame, waits: &mut Waits) {
    debug_assert!(
        peer.taken.is_empty(),
        "a frame queued ahead of gathered ones"
    );
    let len = frame.len();
    if peer.outbox.push_then_full(frame, len) {
        waits.wait_for_outbox(&peer.outbox);
    }
}

/// Queues a small control frame without backpressure: waiting for room
/// would mean waiting under the node's lock.
pub(in crate::node) fn push_now(outbox: &Queue<Frame>, frame: Option<Frame>) {
    if let Some(frame) = frame {
        let len = frame.len();
        outbox.push(frame, len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::mesh::peers::tests::{peer, set};
    use crate::protocol::NodeId;

    /// Everything queued for `peer`, as one byte string, and the items.
    fn queued(peer: &Peer) -> (Vec<u8>, Vec<Frame>) {
        let mut items = Vec::new();
        if peer.outbox.bytes() > 0 {
            futures::executor::block_on(peer.outbox.pop_batch(usize::MAX, &mut items));
        }
        (items.concat(), items)
    }

    /// A set of peers 1 to `n`, with room in their queues for anything.
    fn peers(n: u64) -> PeerSet {
        let mut peers = set(8, 8);
        for i in 1..=n {
            let mut p = peer(i, 1000 + i as u16, true);
            p.outbox = std::sync::Arc::new(Queue::new(1 << 30));
            let _ = peers.admit(
                NodeId(i),
                p,
                crate::protocol::Need::Needed,
                std::time::Instant::now(),
            );
        }
        peers
    }

    impl Gathered {
        /// Appends `frame`; returns where it lies in the run.
        fn append(&mut self, frame: &[u8]) -> Range<usize> {
            let appended = self.append_with(|out| {
                out.extend_from_slice(frame);
                Ok::<(), ()>(())
            });
            appended.unwrap_or_default()
        }
    }

    /// Peers 1 to `n`, after each frame was gathered for the peers listed
    /// beside it and the run flushed.
    fn flushed(n: u64, frames: &[(&[u8], &[u64])]) -> PeerSet {
        let mut peers = peers(n);
        let mut g = Gathered::default();
        gather(&mut g, &mut peers, frames);
        g.flush(&mut peers, &mut Waits::default());
        peers
    }

    /// Gathers each frame for the peers listed beside it.
    fn gather(g: &mut Gathered, peers: &mut PeerSet, frames: &[(&[u8], &[u64])]) {
        for (frame, to) in frames {
            let part = g.append(frame);
            for id in *to {
                peers.get_mut(&NodeId(*id)).unwrap().take(part.clone());
            }
        }
    }

    #[test]
    fn each_peer_gets_its_frames_in_order_written_once_for_all() {
        let long = vec![b'x'; SHORT_RUN];
        let peers = flushed(
            3,
            &[
                (b"one", &[1, 2, 3]),
                (b"two", &[1, 3]),
                (&long, &[1, 2, 3]),
                (b"three", &[2]),
            ],
        );
        let get = |i| queued(peers.get(&NodeId(i)).unwrap());
        let ((one, items_one), (two, _), (three, items_three)) = (get(1), get(2), get(3));
        assert_eq!(one, [&b"onetwo"[..], &long].concat());
        assert_eq!(two, [&b"one"[..], &long, b"three"].concat());
        assert_eq!(three, [&b"onetwo"[..], &long].concat());
        assert_eq!(items_one.len(), 1, "adjacent parts are one slice");
        assert_eq!(
            items_one[0].as_ptr(),
            items_three[0].as_ptr(),
            "peers that take the same parts share them"
        );
        assert!(peers.iter().all(|(_, p)| p.taken.is_empty()));
    }

    #[test]
    fn a_peer_that_takes_little_of_a_run_gets_a_copy_not_a_slice_of_it() {
        let long = vec![b'x'; SHORT_RUN];
        let peers = flushed(2, &[(&long, &[1]), (b"tail", &[1, 2])]);
        let (one, items_one) = queued(peers.get(&NodeId(1)).unwrap());
        let (two, items_two) = queued(peers.get(&NodeId(2)).unwrap());
        assert_eq!(one, [&long[..], b"tail"].concat());
        assert_eq!(two, b"tail");
        let run = items_one[0].as_ptr_range();
        assert!(
            !run.contains(&items_two[0].as_ptr()),
            "a slice would keep the whole run for four bytes"
        );
    }

    #[test]
    fn many_scattered_parts_are_copied_into_one_item() {
        let mut frames: Vec<(&[u8], &[u64])> = Vec::new();
        for _ in 0..=MOST_SLICES {
            frames.push((b"both", &[1, 2]));
            frames.push((b"first", &[1]));
        }
        let peers = flushed(2, &frames);
        let (two, items) = queued(peers.get(&NodeId(2)).unwrap());
        assert_eq!(two, b"both".repeat(MOST_SLICES + 1));
        assert_eq!(items.len(), 1);
    }

    #[test]
    fn a_short_run_is_copied_out_and_its_buffer_kept_a_long_one_handed_over() {
        let mut peers = peers(1);
        let mut g = Gathered::default();
        let mut waits = Waits::default();
        gather(&mut g, &mut peers, &[(b"short", &[1])]);
        g.flush(&mut peers, &mut waits);
        assert!(g.run.is_empty() && g.run.capacity() > 0, "kept");
        let frame = vec![b'x'; GATHER_FRAME];
        for _ in 0..GATHER_BYTES / GATHER_FRAME {
            gather(&mut g, &mut peers, &[(&frame, &[1])]);
            g.flush_if_full(&mut peers, &mut waits);
        }
        assert_eq!(g.run.capacity(), 0, "a full run is handed over");
        let (all, _) = queued(peers.get(&NodeId(1)).unwrap());
        assert_eq!(all.len(), 5 + GATHER_BYTES);
    }

    #[test]
    fn a_run_handed_over_half_empty_gives_back_its_room() {
        let mut g = Gathered::default();
        g.append(&[b'x'; SHORT_RUN]);
        assert!(g.run.capacity() > 4 * SHORT_RUN, "room for a whole run");
        let run = g.take_run();
        assert_eq!(run.len(), SHORT_RUN);
        assert!(run.capacity() <= 2 * SHORT_RUN);
        for _ in 0..GATHER_BYTES / GATHER_FRAME {
            g.append(&[b'x'; GATHER_FRAME]);
        }
        let full = g.run.capacity();
        assert_eq!(g.take_run().capacity(), full, "a full run keeps its block");
    }

    #[test]
    fn a_refused_frame_leaves_the_run_as_it_was() {
        let mut g = Gathered::default();
        g.append(b"kept");
        let refused = g.append_with(|out| {
            out.extend_from_slice(b"half");
            Err(())
        });
        assert!(refused.is_err());
        assert_eq!(g.append(b"next"), 4..8);
        assert_eq!(g.run, b"keptnext");
    }
}
