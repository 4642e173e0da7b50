//! check-self: keepalived's track_script.
//!
//! It answers from local facts and a cached cloud view, so a healthy node makes at most one API
//! call per `check.cloud_ttl_s`, and it always returns before `check.deadline_ms` (anything that
//! may touch the network runs on a worker that is given up at the deadline).
//!
//! - MASTER: puts the VIP back on the NIC if it vanished; when the cloud places the VIP on another
//!   ENI, starts a reconcile migration detached, at most once per cooldown (which doubles while
//!   the same conflict repeats, so two masters cannot move the IP back and forth every interval).
//! - BACKUP, FAULT, STOP: removes a VIP left on the NIC (seen twice, half a second apart, so that
//!   the moment between keepalived adding it and the MASTER notification being recorded is not
//!   mistaken for a stray).
//! - Nothing recorded yet: nothing to do.
//!
//! It never restarts keepalived, and an unknown cloud state never causes a local change. It exits
//! non-zero only when a configured service check fails, while the node is drained (`tcvip
//! drain`), when it cannot write its state directory or its state record is behind keepalived,
//! when a VIP is an ENI's primary IP, or when
//! `check.on_cloud_error = "fail"` and the cloud could not be asked. Each
//! run's verdict is saved before it exits (a tenth of the deadline is kept for that).

use std::cell::RefCell;
use std::ffi::OsString;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use vip_state::{
    CheckRecord, CheckResult, FlightAttempt, KeepalivedState, StateDir, StateError, Verdict, now_ms,
};

use crate::cli::Common;
use crate::config::{OnCloudError, ServiceCheck, VipConfig};
use crate::context::Context;
use crate::discovery::Identity;
use crate::exit::Exit;

mod master;
mod ports;
mod standby;

/// Time kept in hand at the end of the deadline for recording and exiting: a tenth of
/// `check.deadline_ms`, within these bounds.
const MIN_MARGIN: Duration = Duration::from_millis(50);
/// What exiting needs once the last write is done.
const EXIT_SLACK: Duration = Duration::from_millis(15);
const MAX_MARGIN: Duration = Duration::from_millis(250);

fn margin_for(deadline: Duration) -> Duration {
    (deadline / 10).clamp(MIN_MARGIN, MAX_MARGIN)
}

/// `check-self`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "check-self",
    version,
    about = "keepalived track_script: keep this node and the cloud consistent, cheaply",
    long_about = "keepalived track_script. As MASTER it restores a vanished VIP on the NIC and, when \
the cloud places the VIP on another ENI, starts a reconcile migration (with a growing cooldown). As \
BACKUP or FAULT it removes a stray VIP from the NIC. It answers from a cached cloud view \
(check.cloud_ttl_s), returns before check.deadline_ms, never restarts keepalived, and exits non-zero \
only when a service check fails, while the node is drained (tcvip drain), when it cannot write its \
state directory or its state record is behind keepalived, when a VIP is an ENI's primary IP, or when \
check.on_cloud_error = \"fail\" and the cloud is unreachable.",
    after_help = crate::exit::Exit::help_table()
)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// keepalived vrrp_instance to check [default: the only one configured]
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
}

