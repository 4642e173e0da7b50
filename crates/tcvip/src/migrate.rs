//! vip-migrate: make the cloud put each VIP of a keepalived instance on this node's ENI.
//!
//! For each VIP, under its single-flight lock and one overall deadline: find the holder (exact
//! match); already here → done with no write call; nobody → AssignPrivateIpAddresses only when
//! `failover.assign_if_unassigned` is set; otherwise MigratePrivateIpAddress from the holder,
//! DescribeVpcTaskResult until SUCCESS or FAILED, and a Describe that confirms the landing.
//! Before every write call, and while a move is in flight, the latest recorded keepalived state
//! is re-read: when this node is no longer MASTER it stops (exit 4); before the first one, a VIP
//! missing from its interface (keepalived has left MASTER, the notification is on its way) makes
//! it wait briefly for a newer state. Errors are retried only as
//! their class allows: throttling and transport errors back off, InternalError re-reads the
//! holder before anything is re-issued, an expired token is refreshed once, the rest stop at once.
//!
//! A change of the VIP already in flight (MIGRATING, PENDING, DELETING) is waited for, never
//! raced. A request still running at the deadline is cut there. A busy lock is waited for
//! briefly before joining its holder, because looking at a lock takes it for an instant. A dry
//! run takes no lock and calls nothing that writes. It refuses to move a VIP on the say-so of
//! an instance the VIP does not follow.

use std::net::Ipv4Addr;
use std::thread;
use std::time::{Duration, Instant};

use tencent_api::retry::{Backoff, Jitter};
use tencent_api::vpc::{
    AssignPrivateIpAddressesRequest, DescribeVpcTaskResultRequest, MigratePrivateIpAddressRequest,
    PrivateIpAddressInput, TaskStatus,
};
use tencent_api::{Client, Error, RetryClass};
use vip_state::{
    KeepalivedState, LockAttempt, MigrationOutcome, MigrationRecord, StateDir, now_ms,
};

use crate::cloud::{self, Holder};
use crate::context::api_exit;
use crate::exit::Exit;
use crate::signal;

/// Migrate's answer when the source ENI does not hold the IP (any more).
const SOURCE_LOST: &str = "UnauthorizedOperation.AttachmentNotFound";
/// The API's answer when the request's timestamp is more than 5 minutes off its clock.
const SIGNATURE_EXPIRED: &str = "AuthFailure.SignatureExpire";
/// How long credentials that fail for a transient reason (the metadata service giving the CVM
/// role's keys cannot be reached, or garbles its reply) are tried again before the run gives up
/// with exit 3. Sources that answered "none" are not retried at all (exit 77).
pub const CREDENTIALS_PATIENCE: Duration = Duration::from_secs(5);
/// How often that answer sends us back to look up the holder before it counts as an error.
const MAX_HOLDER_RACES: u32 = 3;
/// How long the first write waits for a newer keepalived state when the VIP is missing from
/// its interface although the record says MASTER (see [`Run::await_newer_state_if_vip_gone`]).
const VIP_GONE_GRACE: Duration = Duration::from_millis(300);

/// How one VIP's migration is run.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    pub vip: Ipv4Addr,
    /// The keepalived instance (record name) whose state gates every write.
    pub instance: &'a str,
    pub vpc_id: &'a str,
    /// This node's ENI, where the VIP must end up.
    pub eni_id: &'a str,
    pub deadline: Instant,
    pub assign_if_unassigned: bool,
    /// Skip the MASTER check (manual use).
    pub force: bool,
    /// Say what would be called; call nothing that writes.
    pub dry_run: bool,
    /// "migrate" or "reconcile", for the lock and the log.
    pub purpose: &'a str,
    /// The interface keepalived puts the VIP on as MASTER, when known.
    pub interface: Option<&'a str>,
    /// `--notified-master SEQ`: MASTER was notified but could not be recorded over record SEQ.
    pub notified_master: Option<u64>,
}

/// How one VIP's migration ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub vip: Ipv4Addr,
    pub exit: Exit,
    pub outcome: MigrationOutcome,
    pub from_eni: Option<String>,
    pub request_ids: Vec<String>,
    pub attempts: u32,
    pub elapsed: Duration,
    /// One line for stdout.
    pub message: String,
}

/// Five polls a second while a move usually lands (a few seconds), so that success is reported
/// within 200 ms of the landing; two a second after that. Either stays well under
/// DescribeVpcTaskResult's limit of 20 requests per second, with several nodes polling.
fn poll_interval(since_write: Duration) -> Duration {
    if since_write < Duration::from_secs(10) {
        Duration::from_millis(200)
    } else {
        Duration::from_millis(500)
    }
}

/// Runs one VIP's migration under its single-flight lock.
///
/// A run stopped because the instance was no longer MASTER looks at the record once more after
/// letting go of the lock: a MASTER notification that arrived while it was stopping saw the lock
/// held and started nothing, so this run takes the migration up again.
pub fn migrate_one(client: &Client, state: &StateDir, plan: &Plan<'_>) -> Report {
    loop {
        let report = migrate_locked(client, state, plan);
        let again = report.exit == Exit::NotMaster
            && Instant::now() < plan.deadline
            && state.read_state(plan.instance).state == KeepalivedState::Master;
        if !again {
            return report;
        }
        crate::info!(
            "migrate_resumed",
            vip = plan.vip,
            instance = plan.instance,
            reason = "MASTER again"
        );
    }
}

