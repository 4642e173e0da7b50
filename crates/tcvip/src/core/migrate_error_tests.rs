//! vip-migrate's error rules on a manual clock: the classes of error, task polling and its
//! fallback, the deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::time::Instant;

use tencent_api::Error;
use tencent_api::retry::Jitter;
use tencent_api::vpc::TaskStatus;
use vip_state::MigrationOutcome;

use super::migrate::{Plan, run};
use super::migrate_tests::{ME, PEER, World, peer};
use super::rules::{TaskFallback, task_fallback};
use super::testing::{Call, FakeCloud, ManualClock, api, dropped, holder};
use super::{Holder, Ports};
use crate::exit::Exit;

#[test]
fn throttling_backs_off_and_succeeds_within_the_deadline() {
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    for _ in 0..3 {
        w.cloud.fail_next(
            "MigratePrivateIpAddress",
            api("RequestLimitExceeded", "MigratePrivateIpAddress"),
        );
    }
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Success, "{}", out.message);
    assert_eq!(w.migrates(), 4);
    assert_eq!(out.attempts, 4);
}

#[test]
fn a_fatal_error_stops_at_once_with_its_exit_code() {
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    w.cloud.fail_next(
        "MigratePrivateIpAddress",
        api("AuthFailure.SignatureFailure", "MigratePrivateIpAddress"),
    );
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Auth);
    assert_eq!(w.migrates(), 1);
    assert_eq!(clock.elapsed_ms(), 0, "no retry, no wait");
    let w = World::new(&clock, peer());
    w.cloud.fail_next(
        "DescribeNetworkInterfaces",
        api("InvalidParameterValue", "DescribeNetworkInterfaces"),
    );
    assert_eq!(w.run(&w.plan()).exit, Exit::Failure);
    assert!(w.cloud.writes().is_empty());
}

#[test]
fn an_internal_error_rereads_the_holder_before_reissuing() {
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    w.cloud.fail_next(
        "MigratePrivateIpAddress",
        api("InternalError", "MigratePrivateIpAddress"),
    );
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Success);
    let calls: Vec<Call> = w
        .cloud
        .calls
        .borrow()
        .iter()
        .map(|(_, c)| c.clone())
        .collect();
    assert_eq!(
        &calls[..4],
        &[
            Call::Describe,
            Call::Migrate { from: PEER.into() },
            Call::Describe,
            Call::Migrate { from: PEER.into() },
        ]
    );
}

#[test]
fn an_expired_token_is_refreshed_once_then_refused_with_77() {
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    w.cloud.fail_next(
        "MigratePrivateIpAddress",
        api("AuthFailure.TokenFailure", "MigratePrivateIpAddress"),
    );
    assert_eq!(w.run(&w.plan()).exit, Exit::Success);
    assert_eq!(w.cloud.count(&Call::Refresh), 1);

    let w = World::new(&clock, peer());
    for _ in 0..2 {
        w.cloud.fail_next(
            "MigratePrivateIpAddress",
            api("AuthFailure.SignatureExpire", "MigratePrivateIpAddress"),
        );
    }
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Auth);
    assert!(
        out.message.contains("clock is more than 5 minutes off"),
        "{}",
        out.message
    );
    assert_eq!(w.cloud.count(&Call::Refresh), 1);
}

#[test]
fn a_source_that_lost_the_vip_is_looked_up_again_a_few_times_then_an_error() {
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    w.cloud.fail_next(
        "MigratePrivateIpAddress",
        api(super::errors::SOURCE_LOST, "MigratePrivateIpAddress"),
    );
    assert_eq!(w.run(&w.plan()).exit, Exit::Success);
    assert_eq!(w.migrates(), 2);

    let w = World::new(&clock, peer());
    for _ in 0..10 {
        w.cloud.fail_next(
            "MigratePrivateIpAddress",
            api(super::errors::SOURCE_LOST, "MigratePrivateIpAddress"),
        );
    }
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Failure, "{}", out.message);
    assert_eq!(
        w.migrates(),
        4,
        "three races looked up again, the fourth refusal stops"
    );
}

#[test]
fn unreadable_task_results_fall_back_to_the_holder() {
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    // The move lands at once, but its task result can never be read.
    w.cloud.lag_polls.set(0);
    for _ in 0..100 {
        w.cloud
            .fail_next("DescribeVpcTaskResult", dropped("DescribeVpcTaskResult"));
    }
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Success, "{}", out.message);
    assert_eq!(w.migrates(), 1, "a landed move is not reissued");
    assert_eq!(
        w.cloud.count(&Call::Task),
        3,
        "the holder is asked after three failed polls"
    );

    // A move that does not happen: seen settled elsewhere twice, it is taken as failed and
    // reissued after a fresh lookup.
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    w.cloud.lag_polls.set(100);
    for _ in 0..4 {
        w.cloud
            .fail_next("DescribeVpcTaskResult", dropped("DescribeVpcTaskResult"));
    }
    let stuck = StuckMove { inner: &w.cloud };
    let ports = Ports {
        cloud: &stuck,
        records: &w.records,
        nic: &w.nic,
        clock: &clock,
    };
    let plan = Plan {
        deadline: clock.at(60_000),
        ..w.plan()
    };
    let out = run(ports, &plan, Jitter::seeded(3));
    assert_eq!(out.exit, Exit::Failure, "{}", out.message);
    // The first Migrate went through; after 3 failed polls, a look (settled elsewhere), a
    // fourth failed poll and a second look, it was given up; the next one is refused (fatal).
    assert_eq!(w.migrates(), 2, "{}", out.message);
    assert_eq!(w.cloud.count(&Call::Task), 4);
}

