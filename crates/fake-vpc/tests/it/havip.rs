//! HAVIPs: the EIP of a HAVIP (HaVipAssociateAddressIp / HaVipDisassociateAddressIp).

use std::time::Duration;

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
