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
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use vip_state::{
    CheckRecord, CheckResult, CloudView, FlightAttempt, KeepalivedState, LockStatus, StateDir,
    StateError, Verdict, now_ms,
};

use crate::cli::Common;
use crate::cloud::{self, Holder};
use crate::config::{Config, OnCloudError, ServiceCheck, VipConfig};
use crate::context::Context;
use crate::core::{
    self,
    check::{LockSeen, MasterFacts, MasterStep, RestoreStep, StraySeen, StrayStep, view_usable},
};
use crate::discovery::Identity;
use crate::exit::Exit;
use crate::nic::{LocalNic, Nic};

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

/// What the worker learned: this node's identity and, where asked, the cloud's view.
struct Learned {
    identity: Result<Identity, String>,
    views: Vec<(Ipv4Addr, Result<Option<Holder>, String>)>,
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

    fn as_master(&mut self, vips: &[VipConfig]) {
        let ttl = self.ctx.config.check.cloud_ttl();
        let cached: Vec<(Ipv4Addr, Option<CloudView>)> = vips
            .iter()
            .map(|v| {
                let view = self.ctx.state.read_cloud_view(v.address).value;
                let here = || {
                    matches!(
                        self.ctx.state.vip_lock_status(v.address),
                        Ok(LockStatus::Held(_))
                    )
                };
                (
                    v.address,
                    view.filter(|view| view_usable(view, ttl, here, now_ms())),
                )
            })
            .collect();
        // A reconcile is decided on a fresh lookup only: a cached view that would start one is
        // looked up again now (this node's ENI from the identity an earlier run cached, or
        // `node.eni_id`; when neither is known, once the worker has found it, below).
        let me = self
            .cached
            .as_ref()
            .map(|i| i.eni_id.as_str().to_owned())
            .or_else(|| {
                self.ctx
                    .config
                    .node
                    .eni_id
                    .as_ref()
                    .map(|e| e.as_str().to_owned())
            });
        let mut cached: Vec<(Ipv4Addr, Option<CloudView>)> = cached
            .into_iter()
            .map(|(vip, view)| {
                let again = match (&view, &me) {
                    (Some(view), Some(me)) => {
                        self.step(vip, view, false, me).0 == MasterStep::LookUp
                    }
                    _ => false,
                };
                (vip, view.filter(|_| !again))
            })
            .collect();
        let stale: Vec<Ipv4Addr> = cached
            .iter()
            .filter(|(_, view)| view.is_none())
            .map(|(vip, _)| *vip)
            .collect();
        // The NIC comes first: putting a vanished VIP back never waits for the cloud.
        for vip in vips {
            if let Some(iface) = &vip.interface {
                self.restore_on_nic(vip, iface);
            }
        }
        let Some(mut learned) = self.learn(&stale) else {
            return;
        };
        let identity = match learned.identity {
            Ok(identity) => identity,
            Err(e) => {
                self.cloud_unknown(&format!("this node's identity is unknown: {e}"));
                return;
            }
        };
        if let Err(e) = crate::vip_guard::refuse_own_primary(&self.ctx.config, &identity) {
            self.failures.push(crate::cli::error_text(&e));
            return;
        }
        let me = identity.eni_id.as_str();
        let again: Vec<Ipv4Addr> = cached
            .iter()
            .filter_map(|(vip, view)| {
                let view = view.as_ref()?;
                (self.step(*vip, view, false, me).0 == MasterStep::LookUp).then_some(*vip)
            })
            .collect();
        if !again.is_empty()
            && let Some(more) = self.learn(&again)
        {
            learned.views.extend(more.views);
            for (vip, view) in &mut cached {
                if again.contains(vip) {
                    *view = None;
                }
            }
        }
        let mut reconcile = false;
        for vip in vips {
            if vip.interface.is_none() {
                match identity.interface_for(vip).map(str::to_owned) {
                    Some(iface) => self.restore_on_nic(vip, &iface),
                    None => self.notes.push(format!(
                        "{}: no interface known; set vip.interface",
                        vip.address
                    )),
                }
            }
            if let Some((_, Ok(Some(h)))) = learned.views.iter().find(|(a, _)| *a == vip.address)
                && h.primary
            {
                let e = crate::vip_guard::primary_ip(
                    &self.ctx.config,
                    crate::vip_guard::index_of(&self.ctx.config, vip.address),
                    vip.address,
                    Some(&h.eni),
                );
                self.failures.push(crate::cli::error_text(&e));
                continue;
            }
            let view = match cached.iter().find(|(a, _)| *a == vip.address) {
                Some((_, Some(view))) => Ok((view.clone(), false)),
                _ => match learned.views.iter().find(|(a, _)| *a == vip.address) {
                    Some((_, Ok(holder))) => {
                        Ok((self.store_view(vip.address, holder.as_ref()), true))
                    }
                    Some((_, Err(e))) => Err(e.clone()),
                    None => Err("no answer from the cloud before the deadline".to_owned()),
                },
            };
            match view {
                Ok((view, fresh)) => {
                    reconcile |= self.compare(vip.address, &view, fresh, &identity);
                    reconcile |= crate::operator::eip::check_as_master(
                        self.ctx,
                        vip,
                        &view,
                        &identity,
                        self.remaining(),
                        &mut self.notes,
                    );
                }
                Err(e) => self.cloud_unknown(&format!("{}: {e}", vip.address)),
            }
        }
        if reconcile {
            self.start_reconcile();
        }
    }

