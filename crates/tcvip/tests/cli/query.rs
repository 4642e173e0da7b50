//! vip-query: `true` / `false` / `unknown` with exit 0 / 1 / 3, `--json`, `--status`, and an
//! unreachable API answered as `unknown` within the configured timeout.

use std::net::TcpListener;
use std::time::Duration;

use fake_vpc::{Fault, FaultSpec};
use serde_json::Value;
use vip_state::KeepalivedState;

use crate::util::*;

/// The two-node example with an EIP bound to the VIP on node 1's ENI.
fn two_nodes_with_eip() -> String {
    format!(
        "{}\n[[eip]]\nid = \"eip-demo0001\"\nip = \"203.0.113.10\"\neni = \"eni-node0001\"\n\
         private_ip = \"198.18.1.100\"\n",
        example("two-nodes")
    )
}

/// Replaces `cloud.timeout_ms` in a node's config.
fn set_timeout_ms(node: &Node, ms: u64) {
    let text = std::fs::read_to_string(&node.config).unwrap();
    assert!(text.contains("timeout_ms = 2000\n"), "{text}");
    let text = text.replacen("timeout_ms = 2000\n", &format!("timeout_ms = {ms}\n"), 1);
    std::fs::write(&node.config, text).unwrap();
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

#[test]
fn true_here_false_elsewhere_or_unassigned() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let here = Node::new(&fake, "ins-node0001", "");
    let run = here.run("vip-query", &[]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "true\n"), "{run:?}");

    let elsewhere = Node::new(&fake, "ins-node0002", "");
    let run = elsewhere.run("vip-query", &[]);
    assert_eq!((run.code, run.stdout.as_str()), (1, "false\n"), "{run:?}");

    // 198.18.1.10 is held by nobody; its neighbour 198.18.1.100 must not be taken for it.
    let near = Node::new(
        &fake,
        "ins-node0001",
        "[[vip]]\naddress = \"198.18.1.10\"\n",
    );
    let run = near.run("vip-query", &[]);
    assert_eq!((run.code, run.stdout.as_str()), (1, "false\n"), "{run:?}");

    // Asking never writes.
    let writes: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| !c.action.starts_with("Describe"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[test]
fn json_gives_holder_instance_ip_state_and_eip() {
    let fake = start(&two_nodes_with_eip(), Duration::ZERO);
    let here = Node::new(&fake, "ins-node0001", "");
    let run = here.run("vip-query", &["--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), 1, "one object per VIP: {run:?}");
    let v = &lines[0];
    assert_eq!(v["vip"], "198.18.1.100");
    assert_eq!(v["answer"], "true");
    assert_eq!(v["here"], true);
    assert_eq!(v["holder_eni"], "eni-node0001");
    assert_eq!(v["holder_instance"], "ins-node0001");
    assert_eq!(v["ip_state"], "AVAILABLE");
    assert_eq!(v["eip"]["address_id"], "eip-demo0001");
    assert_eq!(v["eip"]["address_ip"], "203.0.113.10");
    assert_eq!(v["this_eni"], "eni-node0001");

    let peer = Node::new(&fake, "ins-node0002", "");
    let run = peer.run("vip-query", &["--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let v = &json_lines(&run.stdout)[0];
    assert_eq!(v["answer"], "false");
    assert_eq!(v["here"], false);
    assert_eq!(v["holder_eni"], "eni-node0001");
    assert_eq!(v["holder_instance"], "ins-node0001");
    assert_eq!(v["this_eni"], "eni-node0002");
    assert_eq!(v["eip"]["address_ip"], "203.0.113.10");
}

#[test]
fn json_without_an_eip_or_a_holder() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(
        &fake,
        "ins-node0001",
        "[[vip]]\naddress = \"198.18.1.100\"\n[[vip]]\naddress = \"198.18.1.101\"\n",
    );
    let run = node.run("vip-query", &["--json"]);
    // One VIP here, one nowhere: the combined exit is "not all here".
    assert_eq!(run.code, 1, "{run:?}");
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), 2, "{run:?}");
    let held = lines.iter().find(|v| v["vip"] == "198.18.1.100").unwrap();
    assert_eq!(held["answer"], "true");
    assert_eq!(held["eip"], Value::Null);
    let free = lines.iter().find(|v| v["vip"] == "198.18.1.101").unwrap();
    assert_eq!(free["answer"], "false");
    assert_eq!(free["holder_eni"], Value::Null);
    assert_eq!(free["ip_state"], Value::Null);
}

#[test]
fn status_shows_state_nic_cloud_and_last_migration() {
    let fake = start(&two_nodes_with_eip(), Duration::from_millis(200));
    let node = Node::new(
        &fake,
        "ins-node0002",
        "[[vip]]\naddress = \"198.18.1.100\"\ninterface = \"lo\"\n",
    );

    // Before anything happened.
    let run = node.run("vip-query", &["--status"]);
    assert_eq!(run.code, 1, "{run:?}");
    let out = &run.stdout;
    assert!(out.contains("nothing recorded yet"), "{out}");
    assert!(out.contains("NIC: not on lo"), "{out}");
    assert!(
        out.contains("cloud: held by eni-node0001 on ins-node0001 (AVAILABLE)"),
        "{out}"
    );
    assert!(out.contains("EIP: 203.0.113.10 (eip-demo0001)"), "{out}");
    assert!(out.contains("last migration: none recorded"), "{out}");

    // keepalived made this node MASTER and the VIP moved here.
    node.record("default", KeepalivedState::Master);
    let moved = node.run("vip-migrate", &["--deadline-s", "20"]);
    assert_eq!(moved.code, 0, "{moved:?}");
    let request_id = fake.calls_of("MigratePrivateIpAddress")[0]
        .request_id
        .clone();

    let run = node.run("vip-query", &["--status"]);
    assert_eq!(run.code, 0, "{run:?}");
    let out = &run.stdout;
    assert!(out.starts_with("198.18.1.100\n"), "{out}");
    assert!(
        out.contains("keepalived default: MASTER (seq 1, recorded "),
        "{out}"
    );
    assert!(out.contains("s ago by manual)"), "{out}");
    assert!(out.contains("NIC: not on lo"), "{out}");
    assert!(
        out.contains("cloud: held by eni-node0002 on ins-node0002 (AVAILABLE), this node"),
        "{out}"
    );
    assert!(out.contains("this ENI: eni-node0002"), "{out}");
    // The EIP followed the address.
    assert!(out.contains("EIP: 203.0.113.10 (eip-demo0001)"), "{out}");
    let last = out
        .lines()
        .find(|l| l.contains("last migration:"))
        .unwrap_or_default();
    assert!(last.contains("last migration: success "), "{out}");
    assert!(last.contains(" ago, took "), "{out}");
    assert!(last.contains(&request_id), "{out}");
}

#[test]
fn status_sees_the_vip_on_the_nic() {
    // The VIP's interface does not exist on this host: the NIC line says where it looked.
    // (A loopback address is never a VIP, so no address this host already has can stand in.)
    let fake = start(&loopback_topology("eni-lo000001"), Duration::ZERO);
    let node = Node::new(
        &fake,
        "ins-lo000001",
        "[[vip]]\naddress = \"126.0.1.100\"\ninterface = \"tcvnone0\"\n",
    );
    let run = node.run("vip-query", &["--status"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("NIC: not on tcvnone0"), "{run:?}");
    assert!(
        run.stdout
            .contains("cloud: held by eni-lo000001 on ins-lo000001 (AVAILABLE), this node"),
        "{run:?}"
    );
}

#[test]
fn unreachable_api_is_unknown_within_the_timeout() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(&fake, "ins-node0001", "");
    set_timeout_ms(&node, 1000);
    // Learn the identity once, so that what follows is the holder lookup alone.
    assert_eq!(node.run("vip-query", &[]).code, 0);
    let margin = Duration::from_millis(2500);

    // A port nobody listens on.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let run = node.run(
        "vip-query",
        &["--endpoint", &format!("http://127.0.0.1:{closed}")],
    );
    assert_eq!((run.code, run.stdout.as_str()), (3, "unknown\n"), "{run:?}");
    assert!(
        run.elapsed < Duration::from_millis(1000) + margin,
        "{run:?}"
    );

    // The connection is dropped unanswered.
    fake.inject(FaultSpec {
        action: None,
        count: 100,
        fault: Fault::Drop,
    });
    let run = node.run("vip-query", &[]);
    assert_eq!((run.code, run.stdout.as_str()), (3, "unknown\n"), "{run:?}");
    assert!(
        run.elapsed < Duration::from_millis(1000) + margin,
        "{run:?}"
    );
    fake.clear_faults();

    // The API answers far too late.
    fake.inject(FaultSpec {
        action: None,
        count: 100,
        fault: Fault::Delay(Duration::from_secs(20)),
    });
    let run = node.run("vip-query", &["--json"]);
    assert_eq!(run.code, 3, "{run:?}");
    let v = &json_lines(&run.stdout)[0];
    assert_eq!(v["answer"], "unknown");
    assert_eq!(v["here"], Value::Null);
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    assert!(
        run.elapsed >= Duration::from_millis(900),
        "waited for the configured timeout: {run:?}"
    );
    assert!(
        run.elapsed < Duration::from_millis(1000) + margin,
        "{run:?}"
    );
    assert!(!run.stderr.is_empty(), "the reason goes to stderr: {run:?}");
    fake.clear_faults();
}

#[test]
fn unreachable_metadata_is_unknown_too() {
    // A node that has not learned who it is yet, and a metadata service that does not answer.
    let fake = start(&example("two-nodes"), Duration::ZERO);
    fake.set_metadata_available(false);
    let node = Node::new(&fake, "ins-node0001", "");
    let run = node.run("vip-query", &[]);
    assert_eq!((run.code, run.stdout.as_str()), (3, "unknown\n"), "{run:?}");
    assert!(run.stderr.contains("metadata"), "{run:?}");
    assert!(run.elapsed < Duration::from_secs(5), "{run:?}");
    assert!(fake.calls().is_empty());

    // Once it answers again, so does vip-query.
    fake.set_metadata_available(true);
    let run = node.run("vip-query", &[]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "true\n"), "{run:?}");
}

