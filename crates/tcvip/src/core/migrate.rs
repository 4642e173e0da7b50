//! One VIP's migration, driven through [`Ports`]: look up the holder, wait for a change in
//! flight, the grace before the first write, re-check MASTER before every write and while a move
//! is in flight, write, poll the task (with its fallback to the holder), confirm, and stop with
//! an exit code. Locks, records and output are the driver's ([`crate::migrate`]).
//!
//! A HAVIP ([`Plan::havip`]) runs the same rules with another write: DescribeHaVips until it
//! shows the HAVIP bound here, and a gratuitous ARP from the VIP's interface each time a bind
//! timeout passes without it (the first round only waits: keepalived sent its own). No
//! MigratePrivateIpAddress or AssignPrivateIpAddresses is ever called for it.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use tencent_api::Error;
use tencent_api::retry::Jitter;
use tencent_api::vpc::TaskStatus;
use vip_state::MigrationOutcome;

use super::Ports;
pub use super::errors::{CREDENTIALS_PATIENCE, Stop};
use super::errors::{ErrStep, Errors};
use super::rules::{
    self, GraceStep, HaVipStep, Step, TASK_FALLBACK_AFTER, TaskFallback, VIP_GONE_GRACE,
    VipGoneGrace, Write,
};
use crate::exit::Exit;
use crate::nic::NicError;

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
    /// `kind = "havip"`: the VIP is a HAVIP, bound by gratuitous ARP, never by a write call.
    pub havip: Option<HaVipPlan<'a>>,
}

/// A HAVIP's part of a [`Plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaVipPlan<'a> {
    /// `vip.havip_id`.
    pub id: &'a str,
    /// `failover.havip_bind_timeout_ms`: how long an announcement (keepalived's gratuitous ARP,
    /// then each of tcvip's) is given to bind the HAVIP here before the next one is sent.
    pub bind_timeout: Duration,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub exit: Exit,
    pub outcome: MigrationOutcome,
    pub message: String,
    pub from_eni: Option<String>,
    pub request_ids: Vec<String>,
    /// Write calls made.
    pub attempts: u32,
}

/// Runs the migration of `plan.vip` (the caller holds its lock).
pub fn run(ports: Ports<'_>, plan: &Plan<'_>, jitter: Jitter) -> Outcome {
    run_hinted(ports, plan, jitter, None)
}

/// [`run`] with `holder_hint`, the ENI a caller's recent cloud view says holds the VIP: the
/// first write is sent straight from it, with no lookup before (the warm path: the request is
/// the first packet). Used for that first write only; a hint equal to this node's ENI is never
/// trusted, and a write the hint got wrong (the source ENI does not have the IP) or that fails
/// at all falls back to the normal lookup.
pub fn run_hinted(
    ports: Ports<'_>,
    plan: &Plan<'_>,
    jitter: Jitter,
    holder_hint: Option<&str>,
) -> Outcome {
    let mut run = Run {
        // A HAVIP has no holder to move from: a hint means nothing for it.
        hint: holder_hint
            .filter(|h| *h != plan.eni_id && !plan.dry_run && plan.havip.is_none())
            .map(str::to_owned),
        ports,
        plan,
        started: ports.clock.now(),
        request_ids: Vec::new(),
        attempts: 0,
        from_eni: None,
        errors: Errors::new(plan.deadline, jitter),
        waited_from: None,
    };
    let (exit, outcome, message) = match run.drive() {
        Ok((outcome, message)) => (Exit::Success, outcome, message),
        Err(stop) => (stop.exit, stop.outcome, stop.message),
    };
    Outcome {
        exit,
        outcome,
        message,
        from_eni: run.from_eni,
        request_ids: run.request_ids,
        attempts: run.attempts,
    }
}

type Done = (MigrationOutcome, String);

struct Run<'a> {
    ports: Ports<'a>,
    plan: &'a Plan<'a>,
    started: Instant,
    request_ids: Vec<String>,
    attempts: u32,
    from_eni: Option<String>,
    errors: Errors,
    /// The ENI a move already in flight (started by someone else) was taking the VIP from.
    waited_from: Option<String>,
    /// The holder to write from first, without a lookup ([`run_hinted`]).
    hint: Option<String>,
}