/// Runs `check-self`.
pub fn run(args: &Args) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let ctx = Context::load(&args.common, "check-self")?;
    // The identity cached by an earlier run (no network): this node's primary IP and MAC.
    let cached = cached_identity(&ctx);
    if let Some(identity) = &cached {
        crate::vip_guard::refuse_own_primary(&ctx.config, identity)?;
    }
    let deadline = started + ctx.config.check.deadline();
    let margin = margin_for(ctx.config.check.deadline());
    // Without --instance, every keepalived instance the configuration names is checked: one
    // track script serves them all.
    let names = ctx.config.instance_names();
    let instances: Vec<String> = match args.instance.as_deref() {
        None if names.len() > 1 => names.iter().map(|n| (*n).to_owned()).collect(),
        given => vec![ctx.instance_key(given)?],
    };
    // keepalived 2.1.3-2.3.2 starts the track script again while the last run still runs: one
    // run at a time per instance (or set of instances); a second one returns the last verdict.
    let key = match instances.as_slice() {
        [one] => one.as_str(),
        _ => "*",
    };
    let flight = match ctx.state.try_flight("check", key) {
        Ok(FlightAttempt::Alone(flight)) => Some(flight),
        Ok(FlightAttempt::Busy(last)) => {
            let exit = last
                .as_ref()
                .and_then(|v| Exit::from_code(i32::from(v.code)))
                .unwrap_or(Exit::Success);
            crate::info!(
                "check_in_flight",
                instance = key,
                exit = exit.code(),
                reason = last.map_or_else(|| "no verdict yet".to_owned(), |v| v.reason)
            );
            return Ok(exit);
        }
        Err(e) => {
            // Without the lock the check still runs (its writes say whether the directory is
            // usable).
            crate::warn!("check_flight_unavailable", instance = key, error = e);
            None
        }
    };
    let mut check = Check {
        ctx: &ctx,
        common: &args.common,
        instance: "",
        started,
        deadline,
        margin,
        failures: Vec::new(),
        notes: Vec::new(),
        pending: RefCell::new(Vec::new()),
        write_failed: RefCell::new(None),
        cached,
        discovered_interface: None,
    };
    let mut states = Vec::new();
    // The service checks run beside the rest, so that a slow cloud lookup cannot use up the
    // time they need (a healthy service must not fail because the API is slow).
    let services = &ctx.config.check.service_checks;
    let service_failures = thread::scope(|scope| {
        let running = (!services.is_empty())
            .then(|| scope.spawn(move || service_checks(services, deadline, margin)));
        for instance in &instances {
            let read = read_state(&ctx, instance);
            let vips: Vec<VipConfig> = crate::vips::of_instance(&ctx.config, instance)
                .into_iter()
                .cloned()
                .collect();
            check.instance = instance;
            if let Some(reason) = untrusted(&ctx, instance, &read) {
                // Acting on a record that is behind keepalived could remove the VIP from the
                // real MASTER: fail instead, so that keepalived goes to FAULT.
                crate::error!("state_untrusted", instance = instance, reason = reason);
                check.failures.push(format!("{instance}: {reason}"));
            } else {
                match read.state {
                    KeepalivedState::Unknown => check
                        .notes
                        .push(format!("{instance}: no keepalived state recorded yet")),
                    KeepalivedState::Master => check.as_master(&vips),
                    KeepalivedState::Backup | KeepalivedState::Fault | KeepalivedState::Stop => {
                        check.as_standby(&vips, read.state, read.seq)
                    }
                }
            }
            states.push(if instances.len() > 1 {
                format!("{instance} {}", read.state)
            } else {
                read.state.to_string()
            });
        }
        running.map_or_else(Vec::new, |handle| {
            handle
                .join()
                .unwrap_or_else(|_| vec!["the service checks could not be run".to_owned()])
        })
    });
    check.failures.extend(service_failures);
    // `tcvip drain`: failing keeps keepalived out of MASTER until the drain file goes.
    if let Some(drain) = crate::operator::drain::current(&ctx.config) {
        check.failures.push(drain.check_failure());
    }
    let (exit, reason) = check.finish(&states.join(", "));
    if let Some(flight) = flight {
        let verdict = Verdict {
            code: exit.code(),
            reason,
            at_ms: now_ms(),
        };
        if let Err(e) = flight.finish(&verdict) {
            crate::warn!("state_write_failed", record = "check verdict", error = e);
        }
    }
    Ok(exit)
}

/// Why the recorded state of `instance` cannot be trusted, if it cannot: a notification newer
/// than the record could not be recorded, or a record exists but cannot be read.
fn untrusted(ctx: &Context, instance: &str, read: &vip_state::ReadOutcome) -> Option<String> {
    if let Some(note) = ctx.state.unrecorded_since(instance, read) {
        return Some(format!(
            "keepalived's {} notification could not be recorded ({}): the recorded state is behind",
            note.state, note.error
        ));
    }
    match &read.warning {
        Some(vip_state::ReadWarning::Missing { .. }) | None => None,
        Some(_) if read.seq == 0 => None,
        Some(warning) => Some(format!("the state record cannot be used: {warning}")),
    }
}

