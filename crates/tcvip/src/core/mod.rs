//! The failover rules, with every effect injected.
//!
//! [`migrate::run`] (vip-migrate's run for one VIP) and [`check`] (check-self's decisions) hold
//! the rules of a failover: re-check MASTER before every write, wait for a change in flight, the
//! grace before the first write, what each class of error means, task polling and its fallback,
//! the reconcile cooldown and when a conflict is over, a stray seen twice, how long a cloud view
//! may answer. The cloud, the NIC, the state directory and the clock reach them through the
//! traits of [`Ports`], injected together, so that the rules run in unit tests on a manual clock
//! in milliseconds, and so that every command (vip-migrate, check-self, a long-lived reader)
//! drives the same rules. The binaries' modules ([`crate::migrate`], [`crate::check`]) are the
//! drivers: flags, configuration, locks, threads, output.

pub mod check;
pub mod check_run;
#[cfg(test)]
mod check_run_tests;
#[cfg(test)]
mod check_tests;
mod errors;
pub mod migrate;
#[cfg(test)]
mod migrate_error_tests;
#[cfg(test)]
mod migrate_havip_tests;
#[cfg(test)]
mod migrate_hint_tests;
#[cfg(test)]
mod migrate_tests;
pub mod rules;
#[cfg(test)]
mod split_sim;
#[cfg(test)]
pub(crate) mod testing;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use tencent_api::Error;
use tencent_api::vpc::{HaVip, TaskStatus};
use vip_state::KeepalivedState;

pub use crate::cloud::Holder;
pub use crate::nic::Nic;

/// The VPC API, as the rules use it. Every call ends by `by` (the run's deadline).
pub trait Cloud {
    /// Which ENI holds `vip` (exact match); `None` when none does.
    fn find_holder(&self, vip: Ipv4Addr, by: Instant) -> Result<Option<Holder>, Error>;
    /// MigratePrivateIpAddress(`from` → `to`); the request id.
    fn migrate(&self, vip: Ipv4Addr, from: &str, to: &str, by: Instant) -> Result<String, Error>;
    /// AssignPrivateIpAddresses(`vip` on `to`); the request id.
    fn assign(&self, vip: Ipv4Addr, to: &str, by: Instant) -> Result<String, Error>;
    /// DescribeHaVips(HaVipIds=[`havip_id`]): the HAVIP, `None` when the API knows no such one.
    fn find_havip(&self, havip_id: &str, _by: Instant) -> Result<Option<HaVip>, Error> {
        Err(Error::InvalidRequest {
            action: "DescribeHaVips".to_owned(),
            detail: format!("this cloud cannot look up {havip_id}"),
        })
    }
    /// DescribeVpcTaskResult(`request_id`).
    fn task_status(&self, request_id: &str, by: Instant) -> Result<TaskStatus, Error>;
    /// Drops cached credentials: the next call fetches them again.
    fn refresh_credentials(&self);
}

/// The latest keepalived state of an instance, as the state directory has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latest {
    /// The recorded state.
    pub state: KeepalivedState,
    /// Its sequence number.
    pub seq: u64,
    /// A newer notification that could not be recorded: it has the last word.
    pub noted: Option<KeepalivedState>,
}

/// The state directory, as the rules read it.
pub trait Records {
    /// The latest state of `instance`.
    fn latest(&self, instance: &str) -> Latest;
    /// The keepalived process that recorded the latest MASTER of `instance`, when the record
    /// names one and it has died since (a SIGKILLed keepalived runs no notify, so its last
    /// MASTER stays recorded). `None`: alive, unknown, or not a MASTER record.
    fn master_reporter_gone(&self, _instance: &str) -> Option<u32> {
        None
    }
}

/// Time, and the request to stop (a signal).
pub trait Clock {
    /// Monotonic now.
    fn now(&self) -> Instant;
    /// Sleeps `d` (a manual clock moves on by `d`).
    fn sleep(&self, d: Duration);
    /// Whether the process was asked to stop.
    fn stop_requested(&self) -> bool {
        false
    }
    /// Wall-clock unix milliseconds (records that outlive the process are stamped with it).
    fn wall_ms(&self) -> u64 {
        vip_state::now_ms()
    }
}

/// Everything the rules reach outside themselves, injected together.
#[derive(Clone, Copy)]
pub struct Ports<'a> {
    pub cloud: &'a dyn Cloud,
    pub records: &'a dyn Records,
    pub nic: &'a dyn Nic,
    pub clock: &'a dyn Clock,
}

impl std::fmt::Debug for Ports<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ports")
    }
}

/// The real clock: `Instant::now`, `thread::sleep`, and the signal flag.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
    fn stop_requested(&self) -> bool {
        crate::signal::stop_requested()
    }
}

impl Records for vip_state::StateDir {
    fn latest(&self, instance: &str) -> Latest {
        let read = self.read_state(instance);
        let noted = self.unrecorded_since(instance, &read).map(|n| n.state);
        Latest {
            state: read.state,
            seq: read.seq,
            noted,
        }
    }
    fn master_reporter_gone(&self, instance: &str) -> Option<u32> {
        let record = self.read_state(instance).record?;
        let keepalived = record.keepalived.as_ref()?;
        let gone = record.state == vip_state::KeepalivedState::Master
            && keepalived.is_running() == Some(false);
        gone.then_some(keepalived.pid)
    }
}
