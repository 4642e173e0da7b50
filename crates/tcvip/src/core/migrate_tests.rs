//! vip-migrate's rules on a manual clock: every test runs in microseconds and sleeps never.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use tencent_api::Error;
use tencent_api::vpc::TaskStatus;

use tencent_api::retry::Jitter;
use vip_state::{KeepalivedState, MigrationOutcome};

use super::migrate::{Outcome, Plan, run};
use super::rules::{GraceStep, VipGoneGrace};
use super::testing::{Call, FakeCloud, FakeRecords, ManualClock, api, holder};
use super::{Holder, Ports};
use crate::exit::Exit;
use crate::nic::FakeNic;

pub(super) const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 100);
pub(super) const ME: &str = "eni-me";
pub(super) const PEER: &str = "eni-peer";

pub(super) struct World<'a> {
    pub(super) clock: &'a ManualClock,
    pub(super) cloud: FakeCloud<'a>,
    pub(super) records: FakeRecords<'a>,
    pub(super) nic: FakeNic,
}

impl<'a> World<'a> {
    pub(super) fn new(clock: &'a ManualClock, holder: Option<Holder>) -> World<'a> {
        World {
            clock,
            cloud: FakeCloud::new(clock, holder),
            records: FakeRecords::master(clock),
            nic: FakeNic::new()
                .with_interface("eth0")
                .with_address("eth0", VIP, 32),
        }
    }

    pub(super) fn plan(&self) -> Plan<'static> {
        Plan {
            vip: VIP,
            instance: "VI_1",
            vpc_id: "vpc-1",
            eni_id: ME,
            deadline: self.clock.at(10_000),
            assign_if_unassigned: false,
            force: false,
            dry_run: false,
            purpose: "migrate",
            interface: Some("eth0"),
            notified_master: None,
            havip: None,
        }
    }

    pub(super) fn run(&self, plan: &Plan<'_>) -> Outcome {
        let ports = Ports {
            cloud: &self.cloud,
            records: &self.records,
            nic: &self.nic,
            clock: self.clock,
        };
        run(ports, plan, Jitter::seeded(7))
    }

    pub(super) fn migrates(&self) -> usize {
        self.cloud
            .writes()
            .iter()
            .filter(|c| matches!(c, Call::Migrate { .. }))
            .count()
    }
}

pub(super) fn peer() -> Option<Holder> {
    Some(holder(PEER, "AVAILABLE"))
}

#[test]
fn a_vip_already_here_needs_no_write_call() {
    let clock = ManualClock::new();
    let w = World::new(&clock, Some(holder(ME, "AVAILABLE")));
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Success);
    assert_eq!(out.outcome, MigrationOutcome::AlreadyHere);
    assert!(w.cloud.writes().is_empty());
    assert_eq!(out.message, "10.0.1.100 is already on eni-me (no change)");
}

#[test]
fn a_move_is_one_migrate_polled_until_success_and_confirmed_by_a_lookup() {
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Success, "{}", out.message);
    assert_eq!(out.outcome, MigrationOutcome::Success);
    assert_eq!(w.cloud.writes(), vec![Call::Migrate { from: PEER.into() }]);
    assert_eq!(w.cloud.count(&Call::Task), 3);
    // Describe, Migrate, three polls, and the confirming Describe.
    assert_eq!(w.cloud.calls.borrow().last().unwrap().1, Call::Describe);
    assert_eq!(out.from_eni.as_deref(), Some(PEER));
    assert_eq!(out.attempts, 1);
    assert!(
        out.message
            .starts_with("10.0.1.100 moved from eni-peer to eni-me in ")
    );
    // Polls every 200 ms: landed after the third.
    assert_eq!(clock.elapsed_ms(), 600);
}

#[test]
fn backup_recorded_before_the_write_stops_with_4_and_writes_nothing() {
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    w.records.then(0, KeepalivedState::Backup);
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::NotMaster);
    assert_eq!(out.outcome, MigrationOutcome::Aborted);
    assert!(w.cloud.writes().is_empty());
    assert!(
        out.message.contains("is BACKUP (record 2), not MASTER"),
        "{}",
        out.message
    );
    // --force skips the check.
    let forced = Plan {
        force: true,
        ..w.plan()
    };
    assert_eq!(w.run(&forced).exit, Exit::Success);
    assert_eq!(w.migrates(), 1);
}

#[test]
fn backup_recorded_while_the_move_is_in_flight_stops_without_polling_on() {
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    w.cloud.lag_polls.set(20);
    w.records.then(300, KeepalivedState::Backup);
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::NotMaster);
    assert_eq!(w.migrates(), 1);
    assert_eq!(
        w.cloud.count(&Call::Task),
        1,
        "one poll at 200 ms, the check at 400 ms stops"
    );
}