fn migrate_locked(client: &Client, state: &StateDir, plan: &Plan<'_>) -> Report {
    let started = Instant::now();
    // A dry run writes nothing, so it takes no lock: holding one would make a real migration
    // starting meanwhile (notify-action, check-self) believe one was already in flight.
    let attempt = if plan.dry_run {
        Ok(None)
    } else {
        take_lock(state, plan).map(Some)
    };
    let lock = match attempt {
        Ok(None) => None,
        Ok(Some(LockAttempt::Acquired(lock))) => Some(lock),
        Ok(Some(LockAttempt::Busy(holder))) => {
            let who = vip_state::describe_holder(holder.as_ref());
            crate::info!("migrate_in_flight", vip = plan.vip, holder = who);
            return Report {
                vip: plan.vip,
                exit: Exit::Success,
                outcome: MigrationOutcome::InFlight,
                from_eni: None,
                request_ids: Vec::new(),
                attempts: 0,
                elapsed: started.elapsed(),
                message: format!("{}: a migration is already in flight ({who})", plan.vip),
            };
        }
        Err(e) => {
            return Report {
                vip: plan.vip,
                exit: Exit::Failure,
                outcome: MigrationOutcome::Failed,
                from_eni: None,
                request_ids: Vec::new(),
                attempts: 0,
                elapsed: started.elapsed(),
                message: format!("{}: cannot take the migration lock: {e}", plan.vip),
            };
        }
    };
    let started_at_ms = now_ms();
    let mut run = Run {
        client,
        state,
        plan,
        started,
        request_ids: Vec::new(),
        attempts: 0,
        from_eni: None,
        jitter: Jitter::from_entropy(),
        backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(5)),
        errors: 0,
        failed_calls: 0,
        unreachable: false,
        credentials_failing_since: None,
        refreshed: false,
        holder_races: 0,
        waited_from: None,
    };
    if !plan.dry_run {
        run.record(started_at_ms, None, MigrationOutcome::InFlight, "in flight");
    }
    let (exit, outcome, message) = match run.drive() {
        Ok(done) => (Exit::Success, done.outcome, done.message),
        Err(stop) => (stop.exit, stop.outcome, stop.message),
    };
    let elapsed = started.elapsed();
    if !plan.dry_run {
        run.record(started_at_ms, Some(now_ms()), outcome, &message);
    }
    let request_id = run.request_ids.last().cloned().unwrap_or_default();
    let from = run.from_eni.clone().unwrap_or_default();
    let elapsed_ms = elapsed.as_millis();
    if plan.dry_run && exit == Exit::Success {
        crate::info!(
            "migrate_plan",
            vip = plan.vip,
            eni = plan.eni_id,
            plan = message
        );
    } else if exit == Exit::Success {
        crate::info!(
            "migrate_done",
            vip = plan.vip,
            eni = plan.eni_id,
            from = from,
            outcome = outcome,
            request_id = request_id,
            attempt = run.attempts,
            elapsed_ms = elapsed_ms
        );
    } else {
        crate::error!(
            "migrate_failed",
            vip = plan.vip,
            eni = plan.eni_id,
            from = from,
            outcome = outcome,
            request_id = request_id,
            attempt = run.attempts,
            elapsed_ms = elapsed_ms,
            exit = exit.code(),
            reason = message
        );
    }
    drop(lock);
    Report {
        vip: plan.vip,
        exit,
        outcome,
        from_eni: run.from_eni,
        request_ids: run.request_ids,
        attempts: run.attempts,
        elapsed,
        message,
    }
}

/// How long a busy VIP lock is waited for before the run joins the holder. Whoever only looks
/// at a lock (`vip_lock_status`: notify-action, check-self, vip-query) takes it and lets go at
/// once; a migration holds it for the whole move. Without this wait, a run starting just as
/// someone looks would take the look for a migration in flight and move nothing.
const JOIN_AFTER: Duration = Duration::from_millis(250);

/// Takes the VIP's single-flight lock, waiting up to [`JOIN_AFTER`] when it is busy. A holder
/// stuck past its deadline ([`vip_state::Holder::is_stuck`]: stopped or hung) is not joined:
/// its lock is taken over, and the log says so.
fn take_lock(state: &StateDir, plan: &Plan<'_>) -> Result<LockAttempt, vip_state::StateError> {
    let deadline_ms = Some(
        now_ms().saturating_add(
            u64::try_from(
                plan.deadline
                    .saturating_duration_since(Instant::now())
                    .as_millis(),
            )
            .unwrap_or(u64::MAX),
        ),
    );
    let busy = match state.try_lock_vip_until(plan.vip, plan.purpose, deadline_ms)? {
        LockAttempt::Busy(holder) => holder,
        acquired => return Ok(acquired),
    };
    let holder = if busy.as_ref().is_some_and(|h| h.is_stuck(now_ms())) {
        busy
    } else {
        match state.lock_vip_timeout_until(plan.vip, plan.purpose, JOIN_AFTER, deadline_ms) {
            Ok(lock) => return Ok(LockAttempt::Acquired(lock)),
            Err(vip_state::StateError::LockTimeout { holder, .. }) => holder,
            Err(e) => return Err(e),
        }
    };
    match holder {
        Some(stuck) if stuck.is_stuck(now_ms()) => {
            crate::warn!(
                "migration_stuck",
                vip = plan.vip,
                holder = stuck,
                reason = "the run holding the VIP lock is past its deadline (stopped or hung): taking the lock over instead of joining it"
            );
            state.take_over_stuck_vip_lock(plan.vip, &stuck, plan.purpose, deadline_ms)
        }
        holder => Ok(LockAttempt::Busy(holder)),
    }
}

