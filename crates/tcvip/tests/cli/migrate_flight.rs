//! vip-migrate's single flight and dry runs: several VIPs each moved once, a second run joining
//! the first, a move left in flight awaited, a dry run printing its plan and never holding back
//! a real one. Helpers in [`crate::migrate`].

use std::net::Ipv4Addr;
use std::thread;
use std::time::{Duration, Instant};

use fake_vpc::{FakeVpcHandle, Fault, FaultSpec};
use vip_state::MigrationOutcome;

use crate::migrate::*;
use crate::util::*;

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = master(&fake, "ins-node0002", "");
    let run = node.run("vip-migrate", &["--dry-run"]);
    assert_eq!(run.code, 0, "{run:?}");
    for word in [
        "MigratePrivateIpAddress",
        "SourceNetworkInterfaceId=eni-node0001",
        "DestinationNetworkInterfaceId=eni-node0002",
        &VIP.to_string(),
    ] {
        assert!(run.stdout.contains(word), "{word} missing: {run:?}");
    }
    assert!(
        run.stdout.starts_with(&format!("{VIP}: dry run")),
        "{run:?}"
    );
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
    assert!(node.state().read_migration(VIP).value.is_none());
    assert!(node.log_text().contains("event=migrate_plan"));

    // Unassigned, with assigning allowed: the plan is an Assign to this ENI.
    fake.with_world(|w| w.remove_secondary_ip(VIP)).unwrap();
    let node = master(
        &fake,
        "ins-node0002",
        "[failover]\nassign_if_unassigned = true\n",
    );
    let run = node.run("vip-migrate", &["--dry-run"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("AssignPrivateIpAddresses(NetworkInterfaceId=eni-node0002"),
        "{run:?}"
    );
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
    assert_eq!(fake.holder_of(VIP), None);
}

#[test]
fn a_dry_run_fails_77_when_cam_refuses_the_move() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = master(&fake, "ins-node0002", "");
    fake.deny(&["MigratePrivateIpAddress"]);
    let run = node.run("vip-migrate", &["--dry-run"]);
    assert_eq!(run.code, 77, "{run:?}");
    assert!(
        run.stderr
            .contains("MigratePrivateIpAddress would be refused by CAM")
            && run.stderr.contains("grant vpc:MigratePrivateIpAddress"),
        "{run:?}"
    );
    // The probe changed nothing.
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));

    // With assigning allowed, AssignPrivateIpAddresses is probed too.
    fake.clear_faults();
    fake.deny(&["AssignPrivateIpAddresses"]);
    let node = master(
        &fake,
        "ins-node0002",
        "[failover]\nassign_if_unassigned = true\n",
    );
    let run = node.run("vip-migrate", &["--dry-run"]);
    assert_eq!(run.code, 77, "{run:?}");
    assert!(run.stderr.contains("AssignPrivateIpAddresses"), "{run:?}");

    fake.clear_faults();
    let run = node.run("vip-migrate", &["--dry-run"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
}

#[test]
fn several_vips_all_move_each_single_flight() {
    let second: Ipv4Addr = "198.18.1.101".parse().unwrap();
    let fake = start(&example("two-nodes"), Duration::from_millis(1500));
    fake.with_world(|w| w.add_secondary_ip("eni-node0001", second))
        .unwrap();
    let node = master(
        &fake,
        "ins-node0002",
        &format!("[[vip]]\naddress = \"{VIP}\"\n\n[[vip]]\naddress = \"{second}\"\n"),
    );
    let mut cmd = node.command("vip-migrate");
    let first_run = thread::spawn(move || run(&mut cmd));
    // Both moves in flight: a second run joins them instead of issuing more.
    assert!(wait_for(Duration::from_secs(20), || fake
        .calls_of("MigratePrivateIpAddress")
        .len()
        == 2));
    let joined = node.run("vip-migrate", &[]);
    let first_run = first_run.join().unwrap();
    assert_eq!(
        first_run.code,
        0,
        "{first_run:?}\nlog:\n{}",
        node.log_text()
    );
    assert_eq!(joined.code, 0, "{joined:?}");
    assert_eq!(joined.stdout.matches("in flight").count(), 2, "{joined:?}");

    for vip in [VIP, second] {
        assert_eq!(
            fake.holder_of(vip).as_deref(),
            Some("eni-node0002"),
            "{vip}"
        );
    }
    let mut moved: Vec<String> = fake
        .calls_of("MigratePrivateIpAddress")
        .into_iter()
        .map(|c| c.params["PrivateIpAddress"].as_str().unwrap().to_owned())
        .collect();
    moved.sort();
    assert_eq!(moved, [VIP.to_string(), second.to_string()]);
    // The moves ran side by side: the second was issued long before the first could land.
    let times: Vec<_> = fake
        .calls_of("MigratePrivateIpAddress")
        .into_iter()
        .map(|c| c.time)
        .collect();
    let apart = times[1]
        .duration_since(times[0])
        .unwrap_or_else(|e| e.duration());
    assert!(apart < Duration::from_millis(1000), "{apart:?} apart");
}

#[test]
fn a_second_run_started_at_once_joins_the_first() {
    let fake = start(&example("two-nodes"), Duration::from_millis(800));
    let node = master(&fake, "ins-node0002", "");
    let started = Instant::now();
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let mut cmd = node.command("vip-migrate");
            thread::spawn(move || run(&mut cmd))
        })
        .collect();
    let runs: Vec<Run> = runs.into_iter().map(|h| h.join().unwrap()).collect();
    eprintln!("three runs in {:?}", started.elapsed());
    for r in &runs {
        assert_eq!(r.code, 0, "{r:?}");
    }
    assert_eq!(fake.calls_of("MigratePrivateIpAddress").len(), 1);
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));
}

