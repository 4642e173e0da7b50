//! Hostile conditions (issue 10): broken API and metadata replies, missing credentials, frozen
//! and killed processes, a state directory pulled from under a run.

use std::thread;
use std::time::Duration;

use fake_vpc::{FakeVpcHandle, Fault, FaultSpec};
use vip_state::KeepalivedState;

use crate::util::*;

/// `[node]` facts for ins-node0002 of the examples, so that discovery makes no API call.
const NODE2_LOCAL: &str = "[node]\ninstance_id = \"ins-node0002\"\neni_id = \"eni-node0002\"\n\
                           vpc_id = \"vpc-demo0001\"\n";

/// A MASTER node for `instance_id`.
fn master(fake: &FakeVpcHandle, instance_id: &str, extra: &str) -> Node {
    let node = Node::new(fake, instance_id, extra);
    node.record("default", KeepalivedState::Master);
    node
}

fn edit_config(node: &Node, from: &str, to: &str) {
    let text = std::fs::read_to_string(&node.config).unwrap();
    assert!(text.contains(from), "{from:?} not in {text}");
    std::fs::write(&node.config, text.replacen(from, to, 1)).unwrap();
}

fn writes(fake: &FakeVpcHandle) -> usize {
    fake.calls_of("MigratePrivateIpAddress").len() + fake.calls_of("AssignPrivateIpAddresses").len()
}

// ---------------------------------------------------------------------------------------------
// item 5: a malformed metadata reply is transient

#[test]
fn one_malformed_metadata_reply_does_not_abandon_a_role_credential_failover() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    // The interface is named, so that the one bad reply is the role's (no MAC is looked up).
    let node = master(
        &fake,
        "ins-node0002",
        &format!("{NODE2_LOCAL}[[vip]]\naddress = \"{VIP}\"\ninterface = \"lo\"\n"),
    );
    edit_config(&node, "source = \"env\"\n", "source = \"cvm-role\"\n");
    fake.inject(FaultSpec {
        action: Some("metadata".into()),
        count: 1,
        fault: Fault::Garbage,
    });
    let run = node.run("vip-migrate", &["--deadline-s", "20"]);
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{}", node.log_text());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));
    assert_eq!(writes(&fake), 1);
}

// ---------------------------------------------------------------------------------------------
// item 4: a landed move is not reported as failed when DescribeVpcTaskResult keeps failing

#[test]
fn a_move_that_landed_is_confirmed_by_describe_when_the_task_result_keeps_failing() {
    for fault in [
        Fault::Garbage,
        Fault::Http500,
        Fault::Drop,
        // Past the request timeout (2 s): each poll times out.
        Fault::Delay(Duration::from_millis(2500)),
    ] {
        let fake = start(&example("two-nodes"), Duration::from_millis(300));
        fake.inject(FaultSpec {
            action: Some("DescribeVpcTaskResult".into()),
            count: 1000,
            fault: fault.clone(),
        });
        let node = master(&fake, "ins-node0002", NODE2_LOCAL);
        let run = node.run("vip-migrate", &["--deadline-s", "40"]);
        assert_eq!(run.code, 0, "{fault:?}: {run:?}\nlog:\n{}", node.log_text());
        assert!(run.stdout.contains("moved from eni-node0001"), "{run:?}");
        assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));
        assert_eq!(writes(&fake), 1, "{fault:?}");
        let polls = fake.calls_of("DescribeVpcTaskResult").len();
        assert!((1..=6).contains(&polls), "{fault:?}: {polls} polls");
        assert_eq!(
            node.state().read_migration(VIP).value.map(|r| r.outcome),
            Some(vip_state::MigrationOutcome::Success)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// item 2: the "VIP not on the NIC" grace survives a second MASTER record

#[test]
fn master_master_backup_in_a_burst_moves_nothing_when_the_vip_is_not_on_the_nic() {
    // Two nodes timing out together in a burst of notifications: MASTER, MASTER 50 ms later,
    // BACKUP 150 ms after that; the VIP is not on this node's interface throughout.
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = master(
        &fake,
        "ins-node0002",
        &format!("{NODE2_LOCAL}[[vip]]\naddress = \"{VIP}\"\ninterface = \"lo\"\n"),
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
    thread::sleep(Duration::from_millis(50));
    node.record("default", KeepalivedState::Master);
    thread::sleep(Duration::from_millis(150));
    node.record("default", KeepalivedState::Backup);
    let run = migrate.join().unwrap();
    assert_eq!(run.code, 4, "{run:?}\nlog:\n{}", node.log_text());
    assert_eq!(writes(&fake), 0, "{:?}", fake.calls());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
}
