//! vip-migrate: makes the cloud put each VIP on this node's ENI, verified, single-flight, and
//! only while this node is MASTER (issue 5, items 5–13).

use std::net::Ipv4Addr;
use std::thread;
use std::time::{Duration, Instant};

use fake_vpc::{CallRecord, FakeVpcHandle, Fault, FaultSpec};
use vip_state::{KeepalivedState, MigrationOutcome, MigrationRecord};

use crate::util::*;

const WRITES: [&str; 2] = ["MigratePrivateIpAddress", "AssignPrivateIpAddresses"];

/// `[node]` facts for ins-node0002 of the examples, so that discovery makes no API call.
const NODE2_LOCAL: &str = "[node]\ninstance_id = \"ins-node0002\"\neni_id = \"eni-node0002\"\n\
                           vpc_id = \"vpc-demo0001\"\n";

/// Every write call the fake saw, except a dry run's permission probes: requests that cannot
/// succeed and change nothing (a Migrate from an ENI to itself, an Assign of an address other
/// than the VIP), which the fake refused.
fn writes(fake: &FakeVpcHandle) -> Vec<CallRecord> {
    fake.calls()
        .into_iter()
        .filter(|c| WRITES.contains(&c.action.as_str()) && !is_probe(c))
        .collect()
}

fn is_probe(c: &CallRecord) -> bool {
    let p = &c.params;
    c.outcome != "OK"
        && match c.action.as_str() {
            "MigratePrivateIpAddress" => {
                p["SourceNetworkInterfaceId"] == p["DestinationNetworkInterfaceId"]
            }
            "AssignPrivateIpAddresses" => {
                p["PrivateIpAddresses"][0]["PrivateIpAddress"] != VIP.to_string().as_str()
            }
            _ => false,
        }
}

/// A MASTER node for `instance_id`.
fn master(fake: &FakeVpcHandle, instance_id: &str, extra: &str) -> Node {
    let node = Node::new(fake, instance_id, extra);
    node.record("default", KeepalivedState::Master);
    node
}

fn last_migration(node: &Node, vip: Ipv4Addr) -> MigrationRecord {
    node.state()
        .read_migration(vip)
        .value
        .unwrap_or_else(|| panic!("no migration record for {vip}"))
}

/// Index of the first call in `calls`, at `from` or later, that satisfies `pred`.
fn position_after(
    calls: &[CallRecord],
    from: usize,
    pred: impl Fn(&CallRecord) -> bool,
) -> Option<usize> {
    calls
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, c)| pred(c))
        .map(|(i, _)| i)
}

#[test]
fn moves_the_vip_from_the_peer_with_one_migrate_polled_and_confirmed() {
    let fake = start(&example("two-nodes"), Duration::from_millis(400));
    let node = master(&fake, "ins-node0002", "");
    let run = node.run("vip-migrate", &[]);
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{}", node.log_text());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));
    assert!(run.stdout.contains("moved"), "{run:?}");

    let migrates = fake.calls_of("MigratePrivateIpAddress");
    assert_eq!(migrates.len(), 1, "{migrates:?}");
    let migrate = &migrates[0];
    assert!(migrate.is_ok(), "{migrate:?}");
    assert_eq!(migrate.params["SourceNetworkInterfaceId"], "eni-node0001");
    assert_eq!(
        migrate.params["DestinationNetworkInterfaceId"],
        "eni-node0002"
    );
    assert_eq!(migrate.params["PrivateIpAddress"], VIP.to_string());
    assert_eq!(writes(&fake).len(), 1);

    // Polled by the Migrate's RequestId until the task ended, then confirmed by a Describe.
    let calls = fake.calls();
    let at_migrate = calls
        .iter()
        .position(|c| c.action == "MigratePrivateIpAddress")
        .unwrap();
    let polls: Vec<usize> = (at_migrate..calls.len())
        .filter(|i| calls[*i].action == "DescribeVpcTaskResult")
        .collect();
    assert!(!polls.is_empty(), "never polled the task: {calls:?}");
    for i in &polls {
        assert_eq!(calls[*i].params["TaskId"], migrate.request_id.as_str());
    }
    let last_poll = *polls.last().unwrap();
    assert!(
        position_after(&calls, last_poll, |c| c.action
            == "DescribeNetworkInterfaces")
        .is_some(),
        "the landing was never confirmed: {calls:?}"
    );
    let record = last_migration(&node, VIP);
    assert_eq!(record.outcome, MigrationOutcome::Success, "{record:?}");
    assert_eq!(record.request_ids, vec![migrate.request_id.clone()]);
    assert_eq!(record.from_eni.as_deref(), Some("eni-node0001"));

    // One log line carries the request id and the elapsed time.
    let log = node.log_text();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("request_id={}", migrate.request_id)))
        .filter(|l| l.contains("elapsed_ms="))
        .collect();
    assert_eq!(lines.len(), 1, "log:\n{log}");
    eprintln!("{}", lines[0]);
}

