//! check-self's run on the fakes, on a manual clock: the order NIC-first then cloud, an unknown
//! cloud changing nothing, the look-up again before a reconcile, the reconcile recorded and
//! asked for, the cooldown after it, a stray seen twice then removed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::time::Duration;

use vip_state::{CloudView, KeepalivedState};

use super::Clock as _;
use super::check::{LockSeen, STRAY_GRACE};
use super::check_run::{CheckPorts, MasterInput, MasterVip, NoAnswer, master, standby_vip};
use super::testing::{FakeCheckCloud, FakeCheckRecords, ManualClock, WALL_START_MS, holder};
use crate::nic::{FakeNic, Nic as _, NicOp};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 100);
const COOLDOWN: Duration = Duration::from_secs(10);

fn on_eth0() -> [MasterVip<'static>; 1] {
    [MasterVip {
        address: VIP,
        interface: Some("eth0"),
        prefix_len: 32,
        havip: false,
    }]
}

fn input<'a>(vips: &'a [MasterVip<'a>], known_me: Option<&'a str>) -> MasterInput<'a> {
    MasterInput {
        instance: "default",
        vips,
        known_me,
        ttl: Duration::from_secs(30),
        base_cooldown: COOLDOWN,
    }
}

/// eth0 with its own address first, then the VIP (as keepalived adds it).
fn standby_nic() -> FakeNic {
    FakeNic::new()
        .with_address("eth0", Ipv4Addr::new(198, 18, 1, 10), 24)
        .with_address("eth0", VIP, 32)
}

fn cached(holder: &str, learned_at_ms: u64) -> CloudView {
    CloudView {
        vip: VIP,
        holder_eni: Some(holder.to_owned()),
        holder_instance: None,
        ip_state: Some("AVAILABLE".to_owned()),
        learned_at_ms,
    }
}

#[test]
fn a_vanished_vip_goes_back_on_the_nic_before_the_cloud_is_asked() {
    let clock = ManualClock::new();
    let nic = FakeNic::new().with_interface("eth0");
    let records = FakeCheckRecords::new(KeepalivedState::Master);
    let cloud = FakeCheckCloud::new(&nic, Ok(Some(holder("eni-me", "AVAILABLE"))));
    let p = CheckPorts {
        records: &records,
        cloud: &cloud,
        nic: &nic,
        clock: &clock,
    };
    let vips = on_eth0();
    let out = master(&p, &input(&vips, None));
    assert_eq!(nic.ops(), vec![NicOp::Add("eth0".into(), VIP, 32)]);
    // The one lookup came after the NIC change.
    assert_eq!(*cloud.calls.borrow(), vec![(vec![VIP], 1)]);
    assert!(
        out.notes.iter().any(|n| n.contains("restored on eth0")),
        "{out:?}"
    );
    assert!(!out.reconcile);
}

#[test]
fn a_vip_gone_after_keepalived_left_master_is_not_put_back() {
    let clock = ManualClock::new();
    let nic = FakeNic::new().with_interface("eth0");
    // The record read again right before the change says BACKUP.
    let records = FakeCheckRecords::new(KeepalivedState::Backup);
    let cloud = FakeCheckCloud::new(&nic, Ok(Some(holder("eni-me", "AVAILABLE"))));
    let p = CheckPorts {
        records: &records,
        cloud: &cloud,
        nic: &nic,
        clock: &clock,
    };
    let vips = on_eth0();
    let out = master(&p, &input(&vips, None));
    assert!(nic.ops().is_empty());
    assert!(
        out.notes.iter().any(|n| n.contains("no longer MASTER")),
        "{out:?}"
    );
}

