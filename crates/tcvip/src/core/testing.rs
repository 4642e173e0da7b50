//! Test doubles for the core: a manual clock, a scripted cloud, records in memory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use tencent_api::vpc::{HaVip, TaskStatus};
use tencent_api::{ApiError, Error};
use vip_state::{CloudView, KeepalivedState, ReconcileRecord};

use super::check::{LockSeen, StraySeen};
use super::check_run::{CheckCloud, CheckRecords, Looked, NoAnswer};
use super::{Clock, Cloud, Holder, Latest, Records};
use crate::nic::{FakeNic, IfaceAddr, Nic, NicError};

/// A clock that moves only when slept on.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    offset: Cell<Duration>,
}

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock {
            start: Instant::now(),
            offset: Cell::new(Duration::ZERO),
        }
    }
    pub fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }
    pub fn elapsed_ms(&self) -> u64 {
        self.offset.get().as_millis() as u64
    }
    pub fn advance(&self, d: Duration) {
        self.offset.set(self.offset.get() + d);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + self.offset.get()
    }
    fn sleep(&self, d: Duration) {
        self.advance(d);
    }
    fn wall_ms(&self) -> u64 {
        WALL_START_MS + self.elapsed_ms()
    }
}

/// The wall time a [`ManualClock`] starts at (unix ms).
pub const WALL_START_MS: u64 = 1_700_000_000_000;

/// An API error with `code`.
pub fn api(code: &str, action: &str) -> Error {
    Error::Api(ApiError {
        code: code.to_owned(),
        message: "from the test".to_owned(),
        request_id: "req-test".to_owned(),
        action: action.to_owned(),
    })
}

/// A transport error (retryable, "unknown").
pub fn dropped(action: &str) -> Error {
    Error::Transport {
        action: action.to_owned(),
        detail: "connection reset".to_owned(),
    }
}

pub fn holder(eni: &str, state: &str) -> Holder {
    Holder {
        eni: eni.to_owned(),
        instance: None,
        state: state.to_owned(),
        primary: false,
    }
}

/// One call the scripted cloud answered, with the manual time it came at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Describe,
    Migrate { from: String },
    Assign,
    Task,
    Refresh,
    DescribeHaVips,
}

/// A VPC in memory: one VIP, its holder, queued faults per action, moves that land after `lag`
/// polls of the task.
pub struct FakeCloud<'a> {
    pub clock: &'a ManualClock,
    pub holder: RefCell<Option<Holder>>,
    pub faults: RefCell<VecDeque<(&'static str, Error)>>,
    /// How many task polls a move stays RUNNING.
    pub lag_polls: Cell<u32>,
    /// Answer every task poll FAILED (the move does not happen).
    pub tasks_fail: Cell<bool>,
    pending: RefCell<Option<(String, u32)>>,
    pub calls: RefCell<Vec<(u64, Call)>>,
    /// The HAVIP DescribeHaVips shows (`None`: no such HAVIP).
    pub havip: RefCell<Option<HaVip>>,
    /// HAVIP bindings the VPC has learned and will show from a given ms on: (ms, ENI).
    pub binds: RefCell<Vec<(u64, String)>>,
}