    /// Learns the identity (cached after the first run) and the holder of each of `stale`, on a
    /// worker given up at the deadline.
    fn learn(&mut self, stale: &[Ipv4Addr]) -> Option<Learned> {
        let mut config: Config = self.ctx.config.clone();
        let remaining = self.remaining();
        // Each API request must end inside the check's own deadline.
        config.cloud.timeout_ms = config
            .cloud
            .timeout_ms
            .min(remaining.as_millis() as u64)
            .max(1);
        let stale = stale.to_vec();
        let (tx, rx) = mpsc::channel();
        let spawned = thread::Builder::new().name("cloud".into()).spawn(move || {
            let _ = tx.send(learn(config, &stale));
        });
        if let Err(e) = spawned {
            self.cloud_unknown(&format!("cannot start the cloud worker: {e}"));
            return None;
        }
        match rx.recv_timeout(remaining) {
            Ok(learned) => Some(learned),
            Err(_) => {
                self.cloud_unknown("the cloud did not answer before check.deadline_ms");
                None
            }
        }
    }

    fn store_view(&self, vip: Ipv4Addr, holder: Option<&Holder>) -> CloudView {
        let view = CloudView {
            vip,
            holder_eni: holder.map(|h| h.eni.clone()),
            holder_instance: holder.and_then(|h| h.instance.clone()),
            ip_state: holder.map(|h| h.state.clone()),
            learned_at_ms: now_ms(),
        };
        let stored = view.clone();
        self.save("cloud_view", move |state| state.write_cloud_view(&stored));
        view
    }

    /// What this node knows of `vip`'s lock, with who holds it when stuck.
    fn lock_seen(&self, vip: Ipv4Addr) -> (LockSeen, Option<vip_state::Holder>) {
        match self.ctx.state.vip_lock_status(vip) {
            Ok(LockStatus::Held(Some(h))) if h.is_stuck(now_ms()) => (LockSeen::Stuck, Some(h)),
            Ok(LockStatus::Held(_)) => (LockSeen::Held, None),
            _ => (LockSeen::Free, None),
        }
    }

    /// The core's step for `vip` on `view` (`fresh`: looked up by this run), with who holds the
    /// lock when a stuck run does.
    fn step(
        &self,
        vip: Ipv4Addr,
        view: &CloudView,
        fresh: bool,
        me: &str,
    ) -> (MasterStep, Option<vip_state::Holder>) {
        let record = self.ctx.state.read_reconcile(vip).value;
        // The lock is looked at only when the VIP is elsewhere (looking takes it for an instant).
        let elsewhere = view.holder_eni.as_deref().is_some_and(|h| h != me);
        let (lock, stuck_holder) = if elsewhere {
            self.lock_seen(vip)
        } else {
            (LockSeen::Free, None)
        };
        let step = core::check::master_step(&MasterFacts {
            me,
            view,
            fresh,
            record: record.as_ref(),
            lock,
            base_cooldown: self.ctx.config.check.reconcile_cooldown(),
            now_ms: now_ms(),
        });
        (step, stuck_holder)
    }

