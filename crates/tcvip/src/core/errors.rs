//! What an API error means for a run: retry after a pause, refresh credentials, or stop. The
//! waits and the give-ups come from tencent-api's retry engine ([`Retry`]); this module adds
//! the run's own rules (a source that lost the VIP, credentials that cannot be fetched, the
//! messages and exit codes).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use tencent_api::retry::{Backoff, Classification, Decision, GiveUp, Jitter, Policy, Retry};
use tencent_api::{Error, RetryClass};
use vip_state::MigrationOutcome;

use crate::context::api_exit;
use crate::exit::Exit;

/// Migrate's answer when the source ENI does not hold the IP (any more).
pub const SOURCE_LOST: &str = "UnauthorizedOperation.AttachmentNotFound";
/// The API's answer when the request's timestamp is more than 5 minutes off its clock.
pub const SIGNATURE_EXPIRED: &str = "AuthFailure.SignatureExpire";
/// How long credentials that fail for a transient reason (the metadata service giving the CVM
/// role's keys cannot be reached, or garbles its reply) are tried again before the run gives up
/// with exit 3. Sources that answered "none" are not retried at all (exit 77).
pub const CREDENTIALS_PATIENCE: Duration = Duration::from_secs(5);
/// How often that answer sends us back to look up the holder before it counts as an error.
pub const MAX_HOLDER_RACES: u32 = 3;

/// How a run ends early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub exit: Exit,
    pub outcome: MigrationOutcome,
    pub message: String,
}

impl Stop {
    pub fn new(exit: Exit, outcome: MigrationOutcome, message: String) -> Stop {
        Stop {
            exit,
            outcome,
            message,
        }
    }
}

/// The verdict on one failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrStep {
    /// Pause this long (cut by the deadline), then go on.
    Pause(Duration),
    /// Drop the cached credentials, then go on at once.
    Refresh,
    /// Stop the run.
    Stop(Stop),
}

/// The error bookkeeping of one run.
#[derive(Debug)]
pub struct Errors {
    retry: Retry,
    /// API calls that failed in a row (the `attempt` of an `api_error` line is this one's number).
    pub failed_calls: u32,
    /// Whether the last call failed because the API, or the metadata service giving the
    /// credentials, could not be reached (a deadline passing then is "unknown", exit 3).
    pub unreachable: bool,
    credentials_failing_since: Option<Instant>,
    holder_races: u32,
}

impl Errors {
    /// For a run that ends by `deadline`: waits of 200 ms doubling up to 5 s, with full jitter
    /// (longer after throttling, as the engine's policy says), credentials refreshed once.
    pub fn new(deadline: Instant, jitter: Jitter) -> Errors {
        let policy = Policy::new(Backoff::new(
            Duration::from_millis(200),
            Duration::from_secs(5),
        ));
        Errors {
            retry: Retry::new(deadline, policy).with_jitter(jitter),
            failed_calls: 0,
            unreachable: false,
            credentials_failing_since: None,
            holder_races: 0,
        }
    }

    /// The wait after a failure classified `how` at `now`: the engine's, or, when no further
    /// attempt could start before the deadline, the time left (the deadline then ends the run).
    fn wait(&mut self, now: Instant, how: Classification) -> Result<(Duration, bool), GiveUp> {
        match self.retry.failed(now, how) {
            Decision::Retry(next) => Ok((next.wait, next.refresh_credentials)),
            Decision::GiveUp(GiveUp::Deadline) => {
                Ok((self.retry.deadline().saturating_duration_since(now), false))
            }
            Decision::GiveUp(why) => Err(why),
        }
    }

    /// The pause before the next write after a move that failed (its task said FAILED).
    pub fn after_failed_move(&mut self, now: Instant) -> Duration {
        self.wait(now, Classification::transient())
            .map_or(Duration::ZERO, |(wait, _)| wait)
    }

    /// A write went through: the backoff starts over.
    pub fn wrote(&mut self) {
        self.retry.succeeded();
    }

    /// A call went through: the next failure is attempt 1 again.
    pub fn succeeded(&mut self) {
        self.failed_calls = 0;
        self.unreachable = false;
        self.credentials_failing_since = None;
    }

    /// Judges `err`, the answer of `action`, at `now`.
    pub fn judge(&mut self, err: &Error, action: &str, vip: Ipv4Addr, now: Instant) -> ErrStep {
        let mut class = err.retry_class();
        // The holder changed between our lookup and our Migrate (three or more nodes racing):
        // the source ENI no longer holds the VIP. Look again rather than give up — a few times,
        // since a persistent refusal is a real error.
        if action == "MigratePrivateIpAddress"
            && err.code() == Some(SOURCE_LOST)
            && self.holder_races < MAX_HOLDER_RACES
        {
            self.holder_races += 1;
            class = RetryClass::AfterReread;
        }
        self.failed_calls += 1;
        self.unreachable = api_exit(err) == Exit::Unknown;
        crate::warn!(
            "api_error",
            vip = vip,
            action = action,
            class = format!("{class:?}"),
            attempt = self.failed_calls,
            error = err
        );
        if let Error::Credentials(c) = err
            && class != RetryClass::Fatal
        {
            // Credentials whose source cannot be reached: retried briefly (a dropped or garbled
            // metadata reply passes), not to the deadline.
            let since = *self.credentials_failing_since.get_or_insert(now);
            let failing = now.saturating_duration_since(since);
            if failing >= CREDENTIALS_PATIENCE {
                return ErrStep::Stop(Stop::new(
                    Exit::Unknown,
                    MigrationOutcome::Failed,
                    format!(
                        "{vip}: no credentials after {} tries in {} ms: a source could not be reached: {c}",
                        self.failed_calls,
                        failing.as_millis()
                    ),
                ));
            }
        }
        let how = Classification {
            class,
            throttled: err.is_throttled(),
        };
        match self.wait(now, how) {
            Ok((_, true)) => ErrStep::Refresh,
            Ok((wait, false)) => ErrStep::Pause(wait),
            Err(GiveUp::AlreadyRefreshed) if err.code() == Some(SIGNATURE_EXPIRED) => {
                ErrStep::Stop(Stop::new(
                    Exit::Auth,
                    MigrationOutcome::Failed,
                    format!(
                        "{vip}: {action} refused: this node's clock is more than 5 minutes off the API's ({err}); check the node's clock (NTP)"
                    ),
                ))
            }
            Err(GiveUp::AlreadyRefreshed) => ErrStep::Stop(Stop::new(
                Exit::Auth,
                MigrationOutcome::Failed,
                format!("{vip}: {action} failed after refreshing credentials: {err}"),
            )),
            Err(_) => ErrStep::Stop(Stop::new(
                api_exit(err),
                MigrationOutcome::Failed,
                format!("{vip}: {action} failed: {err}"),
            )),
        }
    }
}