impl<'a> FakeCloud<'a> {
    pub fn new(clock: &'a ManualClock, holder: Option<Holder>) -> FakeCloud<'a> {
        FakeCloud {
            clock,
            holder: RefCell::new(holder),
            faults: RefCell::new(VecDeque::new()),
            lag_polls: Cell::new(2),
            tasks_fail: Cell::new(false),
            pending: RefCell::new(None),
            calls: RefCell::new(Vec::new()),
            havip: RefCell::new(None),
            binds: RefCell::new(Vec::new()),
        }
    }
    /// The HAVIP `HAVIP_ID` at `vip`, bound to `eni` (`None`: `UNBIND`).
    pub fn with_havip(self, vip: Ipv4Addr, eni: Option<&str>) -> Self {
        *self.havip.borrow_mut() = Some(havip(vip, eni));
        self
    }
    /// From `ms` on, DescribeHaVips shows the HAVIP bound to `eni` (a gratuitous ARP learned).
    pub fn bind_at(&self, ms: u64, eni: &str) {
        self.binds.borrow_mut().push((ms, eni.to_owned()));
    }
    /// The next call of `action` fails with `err` (in queue order).
    pub fn fail_next(&self, action: &'static str, err: Error) {
        self.faults.borrow_mut().push_back((action, err));
    }
    fn fault(&self, action: &str) -> Option<Error> {
        let mut faults = self.faults.borrow_mut();
        let at = faults.iter().position(|(a, _)| *a == action)?;
        faults.remove(at).map(|(_, e)| e)
    }
    fn log(&self, call: Call) {
        self.calls
            .borrow_mut()
            .push((self.clock.elapsed_ms(), call));
    }
    pub fn writes(&self) -> Vec<Call> {
        self.calls
            .borrow()
            .iter()
            .filter(|(_, c)| matches!(c, Call::Migrate { .. } | Call::Assign))
            .map(|(_, c)| c.clone())
            .collect()
    }
    pub fn count(&self, call: &Call) -> usize {
        self.calls
            .borrow()
            .iter()
            .filter(|(_, c)| c == call)
            .count()
    }
}

impl Cloud for FakeCloud<'_> {
    fn find_holder(&self, _vip: Ipv4Addr, _by: Instant) -> Result<Option<Holder>, Error> {
        self.log(Call::Describe);
        if let Some(e) = self.fault("DescribeNetworkInterfaces") {
            return Err(e);
        }
        Ok(self.holder.borrow().clone())
    }
    fn migrate(&self, _vip: Ipv4Addr, from: &str, to: &str, _by: Instant) -> Result<String, Error> {
        self.log(Call::Migrate {
            from: from.to_owned(),
        });
        if let Some(e) = self.fault("MigratePrivateIpAddress") {
            return Err(e);
        }
        *self.holder.borrow_mut() = Some(if self.lag_polls.get() == 0 {
            holder(to, "AVAILABLE")
        } else {
            holder(from, "MIGRATING")
        });
        *self.pending.borrow_mut() = Some((to.to_owned(), self.lag_polls.get()));
        Ok(format!("req-{}", self.calls.borrow().len()))
    }
    fn assign(&self, _vip: Ipv4Addr, to: &str, _by: Instant) -> Result<String, Error> {
        self.log(Call::Assign);
        if let Some(e) = self.fault("AssignPrivateIpAddresses") {
            return Err(e);
        }
        *self.holder.borrow_mut() = Some(holder(to, "PENDING"));
        *self.pending.borrow_mut() = Some((to.to_owned(), self.lag_polls.get()));
        Ok(format!("req-{}", self.calls.borrow().len()))
    }
    fn find_havip(&self, _id: &str, _by: Instant) -> Result<Option<HaVip>, Error> {
        self.log(Call::DescribeHaVips);
        if let Some(e) = self.fault("DescribeHaVips") {
            return Err(e);
        }
        let now = self.clock.elapsed_ms();
        let mut havip = self.havip.borrow_mut();
        if let Some(h) = havip.as_mut() {
            let mut binds = self.binds.borrow_mut();
            binds.sort();
            while binds.first().is_some_and(|(at, _)| *at <= now) {
                let (_, eni) = binds.remove(0);
                *h = self::havip(h.vip.parse().unwrap(), Some(&eni));
            }
        }
        Ok(havip.clone())
    }
    fn task_status(&self, _id: &str, _by: Instant) -> Result<TaskStatus, Error> {
        self.log(Call::Task);
        if let Some(e) = self.fault("DescribeVpcTaskResult") {
            return Err(e);
        }
        let mut pending = self.pending.borrow_mut();
        let Some((to, left)) = pending.as_mut() else {
            return Ok(TaskStatus::Success);
        };
        if *left > 0 {
            *left -= 1;
            return Ok(TaskStatus::Running);
        }
        let to = to.clone();
        *pending = None;
        if self.tasks_fail.get() {
            // A failed move leaves the VIP settled on its source; a failed assignment, nowhere.
            let mut h = self.holder.borrow_mut();
            if h.as_ref().is_some_and(|h| h.state == "PENDING") {
                *h = None;
            } else if let Some(h) = h.as_mut() {
                h.state = "AVAILABLE".to_owned();
            }
            return Ok(TaskStatus::Failed);
        }
        *self.holder.borrow_mut() = Some(holder(&to, "AVAILABLE"));
        Ok(TaskStatus::Success)
    }
    fn refresh_credentials(&self) {
        self.log(Call::Refresh);
    }
}

/// The HAVIP id of the tests.
pub const HAVIP_ID: &str = "havip-test";

