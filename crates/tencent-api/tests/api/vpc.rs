//! Typed actions over the wire: bodies, action names, paging.

use std::net::Ipv4Addr;
use std::sync::Arc;

use serde_json::json;
use tencent_api::credentials::{Credentials, StaticCredentials};
use tencent_api::vpc::*;
use tencent_api::{Client, ClientConfig, Error};

use crate::stub::{Reply, Stub};

fn client(stub: &Stub) -> Client {
    Client::new(
        ClientConfig::vpc("ap-guangzhou").with_endpoint(stub.url().parse().unwrap()),
        Arc::new(StaticCredentials::new(Credentials::new("AKID", "k"))),
    )
    .unwrap()
}

#[test]
fn migrate_then_poll_and_eip_task_ids() {
    let stub = Stub::start(|r| {
        Reply::json(match r.header("x-tc-action").unwrap() {
            "MigratePrivateIpAddress" => r#"{"Response":{"RequestId":"req-mig"}}"#,
            "DescribeVpcTaskResult" => {
                r#"{"Response":{"Status":"RUNNING","Output":null,"Result":null,"RequestId":"r"}}"#
            }
            "AssociateAddress" => r#"{"Response":{"TaskId":"50121411","RequestId":"r"}}"#,
            "DescribeTaskResult" => {
                r#"{"Response":{"TaskId":50121411,"Result":"SUCCESS","RequestId":"r"}}"#
            }
            _ => r#"{"Response":{"Error":{"Code":"InvalidAction","Message":"?"},"RequestId":"r"}}"#,
        })
    });
    let c = client(&stub);
    let m = c
        .migrate_private_ip_address(&MigratePrivateIpAddressRequest {
            source_network_interface_id: "eni-src".into(),
            destination_network_interface_id: "eni-dst".into(),
            private_ip_address: Ipv4Addr::new(10, 0, 1, 100),
        })
        .unwrap();
    assert_eq!(m.request_id, "req-mig");
    let t = c
        .describe_vpc_task_result(&DescribeVpcTaskResultRequest {
            task_id: m.request_id.clone(),
        })
        .unwrap();
    assert_eq!(t.status, TaskStatus::Running);
    assert!(!t.status.is_finished() && t.output.is_empty() && t.result.is_empty());

    let a = c
        .associate_address(&AssociateAddressRequest {
            address_id: "eip-1".into(),
            network_interface_id: Some("eni-dst".into()),
            private_ip_address: Some(Ipv4Addr::new(10, 0, 1, 100)),
            ..Default::default()
        })
        .unwrap();
    let r = c
        .describe_task_result(&DescribeTaskResultRequest::task(a.task_id_u64().unwrap()))
        .unwrap();
    assert_eq!(r.result, TaskStatus::Success);

    let reqs = stub.requests();
    assert_eq!(
        reqs[0].json(),
        json!({"SourceNetworkInterfaceId":"eni-src","DestinationNetworkInterfaceId":"eni-dst","PrivateIpAddress":"10.0.1.100"})
    );
    assert_eq!(reqs[1].json(), json!({"TaskId":"req-mig"}));
    assert_eq!(
        reqs[2].json(),
        json!({"AddressId":"eip-1","NetworkInterfaceId":"eni-dst","PrivateIpAddress":"10.0.1.100"})
    );
    assert_eq!(reqs[3].json(), json!({"TaskId":50121411}));
}

