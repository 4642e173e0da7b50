use std::time::Duration;

use fake_vpc::{FakeVpc, Options};
use serde_json::{Value, json};

use crate::util::*;

const EXTRA: &str = r#"
[[eip]]
id = "eip-demo0001"
ip = "198.19.0.10"
eni = "eni-node0001"
private_ip = "198.18.1.100"

[[eip]]
id = "eip-demo0002"
ip = "198.19.0.11"

[[havip]]
id = "havip-demo0001"
name = "ha"
vip = "198.18.1.200"
subnet = "subnet-demo0001"
eni = "eni-node0001"
"#;

fn start_eip() -> fake_vpc::FakeVpcHandle {
    FakeVpc::start(
        two_nodes_with(EXTRA),
        Options {
            lag: Duration::from_millis(100),
            ..Options::default()
        },
    )
    .unwrap()
}

fn address(h: &fake_vpc::FakeVpcHandle, id: &str) -> Value {
    let r = api(h, "DescribeAddresses", json!({"AddressIds": [id]}));
    assert_eq!(r["TotalCount"], 1, "{r}");
    r["AddressSet"][0].clone()
}

fn eip_task(h: &fake_vpc::FakeVpcHandle, task: u64) -> String {
    let r = api(h, "DescribeTaskResult", json!({"TaskId": task}));
    assert_eq!(r["TaskId"], task);
    r["Result"].as_str().unwrap().to_string()
}

#[test]
fn describe_addresses_and_filters() {
    let h = start_eip();
    let a = address(&h, "eip-demo0001");
    assert_eq!(a["AddressIp"], "198.19.0.10");
    assert_eq!(a["AddressStatus"], "BIND");
    assert_eq!(a["PrivateAddressIp"], "198.18.1.100");
    assert_eq!(a["NetworkInterfaceId"], "eni-node0001");
    assert_eq!(a["InstanceId"], "ins-node0001");
    let r = api(
        &h,
        "DescribeAddresses",
        json!({"Filters": [{"Name": "address-status", "Values": ["UNBIND"]}]}),
    );
    assert_eq!(r["AddressSet"][0]["AddressId"], "eip-demo0002");
    let r = api(
        &h,
        "DescribeAddresses",
        json!({"AddressIds": ["eip-demo0001"], "Filters": [{"Name": "address-id", "Values": ["eip-demo0001"]}]}),
    );
    assert_code(&r, "InvalidParameter.Coexist");
    // The ENI view shows the EIP on the private IP.
    let d = api(
        &h,
        "DescribeNetworkInterfaces",
        json!({"NetworkInterfaceIds": ["eni-node0001"]}),
    );
    let vip = &d["NetworkInterfaceSet"][0]["PrivateIpAddressSet"][1];
    assert_eq!(vip["PublicIpAddress"], "198.19.0.10");
    assert_eq!(vip["AddressId"], "eip-demo0001");
}

#[test]
fn associate_and_disassociate_with_string_task_ids() {
    let h = start_eip();
    let r = api(
        &h,
        "DisassociateAddress",
        json!({"AddressId": "eip-demo0001"}),
    );
    assert_ok(&r);
    let task: u64 = r["TaskId"]
        .as_str()
        .expect("TaskId is a string")
        .parse()
        .unwrap();
    assert_eq!(address(&h, "eip-demo0001")["AddressStatus"], "UNBINDING");
    assert_code(
        &api(
            &h,
            "DisassociateAddress",
            json!({"AddressId": "eip-demo0001"}),
        ),
        "OperationDenied.MutexTaskRunning",
    );
    // DescribeTaskResult takes the id as an integer; a string is refused.
    assert_code(
        &api(
            &h,
            "DescribeTaskResult",
            json!({"TaskId": task.to_string()}),
        ),
        "InvalidParameterValue",
    );
    assert!(eventually(|| eip_task(&h, task) == "SUCCESS"));
    assert_eq!(address(&h, "eip-demo0001")["AddressStatus"], "UNBIND");

    let r = api(
        &h,
        "AssociateAddress",
        json!({"AddressId": "eip-demo0001", "NetworkInterfaceId": "eni-node0001", "PrivateIpAddress": "198.18.1.100"}),
    );
    assert_ok(&r);
    let task: u64 = r["TaskId"].as_str().unwrap().parse().unwrap();
    assert!(eventually(|| eip_task(&h, task) == "SUCCESS"));
    assert_eq!(address(&h, "eip-demo0001")["AddressStatus"], "BIND");

    let r = api(
        &h,
        "AssociateAddress",
        json!({"AddressId": "eip-demo0002", "InstanceId": "ins-node0002"}),
    );
    assert_ok(&r);
    let task: u64 = r["TaskId"].as_str().unwrap().parse().unwrap();
    assert!(eventually(|| eip_task(&h, task) == "SUCCESS"));
    let a = address(&h, "eip-demo0002");
    assert_eq!(a["PrivateAddressIp"], "198.18.1.12");
    assert_eq!(
        get(h.addr(), "/ins-node0002/latest/meta-data/public-ipv4")
            .unwrap()
            .text(),
        "198.19.0.11"
    );

    assert_code(
        &api(
            &h,
            "AssociateAddress",
            json!({"AddressId": "eip-demo0002", "InstanceId": "ins-node0001"}),
        ),
        "UnsupportedOperation.AddressStatusNotPermit",
    );
    assert_code(
        &api(
            &h,
            "AssociateAddress",
            json!({"AddressId": "eip-nope0001", "InstanceId": "ins-node0001"}),
        ),
        "InvalidAddressId.NotFound",
    );
    assert_code(
        &api(
            &h,
            "AssociateAddress",
            json!({"AddressId": "eip-demo0002", "NetworkInterfaceId": "eni-node0001"}),
        ),
        "MissingParameter",
    );
    assert_code(
        &api(&h, "DescribeTaskResult", json!({})),
        "MissingParameter",
    );
}