    /// Whether the cloud view calls for a reconcile of `vip` ([`core::check::master_step`]).
    /// `fresh`: this run looked the view up.
    fn compare(
        &mut self,
        vip: Ipv4Addr,
        view: &CloudView,
        fresh: bool,
        identity: &Identity,
    ) -> bool {
        let me = identity.eni_id.as_str();
        let (step, stuck_holder) = self.step(vip, view, fresh, me);
        match step {
            MasterStep::Here => false,
            MasterStep::ConflictOver => {
                self.save("reconcile", move |state| state.clear_reconcile(vip));
                false
            }
            MasterStep::Moving => {
                self.notes.push(format!("{vip} is moving"));
                false
            }
            MasterStep::Unassigned => {
                crate::warn!("vip_unassigned", vip = vip, eni = me);
                self.notes.push(format!("{vip} is assigned to no ENI"));
                false
            }
            MasterStep::InFlight => {
                self.notes.push(format!("{vip}: a migration is in flight"));
                false
            }
            MasterStep::CoolingDown { holder, cooldown_s } => {
                crate::debug!(
                    "reconcile_cooldown",
                    vip = vip,
                    holder = holder,
                    cooldown_s = cooldown_s
                );
                self.notes
                    .push(format!("{vip} is on {holder}; reconcile cooling down"));
                false
            }
            MasterStep::LookUp => {
                // Decided on the next run, on a view looked up then.
                self.notes.push(format!(
                    "{vip}: a cached view says another ENI holds it; looking again before a reconcile"
                ));
                false
            }
            MasterStep::Reconcile {
                holder,
                record,
                stuck,
            } => {
                if stuck && let Some(h) = stuck_holder {
                    // A run stuck past its deadline (stopped, hung) will not finish: say so, and
                    // let the reconcile take its lock over.
                    crate::warn!("migration_stuck", vip = vip, holder = h);
                    self.notes
                        .push(format!("{vip}: the migration in flight is stuck ({h})"));
                }
                let next_cooldown_s = record.cooldown_s;
                let repeats = record.repeats;
                self.save("reconcile", move |state| state.write_reconcile(&record));
                crate::warn!(
                    "reconcile",
                    vip = vip,
                    holder = holder,
                    repeats = repeats,
                    next_cooldown_s = next_cooldown_s
                );
                self.notes
                    .push(format!("{vip} is on {holder}; reconcile started"));
                true
            }
        }
    }

    fn start_reconcile(&mut self) {
        match crate::notify::start_migration(self.ctx, self.common, self.instance, true) {
            Ok(pid) => crate::info!(
                "migrate_started",
                instance = self.instance,
                pid = pid,
                reconcile = true
            ),
            Err(e) => crate::error!(
                "migrate_start_failed",
                instance = self.instance,
                error = crate::cli::error_text(&e)
            ),
        }
    }

    fn restore_on_nic(&mut self, vip: &VipConfig, iface: &str) {
        let nic = LocalNic::new().with_timeout(self.remaining());
        let on = match nic.has_ip(iface, vip.address) {
            Ok(on) => on,
            Err(e) => {
                crate::error!("nic_probe_failed", vip = vip.address, error = e);
                return;
            }
        };
        let master_now =
            || self.ctx.state.read_state(self.instance).state == KeepalivedState::Master;
        match core::check::restore_step(on, master_now) {
            RestoreStep::Present => {}
            RestoreStep::NotMaster => self
                .notes
                .push(format!("{}: no longer MASTER", vip.address)),
            RestoreStep::Add => match nic.add_ip(iface, vip.address, vip.prefix_len) {
                Ok(()) => {
                    crate::warn!("vip_restored", vip = vip.address, interface = iface);
                    self.notes
                        .push(format!("{} restored on {iface}", vip.address));
                }
                Err(e) => crate::error!(
                    "vip_restore_failed",
                    vip = vip.address,
                    interface = iface,
                    error = e
                ),
            },
        }
    }

