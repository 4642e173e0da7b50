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
//! A `kind = "havip"` VIP is never moved by a write call: its holder is the ENI DescribeHaVips
//! shows the HAVIP bound to; the run waits `failover.havip_bind_timeout_ms` for the VPC to learn
//! keepalived's gratuitous ARP, then (MASTER re-checked) sends one itself from the VIP's
//! interface, and again after each further bind timeout, until the deadline
//! ([`crate::core::migrate`]).
//!
//! A change of the VIP already in flight (MIGRATING, PENDING, DELETING) is waited for, never
//! raced. A request still running at the deadline is cut there. A busy lock is waited for
//! briefly before joining its holder, because looking at a lock takes it for an instant. A dry
//! run takes no lock and calls nothing that writes. It refuses to move a VIP on the say-so of
//! an instance the VIP does not follow.

use std::net::Ipv4Addr;
use std::thread;
use std::time::{Duration, Instant};

use tencent_api::retry::Jitter;
use tencent_api::vpc::{
    AssignPrivateIpAddressesRequest, DescribeVpcTaskResultRequest, MigratePrivateIpAddressRequest,
    PrivateIpAddressInput, TaskStatus,
};
use tencent_api::{Client, Error};
use vip_state::{LockAttempt, MigrationOutcome, MigrationRecord, StateDir, now_ms};

pub use crate::core::migrate::{CREDENTIALS_PATIENCE, HaVipPlan, Plan};
use crate::core::{self, Ports, SystemClock};
use crate::exit::Exit;
use crate::signal;

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

/// The HAVIP part of a VIP's plan: `Some` for `kind = "havip"`.
pub fn havip_plan<'a>(
    vip: &'a crate::config::VipConfig,
    failover: &crate::config::FailoverConfig,
) -> Option<HaVipPlan<'a>> {
    match (&vip.havip_id, vip.kind) {
        (Some(id), crate::config::VipKind::Havip) => Some(HaVipPlan {
            id: id.as_ref(),
            bind_timeout: failover.havip_bind_timeout(),
        }),
        _ => None,
    }
}

/// Runs one VIP's migration under its single-flight lock.
///
/// A run stopped because the instance was no longer MASTER looks at the record once more after
/// letting go of the lock: a MASTER notification that arrived while it was stopping saw the lock
/// held and started nothing, so this run takes the migration up again.
pub fn migrate_one(client: &Client, state: &StateDir, plan: &Plan<'_>) -> Report {
    migrate_one_hinted(client, state, plan, None)
}

