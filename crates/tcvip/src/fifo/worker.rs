//! The reader's worker thread: acts on the latest recorded state of each instance the reading
//! thread woke it for, through the same driver as vip-migrate ([`crate::migrate::migrate_one`],
//! and with it the core's rules), on a warm path: one [`Context`] for the reader's life, so the
//! identity, the credentials and the API client (its keep-alive connections) are made once.
//!
//! A newer line for an instance reaches a running move through the record: the reading thread
//! records it at once, and the core re-reads the record before every write call, so a BACKUP
//! stops the move before its next write. A newer MASTER is acted on when the running move ends
//! (it then finds the VIP here: one lookup, no write).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use vip_state::{KeepalivedState, MigrationOutcome, MigrationRecord, now_ms};

use super::pending::{self, Action, Handled, Pending, Want};
use crate::cli::Common;
use crate::config::Config;
use crate::context::Context;
use crate::core::Nic as _;
use crate::exit::Exit;
use crate::migrate::{Plan, Report};

/// What the reading thread and the worker share.
#[derive(Debug, Default)]
pub struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    stopping: AtomicBool,
    /// The move running now, for the record a stop leaves.
    doing: Mutex<Option<Doing>>,
}

/// A move in flight.
#[derive(Debug, Clone)]
pub struct Doing {
    pub instance: String,
    pub purpose: &'static str,
    pub vips: Vec<std::net::Ipv4Addr>,
    pub eni: String,
    pub started_at_ms: u64,
}

impl Shared {
    /// Leaves `want` for `instance`; `false` when every slot is taken (see [`pending`]).
    pub fn push(&self, instance: &str, want: Want) -> bool {
        let pushed = lock(&self.pending).push(instance, want);
        self.wake.notify_one();
        pushed
    }

    /// Asks the worker to stop after what it is doing.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// The move in flight, if any.
    pub fn doing(&self) -> Option<Doing> {
        lock(&self.doing).clone()
    }