#[test]
fn describe_all_pages_through_and_is_bounded() {
    const TOTAL: u64 = 250;
    let stub = Stub::start(|r| {
        let body = r.json();
        let offset = body["Offset"].as_u64().unwrap();
        let limit = body["Limit"].as_u64().unwrap();
        let set: Vec<_> = (offset..(offset + limit).min(TOTAL))
            .map(|i| json!({"NetworkInterfaceId": format!("eni-{i}")}))
            .collect();
        Reply::json(
            json!({"Response":{"TotalCount":TOTAL,"NetworkInterfaceSet":set,"RequestId":"r"}})
                .to_string(),
        )
    });
    let c = client(&stub);
    let req = DescribeNetworkInterfacesRequest::by_filters(vec![Filter::one("vpc-id", "vpc-1")]);
    let all = c.describe_all_network_interfaces(&req, 1000).unwrap();
    assert_eq!(all.len(), 250);
    assert_eq!(all[249].network_interface_id, "eni-249");
    let offsets: Vec<u64> = stub
        .requests()
        .iter()
        .map(|r| r.json()["Offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [0, 100, 200]);
    assert!(
        stub.requests()
            .iter()
            .all(|r| r.json()["Filters"][0]["Name"] == "vpc-id")
    );

    let e = c.describe_all_network_interfaces(&req, 150).unwrap_err();
    assert!(
        matches!(e, Error::TooManyResults { limit: 150, .. }),
        "{e:?}"
    );
}

#[test]
fn remaining_actions_send_their_names_and_fields() {
    let stub = Stub::start(|r| {
        Reply::json(match r.header("x-tc-action").unwrap() {
            "DescribeHaVips" => {
                r#"{"Response":{"TotalCount":1,"HaVipSet":[{"HaVipId":"havip-1","Vip":"10.0.1.9","NetworkInterfaceId":"eni-a","HaVipAssociationSet":null}],"RequestId":"r"}}"#
            }
            "DescribeAddresses" => {
                r#"{"Response":{"TotalCount":1,"AddressSet":[{"AddressId":"eip-1","AddressStatus":"BIND_ENI","PrivateAddressIp":"10.0.1.100"}],"RequestId":"r"}}"#
            }
            "AssignPrivateIpAddresses" => {
                r#"{"Response":{"PrivateIpAddressSet":[{"PrivateIpAddress":"10.0.1.100","State":"PENDING"}],"RequestId":"r"}}"#
            }
            _ => r#"{"Response":{"TaskId":"7","RequestId":"r"}}"#,
        })
    });
    let c = client(&stub);
    let h = c
        .describe_ha_vips(&DescribeHaVipsRequest {
            filters: vec![Filter::one("vip", "10.0.1.9")],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(h.ha_vip_set[0].network_interface_id, "eni-a");
    let a = c
        .describe_addresses(&DescribeAddressesRequest {
            address_ids: vec!["eip-1".into()],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(a.address_set[0].address_status, "BIND_ENI");
    let ip = Ipv4Addr::new(10, 0, 1, 100);
    let assigned = c
        .assign_private_ip_addresses(&AssignPrivateIpAddressesRequest {
            network_interface_id: "eni-a".into(),
            private_ip_addresses: vec![ip.into()],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(assigned.private_ip_address_set[0].ipv4(), Some(ip));
    c.unassign_private_ip_addresses(&UnassignPrivateIpAddressesRequest {
        network_interface_id: "eni-a".into(),
        private_ip_addresses: vec![ip.into()],
        instance_id: None,
    })
    .unwrap();
    let d = c
        .disassociate_address(&DisassociateAddressRequest {
            address_id: "eip-1".into(),
            reallocate_normal_public_ip: None,
        })
        .unwrap();
    assert_eq!(d.task_id, "7");

    let actions: Vec<String> = stub
        .requests()
        .iter()
        .map(|r| r.header("x-tc-action").unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        [
            "DescribeHaVips",
            "DescribeAddresses",
            "AssignPrivateIpAddresses",
            "UnassignPrivateIpAddresses",
            "DisassociateAddress"
        ]
    );
    let reqs = stub.requests();
    assert_eq!(
        reqs[0].json(),
        json!({"Filters":[{"Name":"vip","Values":["10.0.1.9"]}]})
    );
    assert_eq!(reqs[4].json(), json!({"AddressId":"eip-1"}));
}
