//! A HAVIP's run on a manual clock: no write call ever; the VPC learns the binding from a
//! gratuitous ARP (keepalived's first, tcvip's after each bind timeout without it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::time::Duration;

use tencent_api::retry::Jitter;
use vip_state::{KeepalivedState, MigrationOutcome};

use super::Ports;
use super::migrate::{HaVipPlan, Outcome, Plan, run, run_hinted};
use super::testing::{
    Call, FakeCloud, FakeRecords, GarpNic, HAVIP_ID, ManualClock, api, dropped, havip,
};
use crate::exit::Exit;
use crate::nic::{FakeNic, NicOp};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 100);
const ME: &str = "eni-me";
const PEER: &str = "eni-peer";

struct World<'a> {
    clock: &'a ManualClock,
    cloud: &'a FakeCloud<'a>,
    records: FakeRecords<'a>,
    nic: GarpNic<'a>,
}

fn vpc<'a>(clock: &'a ManualClock, bound: Option<&str>) -> FakeCloud<'a> {
    FakeCloud::new(clock, None).with_havip(VIP, bound)
}

impl<'a> World<'a> {
    fn new(clock: &'a ManualClock, cloud: &'a FakeCloud<'a>) -> World<'a> {
        let nic = FakeNic::new().with_address("eth0", VIP, 32);
        World {
            clock,
            cloud,
            records: FakeRecords::master(clock),
            nic: GarpNic::new(nic, cloud, ME),
        }
    }

    fn plan(&self) -> Plan<'static> {
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
            havip: Some(HaVipPlan {
                id: HAVIP_ID,
                bind_timeout: Duration::from_millis(2000),
            }),
        }
    }

    fn ports(&self) -> Ports<'_> {
        Ports {
            cloud: self.cloud,
            records: &self.records,
            nic: &self.nic,
            clock: self.clock,
        }
    }

    fn run(&self, plan: &Plan<'_>) -> Outcome {
        run(self.ports(), plan, Jitter::seeded(7))
    }

    /// No MigratePrivateIpAddress, no AssignPrivateIpAddresses, no task poll: ever.
    fn assert_no_write(&self) {
        assert!(self.cloud.writes().is_empty(), "{:?}", self.cloud.writes());
        assert_eq!(self.cloud.count(&Call::Task), 0);
        assert_eq!(self.cloud.count(&Call::Describe), 0);
    }
}

#[test]
fn bound_after_keepalived_s_gratuitous_arp_sends_none_and_succeeds() {
    let clock = ManualClock::new();
    let cloud = vpc(&clock, Some(PEER));
    // keepalived's own gratuitous ARP, learned 700 ms after it became MASTER.
    cloud.bind_at(700, ME);
    let w = World::new(&clock, &cloud);
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Success, "{}", out.message);
    assert_eq!(out.outcome, MigrationOutcome::Success);
    assert!(w.nic.sent_at().is_empty());
    assert_eq!(out.attempts, 0);
    assert_eq!(out.from_eni.as_deref(), Some(PEER));
    w.assert_no_write();
    // Looked at every 200 ms: seen at 800.
    assert_eq!(clock.elapsed_ms(), 800);
    assert_eq!(
        out.message,
        "198.18.1.100 (havip-test) bound to eni-me in 800 ms (0 gratuitous ARPs sent by tcvip)"
    );
}

#[test]
fn already_bound_here_is_no_change() {
    let clock = ManualClock::new();
    let cloud = vpc(&clock, Some(ME));
    let w = World::new(&clock, &cloud);
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Success);
    assert_eq!(out.outcome, MigrationOutcome::AlreadyHere);
    assert_eq!(
        out.message,
        "198.18.1.100 (havip-test) is already bound to eni-me (no change)"
    );
    assert_eq!(cloud.count(&Call::DescribeHaVips), 1);
    assert!(w.nic.sent_at().is_empty());
}

#[test]
fn not_bound_in_time_tcvip_sends_a_gratuitous_arp_then_succeeds() {
    let clock = ManualClock::new();
    // keepalived's gratuitous ARP was lost: the HAVIP stays on the peer.
    let cloud = vpc(&clock, Some(PEER));
    let w = World::new(&clock, &cloud);
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Success, "{}", out.message);
    assert_eq!(w.nic.sent_at(), vec![2000]);
    assert_eq!(w.nic.nic.ops(), vec![NicOp::Garp("eth0".into(), VIP)]);
    assert_eq!(out.attempts, 1);
    w.assert_no_write();
    // Learned 500 ms after tcvip's gratuitous ARP, seen by the next look.
    assert_eq!(clock.elapsed_ms(), 2600);
    assert_eq!(
        out.message,
        "198.18.1.100 (havip-test) bound to eni-me in 2600 ms (1 gratuitous ARP sent by tcvip)"
    );
}

