//! check-self's ports: the state directory (reads here, writes on a thread each, given up at the
//! deadline, see [`Check::save`]) and the cloud (a worker given up at the deadline), as the
//! core's [`CheckRecords`] and [`CheckCloud`].

use std::cell::RefCell;
use std::net::Ipv4Addr;

use vip_state::{CloudView, LockStatus, ReconcileRecord, now_ms};

use super::Check;
use crate::core::check::{LockSeen, StraySeen};
use crate::core::check_run::{CheckCloud, CheckRecords, Looked, NoAnswer};
use crate::core::{Latest, Records};
use crate::discovery::Identity;

fn stray_name(vip: Ipv4Addr) -> String {
    format!("stray-{vip}")
}

impl Records for Check<'_> {
    fn latest(&self, instance: &str) -> Latest {
        self.ctx.state.latest(instance)
    }
}

impl CheckRecords for Check<'_> {
    fn cloud_view(&self, vip: Ipv4Addr) -> Option<CloudView> {
        self.ctx.state.read_cloud_view(vip).value
    }
    fn save_view(&self, view: &CloudView) {
        let view = view.clone();
        self.save("cloud_view", move |state| state.write_cloud_view(&view));
    }
    fn reconcile(&self, vip: Ipv4Addr) -> Option<ReconcileRecord> {
        self.ctx.state.read_reconcile(vip).value
    }
    fn save_reconcile(&self, record: &ReconcileRecord) {
        let record = record.clone();
        self.save("reconcile", move |state| state.write_reconcile(&record));
    }
    fn clear_reconcile(&self, vip: Ipv4Addr) {
        self.save("reconcile", move |state| state.clear_reconcile(vip));
    }
    fn stray(&self, vip: Ipv4Addr) -> Option<StraySeen> {
        self.ctx
            .state
            .read_cache::<StraySeen>(&stray_name(vip))
            .value
            .map(|c| c.value)
    }
    fn save_stray(&self, seen: &StraySeen) {
        let (name, seen) = (stray_name(seen.vip), seen.clone());
        self.save("stray", move |state| state.write_cache(&name, &seen));
    }
    fn forget_stray(&self, vip: Ipv4Addr) {
        let name = stray_name(vip);
        self.save("stray", move |state| state.remove_cache(&name));
    }
    fn lock(&self, vip: Ipv4Addr) -> (LockSeen, Option<String>) {
        match self.ctx.state.vip_lock_status(vip) {
            Ok(LockStatus::Held(Some(h))) if h.is_stuck(now_ms()) => {
                (LockSeen::Stuck, Some(h.to_string()))
            }
            Ok(LockStatus::Held(_)) => (LockSeen::Held, None),
            _ => (LockSeen::Free, None),
        }
    }
}

/// The cloud through check-self's worker ([`Check::learn`]); keeps the identity it learned.
pub(super) struct WorkerCloud<'c, 'a> {
    pub(super) check: &'c Check<'a>,
    pub(super) identity: RefCell<Option<Identity>>,
}

impl CheckCloud for WorkerCloud<'_, '_> {
    fn look_up(&self, vips: &[Ipv4Addr]) -> Result<Looked, NoAnswer> {
        let learned = self.check.learn(vips).map_err(NoAnswer::Unknown)?;
        let identity = learned
            .identity
            .map_err(|e| NoAnswer::Unknown(format!("this node's identity is unknown: {e}")))?;
        if let Err(e) = crate::vip_guard::refuse_own_primary(&self.check.ctx.config, &identity) {
            return Err(NoAnswer::Refused(crate::cli::error_text(&e)));
        }
        let me = identity.eni_id.as_str().to_owned();
        *self.identity.borrow_mut() = Some(identity);
        Ok(Looked {
            me,
            holders: learned.views,
        })
    }
}