#[test]
fn a_vip_already_here_needs_no_write_call() {
    let fake = start(&example("two-nodes"), Duration::from_millis(400));
    let node = master(&fake, "ins-node0001", "");
    let run = node.run("vip-migrate", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("already"), "{run:?}");
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
    assert_eq!(
        last_migration(&node, VIP).outcome,
        MigrationOutcome::AlreadyHere
    );
}

#[test]
fn three_nodes_the_vip_comes_from_the_third_with_no_peer_configured() {
    let fake = start(&example("three-nodes"), Duration::from_millis(200));
    fake.with_world(|w| {
        w.remove_secondary_ip(VIP)?;
        w.add_secondary_ip("eni-node0003", VIP)
    })
    .unwrap();
    let node = master(&fake, "ins-node0001", "");
    assert!(
        !std::fs::read_to_string(&node.config)
            .unwrap()
            .contains("node0003")
    );
    let run = node.run("vip-migrate", &[]);
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{}", node.log_text());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
    let migrates = fake.calls_of("MigratePrivateIpAddress");
    assert_eq!(migrates.len(), 1, "{migrates:?}");
    assert_eq!(
        migrates[0].params["SourceNetworkInterfaceId"],
        "eni-node0003"
    );
    assert_eq!(
        migrates[0].params["DestinationNetworkInterfaceId"],
        "eni-node0001"
    );
    assert!(
        fake.calls()
            .iter()
            .all(|c| !c.params.to_string().contains("eni-node0002")),
        "the uninvolved node was touched"
    );
}

/// Three instances in 10.0.1.0/24 (addresses of the simulator only; nothing is sent to them):
/// eni-exact003 holds 10.0.1.100 and is listed first, eni-exact002 holds 10.0.1.10.
const EXACT_TOPOLOGY: &str = r#"
region = "ap-guangzhou"

[[vpc]]
id = "vpc-exact001"
cidr_block = "10.0.0.0/16"

[[subnet]]
id = "subnet-exact001"
vpc = "vpc-exact001"
cidr_block = "10.0.1.0/24"
zone = "ap-guangzhou-3"

[[instance]]
id = "ins-exact001"
name = "exact1"
zone = "ap-guangzhou-3"
vpc = "vpc-exact001"

[[instance]]
id = "ins-exact002"
name = "exact2"
zone = "ap-guangzhou-3"
vpc = "vpc-exact001"

[[instance]]
id = "ins-exact003"
name = "exact3"
zone = "ap-guangzhou-3"
vpc = "vpc-exact001"

[[eni]]
id = "eni-exact003"
mac = "52:54:00:00:09:03"
subnet = "subnet-exact001"
primary_ip = "10.0.1.23"
secondary_ips = ["10.0.1.100"]
instance = "ins-exact003"
primary = true

[[eni]]
id = "eni-exact002"
mac = "52:54:00:00:09:02"
subnet = "subnet-exact001"
primary_ip = "10.0.1.22"
secondary_ips = ["10.0.1.10"]
instance = "ins-exact002"
primary = true

[[eni]]
id = "eni-exact001"
mac = "52:54:00:00:09:01"
subnet = "subnet-exact001"
primary_ip = "10.0.1.21"
secondary_ips = []
instance = "ins-exact001"
primary = true

[[key]]
secret_id = "AKIDTCVIPDEMO00000000000000000000000"
secret_key = "tcvipDemoSecretKey00000000000000"
"#;

