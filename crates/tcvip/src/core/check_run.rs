//! check-self's run on injected ports: the order of its steps and what each fact leads to, with
//! the state directory ([`CheckRecords`]), the cloud ([`CheckCloud`]), the NIC and the clock
//! reached through [`CheckPorts`]. As MASTER: a vanished VIP goes back on the NIC before the
//! cloud is asked; an unknown cloud changes nothing; a cached view that would start a reconcile
//! is looked up again; a fresh one records the reconcile and asks for it to start. As BACKUP,
//! FAULT or STOP: a VIP on the NIC is removed once seen twice ([`stray_step`]). The driver
//! ([`crate::check`]) keeps the worker and its deadline, the guards that need the node's
//! identity, the detached start and the verdict.

use std::net::Ipv4Addr;
use std::time::Duration;

use vip_state::{CloudView, KeepalivedState, ReconcileRecord};

use super::check::{
    LockSeen, MasterFacts, MasterStep, RestoreStep, StraySeen, StrayStep, master_step,
    restore_step, stray_step, view_usable,
};
use super::{Clock, Holder, Nic, Records};
use crate::ifaddrs::IfAddr;
use crate::nic::NicError;
use crate::vip_guard::removal_refusal;

/// The state directory, as check-self reads and writes it. Writes cannot fail here: the driver
/// records a failed write in the verdict.
pub trait CheckRecords: Records {
    fn cloud_view(&self, vip: Ipv4Addr) -> Option<CloudView>;
    fn save_view(&self, view: &CloudView);
    fn reconcile(&self, vip: Ipv4Addr) -> Option<ReconcileRecord>;
    fn save_reconcile(&self, record: &ReconcileRecord);
    fn clear_reconcile(&self, vip: Ipv4Addr);
    fn stray(&self, vip: Ipv4Addr) -> Option<StraySeen>;
    fn save_stray(&self, seen: &StraySeen);
    fn forget_stray(&self, vip: Ipv4Addr);
    /// The VIP's single-flight lock as this node sees it, with who holds it when stuck.
    fn lock(&self, vip: Ipv4Addr) -> (LockSeen, Option<String>);
}

/// What the cloud answered: this node's ENI and the holder of each VIP asked about.
#[derive(Debug, Clone, Default)]
pub struct Looked {
    pub me: String,
    pub holders: Vec<(Ipv4Addr, Result<Option<Holder>, String>)>,
}

/// Why the cloud gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoAnswer {
    /// Not known (unreachable, too slow, an error): nothing is changed.
    Unknown(String),
    /// This node must not hold a VIP it is configured with (its own primary IP): the check fails.
    Refused(String),
}

/// The cloud, as check-self asks it (the driver bounds each call by the check's deadline).
pub trait CheckCloud {
    /// This node's ENI and the holder of each of `vips` (none: the identity only).
    fn look_up(&self, vips: &[Ipv4Addr]) -> Result<Looked, NoAnswer>;
}

/// Everything check-self reaches outside its rules, injected together.
#[derive(Clone, Copy)]
pub struct CheckPorts<'a> {
    pub records: &'a dyn CheckRecords,
    pub cloud: &'a dyn CheckCloud,
    pub nic: &'a dyn Nic,
    pub clock: &'a dyn Clock,
}

impl std::fmt::Debug for CheckPorts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckPorts")
    }
}

/// A VIP of the instance checked, as the NIC has it.
#[derive(Debug, Clone, Copy)]
pub struct MasterVip<'a> {
    pub address: Ipv4Addr,
    /// `vip.interface`; `None`: known only from the node's identity (the driver's part).
    pub interface: Option<&'a str>,
    pub prefix_len: u8,
    /// `kind = "havip"`: its holder is the ENI the HAVIP is bound to, and unbound is healed.
    pub havip: bool,
}

/// A MASTER run's facts from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct MasterInput<'a> {
    pub instance: &'a str,
    pub vips: &'a [MasterVip<'a>],
    /// This node's ENI when known without asking (the cached identity, `node.eni_id`).
    pub known_me: Option<&'a str>,
    /// `check.cloud_ttl_s`.
    pub ttl: Duration,
    /// `check.reconcile_cooldown_s`.
    pub base_cooldown: Duration,
}

/// What a MASTER run found and did.
#[derive(Debug, Clone, Default)]
pub struct MasterOutcome {
    pub notes: Vec<String>,
    /// Why the cloud's view is unknown (each one changed nothing).
    pub unknown: Vec<String>,
    /// Why the check fails.
    pub failures: Vec<String>,
    /// VIPs an ENI holds as its primary IP (VIP, ENI): never moved, the check fails.
    pub primary: Vec<(Ipv4Addr, String)>,
    /// The view each VIP was decided on.
    pub views: Vec<CloudView>,
    /// A reconcile was recorded: start vip-migrate.
    pub reconcile: bool,
}

