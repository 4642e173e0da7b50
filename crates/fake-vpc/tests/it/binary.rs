use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::util::*;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Starts the binary and waits (up to 10 s) for its `listening on ADDR` line.
fn spawn(args: &[&str]) -> (Proc, SocketAddr, Duration) {
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-vpc"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let proc = Proc(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("no listening line");
    let elapsed = t.elapsed();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .parse()
        .unwrap();
    (proc, addr, elapsed)
}

#[test]
fn binary_starts_prints_its_address_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.jsonl");
    let (_p, addr, elapsed) = spawn(&[
        "--topology",
        &example("two-nodes.toml"),
        "--listen",
        "127.0.0.1:0",
        "--lag-ms",
        "100",
        "--calls-log",
        log.to_str().unwrap(),
    ]);
    // Generous for a loaded machine; it normally takes a few milliseconds.
    assert!(elapsed < Duration::from_secs(5), "startup took {elapsed:?}");
    let holder = || get(addr, "/_control/holder/198.18.1.100").unwrap().text();
    assert_eq!(holder(), "eni-node0001 AVAILABLE\n");
    let r = Call::new(
        "MigratePrivateIpAddress",
        json!({"SourceNetworkInterfaceId": "eni-node0001", "DestinationNetworkInterfaceId": "eni-node0002", "PrivateIpAddress": "198.18.1.100"}),
    )
    .send(addr);
    assert_ok(&r);
    assert!(eventually(|| holder() == "eni-node0002 AVAILABLE\n"));
    let state = get(addr, "/_control/state").unwrap().json();
    assert_eq!(state["ips"]["198.18.1.100"]["eni"], "eni-node0002");
    assert_eq!(state["lag_ms"], 100);
    let lines = std::fs::read_to_string(&log).unwrap();
    assert!(lines.contains("\"MigratePrivateIpAddress\""));
    let calls = get(addr, "/_control/calls").unwrap().json();
    assert_eq!(calls[0]["action"], "MigratePrivateIpAddress");
    assert_eq!(
        get(addr, "/ins-node0002/latest/meta-data/instance-id")
            .unwrap()
            .text(),
        "ins-node0002"
    );
}

#[test]
fn control_endpoint_injects_faults_and_switches() {
    let (_p, addr, _) = spawn(&["--topology", &example("three-nodes.toml"), "--lag-ms", "0"]);
    let ok = |r: Raw| assert_eq!(r.json()["ok"], true, "{}", r.text());
    ok(post(addr, "/_control/fault", r#"{"action":"DescribeNetworkInterfaces","count":1,"fault":{"kind":"api_error","code":"InternalError"}}"#).unwrap());
    ok(post(addr, "/_control/fault", r#"{"fault":{"kind":"http500"}}"#).unwrap());
    let describe = || {
        let c = Call::new("DescribeNetworkInterfaces", json!({}));
        send_raw(addr, &c.bytes(addr))
    };
    assert_code(&describe().unwrap().json()["Response"], "InternalError");
    assert_eq!(describe().unwrap().status, 500);
    let r = describe().unwrap().json();
    assert_eq!(r["Response"]["TotalCount"], 3, "three nodes");
    ok(post(
        addr,
        "/_control/fault",
        r#"{"count":2,"fault":{"kind":"drop"}}"#,
    )
    .unwrap());
    ok(post(addr, "/_control/clear-faults", "").unwrap());
    assert_eq!(describe().unwrap().status, 200);
    ok(post(addr, "/_control/fault", r#"{"fault":{"kind":"garbage"}}"#).unwrap());
    assert!(serde_json::from_slice::<serde_json::Value>(&describe().unwrap().body).is_err());
    ok(post(
        addr,
        "/_control/fault",
        r#"{"fault":{"kind":"delay","ms":200}}"#,
    )
    .unwrap());
    let t = Instant::now();
    assert_eq!(describe().unwrap().status, 200);
    assert!(t.elapsed() >= Duration::from_millis(200));

    ok(post(addr, "/_control/lag", r#"{"ms": 60000}"#).unwrap());
    let migrate_to = |to: &str| {
        Call::new(
            "MigratePrivateIpAddress",
            json!({"SourceNetworkInterfaceId": "eni-node0001", "DestinationNetworkInterfaceId": to, "PrivateIpAddress": "198.18.1.100"}),
        )
        .send(addr)
    };
    assert_ok(&migrate_to("eni-node0003"));
    assert_eq!(
        get(addr, "/_control/holder/198.18.1.100").unwrap().text(),
        "eni-node0001 MIGRATING\n"
    );
    assert_eq!(
        get(addr, "/_control/state").unwrap().json()["lag_ms"],
        60000
    );

    ok(post(addr, "/_control/metadata", r#"{"available": false}"#).unwrap());
    assert!(get(addr, "/ins-node0001/latest/meta-data/instance-id").is_err());
    ok(post(addr, "/_control/metadata", r#"{"available": true}"#).unwrap());
    assert_eq!(
        get(addr, "/ins-node0003/latest/meta-data/local-ipv4")
            .unwrap()
            .text(),
        "198.18.1.13"
    );

    ok(post(addr, "/_control/fail-next-task", "").unwrap());
    assert_eq!(
        get(addr, "/_control/state").unwrap().json()["fail_next_task"],
        true
    );
    ok(post(addr, "/_control/clear-calls", "").unwrap());
    assert_eq!(get(addr, "/_control/calls").unwrap().json(), json!([]));
    assert_eq!(
        post(addr, "/_control/fault", r#"{"fault":{"kind":"nope"}}"#)
            .unwrap()
            .status,
        400
    );
    assert_eq!(post(addr, "/_control/lag", "{").unwrap().status, 400);
}

#[test]
fn binary_refuses_a_bad_topology_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let text = include_str!("../../examples/two-nodes.toml").replace(
        "subnet = \"subnet-demo0001\"\nprimary_ip = \"198.18.1.12\"",
        "subnet = \"subnet-x\"\nprimary_ip = \"198.18.1.12\"",
    );
    std::fs::write(&bad, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fake-vpc"))
        .args(["--topology", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("eni[1] (eni-node0002): subnet \"subnet-x\" is not defined"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}
