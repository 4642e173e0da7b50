//! vip-migrate's rules as pure functions: facts in, the next step out.

use std::time::{Duration, Instant};

use vip_state::KeepalivedState;

use super::{Holder, Latest};

/// What to do about the holder just looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The VIP is on this ENI and settled: done.
    Landed,
    /// A change of the VIP is in flight (`state` on `eni`): re-check MASTER, wait, look again.
    Wait { eni: String, state: String },
    /// A dry run meets a change in flight: say so, do not wait.
    DryRunInFlight { eni: String, state: String },
    /// Call this write (after the grace and the MASTER check).
    Write(Write),
    /// Nobody holds the VIP and assigning is not allowed: stop with an error.
    Unassigned,
    /// The address is an ENI's primary IP: a configuration error.
    PrimaryIp { eni: String },
}

/// The write call of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// MigratePrivateIpAddress from this ENI.
    Migrate { from: String },
    /// AssignPrivateIpAddresses to this node's ENI.
    Assign,
}

impl Write {
    /// The API action the write calls.
    pub fn action(&self) -> &'static str {
        match self {
            Write::Migrate { .. } => "MigratePrivateIpAddress",
            Write::Assign => "AssignPrivateIpAddresses",
        }
    }
}

/// The step after a lookup found `holder`, for a run putting the VIP on `me`.
pub fn next_step(holder: Option<&Holder>, me: &str, assign: bool, dry_run: bool) -> Step {
    match holder {
        // An ENI's primary IP (this node's too) is never a VIP.
        Some(h) if h.primary => Step::PrimaryIp { eni: h.eni.clone() },
        Some(h) if h.eni == me && !h.is_changing() => Step::Landed,
        Some(h) if h.is_changing() && dry_run => Step::DryRunInFlight {
            eni: h.eni.clone(),
            state: h.state.clone(),
        },
        Some(h) if h.is_changing() => Step::Wait {
            eni: h.eni.clone(),
            state: h.state.clone(),
        },
        Some(h) => Step::Write(Write::Migrate {
            from: h.eni.clone(),
        }),
        None if assign => Step::Write(Write::Assign),
        None => Step::Unassigned,
    }
}

/// What a HAVIP's run does after a DescribeHaVips ([`havip_step`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaVipStep {
    /// Bound to this node's ENI: done.
    Bound,
    /// Not (yet) bound here, the last announcement is younger than the bind timeout: the VPC may
    /// still be learning it. Wait this long at most, then look again.
    Wait(Duration),
    /// Not bound here a bind timeout after the last announcement: send a gratuitous ARP.
    Announce,
}

/// The step of a HAVIP run that found `holder` (the bound ENI, `None` unbound), `since` the last
/// announcement (keepalived's own gratuitous ARP as it became MASTER, for the first round; then
/// tcvip's). A HAVIP is never moved by a write call: only an announcement binds it, whether it
/// is bound elsewhere or unbound.
pub fn havip_step(
    holder: Option<&Holder>,
    me: &str,
    since: Duration,
    bind_timeout: Duration,
) -> HaVipStep {
    if holder.is_some_and(|h| h.eni == me) {
        return HaVipStep::Bound;
    }
    match bind_timeout.checked_sub(since) {
        Some(left) if !left.is_zero() => HaVipStep::Wait(left.min(poll_interval(since))),
        _ => HaVipStep::Announce,
    }
}

/// Whether the latest record lets this node write: MASTER, or MASTER notified but not recorded
/// over record `notified_master`. A newer notification that could not be recorded decides.
pub fn is_master(latest: &Latest, notified_master: Option<u64>) -> bool {
    match latest.noted {
        Some(state) => state == KeepalivedState::Master,
        None => latest.state == KeepalivedState::Master || notified_master == Some(latest.seq),
    }
}

/// Whether a write may be sent: [`is_master`], and the keepalived that recorded that MASTER is
/// not known to be dead (`reporter_gone`). A MASTER noted but not recorded has no reporter to
/// check, so only the record's counts.
pub fn may_write(latest: &Latest, notified_master: Option<u64>, reporter_gone: bool) -> bool {
    let from_record = latest.noted.is_none() && latest.state == KeepalivedState::Master;
    is_master(latest, notified_master) && !(from_record && reporter_gone)
}

/// Five polls a second while a move usually lands (a few seconds), so that success is reported
/// within 200 ms of the landing; two a second after that. Either stays well under
/// DescribeVpcTaskResult's limit of 20 requests per second, with several nodes polling.
pub fn poll_interval(since_write: Duration) -> Duration {
    if since_write < Duration::from_secs(10) {
        Duration::from_millis(200)
    } else {
        Duration::from_millis(500)
    }
}

/// How long the first write waits for a newer keepalived state when the VIP is missing from
/// its interface although the record says MASTER.
pub const VIP_GONE_GRACE: Duration = Duration::from_millis(300);

/// The wait before a write when the VIP is gone from its interface: facts in (time, the latest
/// record, whether the VIP is on its interface), wait or go on out.
///
/// keepalived adds the VIPs to the interface before it runs notify_master and removes them
/// before it runs notify_backup. A MASTER record with the VIP gone means keepalived has most
/// likely left MASTER already and the notification saying so is on its way; a move made on that
/// moment's say-so takes the VIP from the real master. Each newer MASTER record that still finds
/// the VIP gone re-arms the wait (a burst can bring MASTER, MASTER, BACKUP).
#[derive(Debug, Clone)]
pub struct VipGoneGrace {
    grace: Duration,
    armed_at: Instant,
    seq: u64,
}

/// What [`VipGoneGrace::step`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraceStep {
    /// Keep waiting for a newer keepalived state.
    Wait,
    /// Stop waiting; the MASTER check decides.
    Done,
}

impl VipGoneGrace {
    pub fn new(grace: Duration, now: Instant, seq: u64) -> VipGoneGrace {
        VipGoneGrace {
            grace,
            armed_at: now,
            seq,
        }
    }

    pub fn step(
        &mut self,
        now: Instant,
        seq: u64,
        state: KeepalivedState,
        on_nic: bool,
    ) -> GraceStep {
        if on_nic || state != KeepalivedState::Master {
            return GraceStep::Done;
        }
        if seq != self.seq {
            // A newer MASTER that still finds the VIP gone: as momentary as the first, maybe.
            self.seq = seq;
            self.armed_at = now;
            return GraceStep::Wait;
        }
        if now.saturating_duration_since(self.armed_at) >= self.grace {
            GraceStep::Done
        } else {
            GraceStep::Wait
        }
    }
}

/// After this many DescribeVpcTaskResult polls in a row have failed (garbage, 5xx, timeouts,
/// drops), each further failure is followed by a look at the holder: a move that landed must
/// not be reported as failed because its task result cannot be read.
pub const TASK_FALLBACK_AFTER: u32 = 3;

/// What the holder says about a move whose task result cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskFallback {
    /// The VIP is on this ENI and settled: the move landed.
    Landed,
    /// A change is in flight: keep polling.
    InFlight,
    /// The VIP sits elsewhere (or nowhere) with nothing in flight: seen twice in a row, the move
    /// is taken as failed, and the run re-reads the holder before anything is re-issued.
    NotMoving,
}

pub fn task_fallback(holder: Option<&Holder>, eni: &str) -> TaskFallback {
    match holder {
        Some(h) if h.is_changing() => TaskFallback::InFlight,
        Some(h) if h.eni == eni => TaskFallback::Landed,
        _ => TaskFallback::NotMoving,
    }
}
