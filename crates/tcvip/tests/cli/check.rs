//! check-self, keepalived's track script: no API call while the cached cloud view is fresh, a
//! detached reconcile with a growing cooldown, stray VIPs removed on a BACKUP, nothing
//! destructive when the cloud or the recorded state is unknown, service checks with timeouts,
//! and always an answer before `check.deadline_ms`.
//!
//! Tests that change an interface run check-self inside a network namespace they create (root
//! only, see [`crate::netns`]: without root they fail saying so). The others keep the host's interfaces as
//! they are: their VIP is on an interface that does not exist (see [`loopback_topology`]), or
//! nothing is recorded.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use fake_vpc::{Fault, FaultSpec};
use vip_state::{CloudView, KeepalivedState, now_ms};

use crate::netns::Netns;
use crate::util::*;

pub(crate) const LO_VIP: Ipv4Addr = OFF_HOST_VIP;
pub(crate) const LO_ME: &str = "eni-lo000001";
pub(crate) const LO_PEER: &str = "eni-lo000002";

/// `[[vip]]` 126.0.1.100 on an interface that does not exist (a MASTER's restore attempt fails
/// and changes nothing on this host), plus `more`.
pub(crate) fn lo_vip(more: &str) -> String {
    format!("[[vip]]\naddress = \"126.0.1.100\"\ninterface = \"tcvnone0\"\n\n{more}")
}

/// Identity given in the config, so discovery asks nothing.
pub(crate) fn node_section(instance: &str, eni: &str, vpc: &str) -> String {
    format!("[node]\ninstance_id = \"{instance}\"\neni_id = \"{eni}\"\nvpc_id = \"{vpc}\"\n\n")
}

pub(crate) fn view(vip: Ipv4Addr, holder: &str, instance: &str, age: Duration) -> CloudView {
    CloudView {
        vip,
        holder_eni: Some(holder.to_owned()),
        holder_instance: Some(instance.to_owned()),
        ip_state: Some("AVAILABLE".to_owned()),
        learned_at_ms: now_ms() - age.as_millis() as u64,
    }
}

