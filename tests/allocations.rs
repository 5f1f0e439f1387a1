//! Proves, with a counting global allocator, that decoding allocates nothing
//! and that the frame reader allocates nothing per frame once warmed up.
//!
//! It lives in a test binary of its own because the allocator is global.
//! Allocations are counted per thread, so that the test harness's own
//! threads, which may allocate at any time, do not count.

use p2pchat::message::{decode, encode, Decoded, FrameReader};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    /// Allocations made by this thread; a `Cell` needs no destructor, so
    /// the allocator may use it at any time.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    // Once the thread is being torn down its count is gone; no matter.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        System.alloc(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made so far by the calling thread.
fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// A reader that returns at most `piece` bytes per call, so frames straddle reads.
struct Pieces<'a> {
    data: &'a [u8],
    piece: usize,
}

impl futures::io::AsyncRead for Pieces<'_> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let n = self.piece.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        std::task::Poll::Ready(Ok(n))
    }
}

#[test]
fn decoding_and_reading_allocate_nothing_per_frame() {
    let mut stream = Vec::new();
    let bodies: Vec<String> = (0..5000)
        .map(|i| format!("message number {i}: {}", "héllo ".repeat(i % 50)))
        .collect();
    for b in &bodies {
        encode(b, &mut stream).unwrap();
    }

    // One-shot decode of the whole stream.
    let before = allocations();
    let mut buf = &stream[..];
    let mut frames = 0;
    while let Ok(Decoded::Frame { body, consumed }) = decode(buf) {
        frames += usize::from(!body.is_empty());
        buf = &buf[consumed..];
    }
    assert_eq!(allocations() - before, 0, "decode allocated");
    assert_eq!(frames, bodies.len());

    // The async reader, fed in awkward pieces.
    futures::executor::block_on(async {
        let mut reader = FrameReader::new(Pieces {
            data: &stream,
            piece: 777,
        });
        // Warm-up: the first frames may size the buffer.
        for _ in 0..10 {
            reader.next_frame().await.unwrap().unwrap();
        }
        let before = allocations();
        let mut n = 10;
        while let Some(body) = reader.next_frame().await.unwrap() {
            assert_eq!(body, bodies[n]);
            n += 1;
        }
        assert_eq!(allocations() - before, 0, "reader allocated after warm-up");
        assert_eq!(n, bodies.len());
    });
}