struct Done {
    outcome: MigrationOutcome,
    message: String,
}

#[derive(Debug)]
struct Stop {
    exit: Exit,
    outcome: MigrationOutcome,
    message: String,
}

impl Stop {
    fn new(exit: Exit, outcome: MigrationOutcome, message: String) -> Stop {
        Stop {
            exit,
            outcome,
            message,
        }
    }
}

struct Run<'a> {
    client: &'a Client,
    state: &'a StateDir,
    plan: &'a Plan<'a>,
    started: Instant,
    request_ids: Vec<String>,
    attempts: u32,
    from_eni: Option<String>,
    jitter: Jitter,
    backoff: Backoff,
    /// Consecutive retryable errors, for the backoff.
    errors: u32,
    /// API calls that failed in a row (the `attempt` of an `api_error` line is this one's number).
    failed_calls: u32,
    /// Whether the last call failed because the API, or the metadata service giving the
    /// credentials, could not be reached (a deadline passing then is "unknown", exit 3).
    unreachable: bool,
    /// Since when credentials have been failing for a transient reason.
    credentials_failing_since: Option<Instant>,
    /// Whether credentials were already refreshed once.
    refreshed: bool,
    /// Migrate calls refused because the source no longer held the VIP (another node moved it
    /// between our lookup and our call).
    holder_races: u32,
    /// The ENI a move already in flight (started by someone else) was taking the VIP from.
    waited_from: Option<String>,
}

/// What the write call of one attempt is.
enum Write {
    Migrate { from: String },
    Assign,
}

