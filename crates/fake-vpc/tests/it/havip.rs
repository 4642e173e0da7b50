//! HAVIPs: the EIP of a HAVIP (HaVipAssociateAddressIp / HaVipDisassociateAddressIp), and
//! the binding learned from gratuitous ARPs (`/_control/garp`, `--garp-listen`).

use std::time::{Duration, Instant};

use fake_vpc::{FakeVpc, FakeVpcHandle, Options};
use serde_json::{Value, json};

use crate::util::*;

const HAVIPS: &str = r#"
[[eip]]
id = "eip-demo0001"
ip = "198.19.0.10"

[[eip]]
id = "eip-demo0002"
ip = "198.19.0.11"

[[eip]]
id = "eip-demo0003"
ip = "198.19.0.12"
eni = "eni-node0001"
private_ip = "198.18.1.100"

[[havip]]
id = "havip-demo0001"
name = "ha"
vip = "198.18.1.200"
subnet = "subnet-demo0001"

[[havip]]
id = "havip-demo0002"
vip = "198.18.1.201"
subnet = "subnet-demo0001"
address_ip = "198.19.0.11"
"#;

fn start_havip(options: Options) -> FakeVpcHandle {
    FakeVpc::start(two_nodes_with(HAVIPS), options).unwrap()
}

fn havip(h: &FakeVpcHandle, id: &str) -> Value {
    let r = api(h, "DescribeHaVips", json!({"HaVipIds": [id]}));
    assert_eq!(r["TotalCount"], 1, "{r}");
    r["HaVipSet"][0].clone()
}

fn address(h: &FakeVpcHandle, id: &str) -> Value {
    let r = api(h, "DescribeAddresses", json!({"AddressIds": [id]}));
    assert_eq!(r["TotalCount"], 1, "{r}");
    r["AddressSet"][0].clone()
}

fn associate(h: &FakeVpcHandle, havip: &str, address_ip: &str) -> Value {
    api(
        h,
        "HaVipAssociateAddressIp",
        json!({"HaVipId": havip, "AddressIp": address_ip}),
    )
}

fn disassociate(h: &FakeVpcHandle, havip: &str) -> Value {
    api(h, "HaVipDisassociateAddressIp", json!({"HaVipId": havip}))
}

#[test]
fn topology_address_ip_binds_the_eip_to_the_havip() {
    let h = start_havip(Options::default());
    assert_eq!(havip(&h, "havip-demo0002")["AddressIp"], "198.19.0.11");
    let a = address(&h, "eip-demo0002");
    assert_eq!(a["AddressStatus"], "BIND");
    assert_eq!(a["InstanceType"], "HAVIP");
    assert_eq!(a["InstanceId"], "havip-demo0002");
    assert_eq!(a["PrivateAddressIp"], "198.18.1.201");
    assert_eq!(a["NetworkInterfaceId"], "");
    let r = api(
        &h,
        "DescribeAddresses",
        json!({"Filters": [{"Name": "instance-type", "Values": ["HAVIP"]}]}),
    );
    assert_eq!(r["TotalCount"], 1, "{r}");
    assert_eq!(r["AddressSet"][0]["AddressId"], "eip-demo0002");
}

