//! The one retry engine: exponential backoff with full jitter under one overall deadline.
//!
//! [`Retry`] decides, after each failed attempt, from the deadline, the failure's
//! [`Classification`] and the [`Policy`], when the next attempt starts or that there is none
//! ([`Decision`]). It numbers attempts from 1 ([`Attempt::number`], the `attempt` of log
//! lines). It reads no clock of its own: decisions take `now`, and [`Retry::run`] waits on a
//! [`Timer`], so every rule is tested on a [`ManualTimer`].
//!
//! [`retry`] and [`retry_with`] are the older closure-only form of the same engine, retrying
//! only [`RetryClass::Backoff`].

mod backoff;
mod engine;
mod timer;

use std::fmt;
use std::time::{Duration, Instant};

pub use backoff::{Backoff, Jitter};
pub use engine::{Attempt, Classification, Decision, Exhausted, GiveUp, Next, Policy, Retry};
pub use timer::{ManualTimer, SystemTimer, Timer};

use crate::error::RetryClass;

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
/// `op` and `classify` get the attempt's index (0-based). Makes at least one attempt. Sleeps
/// with [`Backoff::delay`] between attempts and never sleeps past `deadline`: when the drawn
/// delay would end at or after it, it stops.
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
    let policy = Policy::new(backoff).backoff_only().throttled(backoff);
    let mut engine = Retry::new(deadline, policy).with_jitter(jitter.clone());
    let mut attempt: u32 = 0;
    let result = loop {
        let error = match op(attempt) {
            Ok(v) => break Ok(v),
            Err(e) => e,
        };
        let attempts = attempt.saturating_add(1);
        let class = classify(&error, attempt);
        match engine.failed(now(), Classification::new(class)) {
            Decision::GiveUp(GiveUp::Deadline) => {
                break Err(RetryError::DeadlineExceeded {
                    attempts,
                    last: error,
                });
            }
            Decision::GiveUp(_) => {
                break Err(RetryError::Stopped {
                    class,
                    attempts,
                    error,
                });
            }
            Decision::Retry(next) => {
                sleep(next.wait);
                attempt = attempts;
            }
        }
    };
    *jitter = engine.jitter().clone();
    result
}
