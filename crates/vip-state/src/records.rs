//! The typed caches and last-run records the binaries share: node identity, the cloud's view of
//! each VIP, and the last migration, check and reconcile. Stored like any cache (atomically, as
//! `cache-<name>.json`); a corrupt one reads as absent with a warning.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::cache::{Cached, Loaded};
use crate::dir::StateDir;
use crate::error::StateError;
use crate::record::ReadWarning;

/// Longest reconcile cooldown, however often a conflict repeats.
pub const MAX_RECONCILE_COOLDOWN_S: u64 = 600;

/// What the cloud said about one VIP, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudView {
    /// The VIP.
    pub vip: Ipv4Addr,
    /// The ENI that holds it, if any.
    #[serde(default)]
    pub holder_eni: Option<String>,
    /// The CVM instance that ENI is attached to, when known.
    #[serde(default)]
    pub holder_instance: Option<String>,
    /// The private IP's state as the API reports it (e.g. `AVAILABLE`).
    #[serde(default)]
    pub ip_state: Option<String>,
    /// When this was learned (unix ms).
    pub learned_at_ms: u64,
}

impl CloudView {
    /// How long ago this was learned (zero if that lies in the future).
    pub fn age(&self) -> Duration {
        crate::time::age_of(self.learned_at_ms)
    }

    /// Whether this was learned at most `ttl` ago (`[check] cloud_ttl_s`); a time in the future
    /// (the clock went back) is not fresh.
    pub fn is_fresh(&self, ttl: Duration) -> bool {
        Cached {
            value: (),
            learned_at_ms: self.learned_at_ms,
        }
        .is_fresh(ttl)
    }
}

/// How a migration ended (or that it has not ended yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationOutcome {
    /// Started and not finished (if the lock is free, the run died).
    InFlight,
    /// The VIP was moved here and the move confirmed.
    Success,
    /// The VIP was already on this node's ENI; nothing was changed.
    AlreadyHere,
    /// Stopped because this node was no longer MASTER.
    Aborted,
    /// The overall deadline passed.
    TimedOut,
    /// An error stopped it.
    Failed,
}

impl MigrationOutcome {
    /// The snake_case word, e.g. `already_here`.
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationOutcome::InFlight => "in_flight",
            MigrationOutcome::Success => "success",
            MigrationOutcome::AlreadyHere => "already_here",
            MigrationOutcome::Aborted => "aborted",
            MigrationOutcome::TimedOut => "timed_out",
            MigrationOutcome::Failed => "failed",
        }
    }
}

impl fmt::Display for MigrationOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The last migration of one VIP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationRecord {
    /// The VIP.
    pub vip: Ipv4Addr,
    /// When the run started (unix ms).
    pub started_at_ms: u64,
    /// When it ended (unix ms); `None` while in flight.
    #[serde(default)]
    pub ended_at_ms: Option<u64>,
    /// How it ended.
    pub outcome: MigrationOutcome,
    /// The ENI the VIP was taken from, when one was.
    #[serde(default)]
    pub from_eni: Option<String>,
    /// This node's ENI.
    #[serde(default)]
    pub to_eni: Option<String>,
    /// RequestIds of the API calls made, in order.
    #[serde(default)]
    pub request_ids: Vec<String>,
    /// Write attempts made.
    #[serde(default)]
    pub attempts: u32,
    /// A one-line human summary (the error, for a failure).
    #[serde(default)]
    pub message: String,
}

/// What a check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    /// Healthy (exit 0).
    Pass,
    /// Unhealthy (non-zero exit).
    Fail,
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckResult::Pass => "pass",
            CheckResult::Fail => "fail",
        })
    }
}

/// The last check-self run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// What it concluded.
    pub result: CheckResult,
    /// Why, in one line.
    pub reason: String,
    /// When (unix ms).
    pub at_ms: u64,
    /// Since when the runs have reached this same verdict (unix ms); 0 in records written
    /// before it was kept.
    #[serde(default)]
    pub since_ms: u64,
}

