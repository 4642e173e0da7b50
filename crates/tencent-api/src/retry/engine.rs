//! The retry engine: after each failed attempt it decides, from the deadline, the failure's
//! classification and the backoff policy, when the next attempt starts — or that there is none.
//!
//! It does no I/O and reads no clock: every decision takes `now`, so each rule is a pure
//! function of its inputs and is tested on a manual clock. [`Retry::run`] is the loop that
//! drives an operation with it, on a [`Timer`].

use std::fmt;
use std::time::{Duration, Instant};

use super::backoff::{Backoff, Jitter};
use super::timer::Timer;
use crate::error::RetryClass;

/// How one failure is to be treated: its [`RetryClass`], and whether it was throttling (the
/// service asked for fewer requests, so waits are longer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    /// What kind of failure it is.
    pub class: RetryClass,
    /// `RequestLimitExceeded*`, `LimitExceeded.ActionLimited`, HTTP 429.
    pub throttled: bool,
}

impl Classification {
    /// A failure of `class`, not throttling.
    pub const fn new(class: RetryClass) -> Self {
        Self {
            class,
            throttled: false,
        }
    }

    /// A transient failure: back off and try again.
    pub const fn transient() -> Self {
        Self::new(RetryClass::Backoff)
    }

    /// A failure no retry can fix.
    pub const fn fatal() -> Self {
        Self::new(RetryClass::Fatal)
    }

    /// Throttling: retried with the policy's longer wait.
    pub const fn throttling() -> Self {
        Self {
            class: RetryClass::Backoff,
            throttled: true,
        }
    }
}

impl From<RetryClass> for Classification {
    fn from(class: RetryClass) -> Self {
        Self::new(class)
    }
}

impl From<&crate::error::Error> for Classification {
    /// [`Error::retry_class`](crate::Error::retry_class), throttled when
    /// [`Error::is_throttled`](crate::Error::is_throttled).
    fn from(e: &crate::error::Error) -> Self {
        Self {
            class: e.retry_class(),
            throttled: e.is_throttled(),
        }
    }
}

impl From<&crate::metadata::MetadataError> for Classification {
    /// Transient metadata failures back off (HTTP 429 as throttling); the rest are fatal.
    fn from(e: &crate::metadata::MetadataError) -> Self {
        if e.is_throttled() {
            Self::throttling()
        } else if e.is_transient() {
            Self::transient()
        } else {
            Self::fatal()
        }
    }
}

/// What the engine retries, and how long it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The wait after the n-th failure in a row: full jitter under `base * 2^(n-1)`, capped.
    pub backoff: Backoff,
    /// After throttling, the wait is at least `throttled.base`, and at most its ceiling.
    pub throttled: Backoff,
    /// At most this many attempts in all; `None`: only the deadline bounds them.
    pub max_attempts: Option<u32>,
    /// Retry [`RetryClass::AfterReread`] (the caller re-reads the state before the next
    /// attempt, as [`Next::reread_first`] reminds it). When false such a failure ends the run.
    pub retry_after_reread: bool,
    /// Retry [`RetryClass::RefreshCredentials`] once (the caller refreshes the credentials, as
    /// [`Next::refresh_credentials`] tells it); a second such failure ends the run.
    pub refresh_once: bool,
    /// An attempt is not started with less than this left before the deadline.
    pub min_attempt: Duration,
}

impl Policy {
    /// `backoff` for ordinary failures, throttling waits from 1 s up to 5 s (but never below
    /// `backoff`), unbounded attempts, re-read and refresh-once retried, no minimum time.
    pub fn new(backoff: Backoff) -> Self {
        Self {
            backoff,
            throttled: Backoff::new(
                backoff.base.max(Duration::from_secs(1)),
                backoff.max.max(Duration::from_secs(5)),
            ),
            max_attempts: None,
            retry_after_reread: true,
            refresh_once: true,
            min_attempt: Duration::ZERO,
        }
    }

    /// Retries only [`RetryClass::Backoff`]: re-read and refresh classes end the run.
    pub fn backoff_only(mut self) -> Self {
        self.retry_after_reread = false;
        self.refresh_once = false;
        self
    }