/// The HAVIP [`HAVIP_ID`] at `vip`, bound to `eni` or `UNBIND`.
pub fn havip(vip: Ipv4Addr, eni: Option<&str>) -> HaVip {
    HaVip {
        ha_vip_id: HAVIP_ID.to_owned(),
        vip: vip.to_string(),
        network_interface_id: eni.unwrap_or_default().to_owned(),
        instance_id: eni.map(|e| e.replace("eni", "ins")).unwrap_or_default(),
        state: if eni.is_some() { "AVAILABLE" } else { "UNBIND" }.to_owned(),
        ..HaVip::default()
    }
}

/// A NIC whose gratuitous ARPs a [`FakeCloud`] learns: each one sent from this node binds the
/// HAVIP to `me` `learn_ms` later, unless the VPC ignores it (`ignore`, counted down).
pub struct GarpNic<'a> {
    pub nic: FakeNic,
    pub cloud: &'a FakeCloud<'a>,
    pub me: &'static str,
    pub learn_ms: u64,
    pub ignore: Cell<u32>,
    /// Refuse every send as an unprivileged process would be.
    pub unprivileged: Cell<bool>,
    /// The manual ms each gratuitous ARP was sent at, with its interface.
    pub sent: RefCell<Vec<(u64, String)>>,
}

impl<'a> GarpNic<'a> {
    pub fn new(nic: FakeNic, cloud: &'a FakeCloud<'a>, me: &'static str) -> GarpNic<'a> {
        GarpNic {
            nic,
            cloud,
            me,
            learn_ms: 500,
            ignore: Cell::new(0),
            unprivileged: Cell::new(false),
            sent: RefCell::new(Vec::new()),
        }
    }
    pub fn sent_at(&self) -> Vec<u64> {
        self.sent.borrow().iter().map(|(at, _)| *at).collect()
    }
}

impl Nic for GarpNic<'_> {
    fn addresses(&self, iface: &str) -> Result<Vec<IfaceAddr>, NicError> {
        self.nic.addresses(iface)
    }
    fn add_ip(&self, iface: &str, ip: Ipv4Addr, prefix_len: u8) -> Result<(), NicError> {
        self.nic.add_ip(iface, ip, prefix_len)
    }
    fn remove_ip(&self, iface: &str, ip: Ipv4Addr) -> Result<(), NicError> {
        self.nic.remove_ip(iface, ip)
    }
    fn send_garp(&self, iface: &str, ip: Ipv4Addr) -> Result<(), NicError> {
        if self.unprivileged.get() {
            return Err(NicError::GarpPermission {
                iface: iface.to_owned(),
            });
        }
        self.nic.send_garp(iface, ip)?;
        let now = self.cloud.clock.elapsed_ms();
        self.sent.borrow_mut().push((now, iface.to_owned()));
        if self.ignore.get() > 0 {
            self.ignore.set(self.ignore.get() - 1);
        } else {
            self.cloud.bind_at(now + self.learn_ms, self.me);
        }
        Ok(())
    }
}

/// Keepalived states in memory, changing at given manual times.
pub struct FakeRecords<'a> {
    pub clock: &'a ManualClock,
    /// (from ms, state, seq), in time order.
    pub timeline: RefCell<Vec<(u64, KeepalivedState, u64)>>,
    pub noted: Cell<Option<KeepalivedState>>,
    /// From this ms on, the keepalived (pid 4242) that recorded the latest MASTER is dead.
    pub reporter_gone_from: Cell<Option<u64>>,
}

impl<'a> FakeRecords<'a> {
    pub fn master(clock: &'a ManualClock) -> FakeRecords<'a> {
        FakeRecords {
            clock,
            timeline: RefCell::new(vec![(0, KeepalivedState::Master, 1)]),
            noted: Cell::new(None),
            reporter_gone_from: Cell::new(None),
        }
    }
    /// From `ms` on, the record says `state` (with the next sequence number).
    pub fn then(&self, ms: u64, state: KeepalivedState) {
        let mut t = self.timeline.borrow_mut();
        let seq = t.last().map_or(1, |l| l.2 + 1);
        t.push((ms, state, seq));
    }
}

impl Records for FakeRecords<'_> {
    fn latest(&self, _instance: &str) -> Latest {
        let now = self.clock.elapsed_ms();
        let t = self.timeline.borrow();
        let (_, state, seq) = t
            .iter()
            .rev()
            .find(|(from, _, _)| *from <= now)
            .copied()
            .unwrap_or((0, KeepalivedState::Unknown, 0));
        Latest {
            state,
            seq,
            noted: self.noted.get(),
        }
    }
    fn master_reporter_gone(&self, instance: &str) -> Option<u32> {
        let dead = self
            .reporter_gone_from
            .get()
            .is_some_and(|from| from <= self.clock.elapsed_ms());
        (dead && self.latest(instance).state == KeepalivedState::Master).then_some(4242)
    }
}