impl Run<'_> {
    fn drive(&mut self) -> Result<Done, Stop> {
        let vip = self.plan.vip;
        loop {
            self.check_time()?;
            let short = self.short_client()?;
            let client = short.as_ref().unwrap_or(self.client);
            let holder = match cloud::find_holder(client, self.plan.vpc_id, vip) {
                Ok(holder) => holder,
                Err(e) => {
                    self.on_error(&e, "DescribeNetworkInterfaces")?;
                    continue;
                }
            };
            self.call_succeeded();
            let write = match holder {
                // An ENI's primary IP (this node's too) is never a VIP: a configuration error.
                Some(h) if h.primary => {
                    return Err(Stop::new(
                        Exit::Config,
                        MigrationOutcome::Failed,
                        format!(
                            "{vip} is the primary IP of {}, not a VIP: a primary IP cannot be moved; set the VIP's address in tcvip.toml",
                            h.eni
                        ),
                    ));
                }
                Some(h) if h.eni == self.plan.eni_id && !h.is_changing() => {
                    return Ok(self.landed());
                }
                Some(h) if h.is_changing() && self.plan.dry_run => {
                    return Ok(Done {
                        outcome: MigrationOutcome::Aborted,
                        message: format!(
                            "{vip}: dry run: a change is in flight ({} on {}); would wait for it to end, then look again",
                            h.state, h.eni
                        ),
                    });
                }
                Some(h) if h.is_changing() => {
                    crate::info!("migrate_wait", vip = vip, holder = h.eni, state = h.state);
                    if h.is_moving() && h.eni != self.plan.eni_id {
                        self.waited_from = Some(h.eni.clone());
                        self.from_eni.get_or_insert_with(|| h.eni.clone());
                    } else if h.state.eq_ignore_ascii_case(cloud::PENDING) {
                        self.waited_from = Some("unassigned".to_owned());
                    }
                    self.check_master()?;
                    self.pause(poll_interval(self.started.elapsed()))?;
                    continue;
                }
                Some(Holder { eni, .. }) => Write::Migrate { from: eni },
                None if self.plan.assign_if_unassigned => Write::Assign,
                None => {
                    return Err(Stop::new(
                        Exit::Failure,
                        MigrationOutcome::Failed,
                        format!(
                            "{vip} is not assigned to any ENI in {}; assign it, or set failover.assign_if_unassigned = true to let vip-migrate assign it to {}",
                            self.plan.vpc_id, self.plan.eni_id
                        ),
                    ));
                }
            };
            self.await_newer_state_if_vip_gone();
            self.check_master()?;
            if self.plan.dry_run {
                return Ok(Done {
                    outcome: MigrationOutcome::Aborted,
                    message: self.describe_write(&write, true),
                });
            }
            self.attempts += 1;
            crate::info!(
                "migrate_call",
                vip = vip,
                eni = self.plan.eni_id,
                action = self.describe_write(&write, false),
                attempt = self.attempts
            );
            let written = Instant::now();
            let short = self.short_client()?;
            let request_id = match self.call_write(short.as_ref().unwrap_or(self.client), &write) {
                Ok(id) => id,
                Err(e) => {
                    self.on_error(&e, write_action(&write))?;
                    continue;
                }
            };
            self.errors = 0;
            self.call_succeeded();
            self.request_ids.push(request_id.clone());
            match self.poll_task(&request_id, written)? {
                TaskStatus::Success => {
                    // Confirmed by the Describe at the top of the loop.
                    continue;
                }
                status => {
                    crate::warn!(
                        "migrate_task_failed",
                        vip = vip,
                        request_id = request_id,
                        status = format!("{status:?}"),
                        attempt = self.attempts
                    );
                    self.errors += 1;
                    let delay = self.backoff.delay(self.errors, &mut self.jitter);
                    self.pause(delay)?;
                }
            }
        }
    }

    /// A client whose requests end by the deadline, when less than one request timeout is
    /// left (`None`: the shared client will do). A request in flight must not carry the run
    /// past its deadline.
    fn short_client(&self) -> Result<Option<Client>, Stop> {
        self.check_time()?;
        let left = self.plan.deadline.saturating_duration_since(Instant::now());
        let config = self.client.config();
        if left >= config.timeout || left.is_zero() {
            return Ok(None);
        }
        let short = config
            .clone()
            .with_timeouts(config.connect_timeout.min(left), left);
        Ok(Client::new(short, self.client.credentials().clone()).ok())
    }

    fn landed(&self) -> Done {
        let vip = self.plan.vip;
        let elapsed = self.started.elapsed().as_millis();
        if self.request_ids.is_empty()
            && let Some(from) = &self.waited_from
        {
            Done {
                outcome: MigrationOutcome::Success,
                message: format!(
                    "{vip} arrived on {} from {from} in {elapsed} ms (a move already in flight; no call made)",
                    self.plan.eni_id
                ),
            }
        } else if self.request_ids.is_empty() {
            Done {
                outcome: MigrationOutcome::AlreadyHere,
                message: format!("{vip} is already on {} (no change)", self.plan.eni_id),
            }
        } else {
            Done {
                outcome: MigrationOutcome::Success,
                message: format!(
                    "{vip} moved from {} to {} in {elapsed} ms (request {}, {} attempt{})",
                    self.from_eni.as_deref().unwrap_or("unassigned"),
                    self.plan.eni_id,
                    self.request_ids.join(","),
                    self.attempts,
                    if self.attempts == 1 { "" } else { "s" }
                ),
            }
        }
    }

    fn describe_write(&self, write: &Write, plan: bool) -> String {
        let vip = self.plan.vip;
        let to = self.plan.eni_id;
        let verb = if plan {
            format!("{vip}: dry run: would call ")
        } else {
            String::new()
        };
        match write {
            Write::Migrate { from } => format!(
                "{verb}MigratePrivateIpAddress(SourceNetworkInterfaceId={from}, DestinationNetworkInterfaceId={to}, PrivateIpAddress={vip})"
            ),
            Write::Assign => format!(
                "{verb}AssignPrivateIpAddresses(NetworkInterfaceId={to}, PrivateIpAddresses=[{vip}])"
            ),
        }
    }

    fn call_write(&mut self, client: &Client, write: &Write) -> Result<String, Error> {
        let vip = self.plan.vip;
        match write {
            Write::Migrate { from } => {
                self.from_eni = Some(from.clone());
                let request = MigratePrivateIpAddressRequest {
                    source_network_interface_id: from.clone(),
                    destination_network_interface_id: self.plan.eni_id.to_owned(),
                    private_ip_address: vip,
                };
                Ok(client.migrate_private_ip_address(&request)?.request_id)
            }
            Write::Assign => {
                let request = AssignPrivateIpAddressesRequest {
                    network_interface_id: self.plan.eni_id.to_owned(),
                    private_ip_addresses: vec![PrivateIpAddressInput {
                        private_ip_address: vip,
                    }],
                    ..AssignPrivateIpAddressesRequest::default()
                };
                Ok(client.assign_private_ip_addresses(&request)?.request_id)
            }
        }
    }

    /// Polls the task until it ends; RUNNING past the deadline is a timeout.
    fn poll_task(&mut self, request_id: &str, written: Instant) -> Result<TaskStatus, Stop> {
        let request = DescribeVpcTaskResultRequest {
            task_id: request_id.to_owned(),
        };
        let mut failed_polls = 0u32;
        let mut settled_elsewhere = 0u32;
        loop {
            self.pause(poll_interval(written.elapsed()))?;
            self.check_master()?;
            let short = self.short_client()?;
            let client = short.as_ref().unwrap_or(self.client);
            match client.describe_vpc_task_result(&request) {
                Ok(reply) if reply.status.is_finished() => {
                    self.call_succeeded();
                    return Ok(reply.status);
                }
                Ok(_) => {
                    self.call_succeeded();
                    failed_polls = 0;
                    continue;
                }
                Err(e) => {
                    failed_polls += 1;
                    self.on_error(&e, "DescribeVpcTaskResult")?;
                }
            }
            if failed_polls < TASK_FALLBACK_AFTER {
                continue;
            }
            // The task result cannot be had: ask where the VIP is instead.
            let short = self.short_client()?;
            let client = short.as_ref().unwrap_or(self.client);
            let holder = match cloud::find_holder(client, self.plan.vpc_id, self.plan.vip) {
                Ok(holder) => holder,
                Err(e) => {
                    self.on_error(&e, "DescribeNetworkInterfaces")?;
                    continue;
                }
            };
            self.call_succeeded();
            let verdict = task_fallback(holder.as_ref(), self.plan.eni_id);
            crate::info!(
                "migrate_task_fallback",
                vip = self.plan.vip,
                request_id = request_id,
                failed_polls = failed_polls,
                verdict = format!("{verdict:?}")
            );
            match verdict {
                TaskFallback::Landed => return Ok(TaskStatus::Success),
                TaskFallback::InFlight => settled_elsewhere = 0,
                TaskFallback::NotMoving => {
                    settled_elsewhere += 1;
                    if settled_elsewhere >= 2 {
                        return Ok(TaskStatus::Failed);
                    }
                }
            }
        }
    }

    /// Decides what an API error means for the run: back off and go on, or stop.
    fn on_error(&mut self, err: &Error, action: &str) -> Result<(), Stop> {
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
            vip = self.plan.vip,
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
            let since = *self
                .credentials_failing_since
                .get_or_insert_with(Instant::now);
            if since.elapsed() >= CREDENTIALS_PATIENCE {
                return Err(Stop::new(
                    Exit::Unknown,
                    MigrationOutcome::Failed,
                    format!(
                        "{}: no credentials after {} tries in {} ms: a source could not be reached: {c}",
                        self.plan.vip,
                        self.failed_calls,
                        since.elapsed().as_millis()
                    ),
                ));
            }
        }
        match class {
            RetryClass::Fatal => Err(Stop::new(
                api_exit(err),
                MigrationOutcome::Failed,
                format!("{}: {action} failed: {err}", self.plan.vip),
            )),
            RetryClass::RefreshCredentials
                if self.refreshed && err.code() == Some(SIGNATURE_EXPIRED) =>
            {
                Err(Stop::new(
                    Exit::Auth,
                    MigrationOutcome::Failed,
                    format!(
                        "{}: {action} refused: this node's clock is more than 5 minutes off the API's ({err}); check the node's clock (NTP)",
                        self.plan.vip
                    ),
                ))
            }
            RetryClass::RefreshCredentials if self.refreshed => Err(Stop::new(
                Exit::Auth,
                MigrationOutcome::Failed,
                format!(
                    "{}: {action} failed after refreshing credentials: {err}",
                    self.plan.vip
                ),
            )),
            RetryClass::RefreshCredentials => {
                self.refreshed = true;
                self.client.credentials().invalidate();
                Ok(())
            }
            RetryClass::Backoff | RetryClass::AfterReread => {
                self.errors += 1;
                let delay = self.backoff.delay(self.errors, &mut self.jitter);
                self.pause(delay).map_err(|mut stop| {
                    stop.message =
                        format!("{stop_msg}; last error: {err}", stop_msg = stop.message);
                    stop
                })
            }
        }
    }

    /// A call went through: the next failure is attempt 1 again.
    fn call_succeeded(&mut self) {
        self.failed_calls = 0;
        self.unreachable = false;
        self.credentials_failing_since = None;
    }

    /// keepalived adds the VIPs to the interface before it runs notify_master and removes them
    /// before it runs notify_backup. A MASTER record with the VIP gone from its interface means
    /// keepalived has most likely left MASTER already, and the notification saying so is on its
    /// way: nodes that time out together are each MASTER for a moment, and a move made on that
    /// moment's say-so takes the VIP from the real master. So before each write call, wait up to
    /// [`VIP_GONE_GRACE`] for a newer record, and wait afresh for each newer MASTER record that
    /// still finds the VIP gone (a burst can bring MASTER, MASTER, BACKUP); the MASTER check then
    /// decides. When the VIP is on its interface (every ordinary failover) or no interface is
    /// known, nothing waits.
    fn await_newer_state_if_vip_gone(&self) {
        let Some(iface) = self.plan.interface else {
            return;
        };
        if self.plan.force || self.plan.dry_run {
            return;
        }
        let vip = self.plan.vip;
        let on_nic = || crate::ifaddrs::has_ipv4(Some(iface), vip).unwrap_or(true);
        let read = self.state.read_state(self.plan.instance);
        let mut grace = VipGoneGrace::new(VIP_GONE_GRACE, Instant::now(), read.seq);
        if grace.step(Instant::now(), read.seq, read.state, on_nic()) == GraceStep::Done {
            return;
        }
        let mut logged_seq = read.seq;
        crate::info!(
            "vip_not_on_nic",
            vip = vip,
            interface = iface,
            seq = read.seq,
            wait_ms = VIP_GONE_GRACE.as_millis(),
            reason = "recorded MASTER, but the VIP is not on its interface: waiting for a newer keepalived state before moving it here"
        );
        while Instant::now() < self.plan.deadline && !signal::stop_requested() {
            thread::sleep(Duration::from_millis(5));
            let read = self.state.read_state(self.plan.instance);
            match grace.step(Instant::now(), read.seq, read.state, on_nic()) {
                GraceStep::Done => return,
                GraceStep::Wait if read.seq != logged_seq => {
                    logged_seq = read.seq;
                    crate::info!(
                        "vip_not_on_nic",
                        vip = vip,
                        interface = iface,
                        seq = read.seq,
                        wait_ms = VIP_GONE_GRACE.as_millis(),
                        reason = "a newer MASTER record, and the VIP is still not on its interface: waiting again"
                    );
                }
                GraceStep::Wait => {}
            }
        }
    }

    /// Stops unless the latest record says this node is MASTER (or `--force`).
    fn check_master(&self) -> Result<(), Stop> {
        if self.plan.force {
            return Ok(());
        }
        let read = self.state.read_state(self.plan.instance);
        // A notification newer than the record that could not be recorded has the last word.
        let note = self.state.unrecorded_since(self.plan.instance, &read);
        let noted = note.as_ref().map(|n| n.state);
        let master = match noted {
            Some(state) => state == KeepalivedState::Master,
            None => {
                read.state == KeepalivedState::Master || self.plan.notified_master == Some(read.seq)
            }
        };
        if master {
            return Ok(());
        }
        Err(Stop::new(
            Exit::NotMaster,
            MigrationOutcome::Aborted,
            format!(
                "{}: stopped before any further call: keepalived instance {} is {} (record {}), not MASTER; use --force to move it anyway",
                self.plan.vip,
                self.plan.instance,
                noted.unwrap_or(read.state),
                read.seq
            ),
        ))
    }

    fn check_time(&self) -> Result<(), Stop> {
        if signal::stop_requested() {
            return Err(Stop::new(
                Exit::Failure,
                MigrationOutcome::Aborted,
                format!("{}: stopped by a signal", self.plan.vip),
            ));
        }
        if Instant::now() >= self.plan.deadline {
            // Unreachable to the end: where the VIP is, is unknown.
            let exit = if self.unreachable {
                Exit::Unknown
            } else {
                Exit::Failure
            };
            return Err(Stop::new(
                exit,
                MigrationOutcome::TimedOut,
                format!(
                    "{}: not on {} when the deadline passed after {} ms",
                    self.plan.vip,
                    self.plan.eni_id,
                    self.started.elapsed().as_millis()
                ),
            ));
        }
        Ok(())
    }

    /// Sleeps `wanted`, cut short by the deadline or a signal (either one ends the run).
    fn pause(&self, wanted: Duration) -> Result<(), Stop> {
        let until = Instant::now() + wanted;
        loop {
            self.check_time()?;
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            let slice = (until - now)
                .min(self.plan.deadline.saturating_duration_since(now))
                .min(Duration::from_millis(50));
            thread::sleep(slice);
        }
    }

    fn record(
        &self,
        started_at_ms: u64,
        ended_at_ms: Option<u64>,
        outcome: MigrationOutcome,
        message: &str,
    ) {
        let record = MigrationRecord {
            vip: self.plan.vip,
            started_at_ms,
            ended_at_ms,
            outcome,
            from_eni: self.from_eni.clone(),
            to_eni: Some(self.plan.eni_id.to_owned()),
            request_ids: self.request_ids.clone(),
            attempts: self.attempts,
            message: message.to_owned(),
        };
        if let Err(e) = self.state.write_migration(&record) {
            crate::warn!("state_write_failed", vip = self.plan.vip, error = e);
        }
    }
}