impl CheckRecord {
    /// Since when the runs have reached this verdict (`at_ms` when that is not known).
    pub fn since(&self) -> u64 {
        if self.since_ms == 0 || self.since_ms > self.at_ms {
            self.at_ms
        } else {
            self.since_ms
        }
    }
}

/// The reconcile bookkeeping of one VIP: when a reconcile last started and how long to wait
/// before the next, so two masters cannot ping-pong the IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileRecord {
    /// The VIP.
    pub vip: Ipv4Addr,
    /// The other holder that caused the conflict, if known.
    #[serde(default)]
    pub holder_eni: Option<String>,
    /// When the last reconcile started (unix ms).
    pub last_attempt_at_ms: u64,
    /// Seconds to wait after `last_attempt_at_ms` before the next reconcile.
    pub cooldown_s: u64,
    /// How many reconciles in a row met the same conflict (1 for the first).
    pub repeats: u32,
}

impl ReconcileRecord {
    /// Whether the cooldown has passed at `now_ms`. A last attempt in the future (the clock went
    /// back) counts from now, so the cooldown is not skipped.
    pub fn cooldown_over(&self, now_ms: u64) -> bool {
        let until = self
            .last_attempt_at_ms
            .saturating_add(self.cooldown_s.saturating_mul(1000));
        now_ms >= until && now_ms >= self.last_attempt_at_ms
    }

    /// The record for a reconcile starting at `now_ms` against `holder_eni`: when `previous` met
    /// the same holder, the cooldown doubles (up to [`MAX_RECONCILE_COOLDOWN_S`]) and `repeats`
    /// grows; otherwise it starts over at `base_cooldown`.
    pub fn next_attempt(
        previous: Option<&ReconcileRecord>,
        vip: Ipv4Addr,
        holder_eni: Option<&str>,
        base_cooldown: Duration,
        now_ms: u64,
    ) -> ReconcileRecord {
        let base = base_cooldown.as_secs().clamp(1, MAX_RECONCILE_COOLDOWN_S);
        let (cooldown_s, repeats) = match previous {
            Some(p) if p.vip == vip && p.holder_eni.as_deref() == holder_eni => (
                p.cooldown_s
                    .saturating_mul(2)
                    .clamp(base, MAX_RECONCILE_COOLDOWN_S),
                p.repeats.saturating_add(1),
            ),
            _ => (base, 1),
        };
        ReconcileRecord {
            vip,
            holder_eni: holder_eni.map(str::to_owned),
            last_attempt_at_ms: now_ms,
            cooldown_s,
            repeats,
        }
    }
}

fn vip_name(kind: &str, vip: Ipv4Addr) -> String {
    format!("{kind}-{vip}")
}

/// Keeps a record only if it is about the VIP asked for (a renamed or hand-edited file is not).
fn for_vip<T>(
    mut loaded: Loaded<Option<T>>,
    vip: Ipv4Addr,
    vip_of: impl Fn(&T) -> Ipv4Addr,
    dir: &StateDir,
    name: &str,
) -> Loaded<Option<T>> {
    if let Some(found) = loaded.value.as_ref().map(&vip_of)
        && found != vip
    {
        loaded.value = None;
        loaded.warning = Some(ReadWarning::Corrupt {
            path: dir.join(&format!("cache-{name}.json")),
            reason: format!("it is about {found}, not {vip}"),
        });
    }
    loaded
}

impl StateDir {
    /// Stores the node's discovered identity (the caller defines its shape), learned now.
    pub fn write_identity<T: Serialize>(&self, identity: &T) -> Result<(), StateError> {
        self.write_cache("identity", identity)
    }

    /// Reads the node's identity cache.
    pub fn read_identity<T: DeserializeOwned>(&self) -> Loaded<Option<Cached<T>>> {
        self.read_cache("identity")
    }

    /// Stores the cloud's view of `view.vip`.
    pub fn write_cloud_view(&self, view: &CloudView) -> Result<(), StateError> {
        self.write_json(&vip_name("cloud", view.vip), view)
    }