#[test]
fn ignored_gratuitous_arps_are_sent_again_each_bind_timeout() {
    let clock = ManualClock::new();
    let cloud = vpc(&clock, None);
    let w = World::new(&clock, &cloud);
    w.nic.ignore.set(2);
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Success, "{}", out.message);
    // An unbound HAVIP is not an error: a gratuitous ARP binds it.
    assert_eq!(w.nic.sent_at(), vec![2000, 4000, 6000]);
    assert_eq!(out.attempts, 3);
    assert_eq!(out.from_eni, None);
    assert!(
        out.message.contains("(3 gratuitous ARPs sent by tcvip)"),
        "{}",
        out.message
    );
    w.assert_no_write();
}

#[test]
fn backup_recorded_mid_way_stops_with_4_and_sends_nothing_after() {
    let clock = ManualClock::new();
    let cloud = vpc(&clock, Some(PEER));
    let w = World::new(&clock, &cloud);
    w.nic.ignore.set(10);
    w.records.then(3000, KeepalivedState::Backup);
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::NotMaster, "{}", out.message);
    assert_eq!(out.outcome, MigrationOutcome::Aborted);
    // The one at 2000 went out; the BACKUP at 3000 stopped the run before the next.
    assert_eq!(w.nic.sent_at(), vec![2000]);
    assert!(clock.elapsed_ms() < 4000, "{}", clock.elapsed_ms());
    assert!(out.message.contains("is BACKUP"), "{}", out.message);
    w.assert_no_write();
}

#[test]
fn backup_before_the_first_gratuitous_arp_sends_none() {
    let clock = ManualClock::new();
    let cloud = vpc(&clock, Some(PEER));
    let w = World::new(&clock, &cloud);
    w.records.then(1999, KeepalivedState::Backup);
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::NotMaster);
    assert!(w.nic.sent_at().is_empty());
}

#[test]
fn the_deadline_is_a_timeout_naming_the_havip_and_what_was_seen() {
    let clock = ManualClock::new();
    let cloud = vpc(&clock, Some(PEER));
    let w = World::new(&clock, &cloud);
    w.nic.ignore.set(100);
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Failure);
    assert_eq!(out.outcome, MigrationOutcome::TimedOut);
    assert_eq!(w.nic.sent_at(), vec![2000, 4000, 6000, 8000]);
    assert_eq!(
        out.message,
        "198.18.1.100 (havip-test): not bound to eni-me when the deadline passed after 10000 ms (4 gratuitous ARPs sent by tcvip; DescribeHaVips last showed it bound to eni-peer)"
    );
    w.assert_no_write();
}

#[test]
fn describe_errors_are_retried_or_stop_as_for_any_call() {
    // A dropped connection is retried; the run goes on and succeeds.
    let clock = ManualClock::new();
    let cloud = vpc(&clock, Some(PEER));
    cloud.bind_at(300, ME);
    cloud.fail_next("DescribeHaVips", dropped("DescribeHaVips"));
    let w = World::new(&clock, &cloud);
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Success, "{}", out.message);
    assert!(cloud.count(&Call::DescribeHaVips) >= 2);
    assert!(w.nic.sent_at().is_empty());

    // A CAM refusal stops at once with 77, nothing sent.
    let clock = ManualClock::new();
    let cloud = vpc(&clock, Some(PEER));
    cloud.fail_next(
        "DescribeHaVips",
        api("UnauthorizedOperation", "DescribeHaVips"),
    );
    let w = World::new(&clock, &cloud);
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Auth, "{}", out.message);
    assert_eq!(cloud.count(&Call::DescribeHaVips), 1);
    assert!(w.nic.sent_at().is_empty());

    // Unreachable to the deadline: unknown (3).
    let clock = ManualClock::new();
    let cloud = vpc(&clock, Some(PEER));
    for _ in 0..200 {
        cloud.fail_next("DescribeHaVips", dropped("DescribeHaVips"));
    }
    let w = World::new(&clock, &cloud);
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Unknown, "{}", out.message);
    assert_eq!(out.outcome, MigrationOutcome::TimedOut);
    assert!(out.message.contains("havip-test"), "{}", out.message);
    assert!(out.message.contains("last error"), "{}", out.message);
}

