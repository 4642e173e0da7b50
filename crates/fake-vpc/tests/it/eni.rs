use std::time::Duration;

use fake_vpc::{FakeVpc, IpState, Options};
use serde_json::{Value, json};

use crate::util::*;

fn describe(h: &fake_vpc::FakeVpcHandle, body: Value) -> Value {
    api(h, "DescribeNetworkInterfaces", body)
}

fn ids(r: &Value) -> Vec<String> {
    r["NetworkInterfaceSet"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .map(|e| e["NetworkInterfaceId"].as_str().unwrap().to_string())
        .collect()
}

fn f(name: &str, values: &[&str]) -> Value {
    json!({"Name": name, "Values": values})
}

#[test]
fn describe_shapes_fields_like_the_api() {
    let h = start_default();
    let r = describe(&h, json!({"NetworkInterfaceIds": ["eni-node0001"]}));
    assert_eq!(r["TotalCount"], 1);
    let e = &r["NetworkInterfaceSet"][0];
    assert_eq!(e["MacAddress"], "52:54:00:00:01:11");
    assert_eq!(e["VpcId"], "vpc-demo0001");
    assert_eq!(e["SubnetId"], "subnet-demo0001");
    assert_eq!(e["Primary"], true);
    assert_eq!(e["Attachment"]["InstanceId"], "ins-node0001");
    let ips = e["PrivateIpAddressSet"].as_array().unwrap();
    assert_eq!(ips.len(), 2);
    assert_eq!(ips[0]["PrivateIpAddress"], "198.18.1.11");
    assert_eq!(ips[0]["Primary"], true);
    assert_eq!(ips[1]["PrivateIpAddress"], "198.18.1.100");
    assert_eq!(ips[1]["Primary"], false);
    assert_eq!(ips[1]["State"], "AVAILABLE");
}

#[test]
fn ids_and_filters_do_not_coexist() {
    let h = start_default();
    let r = describe(
        &h,
        json!({"NetworkInterfaceIds": ["eni-node0001"], "Filters": [f("vpc-id", &["vpc-demo0001"])]}),
    );
    assert_code(&r, "InvalidParameter.Coexist");
}

#[test]
fn filters_select_by_vpc_subnet_id_instance_and_primary() {
    let h = FakeVpc::start(two_nodes_with(OTHER_SUBNET), Options::default()).unwrap();
    let all = describe(&h, json!({"Filters": [f("vpc-id", &["vpc-demo0001"])]}));
    assert_eq!(all["TotalCount"], 3);
    let r = describe(
        &h,
        json!({"Filters": [f("subnet-id", &["subnet-demo0002"])]}),
    );
    assert_eq!(ids(&r), ["eni-other0001"]);
    let r = describe(
        &h,
        json!({"Filters": [f("attachment.instance-id", &["ins-node0002"])]}),
    );
    assert_eq!(ids(&r), ["eni-node0002"]);
    let r = describe(
        &h,
        json!({"Filters": [f("network-interface-id", &["eni-node0001", "eni-other0001"])]}),
    );
    assert_eq!(ids(&r), ["eni-node0001", "eni-other0001"]);
    let r = describe(&h, json!({"Filters": [f("is-primary", &["FALSE"])]}));
    assert_eq!(ids(&r), ["eni-other0001"]);
    // Different filters AND together.
    let r = describe(
        &h,
        json!({"Filters": [f("is-primary", &["TRUE"]), f("attachment.instance-id", &["ins-node0001"])]}),
    );
    assert_eq!(ids(&r), ["eni-node0001"]);
    let r = describe(&h, json!({"Filters": [f("is-primary", &["yes"])]}));
    assert_code(&r, "InvalidParameterValue.Malformed");
    let r = describe(&h, json!({"Filters": [f("no-such-filter", &["x"])]}));
    assert_code(&r, "InvalidParameter.FilterInvalidKey");
    let r = describe(&h, json!({"Filters": ["vpc-id"]}));
    assert_code(&r, "InvalidParameter.FilterNotDict");
    let r = describe(
        &h,
        json!({"Filters": [{"Name": "vpc-id", "Values": "vpc-demo0001"}]}),
    );
    assert_code(&r, "InvalidParameter.FilterValuesNotList");
}

#[test]
fn address_ip_one_value_is_a_suffix_match_unless_exact() {
    let h = start_default();
    // One value: suffix (fuzzy) match, as documented.
    let r = describe(&h, json!({"Filters": [f("address-ip", &["1.100"])]}));
    assert_eq!(ids(&r), ["eni-node0001"]);
    let r = describe(&h, json!({"Filters": [f("address-ip", &["8.1.11"])]}));
    assert_eq!(ids(&r), ["eni-node0001"], "198.18.1.11 ends with 8.1.11");
    // ip-exact-match TRUE turns it into an exact match.
    let r = describe(
        &h,
        json!({"Filters": [f("address-ip", &["1.100"]), f("ip-exact-match", &["TRUE"])]}),
    );
    assert_eq!(r["TotalCount"], 0);
    let r = describe(
        &h,
        json!({"Filters": [f("address-ip", &["198.18.1.100"]), f("ip-exact-match", &["TRUE"])]}),
    );
    assert_eq!(ids(&r), ["eni-node0001"]);
    // Several values: exact.
    let r = describe(
        &h,
        json!({"Filters": [f("address-ip", &["1.100", "198.18.1.12"])]}),
    );
    assert_eq!(ids(&r), ["eni-node0002"]);
}

#[test]
fn offset_and_limit_page_with_limit_at_most_100() {
    let h = FakeVpc::start(two_nodes_with(&extra_enis(25)), Options::default()).unwrap();
    let r = describe(&h, json!({}));
    assert_eq!(r["TotalCount"], 27);
    assert_eq!(ids(&r).len(), 20, "default Limit is 20");
    let r = describe(&h, json!({"Offset": 20, "Limit": 20}));
    assert_eq!(ids(&r).len(), 7);
    assert_eq!(ids(&r)[0], "eni-extra0018");
    let r = describe(&h, json!({"Offset": 1, "Limit": 1}));
    assert_eq!(ids(&r), ["eni-node0002"]);
    assert_eq!(ids(&describe(&h, json!({"Limit": 100}))).len(), 27);
    assert_code(
        &describe(&h, json!({"Limit": 101})),
        "InvalidParameterValue.Range",
    );
    let many: Vec<String> = (0..101).map(|i| format!("eni-x{i:07}")).collect();
    assert_code(
        &describe(&h, json!({"NetworkInterfaceIds": many})),
        "InvalidParameterValue.LimitExceeded",
    );
}

#[test]
fn migrate_reads_migrating_then_lands_after_lag() {
    let h = start(Options {
        lag: Duration::from_millis(400),
        ..Options::default()
    });
    let r = migrate(&h, "eni-node0001", "eni-node0002", "198.18.1.100");
    assert_ok(&r);
    assert_eq!(r.as_object().unwrap().len(), 1, "only RequestId: {r}");
    let task = r["RequestId"].as_str().unwrap().to_string();
    assert_eq!(h.holder_of(VIP).as_deref(), Some("eni-node0001"));
    assert_eq!(h.ip_state(VIP), Some(IpState::Migrating));
    let d = describe(&h, json!({"NetworkInterfaceIds": ["eni-node0001"]}));
    assert_eq!(
        d["NetworkInterfaceSet"][0]["PrivateIpAddressSet"][1]["State"],
        "MIGRATING"
    );
    assert_eq!(task_status(&h, &task), "RUNNING");
    assert!(eventually(
        || h.holder_of(VIP).as_deref() == Some("eni-node0002")
    ));
    assert_eq!(h.ip_state(VIP), Some(IpState::Available));
    let r = task_status(&h, &task);
    assert_eq!(r, "SUCCESS");
    let full = api(&h, "DescribeVpcTaskResult", json!({"TaskId": task}));
    assert_eq!(full["Result"][0]["ResourceId"], "eni-node0001");
    assert_eq!(full["Output"], "SUCCESS");
    let d = describe(&h, json!({"NetworkInterfaceIds": ["eni-node0002"]}));
    assert_eq!(
        d["NetworkInterfaceSet"][0]["PrivateIpAddressSet"][1]["PrivateIpAddress"],
        "198.18.1.100"
    );
}

#[test]
fn failed_task_leaves_the_ip_in_place() {
    let h = start(Options {
        lag: Duration::from_millis(100),
        ..Options::default()
    });
    h.fail_next_task();
    let r = migrate(&h, "eni-node0001", "eni-node0002", "198.18.1.100");
    assert_ok(&r);
    let task = r["RequestId"].as_str().unwrap().to_string();
    assert!(eventually(|| task_status(&h, &task) == "FAILED"));
    assert_eq!(h.holder_of(VIP).as_deref(), Some("eni-node0001"));
    assert_eq!(h.ip_state(VIP), Some(IpState::Available));
    // Only the next task fails.
    let r = migrate(&h, "eni-node0001", "eni-node0002", "198.18.1.100");
    let task = r["RequestId"].as_str().unwrap().to_string();
    assert!(eventually(|| task_status(&h, &task) == "SUCCESS"));
    assert_eq!(h.holder_of(VIP).as_deref(), Some("eni-node0002"));
}

#[test]
fn any_operation_on_a_moving_ip_is_mutex_error() {
    let h = start(Options {
        lag: Duration::from_secs(30),
        ..Options::default()
    });
    assert_ok(&migrate(&h, "eni-node0001", "eni-node0002", "198.18.1.100"));
    assert_code(
        &migrate(&h, "eni-node0001", "eni-node0002", "198.18.1.100"),
        "UnsupportedOperation.MutexOperationTaskRunning",
    );
    assert_code(
        &migrate(&h, "eni-node0002", "eni-node0001", "198.18.1.100"),
        "UnsupportedOperation.MutexOperationTaskRunning",
    );
    let r = api(
        &h,
        "UnassignPrivateIpAddresses",
        json!({"NetworkInterfaceId": "eni-node0001", "PrivateIpAddresses": [{"PrivateIpAddress": "198.18.1.100"}]}),
    );
    assert_code(&r, "UnsupportedOperation.MutexOperationTaskRunning");
}

#[test]
fn migrate_checks_holder_primary_subnet_and_existence() {
    let h = FakeVpc::start(two_nodes_with(OTHER_SUBNET), Options::default()).unwrap();
    assert_code(
        &migrate(&h, "eni-node0002", "eni-node0001", "198.18.1.100"),
        "UnauthorizedOperation.AttachmentNotFound",
    );
    assert_code(
        &migrate(&h, "eni-node0001", "eni-node0002", "198.18.1.11"),
        "UnsupportedOperation.PrimaryIp",
    );
    assert_code(
        &migrate(&h, "eni-node0001", "eni-other0001", "198.18.1.100"),
        "UnsupportedOperation",
    );
    assert_code(
        &migrate(&h, "eni-node0001", "eni-nope0001", "198.18.1.100"),
        "ResourceNotFound",
    );
    assert_code(
        &api(
            &h,
            "DescribeVpcTaskResult",
            json!({"TaskId": "no-such-task"}),
        ),
        "ResourceNotFound",
    );
    // Nothing moved.
    assert_eq!(h.holder_of(VIP).as_deref(), Some("eni-node0001"));
    assert!(h.world().pending().is_empty());
}

#[test]
fn assign_then_unassign_asynchronously() {
    let h = start(Options {
        lag: Duration::from_millis(200),
        ..Options::default()
    });
    let ip: std::net::Ipv4Addr = "198.18.1.101".parse().unwrap();
    let r = api(
        &h,
        "AssignPrivateIpAddresses",
        json!({"NetworkInterfaceId": "eni-node0002", "PrivateIpAddresses": [{"PrivateIpAddress": "198.18.1.101"}]}),
    );
    assert_ok(&r);
    assert_eq!(r["PrivateIpAddressSet"][0]["State"], "PENDING");
    let task = r["RequestId"].as_str().unwrap().to_string();
    assert_eq!(h.ip_state(ip), Some(IpState::Pending));
    assert!(eventually(|| task_status(&h, &task) == "SUCCESS"));
    assert_eq!(h.holder_of(ip).as_deref(), Some("eni-node0002"));
    assert_eq!(h.ip_state(ip), Some(IpState::Available));
    // In use, reserved, outside the subnet, duplicate.
    let assign = |ips: Value| {
        api(
            &h,
            "AssignPrivateIpAddresses",
            json!({"NetworkInterfaceId": "eni-node0001", "PrivateIpAddresses": ips}),
        )
    };
    assert_code(
        &assign(json!([{"PrivateIpAddress": "198.18.1.101"}])),
        "ResourceInUse",
    );
    assert_code(
        &assign(json!([{"PrivateIpAddress": "198.18.1.1"}])),
        "InvalidParameterValue.Reserved",
    );
    assert_code(
        &assign(json!([{"PrivateIpAddress": "198.18.9.1"}])),
        "InvalidParameterValue.Range",
    );
    assert_code(
        &assign(
            json!([{"PrivateIpAddress": "198.18.1.120"}, {"PrivateIpAddress": "198.18.1.120"}]),
        ),
        "InvalidParameterValue.DuplicatePara",
    );
    // By count: the first free addresses.
    let r = api(
        &h,
        "AssignPrivateIpAddresses",
        json!({"NetworkInterfaceId": "eni-node0001", "SecondaryPrivateIpAddressCount": 2}),
    );
    assert_ok(&r);
    assert_eq!(
        r["PrivateIpAddressSet"][0]["PrivateIpAddress"],
        "198.18.1.2"
    );
    assert_eq!(
        r["PrivateIpAddressSet"][1]["PrivateIpAddress"],
        "198.18.1.3"
    );

    let r = api(
        &h,
        "UnassignPrivateIpAddresses",
        json!({"NetworkInterfaceId": "eni-node0002", "PrivateIpAddresses": [{"PrivateIpAddress": "198.18.1.101"}]}),
    );
    assert_ok(&r);
    let task = r["RequestId"].as_str().unwrap().to_string();
    assert_eq!(h.ip_state(ip), Some(IpState::Deleting));
    assert!(eventually(|| task_status(&h, &task) == "SUCCESS"));
    assert_eq!(h.holder_of(ip), None);
    let r = api(
        &h,
        "UnassignPrivateIpAddresses",
        json!({"NetworkInterfaceId": "eni-node0002", "PrivateIpAddresses": [{"PrivateIpAddress": "198.18.1.12"}]}),
    );
    assert_code(&r, "UnsupportedOperation.PrimaryIp");
    let r = api(
        &h,
        "UnassignPrivateIpAddresses",
        json!({"NetworkInterfaceId": "eni-node0002", "PrivateIpAddresses": [{"PrivateIpAddress": "198.18.1.100"}]}),
    );
    assert_code(&r, "UnsupportedOperation.AttachmentNotFound");
}

#[test]
fn assign_client_token_is_idempotent() {
    let h = start_default();
    let body = json!({"NetworkInterfaceId": "eni-node0002", "SecondaryPrivateIpAddressCount": 1, "ClientToken": "tok-1"});
    let a = api(&h, "AssignPrivateIpAddresses", body.clone());
    let b = api(&h, "AssignPrivateIpAddresses", body);
    assert_eq!(a["PrivateIpAddressSet"], b["PrivateIpAddressSet"]);
    assert_eq!(h.world().eni("eni-node0002").unwrap().ips.len(), 2);
    let c = api(
        &h,
        "AssignPrivateIpAddresses",
        json!({"NetworkInterfaceId": "eni-node0002", "SecondaryPrivateIpAddressCount": 2, "ClientToken": "tok-1"}),
    );
    assert_code(&c, "UnsupportedOperation.IdempotentParameterMismatch");
}

#[test]
fn direct_world_edits_are_visible_to_the_api() {
    let h = start_default();
    let ip = "198.18.1.77".parse().unwrap();
    h.with_world(|w| w.add_secondary_ip("eni-node0002", ip))
        .unwrap();
    let r = describe(
        &h,
        json!({"Filters": [f("address-ip", &["198.18.1.77"]), f("ip-exact-match", &["TRUE"])]}),
    );
    assert_eq!(ids(&r), ["eni-node0002"]);
    assert!(
        h.with_world(|w| w.add_secondary_ip("eni-node0001", ip))
            .is_err()
    );
}