/// Puts `vip` back on `iface` if it vanished, unless keepalived left MASTER since (the record is
/// read again right before the change). A note when something was done or held back.
pub fn restore(
    p: &CheckPorts<'_>,
    instance: &str,
    vip: Ipv4Addr,
    iface: &str,
    prefix_len: u8,
) -> Option<String> {
    let on = match p.nic.has_ip(iface, vip) {
        Ok(on) => on,
        Err(e) => {
            crate::error!("nic_probe_failed", vip = vip, error = e);
            return None;
        }
    };
    let master_now = || {
        let latest = p.records.latest(instance);
        latest.noted.unwrap_or(latest.state) == KeepalivedState::Master
    };
    match restore_step(on, master_now) {
        RestoreStep::Present => None,
        RestoreStep::NotMaster => Some(format!("{vip}: no longer MASTER")),
        RestoreStep::Add => match p.nic.add_ip(iface, vip, prefix_len) {
            Ok(()) => {
                crate::warn!("vip_restored", vip = vip, interface = iface);
                Some(format!("{vip} restored on {iface}"))
            }
            Err(e) => {
                crate::error!(
                    "vip_restore_failed",
                    vip = vip,
                    interface = iface,
                    error = e
                );
                None
            }
        },
    }
}

/// The core's step for `vip` on `view` (`fresh`: looked up by this run), with who holds the
/// lock when a stuck run does. The lock is looked at only when the VIP is elsewhere.
fn step(
    p: &CheckPorts<'_>,
    input: &MasterInput<'_>,
    view: &CloudView,
    fresh: bool,
    me: &str,
) -> (MasterStep, Option<String>) {
    let record = p.records.reconcile(view.vip);
    let havip = input.vips.iter().any(|v| v.address == view.vip && v.havip);
    let elsewhere = match view.holder_eni.as_deref() {
        Some(h) => h != me,
        None => havip,
    };
    let (lock, stuck) = if elsewhere {
        p.records.lock(view.vip)
    } else {
        (LockSeen::Free, None)
    };
    let step = master_step(&MasterFacts {
        me,
        view,
        fresh,
        record: record.as_ref(),
        lock,
        base_cooldown: input.base_cooldown,
        now_ms: p.clock.wall_ms(),
        havip,
    });
    (step, stuck)
}

/// A MASTER's run: the NIC first, then the cloud's view (cached while usable, looked up
/// otherwise, and again before a reconcile), then each VIP's step applied to the records.
pub fn master(p: &CheckPorts<'_>, input: &MasterInput<'_>) -> MasterOutcome {
    let mut out = MasterOutcome::default();
    let now = p.clock.wall_ms();
    let mut cached: Vec<(Ipv4Addr, Option<CloudView>)> = input
        .vips
        .iter()
        .map(|v| {
            let here = || p.records.lock(v.address).0 != LockSeen::Free;
            let view = p.records.cloud_view(v.address);
            (
                v.address,
                view.filter(|view| view_usable(view, input.ttl, here, now)),
            )
        })
        .collect();
    // A reconcile is decided on a fresh lookup only: a cached view that would start one is
    // looked up again now (or, when this node's ENI is not known yet, once it is, below).
    if let Some(me) = input.known_me {
        for (_, view) in &mut cached {
            if view
                .as_ref()
                .is_some_and(|v| step(p, input, v, false, me).0 == MasterStep::LookUp)
            {
                *view = None;
            }
        }
    }
    let stale: Vec<Ipv4Addr> = cached
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(a, _)| *a)
        .collect();
    // The NIC comes first: putting a vanished VIP back never waits for the cloud.
    for vip in input.vips {
        if let Some(iface) = vip.interface {
            out.notes.extend(restore(
                p,
                input.instance,
                vip.address,
                iface,
                vip.prefix_len,
            ));
        }
    }
    let mut looked = match p.cloud.look_up(&stale) {
        Ok(looked) => looked,
        Err(NoAnswer::Unknown(reason)) => {
            out.unknown.push(reason);
            return out;
        }
        Err(NoAnswer::Refused(reason)) => {
            out.failures.push(reason);
            return out;
        }
    };
    let me = looked.me.clone();
    let again: Vec<Ipv4Addr> = cached
        .iter()
        .filter_map(|(vip, view)| {
            let view = view.as_ref()?;
            (step(p, input, view, false, &me).0 == MasterStep::LookUp).then_some(*vip)
        })
        .collect();
    if !again.is_empty() {
        match p.cloud.look_up(&again) {
            Ok(more) => {
                looked.holders.extend(more.holders);
                for (vip, view) in &mut cached {
                    if again.contains(vip) {
                        *view = None;
                    }
                }
            }
            Err(NoAnswer::Unknown(reason) | NoAnswer::Refused(reason)) => out.unknown.push(reason),
        }
    }
    for vip in input.vips {
        let vip = vip.address;
        let answer = looked
            .holders
            .iter()
            .find(|(a, _)| *a == vip)
            .map(|(_, h)| h);
        if let Some(Ok(Some(h))) = answer
            && h.primary
        {
            out.primary.push((vip, h.eni.clone()));
            continue;
        }
        let (view, fresh) = match (cached.iter().find(|(a, _)| *a == vip), answer) {
            (Some((_, Some(view))), _) => (view.clone(), false),
            (_, Some(Ok(holder))) => {
                let view = CloudView {
                    vip,
                    holder_eni: holder.as_ref().map(|h| h.eni.clone()),
                    holder_instance: holder.as_ref().and_then(|h| h.instance.clone()),
                    ip_state: holder.as_ref().map(|h| h.state.clone()),
                    learned_at_ms: p.clock.wall_ms(),
                };
                p.records.save_view(&view);
                (view, true)
            }
            (_, Some(Err(e))) => {
                out.unknown.push(format!("{vip}: {e}"));
                continue;
            }
            (_, None) => {
                out.unknown.push(format!(
                    "{vip}: no answer from the cloud before the deadline"
                ));
                continue;
            }
        };
        out.reconcile |= apply(p, input, &view, fresh, &me, &mut out.notes);
        out.views.push(view);
    }
    out
}