/// [`migrate_one`] whose first write goes from `holder_hint` without a lookup
/// ([`core::migrate::run_hinted`]): the FIFO reader's warm path.
pub fn migrate_one_hinted(
    client: &Client,
    state: &StateDir,
    plan: &Plan<'_>,
    holder_hint: Option<&str>,
) -> Report {
    let mut hint = holder_hint;
    loop {
        let report = migrate_locked(client, state, plan, hint.take());
        let again = report.exit == Exit::NotMaster
            && Instant::now() < plan.deadline
            && core::rules::may_write(
                &core::Records::latest(state, plan.instance),
                None,
                core::Records::master_reporter_gone(state, plan.instance).is_some(),
            );
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

fn migrate_locked(
    client: &Client,
    state: &StateDir,
    plan: &Plan<'_>,
    holder_hint: Option<&str>,
) -> Report {
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
    if !plan.dry_run {
        record(state, plan, started_at_ms, None, None);
    }
    let cloud = ApiCloud {
        client,
        vpc_id: plan.vpc_id,
    };
    let nic = crate::nic::LocalNic::new();
    let ports = Ports {
        cloud: &cloud,
        records: state,
        nic: &nic,
        clock: &SystemClock,
    };
    let run = core::migrate::run_hinted(ports, plan, Jitter::from_entropy(), holder_hint);
    let (exit, outcome) = (run.exit, run.outcome);
    let message = run.message.clone();
    let elapsed = started.elapsed();
    if !plan.dry_run {
        record(state, plan, started_at_ms, Some(now_ms()), Some(&run));
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

/// Records how the migration of `plan.vip` stands: in flight (`run` is `None`) or ended.
fn record(
    state: &StateDir,
    plan: &Plan<'_>,
    started_at_ms: u64,
    ended_at_ms: Option<u64>,
    run: Option<&core::migrate::Outcome>,
) {
    let record = MigrationRecord {
        vip: plan.vip,
        started_at_ms,
        ended_at_ms,
        outcome: run.map_or(MigrationOutcome::InFlight, |r| r.outcome),
        from_eni: run.and_then(|r| r.from_eni.clone()),
        to_eni: Some(plan.eni_id.to_owned()),
        request_ids: run.map(|r| r.request_ids.clone()).unwrap_or_default(),
        attempts: run.map_or(0, |r| r.attempts),
        message: run.map_or_else(|| "in flight".to_owned(), |r| r.message.clone()),
    };
    if let Err(e) = state.write_migration(&record) {
        crate::warn!("state_write_failed", vip = plan.vip, error = e);
    }
}

/// The VPC API through `client`, every request cut at the caller's deadline.
struct ApiCloud<'a> {
    client: &'a Client,
    vpc_id: &'a str,
}

impl ApiCloud<'_> {
    /// Runs `call` on the client bound to `by` (tencent-api's deadline handle): a request in
    /// flight must not carry the run past its deadline.
    fn with_client<T>(
        &self,
        by: Instant,
        call: impl FnOnce(&Client) -> Result<T, Error>,
    ) -> Result<T, Error> {
        call(&self.client.until(by))
    }
}

impl core::Cloud for ApiCloud<'_> {
    fn find_holder(
        &self,
        vip: Ipv4Addr,
        by: Instant,
    ) -> Result<Option<crate::cloud::Holder>, Error> {
        self.with_client(by, |c| crate::cloud::find_holder(c, self.vpc_id, vip))
    }

    fn migrate(&self, vip: Ipv4Addr, from: &str, to: &str, by: Instant) -> Result<String, Error> {
        let request = MigratePrivateIpAddressRequest {
            source_network_interface_id: from.to_owned(),
            destination_network_interface_id: to.to_owned(),
            private_ip_address: vip,
        };
        self.with_client(by, |c| {
            Ok(c.migrate_private_ip_address(&request)?.request_id)
        })
    }

    fn assign(&self, vip: Ipv4Addr, to: &str, by: Instant) -> Result<String, Error> {
        let request = AssignPrivateIpAddressesRequest {
            network_interface_id: to.to_owned(),
            private_ip_addresses: vec![PrivateIpAddressInput {
                private_ip_address: vip,
            }],
            ..AssignPrivateIpAddressesRequest::default()
        };
        self.with_client(by, |c| {
            Ok(c.assign_private_ip_addresses(&request)?.request_id)
        })
    }

    fn find_havip(
        &self,
        havip_id: &str,
        by: Instant,
    ) -> Result<Option<tencent_api::vpc::HaVip>, Error> {
        self.with_client(by, |c| crate::cloud::find_havip(c, havip_id))
    }

    fn task_status(&self, request_id: &str, by: Instant) -> Result<TaskStatus, Error> {
        let request = DescribeVpcTaskResultRequest {
            task_id: request_id.to_owned(),
        };
        self.with_client(by, |c| Ok(c.describe_vpc_task_result(&request)?.status))
    }

    fn refresh_credentials(&self) {
        self.client.credentials().invalidate();
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
    let vips = crate::vips::select(&ctx.config, &instance, &args.vips)?;
    let deadline_s = args.deadline_s.unwrap_or(ctx.config.failover.deadline_s);
    let deadline = started + Duration::from_secs(deadline_s);
    let identity = ctx.identity_until(deadline)?;
    crate::vip_guard::refuse_own_primary(&ctx.config, identity)?;
    let client = ctx.client()?;
    let (vpc_id, eni_id) = (identity.vpc_id.as_str(), identity.eni_id.as_str());
    let configured = crate::vips::of_instance(&ctx.config, &instance);
    // A HAVIP is never written to: only secondary IPs need the write permissions.
    let writes_needed = vips.iter().any(|vip| {
        configured
            .iter()
            .find(|v| v.address == *vip)
            .is_none_or(|v| havip_plan(v, &ctx.config.failover).is_none())
    });
    if args.dry_run && writes_needed {
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
            havip: configured
                .iter()
                .find(|v| v.address == *vip)
                .and_then(|v| havip_plan(v, &ctx.config.failover)),
            vip: *vip,
            instance: &instance,
            vpc_id,
            eni_id,
            deadline,
            assign_if_unassigned: ctx.config.failover.assign_if_unassigned && !args.reconcile,
            force: args.force,
            dry_run: args.dry_run,
            purpose,
            interface: crate::vips::of_instance(&ctx.config, &instance)
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