#[test]
fn eip_follows_a_migrated_ip_and_unassign_unbinds_it() {
    let h = start_eip();
    assert_ok(&migrate(&h, "eni-node0001", "eni-node0002", "198.18.1.100"));
    assert!(eventually(
        || h.holder_of(VIP).as_deref() == Some("eni-node0002")
    ));
    assert_eq!(
        address(&h, "eip-demo0001")["NetworkInterfaceId"],
        "eni-node0002"
    );
    let r = api(
        &h,
        "UnassignPrivateIpAddresses",
        json!({"NetworkInterfaceId": "eni-node0002", "PrivateIpAddresses": [{"PrivateIpAddress": "198.18.1.100"}]}),
    );
    assert_ok(&r);
    assert!(eventually(|| h.holder_of(VIP).is_none()));
    assert_eq!(address(&h, "eip-demo0001")["AddressStatus"], "UNBIND");
}

#[test]
fn describe_ha_vips() {
    let h = start_eip();
    let r = api(&h, "DescribeHaVips", json!({}));
    assert_eq!(r["TotalCount"], 1);
    let v = &r["HaVipSet"][0];
    assert_eq!(v["HaVipId"], "havip-demo0001");
    assert_eq!(v["Vip"], "198.18.1.200");
    assert_eq!(v["NetworkInterfaceId"], "eni-node0001");
    assert_eq!(v["InstanceId"], "ins-node0001");
    assert_eq!(v["State"], "AVAILABLE");
    let r = api(
        &h,
        "DescribeHaVips",
        json!({"Filters": [{"Name": "vip", "Values": ["198.18.1.201"]}]}),
    );
    assert_eq!(r["TotalCount"], 0);
    let r = api(
        &h,
        "DescribeHaVips",
        json!({"HaVipIds": ["havip-demo0001"], "Filters": [{"Name": "vip", "Values": ["198.18.1.200"]}]}),
    );
    assert_code(&r, "InvalidParameter.Coexist");
    // The HAVIP address cannot be assigned to an ENI.
    let r = api(
        &h,
        "AssignPrivateIpAddresses",
        json!({"NetworkInterfaceId": "eni-node0002", "PrivateIpAddresses": [{"PrivateIpAddress": "198.18.1.200"}]}),
    );
    assert_code(&r, "ResourceInUse");
}

#[test]
fn with_eip_on_migrate_drop_a_migrated_ip_loses_its_eip() {
    let text = format!(
        "eip_on_migrate = \"drop\"\n{}\n{EXTRA}",
        include_str!("../../examples/two-nodes.toml")
    );
    let h = FakeVpc::start(
        fake_vpc::Topology::from_toml_str(&text).unwrap(),
        Options {
            lag: Duration::from_millis(100),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(address(&h, "eip-demo0001")["AddressStatus"], "BIND");
    assert_ok(&migrate(&h, "eni-node0001", "eni-node0002", "198.18.1.100"));
    assert!(eventually(
        || h.holder_of(VIP).as_deref() == Some("eni-node0002")
    ));
    let a = address(&h, "eip-demo0001");
    assert_eq!(a["AddressStatus"], "UNBIND", "{a}");
    assert_eq!(a["NetworkInterfaceId"], "", "{a}");
    assert_eq!(a["PrivateAddressIp"], "", "{a}");
}

#[test]
fn eip_on_migrate_refuses_an_unknown_value() {
    let text = format!(
        "eip_on_migrate = \"sometimes\"\n{}",
        include_str!("../../examples/two-nodes.toml")
    );
    let err = fake_vpc::Topology::from_toml_str(&text)
        .unwrap_err()
        .to_string();
    assert!(err.contains("follow") && err.contains("drop"), "{err}");
}

#[test]
fn allocate_addresses_creates_eips_that_become_unbind_within_the_quota() {
    let h = start_eip();
    let r = api(
        &h,
        "AllocateAddresses",
        json!({"AddressCount": 2, "AddressName": "vip"}),
    );
    assert_ok(&r);
    let ids: Vec<String> = r["AddressSet"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.iter().all(|id| id.starts_with("eip-")) && ids[0] != ids[1]);
    let task: u64 = r["TaskId"].as_str().expect("a string").parse().unwrap();
    assert_eq!(address(&h, &ids[0])["AddressStatus"], "CREATING");
    // Not bindable while CREATING.
    assert_code(
        &api(
            &h,
            "AssociateAddress",
            json!({"AddressId": ids[0], "NetworkInterfaceId": "eni-node0002", "PrivateIpAddress": "198.18.1.12"}),
        ),
        "OperationDenied.MutexTaskRunning",
    );
    assert!(eventually(|| eip_task(&h, task) == "SUCCESS"));
    for id in &ids {
        let a = address(&h, id);
        assert_eq!(a["AddressStatus"], "UNBIND", "{a}");
        assert_eq!(a["AddressName"], "vip");
    }
    assert_ne!(
        address(&h, &ids[0])["AddressIp"],
        address(&h, &ids[1])["AddressIp"]
    );
    // Two were there already: 4 now; the quota of 20 refuses 17 more.
    assert_code(
        &api(&h, "AllocateAddresses", json!({"AddressCount": 17})),
        "AddressQuotaLimitExceeded",
    );
    assert_code(
        &api(&h, "AllocateAddresses", json!({"AddressCount": 0})),
        "InvalidParameterValue.Range",
    );
}