#[test]
fn a_master_whose_keepalived_died_writes_nothing() {
    // keepalived SIGKILLed right after its MASTER notification: no notify runs, the record
    // still says MASTER, but the process that reported it is gone.
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    w.records.reporter_gone_from.set(Some(0));
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::NotMaster);
    assert_eq!(out.outcome, MigrationOutcome::Aborted);
    assert!(w.cloud.writes().is_empty());
    assert!(
        out.message.contains("keepalived (pid 4242)") && out.message.contains("is gone"),
        "{}",
        out.message
    );
    // --force skips the check, as for a BACKUP.
    let forced = Plan {
        force: true,
        ..w.plan()
    };
    assert_eq!(w.run(&forced).exit, Exit::Success);
}

#[test]
fn a_keepalived_that_dies_during_the_move_stops_it_before_the_next_write() {
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    // The first write is throttled; keepalived dies before the retry.
    w.cloud.fail_next(
        "MigratePrivateIpAddress",
        api("RequestLimitExceeded", "MigratePrivateIpAddress"),
    );
    w.records.reporter_gone_from.set(Some(1));
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::NotMaster);
    assert_eq!(
        w.migrates(),
        1,
        "the throttled write only: {:?}",
        w.cloud.writes()
    );
    // A newer record (keepalived restarted and said BACKUP or MASTER again) is not the dead
    // keepalived's: the rule only looks at the record it reported.
    let w = World::new(&clock, peer());
    w.records.reporter_gone_from.set(Some(0));
    w.records.noted.set(Some(KeepalivedState::Master));
    assert_eq!(w.run(&w.plan()).exit, Exit::Success);
}

#[test]
fn an_unrecorded_notification_has_the_last_word_and_notified_master_counts_as_master() {
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    w.records.noted.set(Some(KeepalivedState::Backup));
    assert_eq!(w.run(&w.plan()).exit, Exit::NotMaster);
    assert!(w.cloud.writes().is_empty());

    let w = World::new(&clock, peer());
    w.records.timeline.borrow_mut()[0].1 = KeepalivedState::Backup;
    assert_eq!(w.run(&w.plan()).exit, Exit::NotMaster);
    let notified = Plan {
        notified_master: Some(1),
        ..w.plan()
    };
    assert_eq!(w.run(&notified).exit, Exit::Success);
    // Over another record, the note is out of date.
    let w = World::new(&clock, peer());
    w.records.timeline.borrow_mut()[0].1 = KeepalivedState::Backup;
    let stale = Plan {
        notified_master: Some(0),
        ..w.plan()
    };
    assert_eq!(w.run(&stale).exit, Exit::NotMaster);
}

#[test]
fn a_change_in_flight_is_waited_for_never_raced() {
    let clock = ManualClock::new();
    let w = World::new(&clock, Some(holder(PEER, "MIGRATING")));
    // Someone else's move lands on this ENI after a second.
    let ports_cloud = &w.cloud;
    let records = &w.records;
    let nic = &w.nic;
    let landing = LandAt {
        inner: ports_cloud,
        at_ms: 1_000,
        to: holder(ME, "AVAILABLE"),
    };
    let ports = Ports {
        cloud: &landing,
        records,
        nic,
        clock: &clock,
    };
    let out = run(ports, &w.plan(), Jitter::seeded(1));
    assert_eq!(out.exit, Exit::Success, "{}", out.message);
    assert!(w.cloud.writes().is_empty());
    assert!(
        out.message.contains(
            "arrived on eni-me from eni-peer in 1000 ms (a move already in flight; no call made)"
        ),
        "{}",
        out.message
    );
}

/// A cloud whose holder becomes `to` at `at_ms`.
pub(super) struct LandAt<'a, 'b> {
    pub(super) inner: &'b FakeCloud<'a>,
    pub(super) at_ms: u64,
    pub(super) to: Holder,
}

impl super::Cloud for LandAt<'_, '_> {
    fn find_holder(&self, vip: Ipv4Addr, by: Instant) -> Result<Option<Holder>, Error> {
        if self.inner.clock.elapsed_ms() >= self.at_ms {
            *self.inner.holder.borrow_mut() = Some(self.to.clone());
        }
        self.inner.find_holder(vip, by)
    }
    fn migrate(&self, v: Ipv4Addr, f: &str, t: &str, by: Instant) -> Result<String, Error> {
        self.inner.migrate(v, f, t, by)
    }
    fn assign(&self, v: Ipv4Addr, t: &str, by: Instant) -> Result<String, Error> {
        self.inner.assign(v, t, by)
    }
    fn task_status(&self, id: &str, by: Instant) -> Result<TaskStatus, Error> {
        self.inner.task_status(id, by)
    }
    fn refresh_credentials(&self) {
        self.inner.refresh_credentials();
    }
}

#[test]
fn a_change_in_flight_still_stops_when_master_is_lost_while_waiting() {
    let clock = ManualClock::new();
    let w = World::new(&clock, Some(holder(PEER, "MIGRATING")));
    w.records.then(500, KeepalivedState::Backup);
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::NotMaster);
    assert!(w.cloud.writes().is_empty());
}

