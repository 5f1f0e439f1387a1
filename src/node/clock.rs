//! Where the node's core reads the time. The running program reads the
//! system's clocks; the simulator gives every node one virtual clock, so
//! that a run depends on its seed alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The two clocks the core reads.
pub trait Clock: Send + Sync {
    /// Monotonic time: timeouts, ages, allowances.
    fn now(&self) -> Instant;
    /// Wall-clock time in microseconds since the Unix epoch: the times
    /// messages carry, and where a node's sequence numbers start.
    fn unix_micros(&self) -> u64;

    /// Wall-clock time in milliseconds since the Unix epoch.
    fn unix_ms(&self) -> u64 {
        self.unix_micros() / 1000
    }
}

/// The system's clocks.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn unix_micros(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
    }
}

/// Virtual time that moves only when told to: the simulator's clock.
pub struct VirtualClock {
    start: Instant,
    /// Wall-clock time at the start, in microseconds since the epoch.
    unix_start: u64,
    /// Microseconds since the start.
    elapsed: AtomicU64,
}

impl VirtualClock {
    /// A clock at `unix_start` microseconds since the epoch. Its
    /// monotonic readings count from `start`, which only orders them.
    pub fn new(start: Instant, unix_start: u64) -> Self {
        VirtualClock {
            start,
            unix_start,
            elapsed: AtomicU64::new(0),
        }
    }

    /// Moves the clock to `elapsed` since its start; never backwards.
    pub fn set(&self, elapsed: Duration) {
        self.elapsed
            .fetch_max(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        Duration::from_micros(self.elapsed.load(Ordering::Relaxed))
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }

    fn unix_micros(&self) -> u64 {
        self.unix_start + self.elapsed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_time_moves_only_forwards_and_both_clocks_together() {
        let start = Instant::now();
        let clock = VirtualClock::new(start, 1_000_000);
        clock.set(Duration::from_secs(3));
        clock.set(Duration::from_secs(1));
        assert_eq!(clock.now(), start + Duration::from_secs(3));
        assert_eq!(clock.unix_micros(), 4_000_000);
        assert_eq!(clock.unix_ms(), 4_000);
    }
}
