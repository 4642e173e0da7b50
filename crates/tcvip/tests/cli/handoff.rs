//! notify-action's hand-over: a node that leaves MASTER while the cloud still routes the VIP to
//! it gives the VIP to its peer (`crate::handoff` in the library), and only then.

use std::path::PathBuf;
use std::time::Duration;

use vip_state::KeepalivedState;

use crate::util::*;

/// How long a detached hand-over may take on a loaded machine before the test gives up.
const SETTLE: Duration = Duration::from_secs(30);

/// A keepalived.conf beside the node's tcvip.toml naming `peers` as unicast peers.
fn keepalived_conf(node: &Node, src: &str, peers: &[&str]) -> PathBuf {
    let path = node.dir.path().join("keepalived.conf");
    let peers: String = peers.iter().map(|p| format!("        {p}\n")).collect();
    std::fs::write(
        &path,
        format!(
            "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    advert_int 1\n    \
             unicast_src_ip {src}\n    unicast_peer {{\n{peers}    }}\n    virtual_ipaddress {{\n        \
             198.18.1.100/32 dev eth0\n    }}\n}}\n"
        ),
    )
    .unwrap();
    path
}

fn notify(node: &Node, conf: &std::path::Path, state: &str) {
    let conf = conf.display().to_string();
    let run = node.run("notify-action", &["--keepalived-conf", &conf, state]);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn a_master_that_goes_backup_hands_the_vip_to_its_only_peer() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = Node::new(&fake, "ins-node0001", "");
    let _reap = Detached(&node);
    let conf = keepalived_conf(&node, "198.18.1.11", &["198.18.1.12"]);
    node.record("default", KeepalivedState::Master);
    notify(&node, &conf, "BACKUP");
    assert!(
        wait_for(SETTLE, || fake.holder_of(VIP).as_deref()
            == Some("eni-node0002")),
        "VIP not handed to the peer: holder {:?}\nlog:\n{}",
        fake.holder_of(VIP),
        node.log_text()
    );
    wait_detached(&node, SETTLE);
    let migrates = fake.calls_of("MigratePrivateIpAddress");
    assert_eq!(migrates.len(), 1, "{migrates:?}");
    assert_eq!(
        migrates[0].params["SourceNetworkInterfaceId"],
        "eni-node0001"
    );
    assert_eq!(
        migrates[0].params["DestinationNetworkInterfaceId"],
        "eni-node0002"
    );
    assert!(
        node.log_text().contains("event=handoff_done"),
        "{}",
        node.log_text()
    );
}

#[test]
fn a_stopping_master_hands_over_too() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = Node::new(&fake, "ins-node0001", "");
    let _reap = Detached(&node);
    let conf = keepalived_conf(&node, "198.18.1.11", &["198.18.1.12"]);
    node.record("default", KeepalivedState::Master);
    notify(&node, &conf, "STOP");
    assert!(
        wait_for(SETTLE, || fake.holder_of(VIP).as_deref()
            == Some("eni-node0002")),
        "VIP not handed to the peer on STOP\nlog:\n{}",
        node.log_text()
    );
}

#[test]
fn a_node_that_was_not_master_hands_nothing_over() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = Node::new(&fake, "ins-node0001", "");
    let _reap = Detached(&node);
    let conf = keepalived_conf(&node, "198.18.1.11", &["198.18.1.12"]);
    // keepalived starting: BACKUP then FAULT, never MASTER.
    node.record("default", KeepalivedState::Backup);
    notify(&node, &conf, "FAULT");
    wait_detached(&node, SETTLE);
    assert!(fake.calls_of("MigratePrivateIpAddress").is_empty());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
    assert!(!node.log_text().contains("handoff_started"));
}

#[test]
fn a_vip_the_cloud_routes_elsewhere_is_left_alone() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = Node::new(&fake, "ins-node0002", "");
    let _reap = Detached(&node);
    let conf = keepalived_conf(&node, "198.18.1.12", &["198.18.1.11"]);
    node.record("default", KeepalivedState::Master);
    notify(&node, &conf, "BACKUP");
    assert!(
        wait_for(SETTLE, || node.log_text().contains("event=handoff_skip")),
        "{}",
        node.log_text()
    );
    wait_detached(&node, SETTLE);
    assert!(fake.calls_of("MigratePrivateIpAddress").is_empty());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
}

#[test]
fn master_again_before_the_hand_over_looks_keeps_the_vip() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = Node::new(&fake, "ins-node0001", "");
    let _reap = Detached(&node);
    let conf = keepalived_conf(&node, "198.18.1.11", &["198.18.1.12"]);
    node.record("default", KeepalivedState::Master);
    notify(&node, &conf, "BACKUP");
    // A reload's flap: MASTER again within the hand-over's settling time.
    node.record("default", KeepalivedState::Master);
    wait_detached(&node, SETTLE);
    assert!(
        fake.calls_of("MigratePrivateIpAddress").is_empty(),
        "{}",
        node.log_text()
    );
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
}

#[test]
fn a_havip_is_never_handed_over_and_nothing_is_asked() {
    let fake = start(&example("two-nodes-havip"), Duration::ZERO);
    let node = Node::new(
        &fake,
        "ins-node0001",
        &format!("[[vip]]\naddress = \"{VIP}\"\nkind = \"havip\"\nhavip_id = \"havip-demo0001\"\n"),
    );
    let _reap = Detached(&node);
    let conf = keepalived_conf(&node, "198.18.1.11", &["198.18.1.12"]);
    node.record("default", KeepalivedState::Master);
    notify(&node, &conf, "BACKUP");
    assert!(
        wait_for(SETTLE, || node
            .log_text()
            .contains("every VIP of the instance is a HAVIP")),
        "{}",
        node.log_text()
    );
    wait_detached(&node, SETTLE);
    // The VPC follows the MASTER's gratuitous ARP: the leaving node asks and moves nothing.
    for action in [
        "DescribeNetworkInterfaces",
        "MigratePrivateIpAddress",
        "DescribeHaVips",
    ] {
        assert!(fake.calls_of(action).is_empty(), "{action} was called");
    }
}
