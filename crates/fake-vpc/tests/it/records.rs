use std::time::Duration;

use fake_vpc::Options;
use serde_json::{Value, json};

use crate::util::*;

#[test]
fn calls_log_is_json_lines_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.jsonl");
    let h = start(Options {
        calls_log: Some(log.clone()),
        ..Options::default()
    });
    assert_ok(&migrate(&h, "eni-node0001", "eni-node0002", "198.18.1.100"));
    let mut bad = Call::new("DescribeNetworkInterfaces", json!({}));
    bad.secret_key = "wrongwrongwrongwrongwrongwrong00".into();
    assert_code(&bad.send(h.addr()), "AuthFailure.SignatureFailure");
    // With role credentials (token must not be logged either).
    let creds = get(
        h.addr(),
        "/ins-node0002/latest/meta-data/cam/security-credentials/tcvip-demo-role",
    )
    .unwrap()
    .json();
    let mut c = Call::new("DescribeNetworkInterfaces", json!({"Limit": 5}));
    c.secret_id = creds["TmpSecretId"].as_str().unwrap().into();
    c.secret_key = creds["TmpSecretKey"].as_str().unwrap().into();
    c.token = Some(creds["Token"].as_str().unwrap().into());
    assert_ok(&c.send(h.addr()));

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["action"], "MigratePrivateIpAddress");
    assert_eq!(lines[0]["params"]["PrivateIpAddress"], "198.18.1.100");
    assert_eq!(lines[0]["secret_id"], DEMO_ID);
    assert_eq!(lines[0]["outcome"], "OK");
    assert!(lines[0]["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(lines[1]["outcome"], "AuthFailure.SignatureFailure");
    assert_eq!(lines[2]["secret_id"], creds["TmpSecretId"]);
    assert_eq!(lines[2]["params"]["Limit"], 5);
    for secret in [
        DEMO_KEY,
        "wrongwrongwrongwrongwrongwrong00",
        creds["TmpSecretKey"].as_str().unwrap(),
        creds["Token"].as_str().unwrap(),
        "Authorization",
        "TC3-HMAC-SHA256",
        "Signature=",
        "SignedHeaders",
    ] {
        assert!(!text.contains(secret), "the log contains {secret:?}");
    }
    // The in-memory records match and can be cleared.
    assert_eq!(h.calls().len(), 3);
    assert_eq!(h.calls_of("MigratePrivateIpAddress").len(), 1);
    h.clear_calls();
    assert!(h.calls().is_empty());
    let dbg = format!("{:?}", h.world());
    assert!(!dbg.contains(DEMO_KEY) && !dbg.contains(creds["Token"].as_str().unwrap()));
}

fn read_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn on_change_hook_runs_at_start_and_on_every_landing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hook.txt");
    // Test fixture: a shell one-liner appending its arguments to a file.
    let argv = vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        format!("echo \"$*\" >> '{}'", out.display()),
        "hook".to_string(),
    ];
    let h = start(Options {
        lag: Duration::from_millis(200),
        on_change: Some(argv),
        ..Options::default()
    });
    assert!(eventually(|| read_lines(&out).len() == 1));
    assert_eq!(read_lines(&out), ["198.18.1.100 eni-node0001 198.18.1.11"]);
    assert_ok(&migrate(&h, "eni-node0001", "eni-node0002", "198.18.1.100"));
    // No further requests: the landing alone must run the hook.
    assert!(eventually(|| read_lines(&out).len() == 2));
    assert_eq!(read_lines(&out)[1], "198.18.1.100 eni-node0002 198.18.1.12");
    let r = api(
        &h,
        "AssignPrivateIpAddresses",
        json!({"NetworkInterfaceId": "eni-node0001", "PrivateIpAddresses": [{"PrivateIpAddress": "198.18.1.101"}]}),
    );
    assert_ok(&r);
    assert!(eventually(|| read_lines(&out).len() == 3));
    assert_eq!(read_lines(&out)[2], "198.18.1.101 eni-node0001 198.18.1.11");
    let r = api(
        &h,
        "UnassignPrivateIpAddresses",
        json!({"NetworkInterfaceId": "eni-node0001", "PrivateIpAddresses": [{"PrivateIpAddress": "198.18.1.101"}]}),
    );
    assert_ok(&r);
    assert!(eventually(|| read_lines(&out).len() == 4));
    assert_eq!(read_lines(&out)[3], "198.18.1.101 none none");
    // A failed task changes nothing and runs no hook.
    h.fail_next_task();
    let r = migrate(&h, "eni-node0002", "eni-node0001", "198.18.1.100");
    let task = r["RequestId"].as_str().unwrap().to_string();
    assert!(eventually(|| task_status(&h, &task) == "FAILED"));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(read_lines(&out).len(), 4);
}
