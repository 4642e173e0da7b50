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
//! non-zero only when a configured service check fails, or when `check.on_cloud_error = "fail"`
//! and the cloud could not be asked.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use vip_state::{
    CheckRecord, CheckResult, CloudView, KeepalivedState, LockStatus, ReconcileRecord, StateDir,
    StateError, now_ms,
};

use crate::cli::Common;
use crate::cloud::{self, Holder, MIGRATING};
use crate::config::{Config, OnCloudError, ServiceCheck, VipConfig};
use crate::context::Context;
use crate::discovery::Identity;
use crate::exit::Exit;
use crate::nic::{IpCommandNic, Nic};

/// How long a VIP must have been seen on a non-MASTER node's NIC before it is removed.
const STRAY_GRACE: Duration = Duration::from_millis(500);
/// A stray sighting older than this starts over (a few check intervals).
const STRAY_FORGET: Duration = Duration::from_secs(10);
/// A reconcile record is kept at least this long after its last attempt while the VIP is here.
const CONFLICT_QUIET: Duration = Duration::from_secs(60);
/// Time kept in hand at the end of the deadline for recording and exiting: a tenth of
/// `check.deadline_ms`, within these bounds.
const MIN_MARGIN: Duration = Duration::from_millis(50);
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
only when a service check fails or check.on_cloud_error = \"fail\" and the cloud is unreachable.",
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

#[derive(Debug, Serialize, Deserialize)]
struct StraySeen {
    vip: Ipv4Addr,
    first_seen_ms: u64,
    last_seen_ms: u64,
    /// The state record's sequence number at the first sighting: any notification since then
    /// (a MASTER in between) starts the count over.
    #[serde(default)]
    seq: u64,
}