#[test]
fn an_unknown_cloud_changes_nothing() {
    let clock = ManualClock::new();
    let nic = FakeNic::new().with_address("eth0", VIP, 32);
    let records = FakeCheckRecords::new(KeepalivedState::Master);
    let unknown = NoAnswer::Unknown("the cloud did not answer before check.deadline_ms".into());
    let cloud = FakeCheckCloud::new(&nic, Err(unknown));
    let p = CheckPorts {
        records: &records,
        cloud: &cloud,
        nic: &nic,
        clock: &clock,
    };
    let vips = on_eth0();
    let out = master(&p, &input(&vips, Some("eni-me")));
    assert_eq!(
        out.unknown,
        vec!["the cloud did not answer before check.deadline_ms"]
    );
    assert!(!out.reconcile && out.failures.is_empty() && out.views.is_empty());
    assert!(nic.ops().is_empty());
    assert!(
        records.writes.borrow().is_empty(),
        "{:?}",
        records.writes.borrow()
    );
}

#[test]
fn an_identity_the_guard_refuses_fails_the_check_and_changes_nothing() {
    let clock = ManualClock::new();
    let nic = FakeNic::new().with_address("eth0", VIP, 32);
    let records = FakeCheckRecords::new(KeepalivedState::Master);
    let cloud = FakeCheckCloud::new(&nic, Err(NoAnswer::Refused("own primary IP".into())));
    let p = CheckPorts {
        records: &records,
        cloud: &cloud,
        nic: &nic,
        clock: &clock,
    };
    let vips = on_eth0();
    let out = master(&p, &input(&vips, None));
    assert_eq!(out.failures, vec!["own primary IP"]);
    assert!(!out.reconcile && records.writes.borrow().is_empty());
}

#[test]
fn a_fresh_view_elsewhere_records_a_reconcile_then_cools_down() {
    let clock = ManualClock::new();
    let nic = FakeNic::new().with_address("eth0", VIP, 32);
    let records = FakeCheckRecords::new(KeepalivedState::Master);
    let cloud = FakeCheckCloud::new(&nic, Ok(Some(holder("eni-peer", "AVAILABLE"))));
    let p = CheckPorts {
        records: &records,
        cloud: &cloud,
        nic: &nic,
        clock: &clock,
    };
    let vips = on_eth0();
    let out = master(&p, &input(&vips, Some("eni-me")));
    assert!(out.reconcile, "{out:?}");
    let record = records.reconcile.borrow().clone().unwrap();
    assert_eq!(
        (record.cooldown_s, record.repeats, record.last_attempt_at_ms),
        (10, 1, WALL_START_MS)
    );
    assert_eq!(*records.writes.borrow(), vec!["cloud_view", "reconcile"]);

    // Two seconds on, the cached view (the peer) answers: the cooldown holds, nothing is asked
    // about the VIP.
    clock.advance(Duration::from_secs(2));
    let out = master(&p, &input(&vips, Some("eni-me")));
    assert!(!out.reconcile, "{out:?}");
    assert!(
        out.notes.iter().any(|n| n.contains("cooling down")),
        "{out:?}"
    );
    assert_eq!(cloud.asked(), vec![vec![VIP], vec![]]);

    // After the cooldown the cached view would start a reconcile: it is looked up again first,
    // and the fresh one starts the second reconcile, with the cooldown doubled.
    clock.advance(COOLDOWN);
    assert!(master(&p, &input(&vips, Some("eni-me"))).reconcile);
    assert_eq!(cloud.asked()[2], vec![VIP]);
    let record = records.reconcile.borrow().clone().unwrap();
    assert_eq!((record.cooldown_s, record.repeats), (20, 2));
}

#[test]
fn a_cached_view_that_would_reconcile_is_looked_up_again_once_the_eni_is_known() {
    let clock = ManualClock::new();
    let nic = FakeNic::new().with_address("eth0", VIP, 32);
    let records = FakeCheckRecords::new(KeepalivedState::Master);
    records
        .views
        .borrow_mut()
        .push(cached("eni-peer", WALL_START_MS));
    // The cloud says the VIP is here by now.
    let cloud = FakeCheckCloud::new(&nic, Ok(Some(holder("eni-me", "AVAILABLE"))));
    let p = CheckPorts {
        records: &records,
        cloud: &cloud,
        nic: &nic,
        clock: &clock,
    };
    let vips = on_eth0();
    let out = master(&p, &input(&vips, None));
    // The identity first (nothing stale), then the VIP again once this node's ENI is known.
    assert_eq!(cloud.asked(), vec![vec![], vec![VIP]]);
    assert!(!out.reconcile, "{out:?}");
    assert_eq!(out.views[0].holder_eni.as_deref(), Some("eni-me"));
}