/// A cloud where a move never starts: the holder stays settled on the peer.
struct StuckMove<'a, 'b> {
    inner: &'b FakeCloud<'a>,
}

impl super::Cloud for StuckMove<'_, '_> {
    fn find_holder(&self, vip: Ipv4Addr, by: Instant) -> Result<Option<Holder>, Error> {
        *self.inner.holder.borrow_mut() = Some(holder(PEER, "AVAILABLE"));
        self.inner.find_holder(vip, by)
    }
    fn migrate(&self, v: Ipv4Addr, f: &str, t: &str, by: Instant) -> Result<String, Error> {
        let answer = self.inner.migrate(v, f, t, by);
        // The next one is refused, to end the run there.
        self.inner.fail_next(
            "MigratePrivateIpAddress",
            api("InvalidParameterValue", "MigratePrivateIpAddress"),
        );
        answer
    }
    fn assign(&self, v: Ipv4Addr, t: &str, by: Instant) -> Result<String, Error> {
        self.inner.assign(v, t, by)
    }
    fn task_status(&self, id: &str, by: Instant) -> Result<TaskStatus, Error> {
        self.inner.task_status(id, by)
    }
    fn refresh_credentials(&self) {}
}

#[test]
fn an_unreadable_task_is_judged_by_where_the_vip_is() {
    let verdict = |h: Option<Holder>| task_fallback(h.as_ref(), ME);
    assert_eq!(verdict(Some(holder(ME, "AVAILABLE"))), TaskFallback::Landed);
    assert_eq!(
        verdict(Some(holder(ME, "MIGRATING"))),
        TaskFallback::InFlight
    );
    assert_eq!(
        verdict(Some(holder(PEER, "MIGRATING"))),
        TaskFallback::InFlight
    );
    assert_eq!(
        verdict(Some(holder(PEER, "AVAILABLE"))),
        TaskFallback::NotMoving
    );
    assert_eq!(verdict(None), TaskFallback::NotMoving);
}

#[test]
fn a_failed_task_is_retried_within_the_deadline() {
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    w.cloud.tasks_fail.set(true);
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Failure);
    assert_eq!(out.outcome, MigrationOutcome::TimedOut);
    assert!(w.migrates() >= 3, "retried: {}", w.migrates());
    assert_eq!(
        clock.elapsed_ms(),
        10_000,
        "ends at the deadline, not later"
    );
}

#[test]
fn a_cloud_unreachable_to_the_end_is_unknown_at_the_deadline() {
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    for _ in 0..1000 {
        w.cloud.fail_next(
            "DescribeNetworkInterfaces",
            dropped("DescribeNetworkInterfaces"),
        );
    }
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Unknown);
    assert_eq!(out.outcome, MigrationOutcome::TimedOut);
    assert!(out.message.contains("last error"), "{}", out.message);
    assert_eq!(clock.elapsed_ms(), 10_000);
}

#[test]
fn a_dropped_write_is_looked_up_again_then_reissued() {
    let clock = ManualClock::new();
    let w = World::new(&clock, peer());
    w.cloud.fail_next(
        "MigratePrivateIpAddress",
        dropped("MigratePrivateIpAddress"),
    );
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Success, "{}", out.message);
    let calls: Vec<Call> = w
        .cloud
        .calls
        .borrow()
        .iter()
        .map(|(_, c)| c.clone())
        .collect();
    assert_eq!(
        &calls[..4],
        &[
            Call::Describe,
            Call::Migrate { from: PEER.into() },
            Call::Describe,
            Call::Migrate { from: PEER.into() },
        ]
    );
    assert_eq!(out.attempts, 2);
}

#[test]
fn an_assignment_left_pending_is_awaited_and_a_failed_one_redone() {
    let clock = ManualClock::new();
    // Someone's assignment to this ENI is pending: awaited, no call made.
    let w = World::new(&clock, Some(holder(ME, "PENDING")));
    let plan = Plan {
        assign_if_unassigned: true,
        ..w.plan()
    };
    let landing = super::migrate_tests::LandAt {
        inner: &w.cloud,
        at_ms: 600,
        to: holder(ME, "AVAILABLE"),
    };
    let ports = Ports {
        cloud: &landing,
        records: &w.records,
        nic: &w.nic,
        clock: &clock,
    };
    let out = run(ports, &plan, Jitter::seeded(5));
    assert_eq!(out.exit, Exit::Success, "{}", out.message);
    assert!(w.cloud.writes().is_empty());
    assert!(
        out.message.contains("arrived on eni-me from unassigned"),
        "{}",
        out.message
    );

    // A failed assignment (nobody holds it afterwards) is made again.
    let clock = ManualClock::new();
    let w = World::new(&clock, None);
    w.cloud.tasks_fail.set(true);
    let plan = Plan {
        assign_if_unassigned: true,
        deadline: clock.at(3_000),
        ..w.plan()
    };
    let out = w.run(&plan);
    assert_eq!(out.outcome, MigrationOutcome::TimedOut);
    assert!(w.cloud.count(&Call::Assign) >= 2, "{:?}", w.cloud.writes());
}
