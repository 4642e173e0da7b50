//! The warm path: with a holder hint the first write goes out before any lookup; a wrong or
//! untrustworthy hint costs a fallback to the normal lookup, never a wrong outcome.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tencent_api::retry::Jitter;
use vip_state::{KeepalivedState, MigrationOutcome};

use super::Ports;
use super::migrate::{Outcome, run_hinted};
use super::migrate_tests::{ME, PEER, World, peer};
use super::testing::{Call, ManualClock, api, holder};
use crate::exit::Exit;

fn run_with(w: &World<'_>, hint: Option<&str>) -> Outcome {
    let ports = Ports {
        cloud: &w.cloud,
        records: &w.records,
        nic: &w.nic,
        clock: w.clock,
    };
    run_hinted(ports, &w.plan(), Jitter::seeded(7), hint)
}

fn calls(w: &World<'_>) -> Vec<Call> {
    w.cloud
        .calls
        .borrow()
        .iter()
        .map(|(_, c)| c.clone())
        .collect()
}

#[test]
fn a_right_hint_sends_the_migrate_first() {
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    let out = run_with(&w, Some(PEER));
    assert_eq!(out.exit, Exit::Success, "{}", out.message);
    assert_eq!(out.outcome, MigrationOutcome::Success);
    assert_eq!(
        calls(&w).first(),
        Some(&Call::Migrate {
            from: PEER.to_owned()
        }),
        "no lookup before the write: {:?}",
        calls(&w)
    );
    assert_eq!(w.migrates(), 1);
    assert_eq!(w.cloud.holder.borrow().as_ref().unwrap().eni, ME);
}

#[test]
fn a_wrong_hint_falls_back_to_the_lookup() {
    let clock = ManualClock::new();
    let w = World::new(&clock, Some(holder("eni-other", "AVAILABLE")));
    w.cloud.fail_next(
        "MigratePrivateIpAddress",
        api("InvalidParameterValue", "MigratePrivateIpAddress"),
    );
    let out = run_with(&w, Some(PEER));
    assert_eq!(out.exit, Exit::Success, "{}", out.message);
    let c = calls(&w);
    assert_eq!(
        c[..3],
        [
            Call::Migrate {
                from: PEER.to_owned()
            },
            Call::Describe,
            Call::Migrate {
                from: "eni-other".to_owned()
            },
        ],
        "{c:?}"
    );
    assert_eq!(out.from_eni.as_deref(), Some("eni-other"));
    assert_eq!(w.cloud.holder.borrow().as_ref().unwrap().eni, ME);
}

#[test]
fn a_hint_naming_this_node_is_not_trusted() {
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    let out = run_with(&w, Some(ME));
    assert_eq!(out.exit, Exit::Success, "{}", out.message);
    assert_eq!(calls(&w).first(), Some(&Call::Describe));
    assert_eq!(w.migrates(), 1);
}

#[test]
fn a_hint_does_not_skip_the_master_check() {
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    w.records.then(0, KeepalivedState::Backup);
    let out = run_with(&w, Some(PEER));
    assert_eq!(w.migrates(), 0, "{}", out.message);
    assert_ne!(out.exit, Exit::Success);
}
