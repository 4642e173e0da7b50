//! check-self as MASTER: the VIP back on the NIC, the cloud's view (cached or looked up on a
//! worker given up at the deadline), and what the core says about it (reconcile or not).

use std::net::Ipv4Addr;
use std::sync::mpsc;
use std::thread;

use vip_state::{CloudView, KeepalivedState, LockStatus, now_ms};

use super::Check;
use crate::cloud::{self, Holder};
use crate::config::{Config, VipConfig};
use crate::context::Context;
use crate::core::{
    self,
    check::{LockSeen, MasterFacts, MasterStep, RestoreStep, view_usable},
};
use crate::discovery::Identity;
use crate::nic::{LocalNic, Nic};

/// What the worker learned: this node's identity and, where asked, the cloud's view.
pub(super) struct Learned {
    pub(super) identity: Result<Identity, String>,
    views: Vec<(Ipv4Addr, Result<Option<Holder>, String>)>,
}

impl Check<'_> {
    pub(super) fn as_master(&mut self, vips: &[VipConfig]) {
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
    pub(super) fn learn(&mut self, stale: &[Ipv4Addr]) -> Option<Learned> {
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
