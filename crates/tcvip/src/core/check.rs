//! check-self's rules as pure functions: what a MASTER does about the cloud's view of a VIP
//! (nothing, end the conflict, wait, look again, reconcile), when a cached view may answer, when
//! a VIP on a non-MASTER's NIC is a stray to remove. Facts in (the view and whether this run
//! looked it up, this node's ENI, the reconcile record, the VIP's lock, the time), a step out;
//! check-self ([`crate::check`]) does the I/O.

use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vip_state::{CloudView, MAX_RECONCILE_COOLDOWN_S, ReconcileRecord};

use crate::cloud::{DELETING, MIGRATING, PENDING};

/// How long a cached view that saw the address mid-change is trusted when no migration on this
/// node holds the VIP's lock (about two check intervals).
pub const TRANSIENT_TTL: Duration = Duration::from_secs(4);
/// A reconcile record is kept at least this long after its last attempt while the VIP is here.
pub const CONFLICT_QUIET: Duration = Duration::from_secs(60);
/// How long a VIP must have been seen on a non-MASTER node's NIC before it is removed.
pub const STRAY_GRACE: Duration = Duration::from_millis(500);
/// A stray sighting older than this starts over (a few check intervals).
pub const STRAY_FORGET: Duration = Duration::from_secs(10);

/// Whether a cached cloud view may answer at `now_ms`: learned at most `ttl` ago, and, when it
/// saw the address in a transient state (a move, an assignment or an unassignment in flight),
/// at most [`TRANSIENT_TTL`] ago unless a migration on this node holds the VIP's lock
/// (`migrating_here`, asked only then). A move whose vip-migrate died ends, one way or the
/// other, without this node hearing of it: the view must not outlive it by `cloud_ttl_s`.
pub fn view_usable(
    view: &CloudView,
    ttl: Duration,
    migrating_here: impl FnOnce() -> bool,
    now_ms: u64,
) -> bool {
    let Some(age) = now_ms
        .checked_sub(view.learned_at_ms)
        .map(Duration::from_millis)
    else {
        // Learned in the future: the clock went back.
        return false;
    };
    if age > ttl {
        return false;
    }
    let transient = view.ip_state.as_deref().is_some_and(|s| {
        [MIGRATING, PENDING, DELETING]
            .iter()
            .any(|t| s.eq_ignore_ascii_case(t))
    });
    !transient || age <= TRANSIENT_TTL || migrating_here()
}

/// Whether a reconcile conflict is over: the VIP is here and no reconcile has been needed for
/// twice the cooldown (and at least [`CONFLICT_QUIET`]). Until then the cooldown keeps growing.
pub fn conflict_over(record: &ReconcileRecord, now_ms: u64) -> bool {
    let quiet = record
        .cooldown_s
        .saturating_mul(2000)
        .max(CONFLICT_QUIET.as_millis() as u64);
    now_ms >= record.last_attempt_at_ms.saturating_add(quiet)
}

/// The record for a reconcile starting at `now_ms` against `holder`. The conflict is "the VIP
/// is not on this node", whoever holds it (with three nodes the other holder changes with every
/// move): while `previous` is not over ([`conflict_over`]), the cooldown doubles (up to
/// [`MAX_RECONCILE_COOLDOWN_S`]) and `repeats` grows; a first conflict starts at `base`.
pub fn next_reconcile(
    previous: Option<&ReconcileRecord>,
    vip: Ipv4Addr,
    holder: &str,
    base: Duration,
    now_ms: u64,
) -> ReconcileRecord {
    let base_s = base.as_secs().clamp(1, MAX_RECONCILE_COOLDOWN_S);
    let same = previous.filter(|p| p.vip == vip && !conflict_over(p, now_ms));
    let (cooldown_s, repeats) = match same {
        Some(p) => (
            p.cooldown_s
                .saturating_mul(2)
                .clamp(base_s, MAX_RECONCILE_COOLDOWN_S),
            p.repeats.saturating_add(1),
        ),
        None => (base_s, 1),
    };
    ReconcileRecord {
        vip,
        holder_eni: Some(holder.to_owned()),
        last_attempt_at_ms: now_ms,
        cooldown_s,
        repeats,
    }
}

/// The holder a reconcile of an unbound HAVIP names.
pub const UNBOUND: &str = "unbound";

/// What this node knows of the VIP's single-flight lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockSeen {
    Free,
    /// A migration holds it.
    Held,
    /// A run holds it past its deadline (stopped or hung): it will not finish.
    Stuck,
}

/// The facts a MASTER's decision about one VIP rests on.
#[derive(Debug, Clone)]
pub struct MasterFacts<'a> {
    /// This node's ENI.
    pub me: &'a str,
    pub view: &'a CloudView,
    /// Whether this run looked the view up (else it is a cached one, usable but maybe stale).
    pub fresh: bool,
    pub record: Option<&'a ReconcileRecord>,
    pub lock: LockSeen,
    /// `check.reconcile_cooldown_s`.
    pub base_cooldown: Duration,
    pub now_ms: u64,
    /// The VIP is a HAVIP: unbound is healed like bound elsewhere (a gratuitous ARP binds it).
    pub havip: bool,
}