#[test]
fn of_10_0_1_10_and_10_0_1_100_only_the_one_asked_for_moves() {
    let short: Ipv4Addr = "10.0.1.10".parse().unwrap();
    let long: Ipv4Addr = "10.0.1.100".parse().unwrap();
    for (vip, other, from, other_holder) in [
        (short, long, "eni-exact002", "eni-exact003"),
        (long, short, "eni-exact003", "eni-exact002"),
    ] {
        let fake = start(EXACT_TOPOLOGY, Duration::from_millis(200));
        let node = master(
            &fake,
            "ins-exact001",
            &format!("[[vip]]\naddress = \"{vip}\"\n"),
        );
        let run = node.run("vip-migrate", &[]);
        assert_eq!(run.code, 0, "{vip}: {run:?}\nlog:\n{}", node.log_text());
        let migrates = fake.calls_of("MigratePrivateIpAddress");
        assert_eq!(migrates.len(), 1, "{vip}: {migrates:?}");
        assert_eq!(migrates[0].params["PrivateIpAddress"], vip.to_string());
        assert_eq!(migrates[0].params["SourceNetworkInterfaceId"], from);
        assert_eq!(fake.holder_of(vip).as_deref(), Some("eni-exact001"));
        assert_eq!(
            fake.holder_of(other).as_deref(),
            Some(other_holder),
            "{vip}"
        );
        assert_eq!(writes(&fake).len(), 1);
    }
}

#[test]
fn backup_recorded_while_the_cloud_is_slow_stops_before_any_write() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    fake.inject(FaultSpec {
        action: Some("DescribeNetworkInterfaces".into()),
        count: 1,
        fault: Fault::Delay(Duration::from_millis(1500)),
    });
    let node = master(&fake, "ins-node0002", NODE2_LOCAL);
    let mut cmd = node.command("vip-migrate");
    let migrate = thread::spawn(move || run(&mut cmd));

    // The run has started (its in-flight record is written before the first lookup) and the
    // slow lookup has not been answered yet: keepalived now says BACKUP.
    assert!(wait_for(Duration::from_secs(20), || {
        node.state()
            .read_migration(VIP)
            .value
            .is_some_and(|r| r.outcome == MigrationOutcome::InFlight)
    }));
    node.record("default", KeepalivedState::Backup);
    assert!(
        fake.calls_of("DescribeNetworkInterfaces").is_empty(),
        "the lookup was not slow enough to record BACKUP during it"
    );

    let run = migrate.join().unwrap();
    assert_eq!(run.code, 4, "{run:?}\nlog:\n{}", node.log_text());
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
    assert_eq!(
        last_migration(&node, VIP).outcome,
        MigrationOutcome::Aborted
    );
}

#[test]
fn signature_failure_is_not_retried_and_exits_77() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    fake.inject(FaultSpec {
        action: Some("MigratePrivateIpAddress".into()),
        count: 5,
        fault: Fault::ApiError(
            "AuthFailure.SignatureFailure".into(),
            "The provided credentials could not be validated.".into(),
        ),
    });
    let node = master(&fake, "ins-node0002", "");
    let run = node.run("vip-migrate", &["--deadline-s", "20"]);
    assert_eq!(run.code, 77, "{run:?}\nlog:\n{}", node.log_text());
    assert!(
        run.stderr.contains("AuthFailure.SignatureFailure"),
        "{run:?}"
    );
    assert_eq!(fake.calls_of("MigratePrivateIpAddress").len(), 1);
    assert!(
        run.elapsed < Duration::from_secs(10),
        "waited as if it could be retried: {:?}",
        run.elapsed
    );
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
}

#[test]
fn a_move_that_never_lands_fails_at_the_deadline_not_later() {
    let fake = start(&example("two-nodes"), Duration::from_secs(3600));
    let node = master(&fake, "ins-node0002", "");
    let run = node.run("vip-migrate", &["--deadline-s", "2"]);
    eprintln!("gave up after {:?}", run.elapsed);
    assert_eq!(run.code, 1, "{run:?}\nlog:\n{}", node.log_text());
    assert!(run.elapsed >= Duration::from_secs(2), "{:?}", run.elapsed);
    assert!(
        run.elapsed < Duration::from_secs(5),
        "overran its deadline: {:?}",
        run.elapsed
    );
    assert!(run.stderr.contains("deadline"), "{run:?}");
    assert_eq!(fake.calls_of("MigratePrivateIpAddress").len(), 1);
    assert_eq!(
        last_migration(&node, VIP).outcome,
        MigrationOutcome::TimedOut
    );
}

#[test]
fn an_unassigned_vip_is_an_error_naming_assign_if_unassigned() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    fake.with_world(|w| w.remove_secondary_ip(VIP)).unwrap();
    let node = master(&fake, "ins-node0002", "");
    let run = node.run("vip-migrate", &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("assign_if_unassigned"), "{run:?}");
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
    assert_eq!(fake.holder_of(VIP), None);
}