/// The recorded state of `instance`, as far as it can be trusted: a record from before the
/// keepalived that runs us started speaks of its previous run, and until the new run's first
/// notification is recorded nothing is known.
fn read_state(ctx: &Context, instance: &str) -> vip_state::ReadOutcome {
    let mut read = ctx.state.read_state(instance);
    if let Some(warning) = &read.warning
        && read.seq > 0
    {
        crate::warn!("state_unreadable", instance = instance, warning = warning);
    }
    if let (Some(record), Some(keepalived)) = (&read.record, crate::keepalived::parent_keepalived())
        && crate::keepalived::record_predates(record, &keepalived)
    {
        crate::info!(
            "state_predates_keepalived",
            instance = instance,
            state = record.state,
            seq = record.seq
        );
        read.state = KeepalivedState::Unknown;
    }
    read
}

/// The answer of a state write running on its own thread.
type Written = mpsc::Receiver<Result<(), StateError>>;

struct Check<'a> {
    ctx: &'a Context,
    common: &'a Common,
    instance: &'a str,
    started: Instant,
    deadline: Instant,
    margin: Duration,
    failures: Vec<String>,
    notes: Vec<String>,
    /// State writes not finished when last waited for: waited for again before exiting.
    pending: RefCell<Vec<(&'static str, Written)>>,
    /// The first state write that failed: check-self cannot keep its own records.
    write_failed: RefCell<Option<String>>,
    /// The identity an earlier run cached, if any.
    cached: Option<Identity>,
    /// The interface discovery found for VIPs without `vip.interface`, once asked.
    discovered_interface: Option<Option<String>>,
}

impl Check<'_> {
    fn remaining(&self) -> Duration {
        self.deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(self.margin)
    }

    /// Time left until the deadline itself, less what exiting needs: for the last writes.
    fn until_exit(&self) -> Duration {
        self.deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(EXIT_SLACK)
    }

    /// Runs a state-directory write on a thread of its own and waits for it until the deadline
    /// less the margin at most: the writes are atomic and durable (fsync), and a busy disk must
    /// not hold check-self past `check.deadline_ms`. A write not finished by then is waited for
    /// again, within the margin, before check-self exits ([`Check::finish`]).
    fn save<F>(&self, what: &'static str, write: F)
    where
        F: FnOnce(&StateDir) -> Result<(), StateError> + Send + 'static,
    {
        let rx = self.start_write(what, write);
        if let Some(rx) = rx {
            self.await_write(what, rx, self.remaining());
        }
    }

    fn start_write<F>(&self, what: &'static str, write: F) -> Option<Written>
    where
        F: FnOnce(&StateDir) -> Result<(), StateError> + Send + 'static,
    {
        let state = self.ctx.state.clone();
        let (tx, rx) = mpsc::channel();
        let spawned = thread::Builder::new().name("state".into()).spawn(move || {
            let _ = tx.send(write(&state));
        });
        match spawned {
            Ok(_) => Some(rx),
            Err(e) => {
                self.write_failed(what, &e.to_string());
                None
            }
        }
    }

    /// Waits up to `wait` for a write; one still running is kept for the last wait.
    fn await_write(&self, what: &'static str, rx: Written, wait: Duration) {
        match rx.recv_timeout(wait) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.write_failed(what, &e.to_string()),
            Err(mpsc::RecvTimeoutError::Timeout) => self.pending.borrow_mut().push((what, rx)),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.write_failed(what, "the writer stopped");
            }
        }
    }

    fn write_failed(&self, what: &'static str, error: &str) {
        crate::warn!("state_write_failed", record = what, error = error);
        let mut failed = self.write_failed.borrow_mut();
        if failed.is_none() {
            *failed = Some(format!("cannot write its state ({what}: {error})"));
        }
    }

    /// Waits for every write still running, until the deadline less [`EXIT_SLACK`].
    fn await_pending(&self) {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        for (what, rx) in pending {
            match rx.recv_timeout(self.until_exit()) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => self.write_failed(what, &e.to_string()),
                Err(_) => crate::warn!(
                    "state_write_slow",
                    record = what,
                    reason = "not finished before check.deadline_ms; the old file stays in place"
                ),
            }
        }
    }

    fn cloud_unknown(&mut self, reason: &str) {
        crate::warn!(
            "cloud_unknown",
            instance = self.instance,
            reason = reason,
            elapsed_ms = self.started.elapsed().as_millis()
        );
        match self.ctx.config.check.on_cloud_error {
            OnCloudError::Pass => self.notes.push(format!("cloud unknown ({reason})")),
            OnCloudError::Fail => self.failures.push(format!("cloud unknown ({reason})")),
        }
    }

    /// Records the run's verdict and returns it: the exit code and why.
    fn finish(mut self, state: &str) -> (Exit, String) {
        // The writes started on the way (the cloud view learned near the deadline) finish first,
        // within the margin kept for them: a write check-self cannot make is a failure.
        self.await_pending();
        if let Some(failed) = self.write_failed.borrow_mut().take() {
            self.failures.push(failed);
        }
        let (result, reason, exit) = if self.failures.is_empty() {
            let reason = if self.notes.is_empty() {
                format!("{state}: healthy")
            } else {
                format!("{state}: {}", self.notes.join("; "))
            };
            (CheckResult::Pass, reason, Exit::Success)
        } else {
            (
                CheckResult::Fail,
                format!("{state}: {}", self.failures.join("; ")),
                Exit::Failure,
            )
        };
        let previous = self.ctx.state.read_check().value;
        let unchanged = previous
            .as_ref()
            .filter(|p| p.result == result && p.reason == reason);
        if unchanged.is_none() {
            if result == CheckResult::Fail {
                crate::warn!("check_failed", instance = self.instance, reason = reason);
            } else {
                crate::info!("check", instance = self.instance, reason = reason);
            }
        }
        // Every run is recorded ("last check" is the last run), with when its verdict began.
        let at_ms = now_ms();
        let mut why = reason.clone();
        let record = CheckRecord {
            result,
            reason,
            at_ms,
            since_ms: unchanged.map_or(at_ms, CheckRecord::since),
        };
        let mut exit = exit;
        if let Some(rx) = self.start_write("check", move |state| state.write_check(&record)) {
            self.await_write("check", rx, self.until_exit());
            self.await_pending();
        }
        if let Some(failed) = self.write_failed.borrow_mut().take() {
            crate::warn!("check_failed", instance = self.instance, reason = failed);
            exit = Exit::Failure;
            why = format!("{state}: {failed}");
        }
        crate::debug!(
            "check_done",
            instance = self.instance,
            exit = exit.code(),
            elapsed_ms = self.started.elapsed().as_millis()
        );
        (exit, why)
    }
}

