//! Monotonic time for the retry engine, injectable so that its rules run on a manual clock.

use std::fmt::Debug;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A monotonic clock that can also wait.
pub trait Timer: Send + Sync + Debug {
    /// The current instant.
    fn now(&self) -> Instant;
    /// Waits `d` (a manual timer moves its time instead).
    fn sleep(&self, d: Duration);
}

/// `Instant::now` and `std::thread::sleep`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemTimer;

impl Timer for SystemTimer {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// A timer whose time moves only when told to, or when something sleeps on it; for tests.
///
/// It starts at the real instant it was made and never reads the real clock again, so the
/// instants it hands out are ordinary `Instant`s that deadlines can be compared with.
#[derive(Debug)]
pub struct ManualTimer {
    start: Instant,
    offset: Mutex<Duration>,
    slept: Mutex<Vec<Duration>>,
}

impl ManualTimer {
    /// A timer reading "now" until advanced.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            offset: Mutex::new(Duration::ZERO),
            slept: Mutex::new(Vec::new()),
        }
    }

    /// The instant it started at (its "zero").
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Moves the time forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(|p| p.into_inner());
        *offset = offset.saturating_add(d);
    }

    /// How far the time has moved since the start.
    pub fn elapsed(&self) -> Duration {
        *self.offset.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every sleep asked of it, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.slept.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Default for ManualTimer {
    fn default() -> Self {
        Self::new()
    }
}

impl Timer for ManualTimer {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }
    fn sleep(&self, d: Duration) {
        self.slept.lock().unwrap_or_else(|p| p.into_inner()).push(d);
        self.advance(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_timer_moves_only_when_told_or_slept_on() {
        let t = ManualTimer::new();
        let t0 = t.now();
        assert_eq!(t.now(), t0);
        t.advance(Duration::from_millis(5));
        t.sleep(Duration::from_millis(7));
        assert_eq!(t.now() - t0, Duration::from_millis(12));
        assert_eq!(t.sleeps(), vec![Duration::from_millis(7)]);
    }
}