#[test]
fn a_vip_gone_from_its_interface_waits_for_the_backup_on_its_way_and_moves_nothing() {
    let clock = ManualClock::new();
    let mut w = World::new(&clock, peer());
    w.nic = FakeNic::new().with_interface("eth0");
    w.records.then(150, KeepalivedState::Backup);
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::NotMaster);
    assert!(w.cloud.writes().is_empty());
    assert!(clock.elapsed_ms() >= 150 && clock.elapsed_ms() < 300);
}

#[test]
fn a_vip_gone_from_its_interface_still_moves_once_the_grace_is_over() {
    let clock = ManualClock::new();
    let mut w = World::new(&clock, peer());
    w.nic = FakeNic::new().with_interface("eth0");
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Success);
    let calls = w.cloud.calls.borrow();
    let (at, _) = calls
        .iter()
        .find(|(_, c)| matches!(c, Call::Migrate { .. }))
        .unwrap();
    assert_eq!(*at, 300, "the write waits out the 300 ms grace, no longer");
}

#[test]
fn the_vip_gone_grace_rearms_on_each_newer_master_and_ends_on_anything_else() {
    use KeepalivedState::{Backup, Master};
    let clock = ManualClock::new();
    let ms = |n| clock.at(n);
    let grace = Duration::from_millis(300);
    let mut g = VipGoneGrace::new(grace, ms(0), 7);
    assert_eq!(g.step(ms(0), 7, Master, false), GraceStep::Wait);
    // A second MASTER 50 ms later re-arms the wait instead of ending it...
    assert_eq!(g.step(ms(50), 8, Master, false), GraceStep::Wait);
    assert_eq!(g.step(ms(320), 8, Master, false), GraceStep::Wait);
    // ...so the BACKUP 150 ms after it still arrives in time: the MASTER check stops.
    assert_eq!(g.step(ms(200), 9, Backup, false), GraceStep::Done);

    let mut g = VipGoneGrace::new(grace, ms(0), 7);
    assert_eq!(g.step(ms(50), 8, Master, false), GraceStep::Wait);
    assert_eq!(g.step(ms(349), 8, Master, false), GraceStep::Wait);
    assert_eq!(g.step(ms(350), 8, Master, false), GraceStep::Done);

    // The VIP back on its interface ends the wait at once.
    let mut g = VipGoneGrace::new(grace, ms(0), 7);
    assert_eq!(g.step(ms(10), 7, Master, true), GraceStep::Done);
}

#[test]
fn nobody_holding_the_vip_is_an_error_unless_assigning_is_configured() {
    let clock = ManualClock::new();
    let w = World::new(&clock, None);
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Failure);
    assert!(
        out.message.contains("assign_if_unassigned"),
        "{}",
        out.message
    );
    assert!(w.cloud.writes().is_empty());
    let assign = Plan {
        assign_if_unassigned: true,
        ..w.plan()
    };
    let out = w.run(&assign);
    assert_eq!(out.exit, Exit::Success, "{}", out.message);
    assert_eq!(w.cloud.writes(), vec![Call::Assign]);
    assert!(
        out.message.contains("moved from unassigned to eni-me"),
        "{}",
        out.message
    );
}

#[test]
fn a_dry_run_says_what_it_would_call_and_writes_nothing() {
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    let dry = Plan {
        dry_run: true,
        ..w.plan()
    };
    let out = w.run(&dry);
    assert_eq!(out.exit, Exit::Success);
    assert!(
        out.message
            .contains("would call MigratePrivateIpAddress(SourceNetworkInterfaceId=eni-peer")
    );
    assert!(w.cloud.writes().is_empty());
    *w.cloud.holder.borrow_mut() = Some(holder(PEER, "MIGRATING"));
    let out = w.run(&dry);
    assert!(
        out.message
            .contains("a change is in flight (MIGRATING on eni-peer)")
    );
    assert_eq!(clock.elapsed_ms(), 0, "a dry run never waits");
}

#[test]
fn a_primary_ip_is_a_configuration_error() {
    let clock = ManualClock::new();
    let mut h = holder(PEER, "AVAILABLE");
    h.primary = true;
    let w = World::new(&clock, Some(h));
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Config);
    assert!(w.cloud.writes().is_empty());
}

#[test]
fn credentials_that_cannot_be_fetched_are_tried_for_a_few_seconds_then_unknown() {
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    let transient = || {
        Error::Credentials(tencent_api::CredentialError::RoleName(
            tencent_api::metadata::MetadataError::Timeout {
                url: "http://127.0.0.1/".to_owned(),
                after: Duration::from_millis(1),
            },
        ))
    };
    for _ in 0..1000 {
        w.cloud.fail_next("DescribeNetworkInterfaces", transient());
    }
    let plan = Plan {
        deadline: clock.at(60_000),
        ..w.plan()
    };
    let out = w.run(&plan);
    assert_eq!(out.exit, Exit::Unknown, "{}", out.message);
    assert!(
        out.message.contains("no credentials after"),
        "{}",
        out.message
    );
    let at = clock.elapsed_ms();
    assert!((5_000..10_000).contains(&at), "gave up at {at} ms");
}