    /// At most `n` attempts (at least one).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n.max(1));
        self
    }

    /// No attempt starts with less than `d` left.
    pub fn min_attempt(mut self, d: Duration) -> Self {
        self.min_attempt = d;
        self
    }

    /// Throttling waits between `throttled.base` and its ceiling.
    pub fn throttled(mut self, throttled: Backoff) -> Self {
        self.throttled = throttled;
        self
    }
}

impl Default for Policy {
    /// [`Policy::new`] with the default [`Backoff`] (200 ms doubling up to 2 s).
    fn default() -> Self {
        Self::new(Backoff::default())
    }
}

/// The attempt about to be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first attempt, 2 for the first retry, … (what logs call `attempt`).
    pub number: u32,
    /// The overall deadline: a call made in this attempt must end by then.
    pub deadline: Instant,
}

/// The next attempt, once a failure is to be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    /// Its number (the failed one's plus one).
    pub attempt: u32,
    /// How long to wait before it.
    pub wait: Duration,
    /// When it starts (`now + wait`).
    pub at: Instant,
    /// Re-read the state first: the failed request may or may not have acted.
    pub reread_first: bool,
    /// Refresh the credentials first.
    pub refresh_credentials: bool,
}

/// Why the engine will not make another attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// The failure is of a class this policy does not retry.
    NotRetryable(RetryClass),
    /// The next attempt could not start (with [`Policy::min_attempt`] left) before the deadline.
    Deadline,
    /// [`Policy::max_attempts`] were made.
    Attempts(u32),
    /// Credentials were refreshed once already and the failure repeats.
    AlreadyRefreshed,
}

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GiveUp::NotRetryable(class) => write!(f, "not retried ({class})"),
            GiveUp::Deadline => f.write_str("the deadline leaves no time for another attempt"),
            GiveUp::Attempts(n) => write!(f, "{n} attempt(s) made, the most allowed"),
            GiveUp::AlreadyRefreshed => {
                f.write_str("the failure repeats after refreshing the credentials")
            }
        }
    }
}

/// The engine's verdict after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait, then make this attempt.
    Retry(Next),
    /// Stop.
    GiveUp(GiveUp),
}

/// The state of one retried operation under one deadline.
///
/// Use: [`start`](Self::start) before each attempt (it numbers them, from 1), then
/// [`failed`](Self::failed) or [`succeeded`](Self::succeeded) after it. Or let
/// [`run`](Self::run) do all three.
#[derive(Debug, Clone)]
pub struct Retry {
    policy: Policy,
    deadline: Instant,
    jitter: Jitter,
    /// Attempts started.
    attempts: u32,
    /// Failures since the last success, for the backoff's exponent.
    failures_in_a_row: u32,
    refreshed: bool,
}

impl Retry {
    /// An operation that must end by `deadline`, retried as `policy` says, with jitter seeded
    /// from the time and the process id.
    pub fn new(deadline: Instant, policy: Policy) -> Self {
        Self {
            policy,
            deadline,
            jitter: Jitter::from_entropy(),
            attempts: 0,
            failures_in_a_row: 0,
            refreshed: false,
        }
    }