/// The wait of [`Run::await_newer_state_if_vip_gone`] as a rule: facts in (time, the latest
/// record, whether the VIP is on its interface), wait or go on out.
#[derive(Debug, Clone)]
struct VipGoneGrace {
    grace: Duration,
    armed_at: Instant,
    seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GraceStep {
    /// Keep waiting for a newer keepalived state.
    Wait,
    /// Stop waiting; the MASTER check decides.
    Done,
}

impl VipGoneGrace {
    fn new(grace: Duration, now: Instant, seq: u64) -> VipGoneGrace {
        VipGoneGrace {
            grace,
            armed_at: now,
            seq,
        }
    }

    fn step(&mut self, now: Instant, seq: u64, state: KeepalivedState, on_nic: bool) -> GraceStep {
        if on_nic || state != KeepalivedState::Master {
            return GraceStep::Done;
        }
        if seq != self.seq {
            // A newer MASTER that still finds the VIP gone: as momentary as the first, maybe.
            self.seq = seq;
            self.armed_at = now;
            return GraceStep::Wait;
        }
        if now.saturating_duration_since(self.armed_at) >= self.grace {
            GraceStep::Done
        } else {
            GraceStep::Wait
        }
    }
}

/// After this many DescribeVpcTaskResult polls in a row have failed (garbage, 5xx, timeouts,
/// drops), each further failure is followed by a look at the holder: a move that landed must
/// not be reported as failed because its task result cannot be read.
const TASK_FALLBACK_AFTER: u32 = 3;

/// What the holder says about a move whose task result cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskFallback {
    /// The VIP is on this ENI and settled: the move landed.
    Landed,
    /// A change is in flight: keep polling.
    InFlight,
    /// The VIP sits elsewhere (or nowhere) with nothing in flight: seen twice in a row, the move
    /// is taken as failed, and the run re-reads the holder before anything is re-issued.
    NotMoving,
}

