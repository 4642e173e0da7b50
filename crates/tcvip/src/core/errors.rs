//! What an API error means for a run: retry after a pause, refresh credentials, or stop.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use tencent_api::retry::{Backoff, Jitter};
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
    backoff: Backoff,
    jitter: Jitter,
    /// Consecutive retryable errors, for the backoff.
    pub errors: u32,
    /// API calls that failed in a row (the `attempt` of an `api_error` line is this one's number).
    pub failed_calls: u32,
    /// Whether the last call failed because the API, or the metadata service giving the
    /// credentials, could not be reached (a deadline passing then is "unknown", exit 3).
    pub unreachable: bool,
    credentials_failing_since: Option<Instant>,
    refreshed: bool,
    holder_races: u32,
}

impl Errors {
    pub fn new(jitter: Jitter) -> Errors {
        Errors {
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(5)),
            jitter,
            errors: 0,
            failed_calls: 0,
            unreachable: false,
            credentials_failing_since: None,
            refreshed: false,
            holder_races: 0,
        }
    }

    /// The pause before the next try after another retryable failure: exponential backoff with
    /// full jitter (tencent-api's [`Backoff`]). The one place a run's retry delays come from.
    pub fn next_delay(&mut self) -> Duration {
        self.errors += 1;
        self.backoff.delay(self.errors, &mut self.jitter)
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
        match class {
            RetryClass::Fatal => ErrStep::Stop(Stop::new(
                api_exit(err),
                MigrationOutcome::Failed,
                format!("{vip}: {action} failed: {err}"),
            )),
            RetryClass::RefreshCredentials
                if self.refreshed && err.code() == Some(SIGNATURE_EXPIRED) =>
            {
                ErrStep::Stop(Stop::new(
                    Exit::Auth,
                    MigrationOutcome::Failed,
                    format!(
                        "{vip}: {action} refused: this node's clock is more than 5 minutes off the API's ({err}); check the node's clock (NTP)"
                    ),
                ))
            }
            RetryClass::RefreshCredentials if self.refreshed => ErrStep::Stop(Stop::new(
                Exit::Auth,
                MigrationOutcome::Failed,
                format!("{vip}: {action} failed after refreshing credentials: {err}"),
            )),
            RetryClass::RefreshCredentials => {
                self.refreshed = true;
                ErrStep::Refresh
            }
            RetryClass::Backoff | RetryClass::AfterReread => ErrStep::Pause(self.next_delay()),
        }
    }
}