    /// Reads the cloud's view of `vip` (check its age with `learned_at_ms`).
    pub fn read_cloud_view(&self, vip: Ipv4Addr) -> Loaded<Option<CloudView>> {
        let name = vip_name("cloud", vip);
        for_vip(
            self.read_json(&name),
            vip,
            |v: &CloudView| v.vip,
            self,
            &name,
        )
    }

    /// Stores the last migration of `record.vip`.
    pub fn write_migration(&self, record: &MigrationRecord) -> Result<(), StateError> {
        self.write_json(&vip_name("migration", record.vip), record)
    }

    /// Reads the last migration of `vip`.
    pub fn read_migration(&self, vip: Ipv4Addr) -> Loaded<Option<MigrationRecord>> {
        let name = vip_name("migration", vip);
        for_vip(
            self.read_json(&name),
            vip,
            |r: &MigrationRecord| r.vip,
            self,
            &name,
        )
    }

    /// Stores the last check-self result.
    pub fn write_check(&self, record: &CheckRecord) -> Result<(), StateError> {
        self.write_json("check", record)
    }

    /// Reads the last check-self result.
    pub fn read_check(&self) -> Loaded<Option<CheckRecord>> {
        self.read_json("check")
    }

    /// Stores the reconcile bookkeeping of `record.vip`.
    pub fn write_reconcile(&self, record: &ReconcileRecord) -> Result<(), StateError> {
        self.write_json(&vip_name("reconcile", record.vip), record)
    }

    /// Reads the reconcile bookkeeping of `vip`.
    pub fn read_reconcile(&self, vip: Ipv4Addr) -> Loaded<Option<ReconcileRecord>> {
        let name = vip_name("reconcile", vip);
        for_vip(
            self.read_json(&name),
            vip,
            |r: &ReconcileRecord| r.vip,
            self,
            &name,
        )
    }

    /// Forgets the reconcile bookkeeping of `vip` (the conflict is over).
    pub fn clear_reconcile(&self, vip: Ipv4Addr) -> Result<(), StateError> {
        self.remove_cache(&vip_name("reconcile", vip))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 100);

    #[test]
    fn cooldown_grows_while_the_same_conflict_repeats() {
        let base = Duration::from_secs(10);
        let first = ReconcileRecord::next_attempt(None, VIP, Some("eni-a"), base, 1_000);
        assert_eq!((first.cooldown_s, first.repeats), (10, 1));
        assert!(!first.cooldown_over(1_000 + 9_999));
        assert!(first.cooldown_over(1_000 + 10_000));
        let second = ReconcileRecord::next_attempt(Some(&first), VIP, Some("eni-a"), base, 20_000);
        assert_eq!((second.cooldown_s, second.repeats), (20, 2));
        let other = ReconcileRecord::next_attempt(Some(&second), VIP, Some("eni-b"), base, 50_000);
        assert_eq!((other.cooldown_s, other.repeats), (10, 1));
        let mut r = first;
        for _ in 0..20 {
            r = ReconcileRecord::next_attempt(Some(&r), VIP, Some("eni-a"), base, 0);
        }
        assert_eq!(r.cooldown_s, MAX_RECONCILE_COOLDOWN_S);
    }

    #[test]
    fn cloud_view_freshness() {
        let now = crate::time::now_ms();
        let view = |learned_at_ms| CloudView {
            vip: VIP,
            holder_eni: None,
            holder_instance: None,
            ip_state: None,
            learned_at_ms,
        };
        assert!(view(now).is_fresh(Duration::from_secs(30)));
        assert!(!view(now - 31_000).is_fresh(Duration::from_secs(30)));
        assert!(view(now - 31_000).age() >= Duration::from_secs(31));
    }

    #[test]
    fn cooldown_is_not_skipped_when_the_clock_goes_back() {
        let r = ReconcileRecord::next_attempt(None, VIP, None, Duration::from_secs(10), 100_000);
        assert!(!r.cooldown_over(50_000));
    }
}