fn task_fallback(holder: Option<&Holder>, eni: &str) -> TaskFallback {
    match holder {
        Some(h) if h.is_changing() => TaskFallback::InFlight,
        Some(h) if h.eni == eni => TaskFallback::Landed,
        _ => TaskFallback::NotMoving,
    }
}

fn write_action(write: &Write) -> &'static str {
    match write {
        Write::Migrate { .. } => "MigratePrivateIpAddress",
        Write::Assign => "AssignPrivateIpAddresses",
    }
}

// One home for exit-code mapping: see crate::exit.
pub use crate::exit::combine;

/// `vip-migrate`: moves the VIPs of a keepalived instance to this node.
#[derive(Debug, clap::Parser)]
#[command(
    name = "vip-migrate",
    version,
    about = "Move the VIPs of a keepalived instance to this node's ENI through the VPC API, verified",
    long_about = "Moves each VIP of the keepalived instance to this node's ENI: finds the ENI that \
holds it (exact match), calls MigratePrivateIpAddress, polls DescribeVpcTaskResult and confirms the \
landing, all under one deadline (failover.deadline_s). One run per VIP at a time: a second run \
exits 0 saying a migration is in flight. Before every write call it re-reads the recorded \
keepalived state and stops (exit 4) when this node is no longer MASTER, unless --force.",
    after_help = crate::exit::Exit::help_table()
)]
pub struct Args {
    #[command(flatten)]
    pub common: crate::cli::Common,
    /// keepalived vrrp_instance whose VIPs to move [default: the only one configured]
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// Move only this VIP (repeatable); it must be configured
    #[arg(long = "vip", value_name = "IP")]
    pub vips: Vec<Ipv4Addr>,
    /// Say what would be called; make no write call
    #[arg(long)]
    pub dry_run: bool,
    /// Skip the check that this node is MASTER (manual use)
    #[arg(long)]
    pub force: bool,
    /// Reconcile only: move a VIP held elsewhere, never assign an unassigned one
    #[arg(long)]
    pub reconcile: bool,
    /// MASTER was notified but could not be recorded over state record SEQ (notify-action
    /// passes this): this node counts as MASTER until a newer state is recorded or noted
    #[arg(long, value_name = "SEQ")]
    pub notified_master: Option<u64>,
    /// Overall deadline in seconds, 1 to 3600 [default: failover.deadline_s]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub deadline_s: Option<u64>,
}