pub(crate) fn writes(fake: &fake_vpc::FakeVpcHandle) -> Vec<String> {
    fake.calls()
        .into_iter()
        .map(|c| c.action)
        .filter(|a| !a.starts_with("Describe"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Network namespaces

/// A node for a namespace: everything local (identity in the config, the VIP on `tv0`).
pub(crate) fn netns_node(fake: &fake_vpc::FakeVpcHandle, more: &str) -> Node {
    Node::new(
        fake,
        "ins-node0001",
        &format!(
            "{}[[vip]]\naddress = \"198.18.1.100\"\ninterface = \"tv0\"\n\n{more}",
            node_section("ins-node0001", "eni-node0001", "vpc-demo0001")
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// 16: a healthy MASTER asks nothing

#[test]
fn healthy_master_with_a_fresh_view_makes_no_api_call() {
    let fake = start(&loopback_topology(LO_ME), Duration::ZERO);

    // Identity from the config and a fresh view: not even the first run calls anything.
    let node = Node::new(
        &fake,
        "ins-lo000001",
        &format!(
            "{}{}",
            node_section("ins-lo000001", LO_ME, "vpc-lo000001"),
            lo_vip("")
        ),
    );
    node.state()
        .write_cloud_view(&view(LO_VIP, LO_ME, "ins-lo000001", Duration::ZERO))
        .unwrap();
    node.record("default", KeepalivedState::Master);
    for _ in 0..3 {
        let run = node.run("check-self", &[]);
        assert_eq!(run.code, 0, "{run:?}");
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    assert!(fake.metadata_requests().is_empty());
    let check = node.state().read_check().value.unwrap();
    assert_eq!(check.reason, "MASTER: healthy");

    // Discovered identity: the first run learns it and the holder once; then nothing per TTL.
    let node = Node::new(&fake, "ins-lo000001", &lo_vip(""));
    node.record("default", KeepalivedState::Master);
    let run = node.run("check-self", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let first = fake.calls();
    assert!(!first.is_empty());
    assert!(
        first.iter().all(|c| c.action.starts_with("Describe")),
        "{first:?}"
    );
    fake.clear_calls();
    let metadata_before = fake.metadata_requests().len();
    for _ in 0..5 {
        let run = node.run("check-self", &[]);
        assert_eq!(run.code, 0, "{run:?}");
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(fake.metadata_requests().len(), metadata_before);
    assert!(detached_of(&node).is_empty());
}

// ---------------------------------------------------------------------------------------------
// 17: reconcile, detached, with a growing cooldown

#[test]
fn master_with_an_expired_view_reconciles_in_the_background() {
    let lag = Duration::from_secs(2);
    let fake = start(&loopback_topology(LO_PEER), lag);
    let node = Node::new(&fake, "ins-lo000001", &lo_vip("[check]\ncloud_ttl_s = 5\n"));
    let _detached = Detached(&node);
    node.record("default", KeepalivedState::Master);
    // An old belief that the VIP is here.
    node.state()
        .write_cloud_view(&view(
            LO_VIP,
            LO_ME,
            "ins-lo000001",
            Duration::from_secs(60),
        ))
        .unwrap();

    let run = node.run("check-self", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    // check-self did not wait for the move (it lands `lag` after the Migrate call).
    assert_ne!(
        fake.holder_of(LO_VIP).as_deref(),
        Some(LO_ME),
        "check-self waited for the migration: {run:?}"
    );
    // The migration outlives check-self, in a session of its own (keepalived's kill of the
    // track script's process group cannot reach it).
    let running = detached_of(&node);
    assert_eq!(running.len(), 1, "{running:?}: {}", node.log_text());
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", running[0])).unwrap();
    let after_name = stat.rsplit_once(')').unwrap().1;
    let session: u32 = after_name
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(session, running[0], "not in its own session: {stat}");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", running[0])).unwrap();
    let argv: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert!(argv[0].ends_with("vip-migrate"), "{argv:?}");
    assert!(argv.iter().any(|a| a == "--reconcile"), "{argv:?}");
    assert!(
        wait_for(Duration::from_secs(30), || fake
            .holder_of(LO_VIP)
            .as_deref()
            == Some(LO_ME)),
        "the reconcile never moved the VIP here: {}",
        node.log_text()
    );
    wait_detached(&node, Duration::from_secs(30));
    let moves = fake.calls_of("MigratePrivateIpAddress");
    assert_eq!(moves.len(), 1, "{moves:?}");
    assert_eq!(moves[0].params["SourceNetworkInterfaceId"], LO_PEER);
    assert_eq!(moves[0].params["DestinationNetworkInterfaceId"], LO_ME);
    let log = node.log_text();
    assert!(log.contains("event=reconcile"), "{log}");
    assert!(log.contains("migrate_started"), "{log}");

    // The VIP is here now: further checks start nothing.
    fake.clear_calls();
    for _ in 0..3 {
        assert_eq!(node.run("check-self", &[]).code, 0);
    }
    assert!(writes(&fake).is_empty());
    assert!(detached_of(&node).is_empty());
}

// ---------------------------------------------------------------------------------------------
// A MASTER puts back a VIP that vanished from its NIC, without the cloud

#[test]
fn master_restores_a_vanished_vip_without_asking_the_cloud() {
    let ns = Netns::create();
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = netns_node(&fake, "");
    node.state()
        .write_cloud_view(&view(VIP, "eni-node0001", "ins-node0001", Duration::ZERO))
        .unwrap();
    node.record("default", KeepalivedState::Master);
    assert!(!ns.has(VIP));
    let run = ns.run(&node, "check-self", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(ns.has(VIP), "VIP not restored: {}", node.log_text());
    assert!(node.log_text().contains("vip_restored"));
    // Again: nothing to do.
    let run = ns.run(&node, "check-self", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(ns.has(VIP));
}

// ---------------------------------------------------------------------------------------------
// 19: an unknown cloud is never a reason to change anything

#[test]
fn unreachable_cloud_changes_nothing_and_exits_per_policy() {
    let ns = Netns::create();
    // Inside the namespace the fake on the host's 127.0.0.1 is unreachable.
    let fake = start(&example("two-nodes"), Duration::ZERO);
    for (policy, code) in [("", 0), ("[check]\non_cloud_error = \"fail\"\n", 1)] {
        let node = netns_node(&fake, policy);
        // The view is stale and says the peer holds the VIP: only the cloud could confirm.
        node.state()
            .write_cloud_view(&view(
                VIP,
                "eni-node0002",
                "ins-node0002",
                Duration::from_secs(3600),
            ))
            .unwrap();
        node.record("default", KeepalivedState::Master);
        if !ns.has(VIP) {
            ns.add("198.18.1.100/32");
        }
        let run = ns.run(&node, "check-self", &[]);
        assert_eq!(run.code, code, "policy {policy:?}: {run:?}");
        assert!(ns.has(VIP), "the VIP went: {}", node.log_text());
        let log = node.log_text();
        assert!(log.contains("cloud_unknown"), "{log}");
        assert!(!log.contains("migrate_started"), "{log}");
        assert!(node.state().read_reconcile(VIP).value.is_none());
        assert!(detached_of(&node).is_empty());
    }
}

#[test]
fn failing_cloud_api_starts_nothing_and_exits_per_policy() {
    let fake = start(&loopback_topology(LO_PEER), Duration::ZERO);
    for (policy, code) in [
        ("", 0),
        ("on_cloud_error = \"pass\"\n", 0),
        ("on_cloud_error = \"fail\"\n", 1),
    ] {
        let node = Node::new(
            &fake,
            "ins-lo000001",
            &format!(
                "{}{}",
                node_section("ins-lo000001", LO_ME, "vpc-lo000001"),
                lo_vip(&format!("[check]\n{policy}"))
            ),
        );
        node.record("default", KeepalivedState::Master);
        for fault in [
            Fault::ApiError("InternalError".into(), "try later".into()),
            Fault::Http500,
            Fault::Garbage,
        ] {
            fake.inject(FaultSpec {
                action: None,
                count: 1000,
                fault: fault.clone(),
            });
            let run = node.run("check-self", &[]);
            fake.clear_faults();
            assert_eq!(run.code, code, "{policy:?} {fault:?}: {run:?}");
            assert!(node.log_text().contains("cloud_unknown"));
        }
        assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
        assert!(detached_of(&node).is_empty());
        assert!(!node.log_text().contains("migrate_started"));
        assert_eq!(fake.holder_of(LO_VIP).as_deref(), Some(LO_PEER));
    }
}

/// Runs check-self as the child of a process named `keepalived` (a copy of /bin/sh) that started
/// `delay` before it.
pub(crate) fn check_under_keepalived(node: &Node, delay: Duration) -> Run {
    let parent = node.dir.path().join("keepalived");
    std::fs::copy("/bin/sh", &parent).unwrap();
    // `; exit $?` keeps the shell from exec-ing check-self: the shell stays its parent.
    let script = format!("sleep {}; \"$0\" \"$@\"; exit $?", delay.as_secs_f64());
    let mut cmd = Command::new(&parent);
    cmd.arg("-c")
        .arg(script)
        .arg(bin("check-self"))
        .arg("--config")
        .arg(&node.config)
        .env("TENCENTCLOUD_SECRET_ID", SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", SECRET_KEY)
        .stdin(Stdio::null());
    run(&mut cmd)
}

/// Node 1 with the VIP on an interface that does not exist (a restore attempt shows in the log
/// as vip_restore_failed and changes nothing on this host) and a fresh view: the VIP is here.
pub(crate) fn node_on_a_missing_interface(fake: &fake_vpc::FakeVpcHandle) -> Node {
    let more = format!(
        "[[vip]]\naddress = \"198.18.1.100\"\ninterface = \"tcvnone0\"\n\n{}",
        node_section("ins-node0001", "eni-node0001", "vpc-demo0001")
    );
    let node = Node::new(fake, "ins-node0001", &more);
    node.state()
        .write_cloud_view(&view(VIP, "eni-node0001", "ins-node0001", Duration::ZERO))
        .unwrap();
    node
}

#[test]
fn a_master_record_from_before_keepalived_started_changes_nothing() {
    // keepalived restarted on a node that was MASTER; before its first notification is recorded
    // it runs the track script. The old MASTER record must not put the VIP back on the NIC.
    // (The VIP's interface does not exist, so an attempt would show as vip_restore_failed and
    // change nothing on this host.)
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = node_on_a_missing_interface(&fake);

    // Recorded before keepalived started: a previous life.
    node.record("default", KeepalivedState::Master);
    thread::sleep(Duration::from_millis(50));
    let run = check_under_keepalived(&node, Duration::ZERO);
    assert_eq!(run.code, 0, "{run:?}");
    let log = node.log_text();
    assert!(log.contains("event=state_predates_keepalived"), "{log}");
    assert!(
        !log.contains("vip_restore"),
        "acted on a stale record:\n{log}"
    );

    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

#[test]
fn a_master_record_written_after_keepalived_started_is_acted_on() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = node_on_a_missing_interface(&fake);
    let recorder = {
        let state_dir = node.state_dir.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            vip_state::StateDir::open(&state_dir)
                .unwrap()
                .record_state(
                    "default",
                    KeepalivedState::Master,
                    Some(100),
                    vip_state::Source::Manual,
                )
                .unwrap();
        })
    };
    let run = check_under_keepalived(&node, Duration::from_millis(900));
    recorder.join().unwrap();
    assert_eq!(run.code, 0, "{run:?}");
    let log = node.log_text();
    assert!(!log.contains("state_predates_keepalived"), "{log}");
    assert!(
        log.contains("event=vip_restore_failed"),
        "the MASTER record was ignored:\n{log}"
    );
}

#[test]
fn one_track_script_checks_every_configured_instance() {
    // Two vrrp_instances, each with its VIP, and `check-self` without --instance (as the shipped
    // examples wire it): both are checked, and neither makes the check fail.
    let fake = start(&loopback_topology(LO_ME), Duration::ZERO);
    let node = Node::new(
        &fake,
        "ins-lo000001",
        &format!(
            "{}[[vip]]\naddress = \"126.0.1.100\"\ninstance = \"VI_1\"\ninterface = \"tcvnone0\"\n\n\
             [[vip]]\naddress = \"126.0.0.50\"\ninstance = \"VI_2\"\ninterface = \"lo\"\n",
            node_section("ins-lo000001", LO_ME, "vpc-lo000001"),
        ),
    );
    node.state()
        .write_cloud_view(&view(LO_VIP, LO_ME, "ins-lo000001", Duration::ZERO))
        .unwrap();
    node.record("VI_1", KeepalivedState::Master);
    node.record("VI_2", KeepalivedState::Backup);
    let run = node.run("check-self", &[]);
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{}", node.log_text());
    let check = node.state().read_check().value.unwrap();
    assert!(
        check.reason.contains("VI_1 MASTER") && check.reason.contains("VI_2 BACKUP"),
        "{check:?}"
    );
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    // One instance on its own, as before.
    let run = node.run("check-self", &["--instance", "VI_2"]);
    assert_eq!(run.code, 0, "{run:?}");
}