impl Run<'_> {
    fn now(&self) -> Instant {
        self.ports.clock.now()
    }

    fn elapsed(&self) -> Duration {
        self.now().saturating_duration_since(self.started)
    }

    fn drive(&mut self) -> Result<Done, Stop> {
        if let Some(havip) = self.plan.havip {
            return self
                .drive_havip(havip)
                .map_err(|stop| self.havip_stop(havip, stop));
        }
        let vip = self.plan.vip;
        loop {
            self.check_time()?;
            let hinted = self.hint.take();
            let write = if let Some(from) = &hinted {
                Write::Migrate { from: from.clone() }
            } else {
                let holder = match self.ports.cloud.find_holder(vip, self.plan.deadline) {
                    Ok(holder) => holder,
                    Err(e) => {
                        self.on_error(&e, "DescribeNetworkInterfaces")?;
                        continue;
                    }
                };
                self.errors.succeeded();
                let step = rules::next_step(
                    holder.as_ref(),
                    self.plan.eni_id,
                    self.plan.assign_if_unassigned,
                    self.plan.dry_run,
                );
                let write = match step {
                    Step::PrimaryIp { eni } => {
                        return Err(Stop::new(
                            Exit::Config,
                            MigrationOutcome::Failed,
                            format!(
                                "{vip} is the primary IP of {eni}, not a VIP: a primary IP cannot be moved; set the VIP's address in tcvip.toml"
                            ),
                        ));
                    }
                    Step::Landed => return Ok(self.landed()),
                    Step::DryRunInFlight { eni, state } => {
                        return Ok((
                            MigrationOutcome::Aborted,
                            format!(
                                "{vip}: dry run: a change is in flight ({state} on {eni}); would wait for it to end, then look again"
                            ),
                        ));
                    }
                    Step::Wait { eni, state } => {
                        crate::info!("migrate_wait", vip = vip, holder = eni, state = state);
                        if state.eq_ignore_ascii_case(crate::cloud::MIGRATING)
                            && eni != self.plan.eni_id
                        {
                            self.from_eni.get_or_insert_with(|| eni.clone());
                            self.waited_from = Some(eni);
                        } else if state.eq_ignore_ascii_case(crate::cloud::PENDING) {
                            self.waited_from = Some("unassigned".to_owned());
                        }
                        self.check_master()?;
                        self.pause(rules::poll_interval(self.elapsed()))?;
                        continue;
                    }
                    Step::Unassigned => {
                        return Err(Stop::new(
                            Exit::Failure,
                            MigrationOutcome::Failed,
                            format!(
                                "{vip} is not assigned to any ENI in {}; assign it, or set failover.assign_if_unassigned = true to let vip-migrate assign it to {}",
                                self.plan.vpc_id, self.plan.eni_id
                            ),
                        ));
                    }
                    Step::Write(write) => write,
                };
                self.await_newer_state_if_vip_gone();
                write
            };
            self.check_master()?;
            if self.plan.dry_run {
                return Ok((MigrationOutcome::Aborted, self.describe_write(&write, true)));
            }
            self.attempts += 1;
            crate::info!(
                "migrate_call",
                vip = vip,
                eni = self.plan.eni_id,
                action = self.describe_write(&write, false),
                attempt = self.attempts
            );
            let written = self.now();
            self.check_time()?;
            let request_id = match self.call_write(&write) {
                Ok(id) => id,
                Err(e) if hinted.is_some() => {
                    crate::info!(
                        "migrate_hint_missed",
                        vip = vip,
                        hint = hinted.as_deref().unwrap_or_default(),
                        error = e,
                        then = "looking the holder up"
                    );
                    self.from_eni = None;
                    continue;
                }
                Err(e) => {
                    self.on_error(&e, write.action())?;
                    continue;
                }
            };
            self.errors.wrote();
            self.errors.succeeded();
            self.request_ids.push(request_id.clone());
            match self.poll_task(&request_id, written)? {
                // Confirmed by the Describe at the top of the loop.
                TaskStatus::Success => continue,
                status => {
                    crate::warn!(
                        "migrate_task_failed",
                        vip = vip,
                        request_id = request_id,
                        status = format!("{status:?}"),
                        attempt = self.attempts
                    );
                    let delay = self.errors.after_failed_move(self.now());
                    self.pause(delay)?;
                }
            }
        }
    }

    /// A HAVIP's run: DescribeHaVips until it shows the HAVIP bound to this node's ENI. The
    /// first round sends nothing (keepalived sent its gratuitous ARP as it became MASTER); each
    /// time a bind timeout passes without the binding, MASTER is checked and tcvip sends a
    /// gratuitous ARP itself from the VIP's interface, until the deadline. Errors are judged as
    /// for any other call; no write call is ever made.
    fn drive_havip(&mut self, havip: HaVipPlan<'_>) -> Result<Done, Stop> {
        let (vip, me, id) = (self.plan.vip, self.plan.eni_id, havip.id);
        let mut announced = self.started;
        let mut looks = 0u32;
        loop {
            self.check_time()?;
            let found = match self.ports.cloud.find_havip(id, self.plan.deadline) {
                Ok(found) => found,
                Err(e) => {
                    self.on_error(&e, "DescribeHaVips")?;
                    continue;
                }
            };
            self.errors.succeeded();
            let holder = crate::cloud::havip_holder(found.as_ref(), id, vip)
                .map_err(|p| Stop::new(Exit::Config, MigrationOutcome::Failed, p.to_string()))?;
            looks += 1;
            let seen = holder.as_ref().map(|h| h.eni.clone());
            if looks == 1 {
                self.from_eni = seen.clone().filter(|e| e != me);
            }
            self.waited_from = Some(seen.unwrap_or_else(|| "unbound".to_owned()));
            let since = self.now().saturating_duration_since(announced);
            let step = rules::havip_step(holder.as_ref(), me, since, havip.bind_timeout);
            match step {
                HaVipStep::Bound => return Ok(self.havip_bound(havip, looks == 1)),
                _ if self.plan.dry_run => {
                    return Ok((
                        MigrationOutcome::Aborted,
                        format!(
                            "{vip} ({id}): dry run: {} is {}; would wait up to {} ms for the VPC to learn keepalived's gratuitous ARP, then send gratuitous ARPs from {} until it is bound to {me}",
                            id,
                            self.havip_seen(),
                            havip.bind_timeout.as_millis(),
                            self.plan.interface.unwrap_or("the VIP's interface")
                        ),
                    ));
                }
                HaVipStep::Wait(wait) => {
                    self.check_master()?;
                    self.pause(wait)?;
                }
                HaVipStep::Announce => {
                    if self.attempts == 0 {
                        self.await_newer_state_if_vip_gone();
                    }
                    self.check_master()?;
                    self.check_time()?;
                    self.announce(havip)?;
                    announced = self.now();
                }
            }
        }
    }

    /// Sends one gratuitous ARP for the HAVIP from the VIP's interface. A failure that will not
    /// pass (no privilege, no interface) stops the run; any other is logged and the next
    /// announcement comes a bind timeout later.
    fn announce(&mut self, havip: HaVipPlan<'_>) -> Result<(), Stop> {
        let vip = self.plan.vip;
        let Some(iface) = self.plan.interface else {
            return Err(Stop::new(
                Exit::Config,
                MigrationOutcome::Failed,
                format!(
                    "{vip} ({}): cannot send a gratuitous ARP: the VIP's interface is not known; set [[vip]] interface in tcvip.toml",
                    havip.id
                ),
            ));
        };
        self.attempts += 1;
        crate::info!(
            "havip_garp",
            vip = vip,
            havip = havip.id,
            interface = iface,
            attempt = self.attempts,
            seen = self.havip_seen(),
            since_ms = self.elapsed().as_millis()
        );
        match self.ports.nic.send_garp(iface, vip) {
            Ok(()) => Ok(()),
            Err(e @ NicError::GarpPermission { .. }) => Err(Stop::new(
                Exit::Auth,
                MigrationOutcome::Failed,
                format!("{vip} ({}): {e}", havip.id),
            )),
            Err(e @ (NicError::NoSuchInterface { .. } | NicError::InvalidArgument { .. })) => {
                Err(Stop::new(
                    Exit::Config,
                    MigrationOutcome::Failed,
                    format!("{vip} ({}): {e}; set [[vip]] interface", havip.id),
                ))
            }
            Err(e) => {
                crate::warn!(
                    "havip_garp_failed",
                    vip = vip,
                    havip = havip.id,
                    interface = iface,
                    attempt = self.attempts,
                    error = e
                );
                Ok(())
            }
        }
    }

    /// Where DescribeHaVips last showed the HAVIP, for messages.
    fn havip_seen(&self) -> String {
        match self.waited_from.as_deref() {
            None => "not looked up yet".to_owned(),
            Some("unbound") => "unbound".to_owned(),
            Some(eni) => format!("bound to {eni}"),
        }
    }

    fn havip_bound(&self, havip: HaVipPlan<'_>, first_look: bool) -> Done {
        let (vip, me, id) = (self.plan.vip, self.plan.eni_id, havip.id);
        let ms = self.elapsed().as_millis();
        crate::info!(
            "havip_bound",
            vip = vip,
            havip = id,
            eni = me,
            ms = ms,
            garps = self.attempts
        );
        if first_look && self.attempts == 0 {
            return (
                MigrationOutcome::AlreadyHere,
                format!("{vip} ({id}) is already bound to {me} (no change)"),
            );
        }
        let n = self.attempts;
        (
            MigrationOutcome::Success,
            format!(
                "{vip} ({id}) bound to {me} in {ms} ms ({n} gratuitous ARP{} sent by tcvip)",
                if n == 1 { "" } else { "s" }
            ),
        )
    }

    /// A HAVIP run's stop, its deadline message naming the HAVIP and what was seen.
    fn havip_stop(&self, havip: HaVipPlan<'_>, mut stop: Stop) -> Stop {
        if stop.outcome == MigrationOutcome::TimedOut {
            let n = self.attempts;
            stop.message = format!(
                "{} ({}): not bound to {} when the deadline passed after {} ms ({n} gratuitous ARP{} sent by tcvip; DescribeHaVips last showed it {}){}",
                self.plan.vip,
                havip.id,
                self.plan.eni_id,
                self.elapsed().as_millis(),
                if n == 1 { "" } else { "s" },
                self.havip_seen(),
                stop.message
                    .split_once("; last error: ")
                    .map(|(_, e)| format!("; last error: {e}"))
                    .unwrap_or_default()
            );
        }
        stop
    }

    fn landed(&self) -> Done {
        let vip = self.plan.vip;
        let to = self.plan.eni_id;
        let elapsed = self.elapsed().as_millis();
        match &self.waited_from {
            Some(from) if self.request_ids.is_empty() => (
                MigrationOutcome::Success,
                format!(
                    "{vip} arrived on {to} from {from} in {elapsed} ms (a move already in flight; no call made)"
                ),
            ),
            None if self.request_ids.is_empty() => (
                MigrationOutcome::AlreadyHere,
                format!("{vip} is already on {to} (no change)"),
            ),
            _ => (
                MigrationOutcome::Success,
                format!(
                    "{vip} moved from {} to {to} in {elapsed} ms (request {}, {} attempt{})",
                    self.from_eni.as_deref().unwrap_or("unassigned"),
                    self.request_ids.join(","),
                    self.attempts,
                    if self.attempts == 1 { "" } else { "s" }
                ),
            ),
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

    fn call_write(&mut self, write: &Write) -> Result<String, Error> {
        let (vip, to, by) = (self.plan.vip, self.plan.eni_id, self.plan.deadline);
        match write {
            Write::Migrate { from } => {
                self.from_eni = Some(from.clone());
                self.ports.cloud.migrate(vip, from, to, by)
            }
            Write::Assign => self.ports.cloud.assign(vip, to, by),
        }
    }

    /// Polls the task until it ends; RUNNING past the deadline is a timeout.
    fn poll_task(&mut self, request_id: &str, written: Instant) -> Result<TaskStatus, Stop> {
        let mut failed_polls = 0u32;
        let mut settled_elsewhere = 0u32;
        let by = self.plan.deadline;
        loop {
            self.pause(rules::poll_interval(
                self.now().saturating_duration_since(written),
            ))?;
            self.check_master()?;
            self.check_time()?;
            match self.ports.cloud.task_status(request_id, by) {
                Ok(status) if status.is_finished() => {
                    self.errors.succeeded();
                    return Ok(status);
                }
                Ok(_) => {
                    self.errors.succeeded();
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
            self.check_time()?;
            let holder = match self.ports.cloud.find_holder(self.plan.vip, by) {
                Ok(holder) => holder,
                Err(e) => {
                    self.on_error(&e, "DescribeNetworkInterfaces")?;
                    continue;
                }
            };
            self.errors.succeeded();
            let verdict = rules::task_fallback(holder.as_ref(), self.plan.eni_id);
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

    /// Applies the verdict on an API error: pause and go on, refresh, or stop.
    fn on_error(&mut self, err: &Error, action: &str) -> Result<(), Stop> {
        match self.errors.judge(err, action, self.plan.vip, self.now()) {
            ErrStep::Stop(stop) => Err(stop),
            ErrStep::Refresh => {
                self.ports.cloud.refresh_credentials();
                Ok(())
            }
            ErrStep::Pause(delay) => self.pause(delay).map_err(|mut stop| {
                stop.message = format!("{}; last error: {err}", stop.message);
                stop
            }),
        }
    }

    /// Before each write call, waits up to [`VIP_GONE_GRACE`] for a newer record when the
    /// VIP is gone from its interface although the record says MASTER ([`VipGoneGrace`]); the
    /// MASTER check then decides. When the VIP is on its interface (every ordinary failover)
    /// or no interface is known, nothing waits.
    fn await_newer_state_if_vip_gone(&self) {
        let Some(iface) = self.plan.interface else {
            return;
        };
        if self.plan.force || self.plan.dry_run {
            return;
        }
        let vip = self.plan.vip;
        let (records, clock) = (self.ports.records, self.ports.clock);
        let on_nic = || self.ports.nic.has_ip(iface, vip).unwrap_or(true);
        let latest = records.latest(self.plan.instance);
        let mut grace = VipGoneGrace::new(VIP_GONE_GRACE, clock.now(), latest.seq);
        if grace.step(clock.now(), latest.seq, latest.state, on_nic()) == GraceStep::Done {
            return;
        }
        let mut logged_seq = latest.seq;
        crate::info!(
            "vip_not_on_nic",
            vip = vip,
            interface = iface,
            seq = latest.seq,
            wait_ms = VIP_GONE_GRACE.as_millis(),
            reason = if self.plan.havip.is_some() {
                "recorded MASTER, but the VIP is not on its interface: waiting for a newer keepalived state before announcing it from here"
            } else {
                "recorded MASTER, but the VIP is not on its interface: waiting for a newer keepalived state before moving it here"
            }
        );
        while clock.now() < self.plan.deadline && !clock.stop_requested() {
            clock.sleep(Duration::from_millis(5));
            let latest = records.latest(self.plan.instance);
            match grace.step(clock.now(), latest.seq, latest.state, on_nic()) {
                GraceStep::Done => return,
                GraceStep::Wait if latest.seq != logged_seq => {
                    logged_seq = latest.seq;
                    crate::info!(
                        "vip_not_on_nic",
                        vip = vip,
                        interface = iface,
                        seq = latest.seq,
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
        let latest = self.ports.records.latest(self.plan.instance);
        let gone = self.ports.records.master_reporter_gone(self.plan.instance);
        if rules::may_write(&latest, self.plan.notified_master, gone.is_some()) {
            return Ok(());
        }
        if let Some(pid) = gone.filter(|_| rules::is_master(&latest, self.plan.notified_master)) {
            return Err(Stop::new(
                Exit::NotMaster,
                MigrationOutcome::Aborted,
                format!(
                    "{}: stopped before any further call: the keepalived (pid {pid}) that recorded instance {} as MASTER (record {}) is gone, and a killed keepalived runs no notify; use --force to move it anyway",
                    self.plan.vip, self.plan.instance, latest.seq
                ),
            ));
        }
        Err(Stop::new(
            Exit::NotMaster,
            MigrationOutcome::Aborted,
            format!(
                "{}: stopped before any further call: keepalived instance {} is {} (record {}), not MASTER; use --force to move it anyway",
                self.plan.vip,
                self.plan.instance,
                latest.noted.unwrap_or(latest.state),
                latest.seq
            ),
        ))
    }

    fn check_time(&self) -> Result<(), Stop> {
        if self.ports.clock.stop_requested() {
            return Err(Stop::new(
                Exit::Failure,
                MigrationOutcome::Aborted,
                format!("{}: stopped by a signal", self.plan.vip),
            ));
        }
        if self.now() >= self.plan.deadline {
            // Unreachable to the end: where the VIP is, is unknown.
            let exit = if self.errors.unreachable {
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
                    self.elapsed().as_millis()
                ),
            ));
        }
        Ok(())
    }

    /// Sleeps `wanted`, cut short by the deadline or a signal (either one ends the run).
    fn pause(&self, wanted: Duration) -> Result<(), Stop> {
        let until = self.now() + wanted;
        loop {
            self.check_time()?;
            let now = self.now();
            if now >= until {
                return Ok(());
            }
            let slice = (until - now)
                .min(self.plan.deadline.saturating_duration_since(now))
                .min(Duration::from_millis(50));
            self.ports.clock.sleep(slice);
        }
    }
}