/// The identity cached in the state directory by an earlier discovery, unless it is another
/// instance's (a cloned disk).
fn cached_identity(ctx: &Context) -> Option<Identity> {
    let cached = ctx
        .state
        .read_cache::<Identity>(crate::discovery::IDENTITY_CACHE)
        .value?
        .value;
    let other = ctx
        .config
        .node
        .instance_id
        .as_ref()
        .is_some_and(|id| *id != cached.instance_id);
    (!other).then_some(cached)
}

/// Runs each configured service check in turn, each under its timeout and all before
/// `deadline`; returns what failed.
fn service_checks(checks: &[ServiceCheck], deadline: Instant, margin: Duration) -> Vec<String> {
    let mut failures = Vec::new();
    for check in checks {
        let Some((program, args)) = check.argv.split_first() else {
            continue;
        };
        let shown = check.argv.join(" ");
        let remaining = deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(margin);
        let timeout = check.timeout().min(remaining);
        if timeout.is_zero() {
            failures.push(format!("no time left for service check `{shown}`"));
            continue;
        }
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        match crate::nic::command::run(Path::new(program), &args, timeout) {
            Ok(out) if out.status.success() => {}
            Ok(out) => failures.push(format!("service check `{shown}` failed ({})", out.status)),
            Err(e) => failures.push(format!("service check `{shown}`: {e}")),
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_is_a_tenth_of_the_deadline_within_bounds() {
        assert_eq!(margin_for(Duration::from_millis(100)), MIN_MARGIN);
        assert_eq!(
            margin_for(Duration::from_millis(800)),
            Duration::from_millis(80)
        );
        assert_eq!(
            margin_for(Duration::from_millis(2000)),
            Duration::from_millis(200)
        );
        assert_eq!(margin_for(Duration::from_secs(60)), MAX_MARGIN);
    }
}
