//! One deadline from the command to the socket: discovery, credentials and metadata reads are
//! bounded by `--deadline-s`, and a run that cannot finish says what was slow.

use std::time::Duration;

use fake_vpc::{FakeVpcHandle, Fault, FaultSpec};
use vip_state::KeepalivedState;

use crate::util::*;

/// Slack over the deadline for starting the process, logging and exiting on a loaded machine.
const SLACK: Duration = Duration::from_millis(900);

/// Every metadata read answers after `ms`.
fn slow_metadata(fake: &FakeVpcHandle, ms: u64) {
    fake.inject(FaultSpec {
        action: Some("metadata".into()),
        count: 1000,
        fault: Fault::Delay(Duration::from_millis(ms)),
    });
}

/// A MASTER node of the two-node example that knows nothing but its VIP: region, instance,
/// MAC, VPC and ENI all come from the metadata service and the API, with no identity cached.
fn bare_master(fake: &FakeVpcHandle) -> Node {
    let node = Node::new(fake, "ins-node0002", "");
    let text = std::fs::read_to_string(&node.config).unwrap();
    std::fs::write(
        &node.config,
        text.replacen("region = \"ap-guangzhou\"\n", "", 1),
    )
    .unwrap();
    node.record("default", KeepalivedState::Master);
    node
}

#[test]
fn slow_metadata_ends_a_migration_by_its_deadline_naming_the_metadata_service() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = bare_master(&fake);
    slow_metadata(&fake, 900);
    let run = node.run("vip-migrate", &["--deadline-s", "3"]);
    let log = node.log_text();
    assert!(
        run.elapsed < Duration::from_secs(3) + SLACK,
        "ran past its 3 s deadline: {run:?}\nlog:\n{log}"
    );
    // Where the VIP is stays unknown: the cloud was never asked.
    assert_eq!(run.code, 3, "{run:?}\nlog:\n{log}");
    assert!(
        run.stderr.contains("metadata service") && run.stderr.contains("deadline"),
        "the message does not say what was slow: {run:?}"
    );
    assert!(
        !run.stderr.contains("after 0 ms"),
        "the message blames a run that never started: {run:?}"
    );
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
}

#[test]
fn a_slow_cvm_role_credential_fetch_ends_by_the_deadline() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    // Everything about the node is configured: the only metadata reads are the role's (its
    // name, then its keys), 700 ms each, so the second is cut by the 1 s deadline.
    let node = Node::new(
        &fake,
        "ins-node0002",
        &format!(
            "[node]\ninstance_id = \"ins-node0002\"\neni_id = \"eni-node0002\"\nvpc_id = \"vpc-demo0001\"\n\n\
             [[vip]]\naddress = \"{VIP}\"\ninterface = \"lo\"\n"
        ),
    );
    let text = std::fs::read_to_string(&node.config).unwrap();
    std::fs::write(
        &node.config,
        text.replacen("source = \"env\"\n", "source = \"cvm-role\"\n", 1),
    )
    .unwrap();
    node.record("default", KeepalivedState::Master);
    slow_metadata(&fake, 700);
    let run = node.run("vip-migrate", &["--deadline-s", "1"]);
    let log = node.log_text();
    assert!(
        run.elapsed < Duration::from_secs(1) + SLACK,
        "ran past its 1 s deadline: {run:?}\nlog:\n{log}"
    );
    assert_eq!(run.code, 3, "{run:?}\nlog:\n{log}");
    assert!(
        run.stderr.contains("cam/security-credentials")
            && run.stderr.contains("before the deadline"),
        "the message does not name the slow credential fetch: {run:?}"
    );
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}
