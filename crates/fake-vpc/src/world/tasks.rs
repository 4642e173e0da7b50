//! How the world changes over time: asynchronous writes start as tasks of pending changes due
//! at `now + lag`; [`World::advance`] lands (or, for a failed task, undoes) what is due.

use std::net::Ipv4Addr;
use std::time::Instant;

use crate::topology::EipOnMigrate;

use super::*;

impl World {
    fn set_ip_state(&mut self, ip: Ipv4Addr, state: IpState) {
        for e in &mut self.enis {
            for p in &mut e.ips {
                if p.ip == ip {
                    p.state = state;
                }
            }
        }
    }

    /// Takes the fail-next-task switch.
    fn take_fail(&mut self) -> bool {
        std::mem::take(&mut self.fail_next_task)
    }

    /// Accepts an asynchronous ENI operation as task `task_id`, marking its IPs.
    pub(crate) fn start_vpc_task(
        &mut self,
        task_id: &str,
        action: &str,
        resource: &str,
        changes: Vec<Change>,
        now: Instant,
    ) {
        for c in &changes {
            match c {
                Change::Migrate { ip, .. } => self.set_ip_state(*ip, IpState::Migrating),
                Change::Assign { ip, eni } => {
                    if let Some(e) = self.eni_mut(eni) {
                        e.ips.push(PrivateIp {
                            ip: *ip,
                            primary: false,
                            state: IpState::Pending,
                        });
                    }
                }
                Change::Unassign { ip, .. } => self.set_ip_state(*ip, IpState::Deleting),
                Change::EipBind { .. }
                | Change::EipUnbind { .. }
                | Change::EipCreate { .. }
                | Change::HaVipEipBind { .. }
                | Change::HaVipEipUnbind { .. }
                | Change::HaVipBind { .. } => {}
            }
        }
        let fail = self.take_fail();
        self.tasks.insert(
            task_id.to_string(),
            VpcTask {
                id: task_id.to_string(),
                action: action.to_string(),
                status: TaskStatus::Running,
                resource: resource.to_string(),
                output: String::new(),
            },
        );
        self.pending.push(Pending {
            changes,
            due: now + self.lag,
            fail,
            task: TaskRef::Vpc(task_id.to_string()),
        });
    }

    /// Accepts an asynchronous EIP operation; returns its integer task id.
    pub(crate) fn start_eip_task(&mut self, changes: Vec<Change>, now: Instant) -> u64 {
        let id = self.next_eip_task;
        self.next_eip_task += 1;
        let fail = self.take_fail();
        self.eip_tasks.insert(
            id,
            EipTask {
                id,
                status: TaskStatus::Running,
            },
        );
        self.pending.push(Pending {
            changes,
            due: now + self.lag,
            fail,
            task: TaskRef::Eip(id),
        });
        id
    }