#[test]
fn a_cached_view_that_says_here_asks_the_cloud_for_nothing_but_the_identity() {
    let clock = ManualClock::new();
    let nic = FakeNic::new().with_address("eth0", VIP, 32);
    let records = FakeCheckRecords::new(KeepalivedState::Master);
    records
        .views
        .borrow_mut()
        .push(cached("eni-me", WALL_START_MS));
    let cloud = FakeCheckCloud::new(&nic, Ok(Some(holder("eni-peer", "AVAILABLE"))));
    let p = CheckPorts {
        records: &records,
        cloud: &cloud,
        nic: &nic,
        clock: &clock,
    };
    let vips = on_eth0();
    clock.advance(Duration::from_secs(5));
    let out = master(&p, &input(&vips, Some("eni-me")));
    assert_eq!(cloud.asked(), vec![Vec::<Ipv4Addr>::new()]);
    assert!(
        !out.reconcile && records.writes.borrow().is_empty(),
        "{out:?}"
    );
}

#[test]
fn a_holder_that_has_the_vip_as_its_primary_ip_is_never_reconciled() {
    let clock = ManualClock::new();
    let nic = FakeNic::new().with_address("eth0", VIP, 32);
    let records = FakeCheckRecords::new(KeepalivedState::Master);
    let mut primary = holder("eni-peer", "AVAILABLE");
    primary.primary = true;
    let cloud = FakeCheckCloud::new(&nic, Ok(Some(primary)));
    let p = CheckPorts {
        records: &records,
        cloud: &cloud,
        nic: &nic,
        clock: &clock,
    };
    let vips = on_eth0();
    let out = master(&p, &input(&vips, Some("eni-me")));
    assert_eq!(out.primary, vec![(VIP, "eni-peer".to_owned())]);
    assert!(!out.reconcile && records.reconcile.borrow().is_none());
}

#[test]
fn a_stray_is_removed_when_seen_twice_half_a_second_apart() {
    let clock = ManualClock::new();
    let nic = standby_nic();
    let records = FakeCheckRecords::new(KeepalivedState::Backup);
    let cloud = FakeCheckCloud::new(&nic, Ok(None));
    let p = CheckPorts {
        records: &records,
        cloud: &cloud,
        nic: &nic,
        clock: &clock,
    };
    let backup = KeepalivedState::Backup;
    let note = standby_vip(&p, VIP, "eth0", None, 1, backup).unwrap();
    assert!(note.contains("removing it if it stays"), "{note}");
    assert!(nic.ops().is_empty());
    clock.advance(STRAY_GRACE / 2);
    standby_vip(&p, VIP, "eth0", None, 1, backup);
    assert!(nic.ops().is_empty(), "removed before the grace");
    clock.advance(STRAY_GRACE);
    let note = standby_vip(&p, VIP, "eth0", None, 1, backup).unwrap();
    assert_eq!(note, "stray 198.18.1.100 removed from eth0");
    assert_eq!(nic.ops(), vec![NicOp::Remove("eth0".into(), VIP)]);
    assert!(records.stray.borrow().is_none());
    assert!(cloud.asked().is_empty(), "a standby asks the cloud nothing");
}

#[test]
fn a_notification_between_two_sightings_starts_the_count_over() {
    let clock = ManualClock::new();
    let nic = standby_nic();
    let records = FakeCheckRecords::new(KeepalivedState::Backup);
    let cloud = FakeCheckCloud::new(&nic, Ok(None));
    let p = CheckPorts {
        records: &records,
        cloud: &cloud,
        nic: &nic,
        clock: &clock,
    };
    let backup = KeepalivedState::Backup;
    standby_vip(&p, VIP, "eth0", None, 1, backup);
    clock.advance(STRAY_GRACE * 2);
    // MASTER and back to BACKUP since: seq 3.
    standby_vip(&p, VIP, "eth0", None, 3, backup);
    assert!(
        nic.ops().is_empty(),
        "removed on the first sighting after a flap"
    );
    clock.advance(STRAY_GRACE * 2);
    standby_vip(&p, VIP, "eth0", None, 3, backup);
    assert_eq!(nic.ops(), vec![NicOp::Remove("eth0".into(), VIP)]);
}

