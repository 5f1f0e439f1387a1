//! Decode throughput against the floor every UTF-8 codec pays.
//!
//! For bodies of 64 B, 1 KiB and 16 KiB, it decodes a buffer holding many
//! frames, and in the same run validates the same body bytes, in the same
//! buffer, with plain `std::str::from_utf8`. The ratio between the two is the cost of framing;
//! absolute figures vary with the machine, the ratio much less.
//!
//! Run with `cargo bench --bench decode`.

use p2pchat::message::{decode, encode, Decoded};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Bytes of bodies per buffer: big enough to leave the caches, small enough to build fast.
const BUFFER_BYTES: usize = 8 << 20;
const ROUNDS: usize = 15;

fn main() {
    // `cargo test --benches` passes --bench too; `cargo test` alone doesn't build this.
    println!(
        "decode throughput, best of {ROUNDS} rounds over {} MiB of bodies",
        BUFFER_BYTES >> 20
    );
    println!(
        "{:>8} {:>12} {:>14} {:>14} {:>8}",
        "body", "frames", "decode MB/s", "from_utf8 MB/s", "ratio"
    );
    for size in [64, 1024, 16 * 1024] {
        let bodies = make_bodies(size);
        let mut stream = Vec::new();
        let mut ranges = Vec::with_capacity(bodies.len());
        for b in &bodies {
            encode(b, &mut stream).expect("bodies are under the limit");
            ranges.push(stream.len() - b.len()..stream.len());
        }
        let mut best_decode = Duration::MAX;
        let mut best_floor = Duration::MAX;
        // Interleave the two so that machine noise hits both alike.
        for _ in 0..ROUNDS {
            best_decode = best_decode.min(time(|| decode_stream(&stream)));
            best_floor = best_floor.min(time(|| validate_bodies(&stream, &ranges)));
        }
        let mbps = |d: Duration| (bodies.len() * size) as f64 / d.as_secs_f64() / 1e6;
        println!(
            "{:>8} {:>12} {:>14.0} {:>14.0} {:>8.3}",
            label(size),
            bodies.len(),
            mbps(best_decode),
            mbps(best_floor),
            best_decode.as_secs_f64() / best_floor.as_secs_f64()
        );
    }
}

/// Bodies of mixed ASCII and multi-byte text, each exactly `size` bytes.
fn make_bodies(size: usize) -> Vec<String> {
    let pattern = "p2pchat says héllo wörld, ça va? 你好 ";
    (0..BUFFER_BYTES / size)
        .map(|i| {
            let mut s: String = pattern.chars().cycle().skip(i % 7).take(size).collect();
            while s.len() > size {
                s.pop();
            }
            while s.len() < size {
                s.push('.');
            }
            s
        })
        .collect()
}

fn decode_stream(mut buf: &[u8]) -> usize {
    let mut total = 0;
    while let Ok(Decoded::Frame { body, consumed }) = decode(black_box(buf)) {
        total += body.len();
        buf = &buf[consumed..];
    }
    total
}

/// The floor: UTF-8 validation of the very same body bytes, in the same
/// buffer, with the frame boundaries already known.
fn validate_bodies(stream: &[u8], ranges: &[std::ops::Range<usize>]) -> usize {
    let mut total = 0;
    for r in ranges {
        if let Ok(s) = std::str::from_utf8(black_box(&stream[r.clone()])) {
            total += s.len();
        }
    }
    total
}

fn time(f: impl Fn() -> usize) -> Duration {
    let start = Instant::now();
    black_box(f());
    start.elapsed()
}

fn label(size: usize) -> String {
    if size >= 1024 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}