#[test]
fn associate_and_disassociate_are_tasks_polled_with_describe_vpc_task_result() {
    let h = start_havip(Options {
        lag: Duration::from_millis(200),
        ..Options::default()
    });
    let r = associate(&h, "havip-demo0001", "198.19.0.10");
    assert_ok(&r);
    let task = r["RequestId"].as_str().unwrap().to_string();
    assert_eq!(task_status(&h, &task), "RUNNING");
    assert_eq!(address(&h, "eip-demo0001")["AddressStatus"], "BINDING");
    assert_eq!(havip(&h, "havip-demo0001")["AddressIp"], "");
    // A second write on the HAVIP while the first runs.
    assert_code(
        &disassociate(&h, "havip-demo0001"),
        "UnsupportedOperation.MutexOperationTaskRunning",
    );
    assert!(eventually(|| task_status(&h, &task) == "SUCCESS"));
    assert_eq!(havip(&h, "havip-demo0001")["AddressIp"], "198.19.0.10");
    let a = address(&h, "eip-demo0001");
    assert_eq!(a["AddressStatus"], "BIND");
    assert_eq!(a["InstanceType"], "HAVIP");
    assert_eq!(a["InstanceId"], "havip-demo0001");
    assert_eq!(a["PrivateAddressIp"], "198.18.1.200");
    let r = api(
        &h,
        "DescribeHaVips",
        json!({"Filters": [{"Name": "address-ip", "Values": ["198.19.0.10"]}]}),
    );
    assert_eq!(r["HaVipSet"][0]["HaVipId"], "havip-demo0001", "{r}");

    let r = disassociate(&h, "havip-demo0001");
    assert_ok(&r);
    let task = r["RequestId"].as_str().unwrap().to_string();
    assert_eq!(address(&h, "eip-demo0001")["AddressStatus"], "UNBINDING");
    assert!(eventually(|| task_status(&h, &task) == "SUCCESS"));
    assert_eq!(havip(&h, "havip-demo0001")["AddressIp"], "");
    let a = address(&h, "eip-demo0001");
    assert_eq!(a["AddressStatus"], "UNBIND");
    assert_eq!(a["InstanceType"], "");
    assert_eq!(a["InstanceId"], "");
    assert_eq!(a["PrivateAddressIp"], "");
    // Recorded for tests and the rehearsal like any call.
    assert!(
        h.calls()
            .iter()
            .any(|c| c.action == "HaVipDisassociateAddressIp" && c.outcome == "OK")
    );
}

#[test]
fn a_failed_task_leaves_the_eip_unbound() {
    let h = start_havip(Options::default());
    h.with_world(|w| w.fail_next_task());
    let r = associate(&h, "havip-demo0001", "198.19.0.10");
    assert_ok(&r);
    let task = r["RequestId"].as_str().unwrap().to_string();
    assert!(eventually(|| task_status(&h, &task) == "FAILED"));
    assert_eq!(havip(&h, "havip-demo0001")["AddressIp"], "");
    assert_eq!(address(&h, "eip-demo0001")["AddressStatus"], "UNBIND");
}

#[test]
fn associate_errors() {
    let h = start_havip(Options::default());
    assert_code(
        &associate(&h, "havip-nope0001", "198.19.0.10"),
        "ResourceNotFound",
    );
    assert_code(
        &associate(&h, "havip-demo0001", "198.19.9.9"),
        "ResourceNotFound",
    );
    assert_code(
        &associate(&h, "ha-demo0001", "198.19.0.10"),
        "InvalidParameterValue.Malformed",
    );
    assert_code(
        &associate(&h, "havip-demo0001", "eip-demo0001"),
        "InvalidParameterValue.Malformed",
    );
    assert_code(
        &api(
            &h,
            "HaVipAssociateAddressIp",
            json!({"HaVipId": "havip-demo0001"}),
        ),
        "MissingParameter",
    );
    // The HAVIP already has an EIP.
    assert_code(
        &associate(&h, "havip-demo0002", "198.19.0.10"),
        "UnsupportedOperation.BindEIP",
    );
    // The EIP is bound to another HAVIP, or to an ENI.
    assert_code(
        &associate(&h, "havip-demo0001", "198.19.0.11"),
        "UnsupportedOperation.BindEIP",
    );
    assert_code(
        &associate(&h, "havip-demo0001", "198.19.0.12"),
        "UnsupportedOperation.BindEIP",
    );
    // The HAVIP's EIP cannot be moved to a CVM while bound.
    assert_code(
        &api(
            &h,
            "AssociateAddress",
            json!({"AddressId": "eip-demo0002", "InstanceId": "ins-node0001"}),
        ),
        "UnsupportedOperation.AddressStatusNotPermit",
    );
}

#[test]
fn disassociate_errors() {
    let h = start_havip(Options::default());
    assert_code(&disassociate(&h, "havip-nope0001"), "ResourceNotFound");
    assert_code(
        &disassociate(&h, "havip_demo0001"),
        "InvalidParameterValue.Malformed",
    );
    assert_code(
        &disassociate(&h, "havip-demo0001"),
        "UnsupportedOperation.UnbindEIP",
    );
    assert_code(
        &api(&h, "HaVipDisassociateAddressIp", json!({})),
        "MissingParameter",
    );
}

#[test]
fn havip_eip_actions_have_their_rate_limits() {
    assert_eq!(
        fake_vpc::api::rate_limit("HaVipAssociateAddressIp"),
        Some(20)
    );
    assert_eq!(
        fake_vpc::api::rate_limit("HaVipDisassociateAddressIp"),
        Some(20)
    );
}

