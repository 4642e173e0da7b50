//! Exponential backoff with full jitter, and the small generator that draws the jitter.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Delay before attempt `n + 1`: uniformly random in `[0, min(max, base * 2^n)]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// A backoff from `base`, capped at `max`.
    pub const fn new(base: Duration, max: Duration) -> Self {
        Self { base, max }
    }

    /// The upper bound of the delay after failed attempt `attempt` (0-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// A random delay in `[0, ceiling(attempt)]`.
    pub fn delay(&self, attempt: u32, jitter: &mut Jitter) -> Duration {
        let ceiling = self.ceiling(attempt);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(jitter.below_inclusive(nanos))
    }
}

impl Default for Backoff {
    /// 200 ms doubling up to 2 s.
    fn default() -> Self {
        Self::new(Duration::from_millis(200), Duration::from_secs(2))
    }
}

/// A small xorshift64* generator; good enough to spread retries, not for secrets.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    /// Seeded from the time and the process id, so concurrent processes diverge.
    pub fn from_entropy() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Self::seeded(nanos ^ (u64::from(std::process::id()) << 32))
    }

    /// A fixed sequence, for tests.
    pub fn seeded(seed: u64) -> Self {
        // xorshift needs a non-zero state.
        Self(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    /// The next pseudo-random value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `[0, n]`.
    pub fn below_inclusive(&mut self, n: u64) -> u64 {
        match n.checked_add(1) {
            Some(m) => self.next_u64() % m,
            None => self.next_u64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_and_caps() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(3), Duration::from_millis(800));
        assert_eq!(b.ceiling(4), Duration::from_secs(1));
        assert_eq!(b.ceiling(200), Duration::from_secs(1));
    }

    #[test]
    fn delays_stay_within_the_ceiling_and_vary() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let mut j = Jitter::seeded(7);
        let ds: Vec<Duration> = (0..50).map(|_| b.delay(2, &mut j)).collect();
        assert!(ds.iter().all(|d| *d <= Duration::from_millis(400)));
        assert!(ds.iter().any(|d| *d != ds[0]));
    }
}
