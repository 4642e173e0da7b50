//! Exponential backoff with full jitter under one overall deadline.
//!
//! The caller sees every attempt: `op` gets the attempt number (0-based) and `classify` sees
//! each error with its attempt number before the helper decides, so both can log. Only
//! [`RetryClass::Backoff`] is retried; any other class stops at once and is returned, so the
//! caller can re-read state or refresh credentials as the class says.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::RetryClass;

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

/// Why [`retry`] gave up.
#[derive(Debug)]
pub enum RetryError<E> {
    /// `classify` returned something other than [`RetryClass::Backoff`].
    Stopped {
        class: RetryClass,
        attempts: u32,
        error: E,
    },
    /// The deadline left no room for another attempt.
    DeadlineExceeded { attempts: u32, last: E },
}

impl<E> RetryError<E> {
    /// The last error.
    pub fn error(&self) -> &E {
        match self {
            RetryError::Stopped { error, .. } => error,
            RetryError::DeadlineExceeded { last, .. } => last,
        }
    }

    /// The last error, owned.
    pub fn into_error(self) -> E {
        match self {
            RetryError::Stopped { error, .. } => error,
            RetryError::DeadlineExceeded { last, .. } => last,
        }
    }

    /// How many attempts were made.
    pub fn attempts(&self) -> u32 {
        match self {
            RetryError::Stopped { attempts, .. }
            | RetryError::DeadlineExceeded { attempts, .. } => *attempts,
        }
    }
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryError::Stopped {
                class,
                attempts,
                error,
            } => write!(f, "{error} (gave up after {attempts} attempt(s): {class})"),
            RetryError::DeadlineExceeded { attempts, last } => {
                write!(f, "{last} (deadline reached after {attempts} attempt(s))")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for RetryError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.error())
    }
}

/// Runs `op(attempt)` until it succeeds, `classify` says something other than
/// [`RetryClass::Backoff`], or the next attempt could not start before `deadline`.
///
/// Makes at least one attempt. Sleeps with [`Backoff::delay`] between attempts and never
/// sleeps past `deadline`: when the drawn delay would end at or after it, it stops.
pub fn retry<T, E>(
    deadline: Instant,
    backoff: Backoff,
    op: impl FnMut(u32) -> Result<T, E>,
    classify: impl FnMut(&E, u32) -> RetryClass,
) -> Result<T, RetryError<E>> {
    retry_with(
        deadline,
        backoff,
        &mut Jitter::from_entropy(),
        Instant::now,
        std::thread::sleep,
        op,
        classify,
    )
}

/// [`retry`] with the clock, the sleeper and the jitter supplied (for tests and simulations).
pub fn retry_with<T, E>(
    deadline: Instant,
    backoff: Backoff,
    jitter: &mut Jitter,
    mut now: impl FnMut() -> Instant,
    mut sleep: impl FnMut(Duration),
    mut op: impl FnMut(u32) -> Result<T, E>,
    mut classify: impl FnMut(&E, u32) -> RetryClass,
) -> Result<T, RetryError<E>> {
    let mut attempt: u32 = 0;
    loop {
        let error = match op(attempt) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let attempts = attempt.saturating_add(1);
        let class = classify(&error, attempt);
        if class != RetryClass::Backoff {
            return Err(RetryError::Stopped {
                class,
                attempts,
                error,
            });
        }
        let delay = backoff.delay(attempt, jitter);
        let t = now();
        if t.checked_add(delay).is_none_or(|wake| wake >= deadline) {
            return Err(RetryError::DeadlineExceeded {
                attempts,
                last: error,
            });
        }
        sleep(delay);
        attempt = attempts;
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