const NODE1_MAC: &str = "52:54:00:00:01:11";
const NODE2_MAC: &str = "52:54:00:00:01:12";
const HAVIP_VIP: &str = "198.18.1.200";
const NEVER: &str = "0000-00-00 00:00:00";

fn learning(ms: u64) -> Options {
    Options {
        havip_learn: Duration::from_millis(ms),
        ..Options::default()
    }
}

/// `POST /_control/garp`; returns the record.
fn garp(h: &FakeVpcHandle, ip: &str, mac: &str) -> Value {
    let r = post(
        h.addr(),
        "/_control/garp",
        &json!({"ip": ip, "mac": mac}).to_string(),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn state(h: &FakeVpcHandle) -> Value {
    get(h.addr(), "/_control/state").unwrap().json()
}

fn verdicts(h: &FakeVpcHandle) -> Vec<String> {
    state(h)["garps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["verdict"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_garp_binds_the_havip_after_the_learning_delay() {
    let h = start_havip(learning(400));
    let v = havip(&h, "havip-demo0001");
    assert_eq!(v["State"], "UNBIND");
    assert_eq!(v["FlushedTime"], NEVER);
    let t0 = Instant::now();
    let g = garp(&h, HAVIP_VIP, NODE1_MAC);
    assert_eq!(g["verdict"], "learned", "{g}");
    assert_eq!(g["eni"], "eni-node0001");
    assert_eq!(g["havip"], "havip-demo0001");
    assert_eq!(g["via"], "control");
    // Not yet: the VPC has not learned it.
    let v = havip(&h, "havip-demo0001");
    assert_eq!(v["State"], "UNBIND", "{v}");
    assert_eq!(v["NetworkInterfaceId"], "");
    assert_eq!(v["InstanceId"], "");
    assert!(eventually(
        || havip(&h, "havip-demo0001")["State"] == "AVAILABLE"
    ));
    assert!(t0.elapsed() >= Duration::from_millis(400));
    let v = havip(&h, "havip-demo0001");
    assert_eq!(v["NetworkInterfaceId"], "eni-node0001", "{v}");
    assert_eq!(v["InstanceId"], "ins-node0001");
    assert_ne!(v["FlushedTime"], NEVER);
    assert_eq!(v["FlushedTime"].as_str().unwrap().len(), 19, "{v}");
    let r = api(
        &h,
        "DescribeHaVips",
        json!({"Filters": [{"Name": "havip-association.instance-id", "Values": ["ins-node0001"]}]}),
    );
    assert_eq!(r["HaVipSet"][0]["HaVipId"], "havip-demo0001", "{r}");
    let s = state(&h);
    assert_eq!(s["havip_learn_ms"], 400);
    assert_eq!(s["garps"][0]["ip"], HAVIP_VIP);
    assert_eq!(s["garps"][0]["mac"], NODE1_MAC);
    assert!(s["garps"][0]["time"].as_u64().unwrap() > 1_700_000_000_000);
}

#[test]
fn the_last_garp_wins_and_a_superseded_one_never_binds() {
    let h = start_havip(learning(300));
    garp(&h, HAVIP_VIP, NODE1_MAC);
    std::thread::sleep(Duration::from_millis(100));
    garp(&h, HAVIP_VIP, NODE2_MAC);
    // Node 1's delay elapses first, but it was superseded: no binding to node 1, ever.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v = havip(&h, "havip-demo0001");
        assert_ne!(v["NetworkInterfaceId"], "eni-node0001", "{v}");
        if v["NetworkInterfaceId"] == "eni-node0002" {
            assert_eq!(v["InstanceId"], "ins-node0002");
            break;
        }
        assert!(Instant::now() < deadline, "never bound: {v}");
        std::thread::sleep(Duration::from_millis(60));
    }
    assert_eq!(verdicts(&h), ["superseded", "learned"]);
    // Back to node 1 (a failover back): rebinds, FlushedTime moves on.
    garp(&h, HAVIP_VIP, NODE1_MAC);
    assert!(eventually(
        || havip(&h, "havip-demo0001")["NetworkInterfaceId"] == "eni-node0001"
    ));
}

#[test]
fn ignore_garps_fault_drops_the_next_garps() {
    let h = start_havip(learning(100));
    let r = post(h.addr(), "/_control/fault", r#"{"ignore_garps": 2}"#).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(state(&h)["ignore_garps"], 2);
    assert_eq!(garp(&h, HAVIP_VIP, NODE1_MAC)["verdict"], "ignored");
    assert_eq!(garp(&h, HAVIP_VIP, NODE1_MAC)["verdict"], "ignored");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(havip(&h, "havip-demo0001")["State"], "UNBIND");
    assert_eq!(garp(&h, HAVIP_VIP, NODE1_MAC)["verdict"], "learned");
    assert!(eventually(
        || havip(&h, "havip-demo0001")["State"] == "AVAILABLE"
    ));
    // clear-faults drops a count left.
    h.ignore_garps(5);
    assert_ok_reply(post(h.addr(), "/_control/clear-faults", "").unwrap());
    assert_eq!(state(&h)["ignore_garps"], 0);
    // A bad body is refused, naming the problem.
    let r = post(h.addr(), "/_control/fault", r#"{"ignore_garps": -1}"#).unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
}

fn assert_ok_reply(r: Raw) {
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn garps_from_unknown_macs_or_for_other_addresses_bind_nothing() {
    let h = start_havip(learning(0));
    let g = garp(&h, HAVIP_VIP, "52:54:00:00:09:99");
    assert_eq!(g["verdict"], "unknown-mac", "{g}");
    assert_eq!(g["eni"], Value::Null);
    let g = garp(&h, "198.18.1.11", NODE1_MAC);
    assert_eq!(g["verdict"], "not-a-havip", "{g}");
    assert_eq!(g["eni"], "eni-node0001");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(havip(&h, "havip-demo0001")["State"], "UNBIND");
    // Malformed bodies get 400 naming the field.
    let r = post(
        h.addr(),
        "/_control/garp",
        r#"{"ip": "198.18.1.300", "mac": "52:54:00:00:01:11"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.text().contains("198.18.1.300"), "{}", r.text());
    let r = post(
        h.addr(),
        "/_control/garp",
        r#"{"ip": "198.18.1.200", "mac": "nope"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.text().contains("MAC"), "{}", r.text());
}

#[test]
fn a_learned_binding_runs_the_on_change_hook() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hook.txt");
    // Test fixture: a shell one-liner appending its arguments to a file.
    let argv = vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        format!("echo \"$*\" >> '{}'", out.display()),
        "hook".to_string(),
    ];
    let lines = || -> Vec<String> {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let h = start_havip(Options {
        havip_learn: Duration::from_millis(100),
        on_change: Some(argv),
        ..Options::default()
    });
    // At start: the secondary IP 198.18.1.100 only (no HAVIP is bound).
    assert!(eventually(|| lines().len() == 1));
    garp(&h, HAVIP_VIP, NODE2_MAC);
    assert!(eventually(|| lines().len() == 2));
    assert_eq!(lines()[1], "198.18.1.200 eni-node0002 198.18.1.12");
    // A GARP from the ENI already bound changes nothing and runs no hook.
    garp(&h, HAVIP_VIP, NODE2_MAC);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lines().len(), 2);
    garp(&h, HAVIP_VIP, NODE1_MAC);
    assert!(eventually(|| lines().len() == 3));
    assert_eq!(lines()[2], "198.18.1.200 eni-node0001 198.18.1.11");
}

#[test]
fn a_havip_bound_in_the_topology_runs_the_hook_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hook.txt");
    // Test fixture: a shell one-liner appending its arguments to a file.
    let argv = vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        format!("echo \"$*\" >> '{}'", out.display()),
        "hook".to_string(),
    ];
    let topology = two_nodes_with(
        r#"
[[havip]]
id = "havip-demo0001"
vip = "198.18.1.200"
subnet = "subnet-demo0001"
eni = "eni-node0002"
"#,
    );
    let h = FakeVpc::start(
        topology,
        Options {
            on_change: Some(argv),
            ..Options::default()
        },
    )
    .unwrap();
    let lines = || -> Vec<String> {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };
    assert!(eventually(|| lines().len() == 2));
    assert_eq!(
        lines(),
        [
            "198.18.1.100 eni-node0001 198.18.1.11",
            "198.18.1.200 eni-node0002 198.18.1.12"
        ]
    );
    let v = havip(&h, "havip-demo0001");
    assert_eq!(v["State"], "AVAILABLE");
    assert_eq!(v["InstanceId"], "ins-node0002");
    assert_eq!(v["FlushedTime"], NEVER);
}