/// Applies the step for `view` to the records; whether a reconcile was recorded.
fn apply(
    p: &CheckPorts<'_>,
    input: &MasterInput<'_>,
    view: &CloudView,
    fresh: bool,
    me: &str,
    notes: &mut Vec<String>,
) -> bool {
    let vip = view.vip;
    let (step, stuck_holder) = step(p, input, view, fresh, me);
    match step {
        MasterStep::Here => false,
        MasterStep::ConflictOver => {
            p.records.clear_reconcile(vip);
            false
        }
        MasterStep::Moving => {
            notes.push(format!("{vip} is moving"));
            false
        }
        MasterStep::Unassigned => {
            crate::warn!("vip_unassigned", vip = vip, eni = me);
            notes.push(format!("{vip} is assigned to no ENI"));
            false
        }
        MasterStep::InFlight => {
            notes.push(format!("{vip}: a migration is in flight"));
            false
        }
        MasterStep::CoolingDown { holder, cooldown_s } => {
            crate::debug!(
                "reconcile_cooldown",
                vip = vip,
                holder = holder,
                cooldown_s = cooldown_s
            );
            notes.push(format!("{vip} is on {holder}; reconcile cooling down"));
            false
        }
        MasterStep::LookUp => {
            // Decided on the next run, on a view looked up then.
            notes.push(format!(
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
                // A run stuck past its deadline (stopped, hung) will not finish: say so, and let
                // the reconcile take its lock over.
                crate::warn!("migration_stuck", vip = vip, holder = h);
                notes.push(format!("{vip}: the migration in flight is stuck ({h})"));
            }
            p.records.save_reconcile(&record);
            crate::warn!(
                "reconcile",
                vip = vip,
                holder = holder,
                repeats = record.repeats,
                next_cooldown_s = record.cooldown_s
            );
            if holder == super::check::UNBOUND {
                notes.push(format!("{vip} is bound to no ENI; reconcile started"));
            } else {
                notes.push(format!("{vip} is on {holder}; reconcile started"));
            }
            true
        }
    }
}

/// A non-MASTER's step for `vip` on `iface`, with state record `seq`: the sighting remembered or
/// forgotten, or the VIP removed; never an address the interface or the node owns (its first
/// address, `own_primary`). A note when something was seen or done.
pub fn standby_vip(
    p: &CheckPorts<'_>,
    vip: Ipv4Addr,
    iface: &str,
    own_primary: Option<Ipv4Addr>,
    seq: u64,
    state: KeepalivedState,
) -> Option<String> {
    let addresses = match p.nic.addresses(iface) {
        Ok(addresses) => addresses,
        Err(NicError::NoSuchInterface { .. }) => Vec::new(),
        Err(e) => {
            crate::error!("nic_probe_failed", vip = vip, interface = iface, error = e);
            return None;
        }
    };
    let on = addresses.iter().any(|a| a.ip == vip);
    let listed: Vec<IfAddr> = addresses
        .iter()
        .map(|a| IfAddr {
            interface: iface.to_owned(),
            address: a.ip,
        })
        .collect();
    if on && let Some(reason) = removal_refusal(vip, iface, &listed, own_primary) {
        crate::error!(
            "stray_vip_kept",
            vip = vip,
            interface = iface,
            state = state,
            reason = reason
        );
        return Some(format!("{vip} left on {iface}: {reason}"));
    }
    let seen = p.records.stray(vip);
    match stray_step(vip, on, seen.as_ref(), seq, p.clock.wall_ms()) {
        StrayStep::Forget => {
            if seen.is_some() {
                p.records.forget_stray(vip);
            }
            None
        }
        StrayStep::Remember(record) => {
            p.records.save_stray(&record);
            Some(format!(
                "{vip} on the NIC while {state}; removing it if it stays"
            ))
        }
        StrayStep::Remove => {
            let note = match p.nic.remove_ip(iface, vip) {
                Ok(()) => {
                    crate::warn!(
                        "stray_vip_removed",
                        vip = vip,
                        interface = iface,
                        state = state
                    );
                    Some(format!("stray {vip} removed from {iface}"))
                }
                Err(e) => {
                    crate::error!(
                        "stray_vip_remove_failed",
                        vip = vip,
                        interface = iface,
                        error = e
                    );
                    None
                }
            };
            p.records.forget_stray(vip);
            note
        }
    }
}