/// Runs `check-self`.
pub fn run(args: &Args) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let ctx = Context::load(&args.common, "check-self")?;
    let deadline = started + ctx.config.check.deadline();
    let margin = margin_for(ctx.config.check.deadline());
    // Without --instance, every keepalived instance the configuration names is checked: one
    // track script serves them all.
    let names = ctx.config.instance_names();
    let instances: Vec<String> = match args.instance.as_deref() {
        None if names.len() > 1 => names.iter().map(|n| (*n).to_owned()).collect(),
        given => vec![ctx.instance_key(given)?],
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
            let vips: Vec<VipConfig> = ctx.vips_of(instance).into_iter().cloned().collect();
            check.instance = instance;
            match read.state {
                KeepalivedState::Unknown => check
                    .notes
                    .push(format!("{instance}: no keepalived state recorded yet")),
                KeepalivedState::Master => check.as_master(&vips),
                KeepalivedState::Backup | KeepalivedState::Fault | KeepalivedState::Stop => {
                    check.as_standby(&vips, read.state, read.seq)
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
    Ok(check.finish(&states.join(", ")))
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

struct Check<'a> {
    ctx: &'a Context,
    common: &'a Common,
    instance: &'a str,
    started: Instant,
    deadline: Instant,
    margin: Duration,
    failures: Vec<String>,
    notes: Vec<String>,
}

impl Check<'_> {
    fn remaining(&self) -> Duration {
        self.deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(self.margin)
    }

    /// Runs a state-directory write on a thread of its own and waits for it until the deadline
    /// at most: the writes are atomic and durable (fsync), and a busy disk must not hold
    /// check-self past `check.deadline_ms`. A write given up on carries on until the process
    /// exits; until its rename the old file stays in place.
    fn save<F>(&self, what: &'static str, write: F)
    where
        F: FnOnce(&StateDir) -> Result<(), StateError> + Send + 'static,
    {
        let state = self.ctx.state.clone();
        let (tx, rx) = mpsc::channel();
        let spawned = thread::Builder::new().name("state".into()).spawn(move || {
            let _ = tx.send(write(&state));
        });
        if let Err(e) = spawned {
            crate::warn!("state_write_failed", record = what, error = e);
            return;
        }
        match rx.recv_timeout(self.remaining()) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => crate::warn!("state_write_failed", record = what, error = e),
            Err(_) => crate::warn!(
                "state_write_slow",
                record = what,
                reason = "not finished before check.deadline_ms; left to finish in the background"
            ),
        }
    }

    fn as_master(&mut self, vips: &[VipConfig]) {
        let ttl = self.ctx.config.check.cloud_ttl();
        let cached: Vec<(Ipv4Addr, Option<CloudView>)> = vips
            .iter()
            .map(|v| {
                let view = self.ctx.state.read_cloud_view(v.address).value;
                (v.address, view.filter(|view| view.is_fresh(ttl)))
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
        let Some(learned) = self.learn(&stale) else {
            return;
        };
        let identity = match learned.identity {
            Ok(identity) => identity,
            Err(e) => {
                self.cloud_unknown(&format!("this node's identity is unknown: {e}"));
                return;
            }
        };
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
            let view = match cached.iter().find(|(a, _)| *a == vip.address) {
                Some((_, Some(view))) => Ok(view.clone()),
                _ => match learned.views.iter().find(|(a, _)| *a == vip.address) {
                    Some((_, Ok(holder))) => Ok(self.store_view(vip.address, holder.as_ref())),
                    Some((_, Err(e))) => Err(e.clone()),
                    None => Err("no answer from the cloud before the deadline".to_owned()),
                },
            };
            match view {
                Ok(view) => reconcile |= self.compare(vip.address, &view, &identity),
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

    /// Whether the cloud view calls for a reconcile of `vip`.
    fn compare(&mut self, vip: Ipv4Addr, view: &CloudView, identity: &Identity) -> bool {
        let me = identity.eni_id.as_str();
        let moving = view
            .ip_state
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(MIGRATING));
        match view.holder_eni.as_deref() {
            Some(holder) if holder == me => {
                // Having the VIP back does not end a conflict: with two masters each one wins
                // in turn. The record (and its grown cooldown) goes only once the conflict has
                // stayed away for a while.
                if self
                    .ctx
                    .state
                    .read_reconcile(vip)
                    .value
                    .is_some_and(|r| conflict_over(&r, now_ms()))
                {
                    self.save("reconcile", move |state| state.clear_reconcile(vip));
                }
                false
            }
            _ if moving => {
                self.notes.push(format!("{vip} is moving"));
                false
            }
            None => {
                crate::warn!("vip_unassigned", vip = vip, eni = me);
                self.notes.push(format!("{vip} is assigned to no ENI"));
                false
            }
            Some(holder) => self.may_reconcile(vip, holder),
        }
    }

    fn may_reconcile(&mut self, vip: Ipv4Addr, holder: &str) -> bool {
        match self.ctx.state.vip_lock_status(vip) {
            // A run stuck past its deadline (stopped, hung) will not finish: say so, and let the
            // reconcile below take its lock over.
            Ok(LockStatus::Held(Some(h))) if h.is_stuck(now_ms()) => {
                crate::warn!("migration_stuck", vip = vip, holder = h);
                self.notes
                    .push(format!("{vip}: the migration in flight is stuck ({h})"));
            }
            Ok(LockStatus::Held(_)) => {
                self.notes.push(format!("{vip}: a migration is in flight"));
                return false;
            }
            _ => {}
        }
        let now = now_ms();
        let previous = self.ctx.state.read_reconcile(vip).value;
        if let Some(p) = &previous
            && !p.cooldown_over(now)
        {
            crate::debug!(
                "reconcile_cooldown",
                vip = vip,
                holder = holder,
                cooldown_s = p.cooldown_s
            );
            self.notes
                .push(format!("{vip} is on {holder}; reconcile cooling down"));
            return false;
        }
        let next = ReconcileRecord::next_attempt(
            previous.as_ref(),
            vip,
            Some(holder),
            self.ctx.config.check.reconcile_cooldown(),
            now,
        );
        let stored = next.clone();
        self.save("reconcile", move |state| state.write_reconcile(&stored));
        crate::warn!(
            "reconcile",
            vip = vip,
            holder = holder,
            repeats = next.repeats,
            next_cooldown_s = next.cooldown_s
        );
        self.notes
            .push(format!("{vip} is on {holder}; reconcile started"));
        true
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
        match crate::ifaddrs::has_ipv4(Some(iface), vip.address) {
            Ok(true) => {}
            // keepalived may have left MASTER since the record was read: look again right
            // before changing the NIC.
            Ok(false)
                if self.ctx.state.read_state(self.instance).state != KeepalivedState::Master =>
            {
                self.notes
                    .push(format!("{}: no longer MASTER", vip.address));
            }
            Ok(false) => {
                let nic = IpCommandNic::new().with_timeout(self.remaining());
                match nic.add_ip(iface, vip.address, vip.prefix_len) {
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
                }
            }
            Err(e) => crate::error!("nic_probe_failed", vip = vip.address, error = e),
        }
    }

    fn as_standby(&mut self, vips: &[VipConfig], state: KeepalivedState, seq: u64) {
        if !self.ctx.config.check.remove_stray_vip {
            return;
        }
        // Without an interface in the config, any interface carrying the VIP counts.
        for vip in vips {
            let on = match crate::ifaddrs::ipv4_addresses() {
                Ok(all) => all
                    .into_iter()
                    .filter(|a| a.address == vip.address)
                    .filter(|a| vip.interface.as_deref().is_none_or(|i| i == a.interface))
                    .map(|a| a.interface)
                    .collect::<Vec<_>>(),
                Err(e) => {
                    crate::error!("nic_probe_failed", vip = vip.address, error = e);
                    continue;
                }
            };
            let name = format!("stray-{}", vip.address);
            if on.is_empty() {
                if self
                    .ctx
                    .state
                    .read_cache::<StraySeen>(&name)
                    .value
                    .is_some()
                {
                    self.save("stray", move |state| state.remove_cache(&name));
                }
                continue;
            }
            let now = now_ms();
            let seen = self
                .ctx
                .state
                .read_cache::<StraySeen>(&name)
                .value
                .map(|c| c.value)
                .filter(|s| {
                    s.seq == seq
                        && now.saturating_sub(s.last_seen_ms) < STRAY_FORGET.as_millis() as u64
                });
            let first = seen.as_ref().map_or(now, |s| s.first_seen_ms);
            if now.saturating_sub(first) < STRAY_GRACE.as_millis() as u64 {
                let record = StraySeen {
                    vip: vip.address,
                    first_seen_ms: first,
                    last_seen_ms: now,
                    seq,
                };
                self.save("stray", move |state| state.write_cache(&name, &record));
                self.notes.push(format!(
                    "{} on the NIC while {state}; removing it if it stays",
                    vip.address
                ));
                continue;
            }
            for iface in on {
                let nic = IpCommandNic::new().with_timeout(self.remaining());
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
            }
            self.save("stray", move |state| state.remove_cache(&name));
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

    fn finish(self, state: &str) -> Exit {
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
        let changed = previous
            .as_ref()
            .is_none_or(|p| p.result != result || p.reason != reason);
        if changed {
            if result == CheckResult::Fail {
                crate::warn!("check_failed", instance = self.instance, reason = reason);
            } else {
                crate::info!("check", instance = self.instance, reason = reason);
            }
            let record = CheckRecord {
                result,
                reason,
                at_ms: now_ms(),
            };
            self.save("check", move |state| state.write_check(&record));
        }
        crate::debug!(
            "check_done",
            instance = self.instance,
            exit = exit.code(),
            elapsed_ms = self.started.elapsed().as_millis()
        );
        exit
    }
}

/// Whether a reconcile conflict is over: the VIP is here and no reconcile has been needed for
/// twice the cooldown (and at least [`CONFLICT_QUIET`]). Until then the cooldown keeps growing.
fn conflict_over(record: &ReconcileRecord, now_ms: u64) -> bool {
    let quiet = record
        .cooldown_s
        .saturating_mul(2000)
        .max(CONFLICT_QUIET.as_millis() as u64);
    now_ms >= record.last_attempt_at_ms.saturating_add(quiet)
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

    fn record(last_attempt_at_ms: u64, cooldown_s: u64) -> ReconcileRecord {
        ReconcileRecord {
            vip: Ipv4Addr::new(10, 0, 1, 100),
            holder_eni: Some("eni-peer".to_owned()),
            last_attempt_at_ms,
            cooldown_s,
            repeats: 3,
        }
    }

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

    #[test]
    fn a_conflict_is_over_only_after_a_quiet_spell() {
        let start = 1_000_000;
        // Short cooldowns: the quiet spell is at least CONFLICT_QUIET.
        let r = record(start, 4);
        assert!(!conflict_over(&r, start));
        assert!(!conflict_over(&r, start + 8_000));
        assert!(!conflict_over(&r, start + 59_999));
        assert!(conflict_over(&r, start + 60_000));
        // Long cooldowns: twice the cooldown.
        let r = record(start, 300);
        assert!(!conflict_over(&r, start + 599_999));
        assert!(conflict_over(&r, start + 600_000));
        // A clock that went back does not end it.
        assert!(!conflict_over(&r, start - 1));
        assert!(!conflict_over(&record(u64::MAX - 5, 600), u64::MAX - 1));
    }
}