#[test]
fn an_unassigned_vip_is_assigned_here_when_configured() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    fake.with_world(|w| w.remove_secondary_ip(VIP)).unwrap();
    let node = master(
        &fake,
        "ins-node0002",
        "[failover]\nassign_if_unassigned = true\n",
    );
    let run = node.run("vip-migrate", &[]);
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{}", node.log_text());
    let assigns = fake.calls_of("AssignPrivateIpAddresses");
    assert_eq!(assigns.len(), 1, "{assigns:?}");
    assert_eq!(assigns[0].params["NetworkInterfaceId"], "eni-node0002");
    assert_eq!(
        assigns[0].params["PrivateIpAddresses"][0]["PrivateIpAddress"],
        VIP.to_string()
    );
    assert!(fake.calls_of("MigratePrivateIpAddress").is_empty());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));
}

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
fn a_cloud_that_stops_answering_fails_at_the_deadline_not_later() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    fake.inject(FaultSpec {
        action: None,
        count: 1000,
        fault: Fault::Delay(Duration::from_secs(30)),
    });
    let node = master(&fake, "ins-node0002", NODE2_LOCAL);
    // Each request may take 8 s, far past the 3 s deadline.
    let config = std::fs::read_to_string(&node.config).unwrap();
    assert!(config.contains("timeout_ms = 2000"), "{config}");
    std::fs::write(
        &node.config,
        config.replace("timeout_ms = 2000", "timeout_ms = 8000"),
    )
    .unwrap();
    let run = node.run("vip-migrate", &["--deadline-s", "3"]);
    eprintln!("gave up after {:?}", run.elapsed);
    // Unreachable to the end: unknown (3).
    assert_eq!(run.code, 3, "{run:?}\nlog:\n{}", node.log_text());
    assert!(run.elapsed >= Duration::from_secs(3), "{:?}", run.elapsed);
    assert!(
        // The request in flight is cut at the deadline, not at its own timeout; the margin is
        // for a loaded machine.
        run.elapsed < Duration::from_millis(4500),
        "overran its deadline: {:?}\nlog:\n{}",
        run.elapsed,
        node.log_text()
    );
    assert!(writes(&fake).is_empty());
}

#[test]
fn nothing_recorded_means_no_write_unless_forced() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = Node::new(&fake, "ins-node0002", "");
    let run = node.run("vip-migrate", &[]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("--force"), "{run:?}");
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));

    let run = node.run("vip-migrate", &["--force"]);
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{}", node.log_text());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));
    assert_eq!(writes(&fake).len(), 1);
}

#[test]
fn an_expired_signature_is_refreshed_once_then_refused() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    fake.inject(FaultSpec {
        action: Some("MigratePrivateIpAddress".into()),
        count: 1,
        fault: Fault::ApiError("AuthFailure.SignatureExpire".into(), "expired".into()),
    });
    let node = master(&fake, "ins-node0002", "");
    let run = node.run("vip-migrate", &["--deadline-s", "20"]);
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{}", node.log_text());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));

    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    fake.inject(FaultSpec {
        action: Some("MigratePrivateIpAddress".into()),
        count: 10,
        fault: Fault::ApiError("AuthFailure.SignatureExpire".into(), "expired".into()),
    });
    let node = master(&fake, "ins-node0002", "");
    let run = node.run("vip-migrate", &["--deadline-s", "20"]);
    assert_eq!(run.code, 77, "{run:?}\nlog:\n{}", node.log_text());
    let tries = fake.calls_of("MigratePrivateIpAddress").len();
    assert!(
        tries <= 4,
        "kept retrying an expired signature: {tries} calls"
    );
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
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

#[test]
fn sigterm_stops_a_run_promptly_and_records_how_it_ended() {
    let fake = start(&example("two-nodes"), Duration::from_secs(30));
    let node = master(&fake, "ins-node0002", "");
    let mut child = node
        .command("vip-migrate")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(20), || !fake
        .calls_of("MigratePrivateIpAddress")
        .is_empty()));
    let signalled = Instant::now();
    let kill = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(kill.success());
    let mut status = None;
    assert!(
        wait_for(Duration::from_secs(10), || {
            status = child.try_wait().unwrap();
            status.is_some()
        }),
        "still running after SIGTERM"
    );
    let took = signalled.elapsed();
    eprintln!("stopped {took:?} after SIGTERM");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(status.unwrap().code(), Some(1));
    let record = last_migration(&node, VIP);
    assert_eq!(record.outcome, MigrationOutcome::Aborted, "{record:?}");
    assert!(record.ended_at_ms.is_some());
    assert!(record.message.contains("signal"), "{record:?}");
    assert_eq!(writes(&fake).len(), 1);
}