#[test]
fn a_momentary_look_at_the_lock_is_not_taken_for_a_migration_in_flight() {
    // vip-query --status, check-self and notify-action look at a VIP lock by taking it and
    // letting go at once. A migration starting at that moment must still run.
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = master(&fake, "ins-node0002", NODE2_LOCAL);
    let path = node.state_dir.join(format!("vip-{VIP}.lock"));
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .unwrap();
    lock.lock().unwrap();
    let mut cmd = node.command("vip-migrate");
    let migrate = thread::spawn(move || run(&mut cmd));
    // Long enough for the run to reach the lock on a loaded machine, short next to a move.
    thread::sleep(Duration::from_millis(100));
    lock.unlock().unwrap();
    let run = migrate.join().unwrap();
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{}", node.log_text());
    assert_eq!(
        fake.holder_of(VIP).as_deref(),
        Some("eni-node0002"),
        "{run:?}\nlog:\n{}",
        node.log_text()
    );
    assert_eq!(fake.calls_of("MigratePrivateIpAddress").len(), 1);
}

#[test]
fn a_move_left_in_flight_by_a_killed_run_is_awaited_not_reissued() {
    let fake = start(&example("two-nodes"), Duration::from_millis(1500));
    let node = master(&fake, "ins-node0002", "");
    kill_after_first_write(&node, &fake, "MigratePrivateIpAddress");
    assert_eq!(
        fake.ip_state(VIP),
        Some(fake_vpc::IpState::Migrating),
        "the move landed before the test could look"
    );

    let run = node.run("vip-migrate", &[]);
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{}", node.log_text());
    assert!(run.stdout.contains("in flight"), "{run:?}");
    assert_eq!(writes(&fake).len(), 1, "{:?}", writes(&fake));
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));
    let record = last_migration(&node, VIP);
    assert_eq!(record.outcome, MigrationOutcome::Success, "{record:?}");
    assert_eq!(record.from_eni.as_deref(), Some("eni-node0001"));
}

/// How many injected faults are still queued (a delayed call takes its fault when it arrives),
/// from the fake's control endpoint.
pub(crate) fn queued_faults(fake: &FakeVpcHandle) -> usize {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(fake.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /_control/state HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        fake.addr()
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    let state: serde_json::Value = serde_json::from_str(body).unwrap();
    state["faults"].as_array().unwrap().len()
}

#[test]
fn a_dry_run_in_progress_does_not_hold_back_a_real_migration() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    fake.inject(FaultSpec {
        action: Some("DescribeNetworkInterfaces".into()),
        count: 1,
        fault: Fault::Delay(Duration::from_millis(1500)),
    });
    let node = master(&fake, "ins-node0002", NODE2_LOCAL);
    let mut cmd = node.command("vip-migrate");
    cmd.arg("--dry-run");
    let dry_run = thread::spawn(move || run(&mut cmd));
    // The dry run is now inside its (slow) holder lookup.
    assert!(wait_for(Duration::from_secs(20), || queued_faults(&fake) == 0));

    let real = node.run("vip-migrate", &[]);
    assert_eq!(real.code, 0, "{real:?}\nlog:\n{}", node.log_text());
    assert_eq!(
        fake.holder_of(VIP).as_deref(),
        Some("eni-node0002"),
        "{real:?}"
    );
    let dry_run = dry_run.join().unwrap();
    assert_eq!(dry_run.code, 0, "{dry_run:?}");
    assert_eq!(writes(&fake).len(), 1, "{:?}", writes(&fake));
}