/// Runs `vip-migrate`.
pub fn run(args: &Args) -> anyhow::Result<Exit> {
    signal::install();
    let ctx = crate::context::Context::load(&args.common, "vip-migrate")?;
    let started = Instant::now();
    let instance = ctx.instance_key(args.instance.as_deref())?;
    let vips = select_vips(&ctx, &instance, &args.vips)?;
    let deadline_s = args.deadline_s.unwrap_or(ctx.config.failover.deadline_s);
    let deadline = started + Duration::from_secs(deadline_s);
    let identity = ctx.identity_until(deadline)?;
    crate::vip_guard::refuse_own_primary(&ctx.config, identity)?;
    let client = ctx.client()?;
    let (vpc_id, eni_id) = (identity.vpc_id.as_str(), identity.eni_id.as_str());
    if args.dry_run {
        // A plan that a CAM refusal would stop is no plan: probe the write calls, changing
        // nothing (exit 77 when refused).
        crate::operator::doctor_permissions::require_write_permissions(
            client,
            eni_id,
            identity.primary_ipv4,
            ctx.config.failover.assign_if_unassigned && !args.reconcile,
        )?;
    }
    let purpose = if args.reconcile {
        "reconcile"
    } else {
        "migrate"
    };
    let plans: Vec<Plan<'_>> = vips
        .iter()
        .map(|vip| Plan {
            vip: *vip,
            instance: &instance,
            vpc_id,
            eni_id,
            deadline,
            assign_if_unassigned: ctx.config.failover.assign_if_unassigned && !args.reconcile,
            force: args.force,
            dry_run: args.dry_run,
            purpose,
            interface: ctx
                .vips_of(&instance)
                .into_iter()
                .find(|v| v.address == *vip)
                .and_then(|v| identity.interface_for(v)),
            notified_master: args.notified_master,
        })
        .collect();
    let state = &ctx.state;
    let reports: Vec<Report> = thread::scope(|scope| {
        let handles: Vec<_> = plans
            .iter()
            .map(|plan| scope.spawn(move || migrate_one(client, state, plan)))
            .collect();
        handles
            .into_iter()
            .zip(&plans)
            .map(|(handle, plan)| {
                handle.join().unwrap_or_else(|_| Report {
                    vip: plan.vip,
                    exit: Exit::Failure,
                    outcome: MigrationOutcome::Failed,
                    from_eni: None,
                    request_ids: Vec::new(),
                    attempts: 0,
                    elapsed: started.elapsed(),
                    message: format!("{}: the migration thread failed", plan.vip),
                })
            })
            .collect()
    });
    let mut eip_exits = Vec::new();
    for report in &reports {
        if report.exit == Exit::Success {
            println!("{}", report.message);
            if matches!(
                report.outcome,
                MigrationOutcome::Success | MigrationOutcome::AlreadyHere
            ) {
                let view = vip_state::CloudView {
                    vip: report.vip,
                    holder_eni: Some(eni_id.to_owned()),
                    holder_instance: Some(identity.instance_id.as_str().to_owned()),
                    ip_state: Some("AVAILABLE".to_owned()),
                    learned_at_ms: now_ms(),
                };
                if let Err(e) = ctx.state.write_cloud_view(&view) {
                    crate::warn!("state_write_failed", vip = report.vip, error = e);
                }
                // `[[vip]] eip`: keep the EIP on the VIP (the cloud may drop it on a move).
                if !args.dry_run {
                    eip_exits.extend(crate::operator::eip::after_move(
                        &ctx, report.vip, &instance, args.force, deadline,
                    ));
                }
            }
        } else {
            eprintln!("vip-migrate: {}", report.message);
        }
    }
    Ok(combine(reports.iter().map(|r| r.exit).chain(eip_exits)))
}