#[test]
fn a_missing_havip_or_another_address_is_a_configuration_error() {
    let clock = ManualClock::new();
    let cloud = FakeCloud::new(&clock, None);
    let w = World::new(&clock, &cloud);
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Config, "{}", out.message);
    assert!(out.message.contains("havip-test") && out.message.contains("havip_id"));

    let clock = ManualClock::new();
    let cloud = FakeCloud::new(&clock, None);
    *cloud.havip.borrow_mut() = Some(havip(Ipv4Addr::new(198, 18, 1, 10), Some(PEER)));
    let w = World::new(&clock, &cloud);
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Config, "{}", out.message);
    assert!(out.message.contains("198.18.1.10,"), "{}", out.message);
    assert!(w.nic.sent_at().is_empty());
}

#[test]
fn without_privilege_the_run_stops_with_77_saying_so() {
    let clock = ManualClock::new();
    let cloud = vpc(&clock, Some(PEER));
    let w = World::new(&clock, &cloud);
    w.nic.unprivileged.set(true);
    let out = w.run(&w.plan());
    assert_eq!(out.exit, Exit::Auth, "{}", out.message);
    assert!(
        out.message.contains("needs root or CAP_NET_RAW"),
        "{}",
        out.message
    );
    assert_eq!(clock.elapsed_ms(), 2000);
}

#[test]
fn no_interface_known_is_a_configuration_error_when_a_gratuitous_arp_is_due() {
    let clock = ManualClock::new();
    let cloud = vpc(&clock, Some(PEER));
    let w = World::new(&clock, &cloud);
    let plan = Plan {
        interface: None,
        ..w.plan()
    };
    let out = w.run(&plan);
    assert_eq!(out.exit, Exit::Config, "{}", out.message);
    assert!(
        out.message.contains("set [[vip]] interface"),
        "{}",
        out.message
    );
}

#[test]
fn a_dry_run_says_what_it_would_do_and_sends_nothing() {
    let clock = ManualClock::new();
    let cloud = vpc(&clock, Some(PEER));
    let w = World::new(&clock, &cloud);
    let plan = Plan {
        dry_run: true,
        ..w.plan()
    };
    let out = w.run(&plan);
    assert_eq!(out.exit, Exit::Success);
    assert_eq!(out.outcome, MigrationOutcome::Aborted);
    assert!(
        out.message.contains("is bound to eni-peer") && out.message.contains("from eth0"),
        "{}",
        out.message
    );
    assert_eq!(clock.elapsed_ms(), 0);
    assert!(w.nic.sent_at().is_empty());
}

#[test]
fn a_holder_hint_is_never_used_for_a_havip() {
    let clock = ManualClock::new();
    let cloud = vpc(&clock, Some(PEER));
    cloud.bind_at(100, ME);
    let w = World::new(&clock, &cloud);
    let out = run_hinted(w.ports(), &w.plan(), Jitter::seeded(7), Some(PEER));
    assert_eq!(out.exit, Exit::Success, "{}", out.message);
    w.assert_no_write();
}

#[test]
fn the_havip_step_waits_out_the_bind_timeout_then_announces() {
    use super::rules::{HaVipStep, havip_step};
    use super::testing::holder;
    let ms = Duration::from_millis;
    let t = ms(2000);
    let here = holder(ME, "AVAILABLE");
    let there = holder(PEER, "AVAILABLE");
    assert_eq!(havip_step(Some(&here), ME, ms(0), t), HaVipStep::Bound);
    assert_eq!(havip_step(Some(&here), ME, ms(9000), t), HaVipStep::Bound);
    // Looked at every 200 ms, never past the bind timeout.
    assert_eq!(
        havip_step(Some(&there), ME, ms(0), t),
        HaVipStep::Wait(ms(200))
    );
    assert_eq!(havip_step(None, ME, ms(1900), t), HaVipStep::Wait(ms(100)));
    assert_eq!(havip_step(None, ME, ms(2000), t), HaVipStep::Announce);
    assert_eq!(
        havip_step(Some(&there), ME, ms(2500), t),
        HaVipStep::Announce
    );
}
