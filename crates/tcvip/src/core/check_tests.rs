//! check-self's rules, as pure functions of their facts (times in unix ms, no clock read).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::time::Duration;

use vip_state::{CloudView, ReconcileRecord};

use super::check::{
    LockSeen, MasterFacts, MasterStep, RestoreStep, StraySeen, StrayStep, conflict_over,
    master_step, next_reconcile, restore_step, stray_step, view_usable,
};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 100);
const T0: u64 = 1_000_000;

fn record(last_attempt_at_ms: u64, cooldown_s: u64) -> ReconcileRecord {
    ReconcileRecord {
        vip: VIP,
        holder_eni: Some("eni-peer".to_owned()),
        last_attempt_at_ms,
        cooldown_s,
        repeats: 3,
    }
}

fn view(holder: Option<&str>, state: &str, learned_at_ms: u64) -> CloudView {
    CloudView {
        vip: VIP,
        holder_eni: holder.map(str::to_owned),
        holder_instance: None,
        ip_state: Some(state.to_owned()),
        learned_at_ms,
    }
}

fn facts<'a>(
    view: &'a CloudView,
    record: Option<&'a ReconcileRecord>,
    now_ms: u64,
) -> MasterFacts<'a> {
    MasterFacts {
        me: "eni-me",
        view,
        fresh: true,
        record,
        lock: LockSeen::Free,
        base_cooldown: Duration::from_secs(10),
        now_ms,
        havip: false,
    }
}

#[test]
fn a_view_of_an_address_mid_move_goes_stale_in_seconds_unless_the_move_is_ours() {
    let ttl = Duration::from_secs(30);
    let at = |s: u64| T0 + s * 1000;
    for state in ["MIGRATING", "pending", "DELETING"] {
        let v = view(Some("eni-peer"), state, T0);
        assert!(view_usable(&v, ttl, || false, at(4)), "{state}");
        assert!(!view_usable(&v, ttl, || false, at(5)), "{state}");
        // A migration of ours holds the lock: it will store what it learns.
        assert!(view_usable(&v, ttl, || true, at(20)), "{state}");
        assert!(!view_usable(&v, ttl, || true, at(31)), "{state}");
    }
    let settled = view(Some("eni-peer"), "AVAILABLE", T0);
    assert!(view_usable(
        &settled,
        ttl,
        || panic!("not asked for a settled view"),
        at(30)
    ));
    assert!(!view_usable(&settled, ttl, || false, at(31)));
    assert!(!view_usable(&settled, ttl, || false, T0 - 1));
}

#[test]
fn a_conflict_is_over_only_after_a_quiet_spell() {
    // Short cooldowns: the quiet spell is at least CONFLICT_QUIET.
    let r = record(T0, 4);
    assert!(!conflict_over(&r, T0));
    assert!(!conflict_over(&r, T0 + 8_000));
    assert!(!conflict_over(&r, T0 + 59_999));
    assert!(conflict_over(&r, T0 + 60_000));
    // Long cooldowns: twice the cooldown.
    let r = record(T0, 300);
    assert!(!conflict_over(&r, T0 + 599_999));
    assert!(conflict_over(&r, T0 + 600_000));
    // A clock that went back does not end it.
    assert!(!conflict_over(&r, T0 - 1));
    assert!(!conflict_over(&record(u64::MAX - 5, 600), u64::MAX - 1));
}

#[test]
fn a_master_holding_the_vip_does_nothing_and_ends_a_conflict_only_after_the_quiet_spell() {
    let here = view(Some("eni-me"), "AVAILABLE", T0);
    assert_eq!(master_step(&facts(&here, None, T0)), MasterStep::Here);
    let r = record(T0, 10);
    assert_eq!(
        master_step(&facts(&here, Some(&r), T0 + 59_000)),
        MasterStep::Here
    );
    assert_eq!(
        master_step(&facts(&here, Some(&r), T0 + 60_000)),
        MasterStep::ConflictOver
    );
}

#[test]
fn a_move_in_flight_or_an_unassigned_vip_starts_nothing() {
    let moving = view(Some("eni-peer"), "MIGRATING", T0);
    assert_eq!(master_step(&facts(&moving, None, T0)), MasterStep::Moving);
    let nobody = view(None, "", T0);
    assert_eq!(
        master_step(&facts(&nobody, None, T0)),
        MasterStep::Unassigned
    );
}

#[test]
fn a_vip_elsewhere_is_reconciled_once_per_cooldown_which_doubles() {
    let there = view(Some("eni-peer"), "AVAILABLE", T0);
    let MasterStep::Reconcile {
        record: first,
        stuck,
        ..
    } = master_step(&facts(&there, None, T0))
    else {
        panic!("a first conflict reconciles at once");
    };
    assert!(!stuck);
    assert_eq!((first.cooldown_s, first.repeats), (10, 1));
    assert_eq!(
        master_step(&facts(&there, Some(&first), T0 + 9_999)),
        MasterStep::CoolingDown {
            holder: "eni-peer".to_owned(),
            cooldown_s: 10
        }
    );
    let MasterStep::Reconcile { record: second, .. } =
        master_step(&facts(&there, Some(&first), T0 + 10_000))
    else {
        panic!("the cooldown is over");
    };
    assert_eq!((second.cooldown_s, second.repeats), (20, 2));
    assert_eq!(second.last_attempt_at_ms, T0 + 10_000);
}

#[test]
fn a_migration_in_flight_here_is_left_alone_and_a_stuck_one_taken_over() {
    let there = view(Some("eni-peer"), "AVAILABLE", T0);
    let mut f = facts(&there, None, T0);
    f.lock = LockSeen::Held;
    assert_eq!(master_step(&f), MasterStep::InFlight);
    f.lock = LockSeen::Stuck;
    assert!(matches!(
        master_step(&f),
        MasterStep::Reconcile { stuck: true, .. }
    ));
}