/// The VIPs to act on: those named (each must be configured), else those of the instance.
pub fn select_vips(
    ctx: &crate::context::Context,
    instance: &str,
    named: &[Ipv4Addr],
) -> anyhow::Result<Vec<Ipv4Addr>> {
    let path = ctx.config.path.display();
    let vips: Vec<Ipv4Addr> = ctx.vips_of(instance).iter().map(|v| v.address).collect();
    if !named.is_empty() {
        for vip in named {
            if ctx.config.vip(*vip).is_none() {
                return Err(crate::exit::exit(
                    Exit::Config,
                    anyhow::anyhow!(
                        "{vip} is not configured in {path}: add a [[vip]] entry with address = \"{vip}\""
                    ),
                ));
            }
            // Its moves are gated on the recorded state of the instance it follows.
            if !vips.contains(vip) {
                return Err(crate::exit::exit(
                    Exit::Config,
                    anyhow::anyhow!(
                        "{vip} does not follow keepalived instance {instance:?} in {path}; name its own instance with --instance"
                    ),
                ));
            }
        }
        return Ok(named.to_vec());
    }
    if vips.is_empty() {
        return Err(crate::exit::exit(
            Exit::Config,
            anyhow::anyhow!(
                "no [[vip]] in {path} follows keepalived instance {instance:?}; set instance = \"{instance}\" on its [[vip]] entries"
            ),
        ));
    }
    Ok(vips)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(eni: &str, state: &str) -> Holder {
        Holder {
            eni: eni.to_owned(),
            instance: None,
            state: state.to_owned(),
            primary: false,
        }
    }

    #[test]
    fn the_vip_gone_grace_rearms_on_each_newer_master_and_ends_on_anything_else() {
        use KeepalivedState::{Backup, Master};
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let grace = Duration::from_millis(300);
        let mut g = VipGoneGrace::new(grace, t0, 7);
        assert_eq!(g.step(ms(0), 7, Master, false), GraceStep::Wait);
        // A second MASTER 50 ms later re-arms the wait instead of ending it...
        assert_eq!(g.step(ms(50), 8, Master, false), GraceStep::Wait);
        assert_eq!(g.step(ms(320), 8, Master, false), GraceStep::Wait);
        // ...so the BACKUP 150 ms after it still arrives in time: the MASTER check stops.
        assert_eq!(g.step(ms(200), 9, Backup, false), GraceStep::Done);

        let mut g = VipGoneGrace::new(grace, t0, 7);
        assert_eq!(g.step(ms(50), 8, Master, false), GraceStep::Wait);
        assert_eq!(g.step(ms(349), 8, Master, false), GraceStep::Wait);
        assert_eq!(g.step(ms(350), 8, Master, false), GraceStep::Done);

        // The VIP back on its interface ends the wait at once.
        let mut g = VipGoneGrace::new(grace, t0, 7);
        assert_eq!(g.step(ms(10), 7, Master, true), GraceStep::Done);
    }

    #[test]
    fn an_unreadable_task_is_judged_by_where_the_vip_is() {
        let here = "eni-here";
        let verdict = |h: Option<Holder>| task_fallback(h.as_ref(), here);
        assert_eq!(
            verdict(Some(holder(here, "AVAILABLE"))),
            TaskFallback::Landed
        );
        assert_eq!(
            verdict(Some(holder(here, "MIGRATING"))),
            TaskFallback::InFlight
        );
        assert_eq!(
            verdict(Some(holder("eni-peer", "MIGRATING"))),
            TaskFallback::InFlight
        );
        assert_eq!(
            verdict(Some(holder("eni-peer", "AVAILABLE"))),
            TaskFallback::NotMoving
        );
        assert_eq!(verdict(None), TaskFallback::NotMoving);
    }
}