    /// When the next pending operation is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.due).min()
    }

    /// Lands every operation due at `now`, oldest first; returns the IPs that changed holder.
    pub fn advance(&mut self, now: Instant) -> Vec<Landing> {
        let mut landings = Vec::new();
        while let Some(pos) = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, p)| p.due <= now)
            .min_by_key(|(_, p)| p.due)
            .map(|(i, _)| i)
        {
            let op = self.pending.remove(pos);
            for change in &op.changes {
                if op.fail {
                    self.undo(change);
                } else {
                    self.apply(change, &mut landings);
                }
            }
            let status = if op.fail {
                TaskStatus::Failed
            } else {
                TaskStatus::Success
            };
            match &op.task {
                TaskRef::Vpc(id) => {
                    if let Some(t) = self.tasks.get_mut(id) {
                        t.status = status;
                        t.output = if op.fail {
                            "task failed: the operation was rolled back".into()
                        } else {
                            "SUCCESS".into()
                        };
                    }
                }
                TaskRef::Eip(id) => {
                    if let Some(t) = self.eip_tasks.get_mut(id) {
                        t.status = status;
                    }
                }
                TaskRef::Garp(_) => {}
            }
        }
        landings
    }

    fn apply(&mut self, change: &Change, landings: &mut Vec<Landing>) {
        match change {
            Change::Migrate { ip, from, to } => {
                if let Some(src) = self.eni_mut(from) {
                    src.ips.retain(|p| p.ip != *ip);
                }
                if let Some(dst) = self.eni_mut(to) {
                    dst.ips.push(PrivateIp {
                        ip: *ip,
                        primary: false,
                        state: IpState::Available,
                    });
                }
                // An EIP bound to the IP follows it or is dropped, as the topology says (not
                // documented either way).
                let policy = self.eip_on_migrate;
                for eip in &mut self.eips {
                    if eip.private_ip == Some(*ip) && eip.eni.as_deref() == Some(from.as_str()) {
                        match policy {
                            EipOnMigrate::Follow => eip.eni = Some(to.clone()),
                            EipOnMigrate::Drop => {
                                eip.eni = None;
                                eip.private_ip = None;
                                eip.status = EipStatus::Unbind;
                            }
                        }
                    }
                }
                landings.push(self.landing_for(*ip, Some(to)));
            }
            Change::Assign { ip, eni } => {
                self.set_ip_state(*ip, IpState::Available);
                landings.push(self.landing_for(*ip, Some(eni)));
            }
            Change::Unassign { ip, eni } => {
                if let Some(e) = self.eni_mut(eni) {
                    e.ips.retain(|p| p.ip != *ip);
                }
                for eip in &mut self.eips {
                    if eip.private_ip == Some(*ip) {
                        eip.eni = None;
                        eip.private_ip = None;
                        eip.status = EipStatus::Unbind;
                    }
                }
                landings.push(self.landing_for(*ip, None));
            }
            Change::EipBind { eip } => {
                if let Some(p) = self.eips.iter_mut().find(|p| p.id == *eip) {
                    p.status = EipStatus::Bind;
                }
            }
            Change::EipUnbind { eip } => {
                if let Some(p) = self.eips.iter_mut().find(|p| p.id == *eip) {
                    p.status = EipStatus::Unbind;
                    p.eni = None;
                    p.private_ip = None;
                    if let Some(havip) = p.havip.take()
                        && let Some(h) = self.havips.iter_mut().find(|h| h.id == havip)
                    {
                        h.address_ip = None;
                    }
                }
            }
            Change::EipCreate { eip } => {
                if let Some(p) = self.eips.iter_mut().find(|p| p.id == *eip) {
                    p.status = EipStatus::Unbind;
                }
            }
            Change::HaVipEipBind { havip, eip } => {
                let Some(vip) = self.havips.iter().find(|h| h.id == *havip).map(|h| h.vip) else {
                    return;
                };
                let mut bound = None;
                if let Some(p) = self.eips.iter_mut().find(|p| p.id == *eip) {
                    p.status = EipStatus::Bind;
                    p.eni = None;
                    p.private_ip = Some(vip);
                    p.havip = Some(havip.clone());
                    bound = Some(p.ip);
                }
                if let Some(h) = self.havips.iter_mut().find(|h| h.id == *havip) {
                    h.address_ip = bound;
                }
            }
            Change::HaVipEipUnbind { havip, eip } => {
                if let Some(p) = self.eips.iter_mut().find(|p| p.id == *eip) {
                    p.status = EipStatus::Unbind;
                    p.eni = None;
                    p.private_ip = None;
                    p.havip = None;
                }
                if let Some(h) = self.havips.iter_mut().find(|h| h.id == *havip) {
                    h.address_ip = None;
                }
            }
            Change::HaVipBind { havip, eni } => {
                let Some(h) = self.havips.iter_mut().find(|h| h.id == *havip) else {
                    return;
                };
                // A GARP from the ENI already bound changes nothing (no drift, no hook).
                if h.eni.as_deref() == Some(eni.as_str()) {
                    return;
                }
                h.eni = Some(eni.clone());
                h.flushed = Some(crate::ids::unix_now());
                let vip = h.vip;
                landings.push(self.landing_for(vip, Some(eni)));
            }
        }
    }

    fn undo(&mut self, change: &Change) {
        match change {
            Change::Migrate { ip, .. } | Change::Unassign { ip, .. } => {
                self.set_ip_state(*ip, IpState::Available);
            }
            Change::Assign { ip, eni } => {
                if let Some(e) = self.eni_mut(eni) {
                    e.ips.retain(|p| p.ip != *ip);
                }
            }
            Change::EipBind { eip } => {
                if let Some(p) = self.eips.iter_mut().find(|p| p.id == *eip) {
                    p.status = EipStatus::Unbind;
                    p.eni = None;
                    p.private_ip = None;
                }
            }
            Change::EipUnbind { eip } => {
                if let Some(p) = self.eips.iter_mut().find(|p| p.id == *eip) {
                    p.status = EipStatus::Bind;
                }
            }
            Change::EipCreate { eip } => self.eips.retain(|p| p.id != *eip),
            Change::HaVipEipBind { eip, .. } => {
                if let Some(p) = self.eips.iter_mut().find(|p| p.id == *eip) {
                    p.status = EipStatus::Unbind;
                    p.private_ip = None;
                    p.havip = None;
                }
            }
            Change::HaVipEipUnbind { eip, .. } => {
                if let Some(p) = self.eips.iter_mut().find(|p| p.id == *eip) {
                    p.status = EipStatus::Bind;
                }
            }
            // A learned binding never fails.
            Change::HaVipBind { .. } => {}
        }
    }
}
