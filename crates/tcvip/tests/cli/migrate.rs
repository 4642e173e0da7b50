//! vip-migrate: makes the cloud put each VIP on this node's ENI, verified, single-flight, and
//! only while this node is MASTER (issue 5, items 5–13).

use std::net::Ipv4Addr;
use std::thread;
use std::time::Duration;

use fake_vpc::{CallRecord, FakeVpcHandle};
use vip_state::{KeepalivedState, MigrationOutcome, MigrationRecord};

use crate::util::*;

pub(crate) const WRITES: [&str; 2] = ["MigratePrivateIpAddress", "AssignPrivateIpAddresses"];

/// `[node]` facts for ins-node0002 of the examples, so that discovery makes no API call.
pub(crate) const NODE2_LOCAL: &str = "[node]\ninstance_id = \"ins-node0002\"\neni_id = \"eni-node0002\"\n\
                           vpc_id = \"vpc-demo0001\"\n";

/// Every write call the fake saw, except a dry run's permission probes: requests that cannot
/// succeed and change nothing (a Migrate from an ENI to itself, an Assign of an address other
/// than the VIP), which the fake refused.
pub(crate) fn writes(fake: &FakeVpcHandle) -> Vec<CallRecord> {
    fake.calls()
        .into_iter()
        .filter(|c| WRITES.contains(&c.action.as_str()) && !is_probe(c))
        .collect()
}

pub(crate) fn is_probe(c: &CallRecord) -> bool {
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
pub(crate) fn master(fake: &FakeVpcHandle, instance_id: &str, extra: &str) -> Node {
    let node = Node::new(fake, instance_id, extra);
    node.record("default", KeepalivedState::Master);
    node
}

pub(crate) fn last_migration(node: &Node, vip: Ipv4Addr) -> MigrationRecord {
    node.state()
        .read_migration(vip)
        .value
        .unwrap_or_else(|| panic!("no migration record for {vip}"))
}

/// Index of the first call in `calls`, at `from` or later, that satisfies `pred`.
pub(crate) fn position_after(
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
pub(crate) const EXACT_TOPOLOGY: &str = r#"
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

/// `[[vip]]` for the example VIP on `lo`, where it is not: a MASTER record with the VIP missing
/// from its interface, as keepalived leaves it after a MASTER that lasted a moment.
pub(crate) const VIP_NOT_ON_LO: &str = "[[vip]]\naddress = \"198.18.1.100\"\ninterface = \"lo\"\n";

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