#[test]
fn a_vip_gone_from_the_nic_forgets_its_sighting() {
    let clock = ManualClock::new();
    let nic = standby_nic();
    let records = FakeCheckRecords::new(KeepalivedState::Fault);
    let cloud = FakeCheckCloud::new(&nic, Ok(None));
    let p = CheckPorts {
        records: &records,
        cloud: &cloud,
        nic: &nic,
        clock: &clock,
    };
    let fault = KeepalivedState::Fault;
    standby_vip(&p, VIP, "eth0", None, 1, fault);
    assert!(records.stray.borrow().is_some());
    // keepalived (or someone) takes it off before the second sighting.
    nic.remove_ip("eth0", VIP).unwrap();
    clock.advance(STRAY_GRACE * 2);
    assert_eq!(standby_vip(&p, VIP, "eth0", None, 1, fault), None);
    assert!(records.stray.borrow().is_none());
    assert_eq!(
        nic.ops().len(),
        1,
        "only the test's own removal: {:?}",
        nic.ops()
    );
}

#[test]
fn an_address_the_interface_or_the_node_owns_is_never_removed() {
    let clock = ManualClock::new();
    // The VIP is eth0's first address: the interface's own.
    let nic = FakeNic::new().with_address("eth0", VIP, 24);
    let records = FakeCheckRecords::new(KeepalivedState::Backup);
    let cloud = FakeCheckCloud::new(&nic, Ok(None));
    let p = CheckPorts {
        records: &records,
        cloud: &cloud,
        nic: &nic,
        clock: &clock,
    };
    let backup = KeepalivedState::Backup;
    for _ in 0..3 {
        let note = standby_vip(&p, VIP, "eth0", None, 1, backup).unwrap();
        assert!(note.contains("its first"), "{note}");
        clock.advance(STRAY_GRACE * 2);
    }
    // Not the first, but this node's primary IP.
    let nic = standby_nic();
    let p = CheckPorts { nic: &nic, ..p };
    for _ in 0..3 {
        let note = standby_vip(&p, VIP, "eth0", Some(VIP), 1, backup).unwrap();
        assert!(note.contains("primary IP"), "{note}");
        clock.advance(STRAY_GRACE * 2);
    }
    assert!(nic.ops().is_empty() && records.writes.borrow().is_empty());
}

#[test]
fn a_cached_view_of_a_move_in_flight_is_looked_up_again_after_seconds_unless_the_move_is_ours() {
    // A vip-migrate died mid-move: the view it left says MIGRATING. Six seconds on (well inside
    // cloud_ttl_s) it is looked up again, unless a migration here holds the VIP's lock.
    let clock = ManualClock::new();
    let nic = FakeNic::new().with_address("eth0", VIP, 32);
    let records = FakeCheckRecords::new(KeepalivedState::Master);
    let mut moving = cached("eni-peer", WALL_START_MS);
    moving.ip_state = Some("MIGRATING".to_owned());
    records.views.borrow_mut().push(moving.clone());
    let cloud = FakeCheckCloud::new(&nic, Ok(Some(holder("eni-me", "AVAILABLE"))));
    let p = CheckPorts {
        records: &records,
        cloud: &cloud,
        nic: &nic,
        clock: &clock,
    };
    let vips = on_eth0();
    clock.advance(Duration::from_secs(6));
    let out = master(&p, &input(&vips, Some("eni-me")));
    assert_eq!(cloud.asked(), vec![vec![VIP]]);
    assert_eq!(out.views[0].holder_eni.as_deref(), Some("eni-me"));

    moving.learned_at_ms = clock.wall_ms() - 6_000;
    records.views.borrow_mut().push(moving);
    records.lock.set(LockSeen::Held);
    let out = master(&p, &input(&vips, Some("eni-me")));
    assert_eq!(cloud.asked()[1], Vec::<Ipv4Addr>::new(), "asked again");
    assert!(out.notes.iter().any(|n| n.contains("is moving")), "{out:?}");
}