    /// Draws the jitter from `jitter` (a seeded one makes the waits deterministic).
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The overall deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The generator the waits are drawn from.
    pub(super) fn jitter(&self) -> &Jitter {
        &self.jitter
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Attempts started so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time left at `now`.
    pub fn remaining(&self, now: Instant) -> Duration {
        self.deadline.saturating_duration_since(now)
    }

    /// Starts an attempt at `now`: its number, or [`GiveUp::Deadline`] when the deadline has
    /// passed, or [`GiveUp::Attempts`] when the policy's count is used up. The first attempt is
    /// made whatever [`Policy::min_attempt`] says, as long as any time is left.
    pub fn start(&mut self, now: Instant) -> Result<Attempt, GiveUp> {
        if now >= self.deadline {
            return Err(GiveUp::Deadline);
        }
        if let Some(max) = self.policy.max_attempts
            && self.attempts >= max
        {
            return Err(GiveUp::Attempts(self.attempts));
        }
        self.attempts = self.attempts.saturating_add(1);
        Ok(Attempt {
            number: self.attempts,
            deadline: self.deadline,
        })
    }

    /// The attempt went through: the next failure waits from the backoff's base again.
    pub fn succeeded(&mut self) {
        self.failures_in_a_row = 0;
    }

    /// The attempt started last failed at `now` as `how` says: when the next starts, or why
    /// none will.
    pub fn failed(&mut self, now: Instant, how: Classification) -> Decision {
        let mut refresh_credentials = false;
        let mut reread_first = false;
        match how.class {
            RetryClass::Fatal => return Decision::GiveUp(GiveUp::NotRetryable(how.class)),
            RetryClass::AfterReread if !self.policy.retry_after_reread => {
                return Decision::GiveUp(GiveUp::NotRetryable(how.class));
            }
            RetryClass::RefreshCredentials if !self.policy.refresh_once => {
                return Decision::GiveUp(GiveUp::NotRetryable(how.class));
            }
            RetryClass::RefreshCredentials if self.refreshed => {
                return Decision::GiveUp(GiveUp::AlreadyRefreshed);
            }
            RetryClass::RefreshCredentials => {
                self.refreshed = true;
                refresh_credentials = true;
            }
            RetryClass::AfterReread => reread_first = true,
            RetryClass::Backoff => {}
        }
        if let Some(max) = self.policy.max_attempts
            && self.attempts >= max
        {
            return Decision::GiveUp(GiveUp::Attempts(self.attempts));
        }
        let exponent = self.failures_in_a_row;
        self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
        // A refused token is fixed by refreshing it, not by waiting.
        let wait = if refresh_credentials {
            Duration::ZERO
        } else if how.throttled {
            let t = self.policy.throttled;
            t.delay(exponent, &mut self.jitter).max(t.base)
        } else {
            self.policy.backoff.delay(exponent, &mut self.jitter)
        };
        let Some(at) = now.checked_add(wait) else {
            return Decision::GiveUp(GiveUp::Deadline);
        };
        let needed = at.checked_add(self.policy.min_attempt);
        if at >= self.deadline || needed.is_none_or(|n| n > self.deadline) {
            return Decision::GiveUp(GiveUp::Deadline);
        }
        Decision::Retry(Next {
            attempt: self.attempts.saturating_add(1),
            wait,
            at,
            reread_first,
            refresh_credentials,
        })
    }

    /// Runs `op` until it succeeds or the engine gives up, sleeping on `timer` between
    /// attempts. `classify` says how each error is to be treated; `on_failure` sees each error
    /// with the attempt that failed and the decision taken (for the log) before any wait.
    ///
    /// Refreshing credentials and re-reading state are the caller's: `op` gets the
    /// [`Attempt`], and `on_failure` the [`Next`] that asks for them.
    pub fn run<T, E>(
        &mut self,
        timer: &dyn Timer,
        mut op: impl FnMut(&Attempt) -> Result<T, E>,
        mut classify: impl FnMut(&E) -> Classification,
        mut on_failure: impl FnMut(&E, &Attempt, &Decision),
    ) -> Result<T, Exhausted<E>> {
        let mut last: Option<E> = None;
        loop {
            let attempt = match self.start(timer.now()) {
                Ok(attempt) => attempt,
                Err(reason) => {
                    return Err(Exhausted {
                        reason,
                        attempts: self.attempts,
                        error: last,
                    });
                }
            };
            let error = match op(&attempt) {
                Ok(v) => {
                    self.succeeded();
                    return Ok(v);
                }
                Err(e) => e,
            };
            let decision = self.failed(timer.now(), classify(&error));
            on_failure(&error, &attempt, &decision);
            match decision {
                Decision::GiveUp(reason) => {
                    return Err(Exhausted {
                        reason,
                        attempts: self.attempts,
                        error: Some(error),
                    });
                }
                Decision::Retry(next) => {
                    if !next.wait.is_zero() {
                        timer.sleep(next.wait);
                    }
                    last = Some(error);
                }
            }
        }
    }
}

/// Why [`Retry::run`] ended without a result.
#[derive(Debug)]
pub struct Exhausted<E> {
    /// Why no further attempt was made.
    pub reason: GiveUp,
    /// How many attempts were made.
    pub attempts: u32,
    /// The last attempt's error; `None` when the deadline had passed before the first.
    pub error: Option<E>,
}

impl<E: fmt::Display> fmt::Display for Exhausted<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            Some(e) => write!(
                f,
                "{e} (gave up after {} attempt(s): {})",
                self.attempts, self.reason
            ),
            None => write!(f, "no attempt made: {}", self.reason),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Exhausted<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.as_ref().map(|e| e as _)
    }
}