    fn as_standby(&mut self, vips: &[VipConfig], state: KeepalivedState, seq: u64) {
        if !self.ctx.config.check.remove_stray_vip {
            return;
        }
        let all = match crate::ifaddrs::ipv4_addresses() {
            Ok(all) => all,
            Err(e) => {
                crate::error!("nic_probe_failed", error = e);
                return;
            }
        };
        for vip in vips {
            let name = format!("stray-{}", vip.address);
            // keepalived manages the VIP on one interface: only that one is looked at, never
            // `lo` or another interface that carries the address for its own reasons.
            let anywhere = all.iter().any(|a| a.address == vip.address);
            let Some(iface) = self.standby_interface(vip, anywhere) else {
                if anywhere {
                    self.notes.push(format!(
                        "{} is on the NIC while {state}, but which interface keepalived manages \
                         it on is not known yet (set vip.interface): left alone",
                        vip.address
                    ));
                }
                continue;
            };
            let own_primary = self.cached.as_ref().and_then(|i| i.primary_ipv4);
            let on = all
                .iter()
                .any(|a| a.address == vip.address && a.interface == iface);
            if on
                && let Some(reason) =
                    crate::vip_guard::removal_refusal(vip.address, &iface, &all, own_primary)
            {
                crate::error!(
                    "stray_vip_kept",
                    vip = vip.address,
                    interface = iface,
                    state = state,
                    reason = reason
                );
                self.notes
                    .push(format!("{} left on {iface}: {reason}", vip.address));
                continue;
            }
            let seen = self
                .ctx
                .state
                .read_cache::<StraySeen>(&name)
                .value
                .map(|c| c.value);
            match core::check::stray_step(vip.address, on, seen.as_ref(), seq, now_ms()) {
                StrayStep::Forget => {
                    if seen.is_some() {
                        self.save("stray", move |state| state.remove_cache(&name));
                    }
                    continue;
                }
                StrayStep::Remember(record) => {
                    self.save("stray", move |state| state.write_cache(&name, &record));
                    self.notes.push(format!(
                        "{} on the NIC while {state}; removing it if it stays",
                        vip.address
                    ));
                    continue;
                }
                StrayStep::Remove => {}
            }
            let nic = LocalNic::new().with_timeout(self.remaining());
            match nic.remove_ip(&iface, vip.address) {
                Ok(()) => {
                    crate::warn!(
                        "stray_vip_removed",
                        vip = vip.address,
                        interface = iface,
                        state = state
                    );
                    self.notes
                        .push(format!("stray {} removed from {iface}", vip.address));
                }
                Err(e) => crate::error!(
                    "stray_vip_remove_failed",
                    vip = vip.address,
                    interface = iface,
                    error = e
                ),
            }
            self.save("stray", move |state| state.remove_cache(&name));
        }
    }

    /// The interface keepalived manages `vip` on: `vip.interface`, else the one carrying the
    /// primary MAC of the identity cached by an earlier run. With nothing cached, and only when
    /// the VIP is on some interface (`anywhere`), the identity is discovered on the worker,
    /// under the deadline, once per run.
    fn standby_interface(&mut self, vip: &VipConfig, anywhere: bool) -> Option<String> {
        if let Some(iface) = &vip.interface {
            return Some(iface.clone());
        }
        if let Some(mac) = self.cached.as_ref().and_then(|i| i.mac.as_ref()) {
            return match crate::nic::interface_by_mac(
                Path::new(crate::nic::SYS_CLASS_NET),
                mac.as_str(),
            ) {
                Ok(found) => found,
                Err(e) => {
                    crate::warn!("nic_probe_failed", vip = vip.address, error = e);
                    None
                }
            };
        }
        if !anywhere {
            return None;
        }
        if self.discovered_interface.is_none() {
            let found = match self.learn(&[]).map(|l| l.identity) {
                Some(Ok(identity)) => {
                    let found = identity.interface.clone();
                    if let Err(e) =
                        crate::vip_guard::refuse_own_primary(&self.ctx.config, &identity)
                    {
                        self.failures.push(crate::cli::error_text(&e));
                    }
                    self.cached = Some(identity);
                    found
                }
                Some(Err(e)) => {
                    crate::warn!("identity_unknown", vip = vip.address, error = e);
                    None
                }
                None => None,
            };
            self.discovered_interface = Some(found);
        }
        self.discovered_interface.clone().flatten()
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

/// The worker: identity first (a cache read on a warm node), then one lookup per stale VIP.
fn learn(config: Config, stale: &[Ipv4Addr]) -> Learned {
    let ctx = match Context::with_config(config, "check-self") {
        Ok(ctx) => ctx,
        Err(e) => {
            return Learned {
                identity: Err(crate::cli::error_text(&e)),
                views: Vec::new(),
            };
        }
    };
    let identity = match ctx.identity() {
        Ok(identity) => identity.clone(),
        Err(e) => {
            return Learned {
                identity: Err(crate::cli::error_text(&e)),
                views: Vec::new(),
            };
        }
    };
    let views = stale
        .iter()
        .map(|&vip| {
            let holder = ctx
                .client()
                .and_then(|client| Ok(cloud::find_holder(client, identity.vpc_id.as_str(), vip)?))
                .map_err(|e| crate::cli::error_text(&e));
            (vip, holder)
        })
        .collect();
    Learned {
        identity: Ok(identity),
        views,
    }
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