fn havip_on_eth0() -> [MasterVip<'static>; 1] {
    [MasterVip {
        havip: true,
        ..on_eth0()[0]
    }]
}

#[test]
fn a_master_heals_an_unbound_havip_through_a_reconcile_that_cools_down() {
    let clock = ManualClock::new();
    let nic = FakeNic::new().with_address("eth0", VIP, 32);
    let records = FakeCheckRecords::new(KeepalivedState::Master);
    // DescribeHaVips shows the HAVIP unbound (UNBIND / UNBOUND).
    let cloud = FakeCheckCloud::new(&nic, Ok(None));
    let p = CheckPorts {
        records: &records,
        cloud: &cloud,
        nic: &nic,
        clock: &clock,
    };
    let vips = havip_on_eth0();
    let out = master(&p, &input(&vips, Some("eni-me")));
    assert!(out.reconcile, "{out:?}");
    let record = records.reconcile.borrow().clone().unwrap();
    assert_eq!(record.holder_eni.as_deref(), Some("unbound"));
    assert!(
        out.notes
            .iter()
            .any(|n| n.contains("is bound to no ENI; reconcile started")),
        "{out:?}"
    );
    // Within the TTL and the cooldown: no API call about the HAVIP, no second reconcile.
    clock.advance(Duration::from_secs(2));
    let out = master(&p, &input(&vips, Some("eni-me")));
    assert!(!out.reconcile, "{out:?}");
    assert_eq!(cloud.asked(), vec![vec![VIP], vec![]]);
    // After the cooldown: looked up again, reconciled again with the cooldown doubled.
    clock.advance(COOLDOWN);
    assert!(master(&p, &input(&vips, Some("eni-me"))).reconcile);
    assert_eq!(records.reconcile.borrow().as_ref().unwrap().cooldown_s, 20);
    // The NIC was never touched (the VIP was on it).
    assert!(nic.ops().is_empty());
}

#[test]
fn a_master_heals_a_havip_bound_elsewhere_and_leaves_one_bound_here_alone() {
    let clock = ManualClock::new();
    let nic = FakeNic::new().with_address("eth0", VIP, 32);
    let records = FakeCheckRecords::new(KeepalivedState::Master);
    let cloud = FakeCheckCloud::new(&nic, Ok(Some(holder("eni-peer", "AVAILABLE"))));
    let p = CheckPorts {
        records: &records,
        cloud: &cloud,
        nic: &nic,
        clock: &clock,
    };
    let vips = havip_on_eth0();
    assert!(master(&p, &input(&vips, Some("eni-me"))).reconcile);

    let records = FakeCheckRecords::new(KeepalivedState::Master);
    let cloud = FakeCheckCloud::new(&nic, Ok(Some(holder("eni-me", "AVAILABLE"))));
    let p = CheckPorts {
        records: &records,
        cloud: &cloud,
        nic: &nic,
        clock: &clock,
    };
    let out = master(&p, &input(&vips, Some("eni-me")));
    assert!(!out.reconcile, "{out:?}");
    assert_eq!(*records.writes.borrow(), vec!["cloud_view"]);
}

#[test]
fn an_unassigned_secondary_ip_is_still_only_a_note() {
    let clock = ManualClock::new();
    let nic = FakeNic::new().with_address("eth0", VIP, 32);
    let records = FakeCheckRecords::new(KeepalivedState::Master);
    let cloud = FakeCheckCloud::new(&nic, Ok(None));
    let p = CheckPorts {
        records: &records,
        cloud: &cloud,
        nic: &nic,
        clock: &clock,
    };
    let vips = on_eth0();
    let out = master(&p, &input(&vips, Some("eni-me")));
    assert!(!out.reconcile, "{out:?}");
    assert!(out.notes.iter().any(|n| n.contains("assigned to no ENI")));
}