/// check-self's state directory in memory; every write is logged in order.
pub struct FakeCheckRecords {
    pub state: Cell<KeepalivedState>,
    pub seq: Cell<u64>,
    pub views: RefCell<Vec<CloudView>>,
    pub reconcile: RefCell<Option<ReconcileRecord>>,
    pub stray: RefCell<Option<StraySeen>>,
    pub lock: Cell<LockSeen>,
    pub writes: RefCell<Vec<&'static str>>,
}

impl FakeCheckRecords {
    pub fn new(state: KeepalivedState) -> FakeCheckRecords {
        FakeCheckRecords {
            state: Cell::new(state),
            seq: Cell::new(1),
            views: RefCell::new(Vec::new()),
            reconcile: RefCell::new(None),
            stray: RefCell::new(None),
            lock: Cell::new(LockSeen::Free),
            writes: RefCell::new(Vec::new()),
        }
    }
    fn wrote(&self, what: &'static str) {
        self.writes.borrow_mut().push(what);
    }
}

impl Records for FakeCheckRecords {
    fn latest(&self, _instance: &str) -> Latest {
        Latest {
            state: self.state.get(),
            seq: self.seq.get(),
            noted: None,
        }
    }
}

impl CheckRecords for FakeCheckRecords {
    fn cloud_view(&self, vip: Ipv4Addr) -> Option<CloudView> {
        self.views
            .borrow()
            .iter()
            .rev()
            .find(|v| v.vip == vip)
            .cloned()
    }
    fn save_view(&self, view: &CloudView) {
        self.wrote("cloud_view");
        self.views.borrow_mut().push(view.clone());
    }
    fn reconcile(&self, _vip: Ipv4Addr) -> Option<ReconcileRecord> {
        self.reconcile.borrow().clone()
    }
    fn save_reconcile(&self, record: &ReconcileRecord) {
        self.wrote("reconcile");
        *self.reconcile.borrow_mut() = Some(record.clone());
    }
    fn clear_reconcile(&self, _vip: Ipv4Addr) {
        self.wrote("reconcile cleared");
        *self.reconcile.borrow_mut() = None;
    }
    fn stray(&self, _vip: Ipv4Addr) -> Option<StraySeen> {
        self.stray.borrow().clone()
    }
    fn save_stray(&self, seen: &StraySeen) {
        self.wrote("stray");
        *self.stray.borrow_mut() = Some(seen.clone());
    }
    fn forget_stray(&self, _vip: Ipv4Addr) {
        self.wrote("stray forgotten");
        *self.stray.borrow_mut() = None;
    }
    fn lock(&self, _vip: Ipv4Addr) -> (LockSeen, Option<String>) {
        let lock = self.lock.get();
        (
            lock,
            (lock == LockSeen::Stuck).then(|| "pid 4242".to_owned()),
        )
    }
}

/// The cloud as check-self asks it: this node's ENI and one VIP's holder (or no answer). Each
/// call is logged with what was asked and how many NIC changes `nic` had made by then.
pub struct FakeCheckCloud<'a> {
    pub me: &'static str,
    pub holder: RefCell<Result<Option<Holder>, NoAnswer>>,
    pub nic: &'a FakeNic,
    pub calls: RefCell<Vec<(Vec<Ipv4Addr>, usize)>>,
}

impl<'a> FakeCheckCloud<'a> {
    pub fn new(nic: &'a FakeNic, holder: Result<Option<Holder>, NoAnswer>) -> FakeCheckCloud<'a> {
        FakeCheckCloud {
            me: "eni-me",
            holder: RefCell::new(holder),
            nic,
            calls: RefCell::new(Vec::new()),
        }
    }
    pub fn asked(&self) -> Vec<Vec<Ipv4Addr>> {
        self.calls.borrow().iter().map(|(v, _)| v.clone()).collect()
    }
}

impl CheckCloud for FakeCheckCloud<'_> {
    fn look_up(&self, vips: &[Ipv4Addr]) -> Result<Looked, NoAnswer> {
        self.calls
            .borrow_mut()
            .push((vips.to_vec(), self.nic.ops().len()));
        let holder = self.holder.borrow().clone()?;
        Ok(Looked {
            me: self.me.to_owned(),
            holders: vips.iter().map(|&v| (v, Ok(holder.clone()))).collect(),
        })
    }
}