#[test]
fn a_vanished_vip_is_put_back_only_while_still_master() {
    assert_eq!(
        restore_step(true, || panic!("not asked")),
        RestoreStep::Present
    );
    assert_eq!(restore_step(false, || true), RestoreStep::Add);
    assert_eq!(restore_step(false, || false), RestoreStep::NotMaster);
}

#[test]
fn a_stray_is_removed_only_when_seen_twice_half_a_second_apart() {
    assert_eq!(stray_step(VIP, false, None, 4, T0), StrayStep::Forget);
    let StrayStep::Remember(first) = stray_step(VIP, true, None, 4, T0) else {
        panic!("a first sighting is remembered");
    };
    assert_eq!(first.first_seen_ms, T0);
    // 400 ms later: still inside the grace.
    let StrayStep::Remember(again) = stray_step(VIP, true, Some(&first), 4, T0 + 400) else {
        panic!("not yet");
    };
    assert_eq!((again.first_seen_ms, again.last_seen_ms), (T0, T0 + 400));
    assert_eq!(
        stray_step(VIP, true, Some(&again), 4, T0 + 500),
        StrayStep::Remove
    );
    // Gone meanwhile: forgotten.
    assert_eq!(
        stray_step(VIP, false, Some(&again), 4, T0 + 500),
        StrayStep::Forget
    );
}

#[test]
fn a_notification_between_sightings_or_a_long_gap_starts_the_count_over() {
    let seen = StraySeen {
        vip: VIP,
        first_seen_ms: T0,
        last_seen_ms: T0,
        seq: 4,
    };
    let restart = |step| matches!(step, StrayStep::Remember(s) if s.first_seen_ms != T0);
    assert!(restart(stray_step(VIP, true, Some(&seen), 5, T0 + 2_000)));
    assert!(restart(stray_step(VIP, true, Some(&seen), 4, T0 + 10_000)));
    assert_eq!(
        stray_step(VIP, true, Some(&seen), 4, T0 + 9_999),
        StrayStep::Remove
    );
}

#[test]
fn a_cached_view_may_not_end_a_conflict() {
    let here = view(Some("eni-me"), "AVAILABLE", T0);
    let r = record(T0, 10);
    let mut f = facts(&here, Some(&r), T0 + 60_000);
    f.fresh = false;
    assert_eq!(master_step(&f), MasterStep::Here);
    f.fresh = true;
    assert_eq!(master_step(&f), MasterStep::ConflictOver);
}

#[test]
fn a_reconcile_is_decided_on_a_fresh_lookup_only() {
    let there = view(Some("eni-peer"), "AVAILABLE", T0);
    let mut f = facts(&there, None, T0);
    f.fresh = false;
    assert_eq!(master_step(&f), MasterStep::LookUp);
    // Cooling down needs no lookup: nothing would be done either way.
    let r = record(T0, 10);
    let mut f = facts(&there, Some(&r), T0 + 5_000);
    f.fresh = false;
    assert!(matches!(master_step(&f), MasterStep::CoolingDown { .. }));
    f.now_ms = T0 + 10_000;
    assert_eq!(master_step(&f), MasterStep::LookUp);
    f.fresh = true;
    assert!(matches!(master_step(&f), MasterStep::Reconcile { .. }));
}

#[test]
fn the_conflict_is_the_vip_not_here_whoever_holds_it() {
    let base = Duration::from_secs(10);
    let first = next_reconcile(None, VIP, "eni-b", base, T0);
    assert_eq!((first.cooldown_s, first.repeats), (10, 1));
    // Three nodes: the other holder changes with every move; the cooldown still doubles.
    let second = next_reconcile(Some(&first), VIP, "eni-c", base, T0 + 10_000);
    assert_eq!((second.cooldown_s, second.repeats), (20, 2));
    let third = next_reconcile(Some(&second), VIP, "eni-b", base, T0 + 30_000);
    assert_eq!((third.cooldown_s, third.repeats), (40, 3));
    // Capped.
    let mut r = third;
    for k in 0..10 {
        r = next_reconcile(Some(&r), VIP, "eni-b", base, T0 + 40_000 + k * 1_000);
    }
    assert_eq!(r.cooldown_s, 600);
    // A conflict over (a quiet spell since its last attempt) starts over.
    let later = next_reconcile(Some(&first), VIP, "eni-b", base, T0 + 60_000);
    assert_eq!((later.cooldown_s, later.repeats), (10, 1));
    // Another VIP's record is not this conflict.
    let other = ReconcileRecord {
        vip: Ipv4Addr::new(10, 0, 1, 101),
        ..first
    };
    assert_eq!(
        next_reconcile(Some(&other), VIP, "eni-b", base, T0 + 1_000).repeats,
        1
    );
}

#[test]
fn an_unbound_havip_is_reconciled_an_unassigned_secondary_ip_is_not() {
    let v = view(None, "UNBIND", T0);
    assert_eq!(master_step(&facts(&v, None, T0)), MasterStep::Unassigned);
    let havip = MasterFacts {
        havip: true,
        ..facts(&v, None, T0)
    };
    match master_step(&havip) {
        MasterStep::Reconcile { holder, .. } => assert_eq!(holder, "unbound"),
        other => panic!("{other:?}"),
    }
    // A cached unbound view is looked up again first, as any view that would reconcile.
    let cached = MasterFacts {
        fresh: false,
        ..havip.clone()
    };
    assert_eq!(master_step(&cached), MasterStep::LookUp);
}