#[test]
fn hanging_metadata_is_unknown_within_the_metadata_timeout() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    fake.inject(FaultSpec {
        action: Some("metadata".to_owned()),
        count: 1000,
        fault: Fault::Delay(Duration::from_secs(20)),
    });
    let node = Node::new(&fake, "ins-node0001", "");
    let run = node.run("vip-query", &[]);
    fake.clear_faults();
    assert_eq!((run.code, run.stdout.as_str()), (3, "unknown\n"), "{run:?}");
    // One metadata request times out (1 s); the rest are not tried one by one.
    assert!(
        run.elapsed < Duration::from_millis(1000) + Duration::from_millis(2500),
        "{run:?}"
    );
}

#[test]
fn status_asks_the_metadata_service_no_more_than_the_plain_query() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    fake.inject(FaultSpec {
        action: Some("metadata".to_owned()),
        count: 1000,
        fault: Fault::ApiError("Unavailable".into(), "down".into()),
    });
    let node = Node::new(&fake, "ins-node0001", "");
    let plain = node.run("vip-query", &[]);
    assert_eq!(plain.code, 3, "{plain:?}");
    let after_plain = fake.metadata_requests().len();
    assert!(after_plain > 0);
    let status = node.run("vip-query", &["--status"]);
    assert_eq!(status.code, 3, "{status:?}");
    assert!(status.stdout.contains("cloud: unknown"), "{status:?}");
    let by_status = fake.metadata_requests().len() - after_plain;
    assert_eq!(
        by_status, after_plain,
        "a failed discovery is not repeated for the NIC line: {status:?}"
    );
}

#[test]
fn a_vip_still_being_assigned_here_is_not_here_yet() {
    // The API lists the VIP on this ENI as PENDING while an assignment is in flight: traffic
    // does not reach it yet, so the answer is false until it is AVAILABLE.
    let fake = start(&example("two-nodes"), Duration::from_secs(30));
    fake.with_world(|w| w.remove_secondary_ip(VIP)).unwrap();
    let node = Node::new(
        &fake,
        "ins-node0002",
        "[failover]\nassign_if_unassigned = true\n",
    );
    node.record("default", vip_state::KeepalivedState::Master);
    kill_after_first_write(&node, &fake, "AssignPrivateIpAddresses");
    assert_eq!(fake.ip_state(VIP), Some(fake_vpc::IpState::Pending));
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));
    let run = node.run("vip-query", &[]);
    assert_eq!((run.code, run.stdout.trim()), (1, "false"), "{run:?}");
}