#[test]
fn a_named_vip_moves_only_under_the_instance_it_follows() {
    let second: Ipv4Addr = "198.18.1.101".parse().unwrap();
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    fake.with_world(|w| w.add_secondary_ip("eni-node0001", second))
        .unwrap();
    let node = Node::new(
        &fake,
        "ins-node0002",
        &format!(
            "[[vip]]\naddress = \"{VIP}\"\ninstance = \"VI_1\"\n\n\
             [[vip]]\naddress = \"{second}\"\ninstance = \"VI_2\"\n"
        ),
    );
    node.record("VI_1", KeepalivedState::Master);
    node.record("VI_2", KeepalivedState::Backup);

    // VI_2 is BACKUP here: its VIP must not move on VI_1's say-so.
    let run = node.run(
        "vip-migrate",
        &["--instance", "VI_1", "--vip", &second.to_string()],
    );
    assert_eq!(run.code, 78, "{run:?}");
    assert!(run.stderr.contains("VI_1"), "{run:?}");
    let run = node.run(
        "vip-migrate",
        &["--instance", "VI_2", "--vip", &second.to_string()],
    );
    assert_eq!(run.code, 4, "{run:?}");
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));

    let run = node.run("vip-migrate", &["--instance", "VI_1"]);
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{}", node.log_text());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));
    assert_eq!(fake.holder_of(second).as_deref(), Some("eni-node0001"));
    assert_eq!(writes(&fake).len(), 1);
}

/// How many injected faults are still queued (a delayed call takes its fault when it arrives),
/// from the fake's control endpoint.
fn queued_faults(fake: &FakeVpcHandle) -> usize {
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

#[test]
fn a_deadline_out_of_range_is_a_usage_error() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = master(&fake, "ins-node0002", "");
    for bad in ["0", "3601", "18446744073709551615", "soon"] {
        let run = node.run("vip-migrate", &["--deadline-s", bad]);
        assert_eq!(run.code, 2, "--deadline-s {bad}: {run:?}");
        assert!(run.stderr.contains("--deadline-s"), "{run:?}");
    }
    assert!(fake.calls().is_empty());
}

#[test]
fn discovery_after_a_reboot_rides_out_a_flaky_cloud() {
    // Nothing cached (the state directory is on tmpfs): the first requests of discovery fail
    // (metadata dropped, DescribeNetworkInterfaces answering 500), and the move happens all the same.
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    fake.inject(FaultSpec {
        action: Some("metadata".into()),
        count: 1,
        fault: Fault::Drop,
    });
    fake.inject(FaultSpec {
        action: Some("DescribeNetworkInterfaces".into()),
        count: 2,
        fault: Fault::Http500,
    });
    let node = master(&fake, "ins-node0002", "");
    let run = node.run("vip-migrate", &["--deadline-s", "30"]);
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{}", node.log_text());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));
    assert!(node.log_text().contains("event=discovery_retry"));
}

/// `[[vip]]` for the example VIP on `lo`, where it is not: a MASTER record with the VIP missing
/// from its interface, as keepalived leaves it after a MASTER that lasted a moment.
const VIP_NOT_ON_LO: &str = "[[vip]]\naddress = \"198.18.1.100\"\ninterface = \"lo\"\n";

#[test]
fn a_vip_gone_from_its_interface_waits_for_the_backup_on_its_way_and_moves_nothing() {
    // Two nodes timed out together: keepalived here was MASTER for 0.1 ms, added the VIP, removed
    // it and launched the BACKUP notification, which has not been recorded yet.
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = master(
        &fake,
        "ins-node0002",
        &format!("{NODE2_LOCAL}{VIP_NOT_ON_LO}"),
    );
    let mut cmd = node.command("vip-migrate");
    let migrate = thread::spawn(move || run(&mut cmd));
    assert!(
        wait_for(Duration::from_secs(20), || node
            .log_text()
            .contains("event=vip_not_on_nic")),
        "log:\n{}",
        node.log_text()
    );
    node.record("default", KeepalivedState::Backup);
    let run = migrate.join().unwrap();
    assert_eq!(run.code, 4, "{run:?}\nlog:\n{}", node.log_text());
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
    assert_eq!(
        last_migration(&node, VIP).outcome,
        MigrationOutcome::Aborted
    );
}