    /// The next slot; `Idle` after [`IDLE_TICK`] without one; `None` once stopping.
    fn next(&self) -> Option<Next> {
        let mut pending = lock(&self.pending);
        let idle_from = Instant::now();
        loop {
            if self.stopping.load(Ordering::SeqCst) || crate::signal::stop_requested() {
                return None;
            }
            if let Some((instance, want)) = pending.take() {
                return Some(Next::Slot(instance, want));
            }
            if idle_from.elapsed() >= IDLE_TICK {
                return Some(Next::Idle);
            }
            // The timeout only bounds how late a stop is seen.
            pending = match self.wake.wait_timeout(pending, Duration::from_millis(100)) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

/// What the worker is woken for.
enum Next {
    Slot(String, Want),
    /// Nothing for a while: keep the credentials fresh.
    Idle,
}

/// How long the worker idles before it asks for the credentials again, so that a CVM role's
/// keys are refreshed (5 minutes before they expire) while nothing waits for them, not on the
/// first move after they expired.
const IDLE_TICK: Duration = Duration::from_secs(60);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts the worker. It makes its own [`Context`] (one is not shared between threads) and warms
/// it up (identity, credentials, client) before the first line needs it.
pub fn spawn(
    config: Config,
    shared: Arc<Shared>,
    hand_over: HandOver,
) -> std::io::Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name("fifo-worker".to_owned())
        .spawn(move || Worker::new(config, shared, hand_over).run())
}

/// What a hand-over run started by the reader needs: the options the reader was started with
/// (forwarded to the run) and keepalived's configuration file (for the instance's peers).
#[derive(Debug, Clone, Default)]
pub struct HandOver {
    pub common: Common,
    pub keepalived_conf: Option<PathBuf>,
}

struct Worker {
    config: Config,
    ctx: Option<Context>,
    shared: Arc<Shared>,
    handled: HashMap<String, Handled>,
    hand_over: HandOver,
    /// The reader's cloud view: which ENI held each VIP, and when that was learned (from its
    /// own moves and the idle refresh). A fresh entry lets a move send its request first.
    holders: Arc<Mutex<HashMap<Ipv4Addr, (String, Instant)>>>,
}

/// How long a learned holder is trusted for the warm path (the idle refresh renews it every
/// [`IDLE_TICK`]); older, the move looks the holder up first.
const HOLDER_FRESH: Duration = Duration::from_secs(150);

impl Worker {
    fn new(config: Config, shared: Arc<Shared>, hand_over: HandOver) -> Worker {
        Worker {
            config,
            ctx: None,
            shared,
            handled: HashMap::new(),
            hand_over,
            holders: Arc::default(),
        }
    }

    /// The context, made again after a failed discovery (a context remembers a failure for
    /// good, which suits one run, not a reader that lives for weeks).
    fn ctx(&mut self) -> anyhow::Result<&Context> {
        if self.ctx.is_none() {
            self.ctx = Some(Context::with_config(self.config.clone(), "notify-action")?);
        }
        let ready = match &self.ctx {
            Some(ctx) => ctx.identity().and_then(|_| ctx.client().map(|_| ())),
            None => Err(anyhow::anyhow!("no context")),
        };
        if let Err(e) = ready {
            self.ctx = None;
            return Err(e);
        }
        self.ctx
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no context"))
    }

    fn run(mut self) {
        let started = Instant::now();
        match self.ctx() {
            Ok(ctx) => {
                // The credentials too: a CVM role's keys are fetched now, not on the first move.
                let warm = ctx.credentials().credentials();
                crate::info!(
                    "fifo_warm",
                    elapsed_ms = started.elapsed().as_millis(),
                    credentials = if warm.is_ok() { "ok" } else { "failed" }
                );
                // And each VIP's holder, so the first move already sends its request first.
                self.refresh_holders();
            }
            Err(e) => crate::warn!(
                "fifo_warm_failed",
                error = crate::cli::error_text(&e),
                reason = "discovery is tried again on the first move"
            ),
        }
        while let Some(next) = self.shared.next() {
            match next {
                Next::Slot(instance, want) => self.handle(&instance, want),
                Next::Idle => {
                    // Only a context already made: discovery is retried on the next move, not
                    // every minute (it costs API calls).
                    if let Some(ctx) = &self.ctx
                        && let Err(e) = ctx.credentials().credentials()
                    {
                        crate::warn!("fifo_credentials_refresh_failed", error = e);
                    }
                    self.refresh_holders();
                }
            }
        }
    }

    fn handle(&mut self, instance: &str, want: Want) {
        let Some(state) = self
            .ctx
            .as_ref()
            .map(|c| c.state.clone())
            .or_else(|| vip_state::StateDir::open(&self.config.state.dir).ok())
        else {
            return;
        };
        let read = state.read_state(instance);
        let handled = self.handled.get(instance).copied().unwrap_or_default();
        let now = Instant::now();
        let action = pending::decide(read.state, read.seq, &handled, want, now);
        match action {
            Action::Migrate => self.moves(instance, "migrate", false),
            Action::Reconcile { startup } => self.moves(instance, "reconcile", startup),
            Action::Leave => self.leaving_master(instance, read.state),
            Action::Nothing(reason) => {
                if want.reconcile {
                    crate::debug!(
                        "fifo_rx_lower_pri_coalesced",
                        instance = instance,
                        reason = reason
                    );
                }
            }
        }
        let cooldown = Duration::from_secs(self.config.check.reconcile_cooldown_s);
        let next = pending::after(
            action,
            read.state,
            read.seq,
            &handled,
            Instant::now(),
            cooldown,
        );
        self.handled.insert(instance.to_owned(), next);
    }

    /// The one place where the reader reacts to an instance leaving MASTER (BACKUP, FAULT, STOP,
    /// DELETED), as notify-action does in fork mode: the reading thread has recorded the state,
    /// and when the instance has VIPs a hand-over run starts, detached (it gives the VIP to the
    /// MASTER when the cloud still routes it here; see `crate::handoff`).
    fn leaving_master(&mut self, instance: &str, now: KeepalivedState) {
        crate::info!("fifo_left_master", instance = instance, state = now);
        let hand_over = self.hand_over.clone();
        let ctx = match self.ctx() {
            Ok(ctx) => ctx,
            Err(e) => {
                crate::error!(
                    "handoff_start_failed",
                    instance = instance,
                    error = crate::cli::error_text(&e)
                );
                return;
            }
        };
        if ctx.vips_of(instance).is_empty() {
            return;
        }
        match crate::handoff::start(
            ctx,
            &hand_over.common,
            instance,
            hand_over.keepalived_conf.as_deref(),
        ) {
            Ok(pid) => crate::info!("handoff_started", instance = instance, pid = pid),
            Err(e) => crate::error!(
                "handoff_start_failed",
                instance = instance,
                error = crate::cli::error_text(&e)
            ),
        }
    }

    /// Moves (or reconciles) every VIP of `instance`, one thread per VIP, as vip-migrate does.
    /// Learns each VIP's holder (one DescribeNetworkInterfaces per VIP), which also keeps the
    /// API connection warm. Only with a context already made.
    fn refresh_holders(&self) {
        let Some(ctx) = &self.ctx else { return };
        let (Ok(identity), Ok(client)) = (ctx.identity(), ctx.client()) else {
            return;
        };
        let client = client.until(Instant::now() + Duration::from_secs(5));
        // A HAVIP is bound by gratuitous ARP, never moved from a holder: no hint for it.
        for vip in ctx.config.vips.iter().filter(|v| v.havip_id.is_none()) {
            match crate::cloud::find_holder(&client, identity.vpc_id.as_str(), vip.address) {
                Ok(Some(h)) => {
                    lock(&self.holders).insert(vip.address, (h.eni, Instant::now()));
                }
                Ok(None) => {
                    lock(&self.holders).remove(&vip.address);
                }
                Err(e) => {
                    lock(&self.holders).remove(&vip.address);
                    crate::warn!("fifo_holder_refresh_failed", vip = vip.address, error = e);
                }
            }
        }
    }

    fn holder_hint(
        holders: &Mutex<HashMap<Ipv4Addr, (String, Instant)>>,
        vip: Ipv4Addr,
    ) -> Option<String> {
        lock(holders)
            .get(&vip)
            .filter(|(_, at)| at.elapsed() < HOLDER_FRESH)
            .map(|(eni, _)| eni.clone())
    }

    fn moves(&mut self, instance: &str, purpose: &'static str, startup: bool) {
        let shared = self.shared.clone();
        let holders = Arc::clone(&self.holders);
        let ctx = match self.ctx() {
            Ok(ctx) => ctx,
            Err(e) => {
                crate::error!(
                    "fifo_migrate_failed",
                    instance = instance,
                    error = crate::cli::error_text(&e)
                );
                return;
            }
        };
        let (Ok(identity), Ok(client)) = (ctx.identity(), ctx.client()) else {
            return;
        };
        if let Err(e) = crate::vip_guard::refuse_own_primary(&ctx.config, identity) {
            crate::error!(
                "fifo_migrate_failed",
                instance = instance,
                error = crate::cli::error_text(&e)
            );
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(ctx.config.failover.deadline_s);
        let reconcile = purpose == "reconcile";
        let nic = crate::nic::LocalNic::new();
        let plans: Vec<Plan<'_>> = ctx
            .vips_of(instance)
            .into_iter()
            .filter(|v| {
                // After a start (a reload), a MASTER record is believed only where keepalived
                // has put the VIP on the NIC: a record older than keepalived's restart is not.
                !startup
                    || identity
                        .interface_for(v)
                        .is_some_and(|i| nic.has_ip(i, v.address).unwrap_or(false))
            })
            .map(|v| Plan {
                vip: v.address,
                instance,
                vpc_id: identity.vpc_id.as_str(),
                eni_id: identity.eni_id.as_str(),
                deadline,
                assign_if_unassigned: ctx.config.failover.assign_if_unassigned && !reconcile,
                force: false,
                dry_run: false,
                purpose,
                interface: identity.interface_for(v),
                notified_master: None,
                havip: crate::migrate::havip_plan(v, &ctx.config.failover),
            })
            .collect();
        if plans.is_empty() {
            crate::info!(
                "fifo_nothing_to_move",
                instance = instance,
                reason = if startup {
                    "no VIP of a MASTER record on the NIC"
                } else {
                    "no [[vip]] follows this instance"
                }
            );
            return;
        }
        *lock(&shared.doing) = Some(Doing {
            instance: instance.to_owned(),
            purpose,
            vips: plans.iter().map(|p| p.vip).collect(),
            eni: identity.eni_id.as_str().to_owned(),
            started_at_ms: now_ms(),
        });
        crate::info!(
            "fifo_migrate",
            instance = instance,
            purpose = purpose,
            vips = plans.len()
        );
        let state = &ctx.state;
        let hints: Vec<Option<String>> = plans
            .iter()
            .map(|p| Worker::holder_hint(&holders, p.vip).filter(|_| p.havip.is_none()))
            .collect();
        let reports: Vec<Report> = thread::scope(|scope| {
            let handles: Vec<_> = plans
                .iter()
                .zip(&hints)
                .map(|(plan, hint)| {
                    scope.spawn(move || {
                        crate::migrate::migrate_one_hinted(client, state, plan, hint.as_deref())
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        for report in &reports {
            if report.exit == Exit::Success
                && matches!(
                    report.outcome,
                    MigrationOutcome::Success | MigrationOutcome::AlreadyHere
                )
            {
                let view = vip_state::CloudView {
                    vip: report.vip,
                    holder_eni: Some(identity.eni_id.as_str().to_owned()),
                    holder_instance: Some(identity.instance_id.as_str().to_owned()),
                    ip_state: Some("AVAILABLE".to_owned()),
                    learned_at_ms: now_ms(),
                };
                lock(&holders).insert(
                    report.vip,
                    (identity.eni_id.as_str().to_owned(), Instant::now()),
                );
                if let Err(e) = ctx.state.write_cloud_view(&view) {
                    crate::warn!("state_write_failed", vip = report.vip, error = e);
                }
                let _ =
                    crate::operator::eip::after_move(ctx, report.vip, instance, false, deadline);
            }
        }
        *lock(&shared.doing) = None;
    }
}

/// Records that the reader stopped with `doing` in flight (keepalived's SIGTERM, 1 s before its
/// SIGKILL): vip-query then says so, instead of a run that died.
pub fn record_stopped(state: &vip_state::StateDir, doing: &Doing, why: &str) {
    for vip in &doing.vips {
        let record = MigrationRecord {
            vip: *vip,
            started_at_ms: doing.started_at_ms,
            ended_at_ms: Some(now_ms()),
            outcome: MigrationOutcome::Aborted,
            from_eni: None,
            to_eni: Some(doing.eni.clone()),
            request_ids: Vec::new(),
            attempts: 0,
            message: format!("the FIFO reader stopped ({why}) during a {}", doing.purpose),
        };
        if let Err(e) = state.write_migration(&record) {
            crate::warn!("state_write_failed", vip = vip, error = e);
        }
    }
}
