//! `tcvip doctor` and `tcvip cam-policy` against fake-vpc: a healthy node passes (exit 0), and
//! each broken wiring, refused permission or bad address is caught with its fix (exit 1 or 2).

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use fake_vpc::FakeVpcHandle;
use serde_json::Value;

use crate::util::*;

/// Node 1 of the two-node example; its VIP lives on `lo` (no interface carries the simulated MAC).
const NODE1: &str = "[[vip]]\naddress = \"198.18.1.100\"\ninterface = \"lo\"\n";

/// The shipped nopreempt example, as the rehearsal renders it for node 1 (VIP on lo).
pub fn healthy_conf() -> String {
    format!(
        r#"global_defs {{
    router_id n1
    enable_script_security
    script_user root
}}
vrrp_script tcvip_check {{
    script "{check}"
    interval 2
    timeout 3
    fall 2
    rise 2
}}
include instances/*.conf
"#,
        check = bin("check-self").display()
    )
}

pub fn healthy_instance() -> String {
    format!(
        r#"vrrp_instance VI_1 {{
    state BACKUP
    nopreempt
    interface lo
    virtual_router_id 51
    priority 100
    unicast_src_ip 198.18.1.11
    unicast_peer {{
        198.18.1.12
    }}
    virtual_ipaddress {{
        198.18.1.100/32 dev lo
    }}
    track_script {{
        tcvip_check
    }}
    notify "{notify}"
    notify_master_rx_lower_pri "{notify} MASTER_RX_LOWER_PRI"
}}
"#,
        notify = bin("notify-action").display()
    )
}

/// A fake `keepalived` that reports `version`.
pub fn fake_keepalived(dir: &Path, version: &str) -> PathBuf {
    let path = dir.join("keepalived");
    std::fs::write(
        &path,
        format!("#!/bin/sh\necho 'Keepalived v{version} (01/16,2022)' >&2\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Writes keepalived.conf (main + an included instance file) into the node's directory.
pub fn write_conf(node: &Node, main: &str, instance: &str) -> PathBuf {
    let dir = node.dir.path().join("kconf");
    std::fs::create_dir_all(dir.join("instances")).unwrap();
    std::fs::write(dir.join("keepalived.conf"), main).unwrap();
    std::fs::write(dir.join("instances/vi_1.conf"), instance).unwrap();
    dir.join("keepalived.conf")
}

/// `tcvip doctor` on `node` with keepalived.conf `main` + `instance` and keepalived `version`.
pub fn doctor(node: &Node, main: &str, instance: &str, version: &str, extra: &[&str]) -> Run {
    let conf = write_conf(node, main, instance);
    let keepalived = fake_keepalived(node.dir.path(), version);
    let owner = std::fs::metadata(node.dir.path())
        .unwrap()
        .uid()
        .to_string();
    let mut args = vec![
        "doctor",
        "--keepalived-conf",
        conf.to_str().unwrap(),
        "--keepalived",
        keepalived.to_str().unwrap(),
        "--script-owner-uid",
        &owner,
    ];
    args.extend_from_slice(extra);
    let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tcvip(node, &args)
}

/// `tcvip SUBCOMMAND --config NODE-CONFIG ARGS...` with the node's environment (the options of
/// every binary belong to the subcommand).
pub fn tcvip(node: &Node, args: &[&str]) -> Run {
    let mut cmd = node.command("tcvip");
    let mut argv: Vec<std::ffi::OsString> = cmd.get_args().map(ToOwned::to_owned).collect();
    argv.insert(0, args[0].into());
    argv.extend(args[1..].iter().map(Into::into));
    let mut fresh = std::process::Command::new(cmd.get_program());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => fresh.env(k, v),
            None => fresh.env_remove(k),
        };
    }
    fresh.args(argv).stdin(std::process::Stdio::null());
    cmd = fresh;
    run(&mut cmd)
}

pub fn node1(fake: &FakeVpcHandle) -> Node {
    Node::new(fake, "ins-node0001", NODE1)
}

/// The doctor line (with its indented lines) whose first line contains `needle`.
pub fn finding(run: &Run, needle: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in run.stdout.lines() {
        if !line.starts_with(' ') {
            inside = line.contains(needle);
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(!out.is_empty(), "no finding {needle:?} in:\n{}", run.stdout);
    out
}

#[test]
fn doctor_passes_on_a_healthy_node_and_changes_nothing() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = node1(&fake);
    let run = doctor(&node, &healthy_conf(), &healthy_instance(), "2.2.7", &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .starts_with("TCVIP DOCTOR OK - 0 critical, 0 warning, 0 unknown"),
        "{}",
        run.stdout
    );
    for expected in [
        node.config.display().to_string(),
        "cloud.timeout_ms = 2000".to_owned(),
        "credentials.secret_key = (not set)".to_owned(),
        "environment (TENCENTCLOUD_SECRET_ID".to_owned(),
        "latency median".to_owned(),
        "instance ins-node0001, ENI eni-node0001".to_owned(),
        "vpc:MigratePrivateIpAddress allowed".to_owned(),
        "vpc:DescribeVpcTaskResult allowed".to_owned(),
        "198.18.1.100: inside 198.18.1.0/24, held by eni-node0001 on ins-node0001 (AVAILABLE), this node".to_owned(),
        "version 2.2.7".to_owned(),
        "VI_1: track_script tcvip_check → check-self, timeout 3 s above check.deadline_ms 2000".to_owned(),
        "vi_1.conf".to_owned(),
    ] {
        assert!(run.stdout.contains(&expected), "{expected:?} missing:\n{}", run.stdout);
    }
    assert!(!run.stdout.contains(SECRET_KEY), "{}", run.stdout);
    assert!(!run.stdout.contains(SECRET_ID), "{}", run.stdout);
    // The probes wrote nothing: every write call was refused as impossible, the VIP stayed.
    for c in fake.calls_of("MigratePrivateIpAddress") {
        assert_ne!(c.outcome, "OK", "{c:?}");
        assert_eq!(
            c.params["SourceNetworkInterfaceId"],
            c.params["DestinationNetworkInterfaceId"]
        );
    }
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));

    let run = doctor(
        &node,
        &healthy_conf(),
        &healthy_instance(),
        "2.2.7",
        &["--json"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["exit"], 0);
    assert!(v["checks"].as_array().unwrap().len() > 15, "{v}");
}

#[test]
fn doctor_fails_on_a_permission_cam_refuses_and_names_the_policy() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = node1(&fake);
    fake.deny(&["MigratePrivateIpAddress"]);
    let run = doctor(&node, &healthy_conf(), &healthy_instance(), "2.2.7", &[]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stdout.starts_with("TCVIP DOCTOR CRITICAL - 1 critical"),
        "{}",
        run.stdout
    );
    let f = finding(&run, "vpc:MigratePrivateIpAddress refused by CAM");
    assert!(f.contains("AuthFailure.UnauthorizedOperation"), "{f}");
    assert!(
        f.contains("fix: grant vpc:MigratePrivateIpAddress") && f.contains("tcvip cam-policy"),
        "{f}"
    );
    assert!(finding(&run, "vpc:DescribeNetworkInterfaces").contains("allowed"));
    fake.clear_faults();
    let run = doctor(&node, &healthy_conf(), &healthy_instance(), "2.2.7", &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
}

#[test]
fn doctor_reports_a_broken_configuration_as_critical() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(&fake, "ins-node0001", "[check]\ndeadline_ms = \"soon\"\n");
    let run = doctor(&node, &healthy_conf(), &healthy_instance(), "2.2.7", &[]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let f = finding(&run, "cannot be used");
    assert!(
        f.contains("deadline_ms") && f.contains("fix: correct what the message names"),
        "{f}"
    );
}

#[test]
fn cam_policy_lists_the_needed_actions_scoped_when_it_can() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = node1(&fake);
    let run = tcvip(&node, &["cam-policy"]);
    assert_eq!(run.code, 0, "{run:?}");
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["version"], "2.0");
    let reads: Vec<&str> = v["statement"][0]["action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        reads,
        [
            "vpc:DescribeNetworkInterfaces",
            "vpc:DescribeVpcTaskResult",
            "vpc:DescribeAddresses"
        ]
    );
    assert_eq!(
        v["statement"][1]["action"],
        serde_json::json!(["vpc:MigratePrivateIpAddress"])
    );
    assert_eq!(v["statement"][1]["resource"], serde_json::json!(["*"]));
    assert!(run.stderr.contains("--uin"), "{run:?}");

    let node = Node::new(
        &fake,
        "ins-node0001",
        &format!(
            "{NODE1}[failover]\nassign_if_unassigned = true\n[node]\neni_id = \"eni-node0001\"\n"
        ),
    );
    let run = tcvip(
        &node,
        &[
            "cam-policy",
            "--uin",
            "100000000001",
            "--eni",
            "eni-node0002",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        v["statement"][1]["action"],
        serde_json::json!([
            "vpc:MigratePrivateIpAddress",
            "vpc:AssignPrivateIpAddresses"
        ])
    );
    assert_eq!(
        v["statement"][1]["resource"],
        serde_json::json!([
            "qcs::vpc:ap-guangzhou:uin/100000000001:eni/eni-node0002",
            "qcs::vpc:ap-guangzhou:uin/100000000001:eni/eni-node0001"
        ])
    );
    assert!(run.stderr.is_empty(), "{run:?}");
    let run = tcvip(&node, &["cam-policy", "--eni", "bogus"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("not an ENI id"), "{run:?}");
}

/// Replaces `from` with `to` in a node's tcvip.toml.
fn edit_config(node: &Node, from: &str, to: &str) {
    let text = std::fs::read_to_string(&node.config).unwrap();
    assert!(text.contains(from), "{text}");
    std::fs::write(&node.config, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn doctor_says_when_a_cvm_roles_keys_expire() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = node1(&fake);
    edit_config(&node, "source = \"env\"", "source = \"cvm-role\"");
    let run = doctor(&node, &healthy_conf(), &healthy_instance(), "2.2.7", &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let f = finding(&run, "CVM role");
    assert!(
        f.contains("role tcvip-demo-role: temporary keys expire at")
            && f.contains("fetches new ones 5 minutes before"),
        "{f}"
    );
}

#[test]
fn doctor_is_unknown_when_a_permission_cannot_be_decided() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = node1(&fake);
    // Throttled: the answer says nothing about CAM.
    fake.inject(fake_vpc::FaultSpec {
        action: Some("MigratePrivateIpAddress".into()),
        count: 2,
        fault: fake_vpc::Fault::ApiError("RequestLimitExceeded".into(), "slow down".into()),
    });
    let run = doctor(&node, &healthy_conf(), &healthy_instance(), "2.2.7", &[]);
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert!(
        run.stdout
            .starts_with("TCVIP DOCTOR UNKNOWN - 0 critical, 0 warning, 1 unknown"),
        "{}",
        run.stdout
    );
    let f = finding(&run, "vpc:MigratePrivateIpAddress could not be decided");
    assert!(
        f.contains("RequestLimitExceeded") && f.contains("fix: "),
        "{f}"
    );
}

#[test]
fn doctor_fails_when_the_endpoint_is_unreachable() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = node1(&fake);
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    edit_config(&node, &fake.url(), &format!("http://127.0.0.1:{port}"));
    let run = doctor(&node, &healthy_conf(), &healthy_instance(), "2.2.7", &[]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let f = finding(&run, "unreachable");
    assert!(
        f.contains(&format!("127.0.0.1:{port}"))
            && f.contains("fix: check DNS, routes and firewall"),
        "{f}"
    );
}

#[test]
fn doctor_warns_while_the_node_is_drained_and_names_undrain() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = node1(&fake);
    let drained = tcvip(&node, &["drain", "--reason", "kernel update"]);
    assert_eq!(drained.code, 0, "{drained:?}");
    let run = doctor(&node, &healthy_conf(), &healthy_instance(), "2.2.7", &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.starts_with("TCVIP DOCTOR WARNING"),
        "{}",
        run.stdout
    );
    let f = finding(&run, "drained");
    assert!(f.contains("kernel update") && f.contains(" by "), "{f}");
    assert!(f.contains("fix: `tcvip undrain`"), "{f}");
    assert_eq!(tcvip(&node, &["undrain"]).code, 0);
    let run = doctor(&node, &healthy_conf(), &healthy_instance(), "2.2.7", &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(finding(&run, "not drained").starts_with("ok"));
}

#[test]
fn doctor_probes_the_eip_actions_when_an_eip_is_configured() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(
        &fake,
        "ins-node0001",
        &format!("{}eip = \"eip-demo0001\"\n", NODE1),
    );
    fake.deny(&["AssociateAddress"]);
    let run = doctor(&node, &healthy_conf(), &healthy_instance(), "2.2.7", &[]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let f = finding(&run, "vpc:AssociateAddress refused by CAM");
    assert!(f.contains("fix: grant vpc:AssociateAddress"), "{f}");
    assert!(finding(&run, "vpc:DisassociateAddress").contains("allowed"));
    assert!(finding(&run, "vpc:DescribeTaskResult").contains("allowed"));
    assert!(
        fake.calls_of("AssociateAddress")
            .iter()
            .all(|c| c.outcome != "OK")
    );
    let policy = tcvip(&node, &["cam-policy"]);
    let v: Value = serde_json::from_str(&policy.stdout).unwrap();
    assert_eq!(
        v["statement"][2]["action"],
        serde_json::json!(["vpc:AssociateAddress", "vpc:DisassociateAddress"])
    );
    assert!(
        v["statement"][0]["action"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("vpc:DescribeTaskResult"))
    );
}

#[test]
fn doctor_checks_that_the_configured_eip_points_at_the_vip() {
    let eips = "\n[[eip]]\nid = \"eip-demo0001\"\nip = \"198.19.0.10\"\neni = \"eni-node0001\"\nprivate_ip = \"198.18.1.100\"\n\n[[eip]]\nid = \"eip-demo0002\"\nip = \"198.19.0.11\"\n";
    let fake = start(&format!("{}{eips}", example("two-nodes")), Duration::ZERO);
    for (eip, code, needle, fix) in [
        (
            "eip-demo0001",
            0,
            "eip-demo0001 points at 198.18.1.100 on its holder eni-node0001",
            "",
        ),
        (
            "eip-demo0002",
            1,
            "eip-demo0002 does not point at 198.18.1.100",
            "fix: `tcvip eip associate --vip 198.18.1.100`",
        ),
        (
            "eip-demo0009",
            2,
            "eip-demo0009 does not exist",
            "fix: correct eip in the [[vip]] entry",
        ),
    ] {
        let node = Node::new(&fake, "ins-node0001", &format!("{NODE1}eip = \"{eip}\"\n"));
        let run = doctor(&node, &healthy_conf(), &healthy_instance(), "2.2.7", &[]);
        assert_eq!(run.code, code, "{}", run.stdout);
        assert!(finding(&run, needle).contains(fix), "{}", run.stdout);
    }
}