/// What a MASTER does about one VIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterStep {
    /// The VIP is here; nothing to do.
    Here,
    /// The VIP is here and the conflict is over: remove the reconcile record.
    ConflictOver,
    /// A move is in flight in the cloud.
    Moving,
    /// No ENI holds the VIP.
    Unassigned,
    /// A migration on this node holds the VIP's lock.
    InFlight,
    /// Held elsewhere, reconcile cooling down.
    CoolingDown { holder: String, cooldown_s: u64 },
    /// A cached view says another ENI holds the VIP and a reconcile would start: a move is
    /// decided on a fresh lookup only, so look the holder up and decide again.
    LookUp,
    /// Held elsewhere: store `record` and start a reconcile migration. `stuck`: a stuck run's
    /// lock is taken over.
    Reconcile {
        holder: String,
        record: ReconcileRecord,
        stuck: bool,
    },
}

/// The MASTER's step for one VIP.
pub fn master_step(f: &MasterFacts<'_>) -> MasterStep {
    let view = f.view;
    let moving = view
        .ip_state
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case(MIGRATING));
    let holder = match view.holder_eni.as_deref() {
        Some(holder) if holder == f.me => {
            // Having the VIP back does not end a conflict: with two masters each one wins in
            // turn. The record (and its grown cooldown) goes only once the conflict has stayed
            // away for a while, and only on a view looked up now: a cached "here" may be stale
            // (the other master took the VIP since), and ending the conflict on it would start
            // the cooldown over.
            return if f.fresh && f.record.is_some_and(|r| conflict_over(r, f.now_ms)) {
                MasterStep::ConflictOver
            } else {
                MasterStep::Here
            };
        }
        _ if moving => return MasterStep::Moving,
        None if f.havip => UNBOUND,
        None => return MasterStep::Unassigned,
        Some(holder) => holder,
    };
    if f.lock == LockSeen::Held {
        return MasterStep::InFlight;
    }
    if let Some(r) = f.record
        && !r.cooldown_over(f.now_ms)
    {
        return MasterStep::CoolingDown {
            holder: holder.to_owned(),
            cooldown_s: r.cooldown_s,
        };
    }
    if !f.fresh {
        return MasterStep::LookUp;
    }
    MasterStep::Reconcile {
        holder: holder.to_owned(),
        record: next_reconcile(f.record, view.vip, holder, f.base_cooldown, f.now_ms),
        stuck: f.lock == LockSeen::Stuck,
    }
}

/// What a MASTER does about a VIP of its own on the interface keepalived manages it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreStep {
    /// It is there.
    Present,
    /// Gone, but keepalived has left MASTER since the record was read: leave the NIC alone.
    NotMaster,
    /// Gone: put it back.
    Add,
}

/// The step for a VIP on the NIC or not (`on`); `master_now` reads the record again right
/// before a change (asked only then).
pub fn restore_step(on: bool, master_now: impl FnOnce() -> bool) -> RestoreStep {
    if on {
        RestoreStep::Present
    } else if master_now() {
        RestoreStep::Add
    } else {
        RestoreStep::NotMaster
    }
}

/// A VIP seen on a non-MASTER's NIC, kept across runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StraySeen {
    pub vip: Ipv4Addr,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// The state record's sequence number at the first sighting: any notification since then
    /// (a MASTER in between) starts the count over.
    #[serde(default)]
    pub seq: u64,
}

/// What a non-MASTER does about a VIP on the interface keepalived manages it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrayStep {
    /// Not on the NIC: forget any sighting.
    Forget,
    /// On the NIC, not for long enough yet (or a first sighting): remember it.
    Remember(StraySeen),
    /// Seen twice, [`STRAY_GRACE`] apart, with no notification between: remove it.
    Remove,
}

/// The step for `vip`, on the NIC or not (`on`), at `now_ms` with state record `seq`.
pub fn stray_step(
    vip: Ipv4Addr,
    on: bool,
    seen: Option<&StraySeen>,
    seq: u64,
    now_ms: u64,
) -> StrayStep {
    if !on {
        return StrayStep::Forget;
    }
    let seen = seen.filter(|s| {
        s.seq == seq && now_ms.saturating_sub(s.last_seen_ms) < STRAY_FORGET.as_millis() as u64
    });
    let first = seen.map_or(now_ms, |s| s.first_seen_ms);
    if now_ms.saturating_sub(first) < STRAY_GRACE.as_millis() as u64 {
        return StrayStep::Remember(StraySeen {
            vip,
            first_seen_ms: first,
            last_seen_ms: now_ms,
            seq,
        });
    }
    StrayStep::Remove
}

/// The cap of the cooldown, for messages and tests.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(MAX_RECONCILE_COOLDOWN_S);
