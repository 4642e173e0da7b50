use std::net::Ipv4Addr;

use fake_vpc::{FakeVpc, Fault, FaultSpec, Options, Topology};

use crate::util::*;

fn md(h: &fake_vpc::FakeVpcHandle, instance: &str, path: &str) -> Raw {
    get(h.addr(), &format!("/{instance}/latest/meta-data/{path}")).unwrap()
}

fn text(h: &fake_vpc::FakeVpcHandle, instance: &str, path: &str) -> String {
    let r = md(h, instance, path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.text()
}

#[test]
fn documented_paths_per_instance() {
    let h = start_default();
    assert_eq!(
        h.metadata_url("ins-node0001"),
        format!("{}/ins-node0001/latest/meta-data/", h.url())
    );
    assert_eq!(text(&h, "ins-node0001", "instance-id"), "ins-node0001");
    assert_eq!(text(&h, "ins-node0002", "instance-id"), "ins-node0002");
    assert_eq!(text(&h, "ins-node0001", "local-ipv4"), "198.18.1.11");
    assert_eq!(text(&h, "ins-node0002", "local-ipv4"), "198.18.1.12");
    assert_eq!(text(&h, "ins-node0001", "mac"), "52:54:00:00:01:11");
    assert_eq!(text(&h, "ins-node0001", "placement/region"), "ap-guangzhou");
    assert_eq!(text(&h, "ins-node0001", "placement/zone"), "ap-guangzhou-3");
    assert_eq!(text(&h, "ins-node0001", "instance-name"), "tcvip-node1");
    assert_eq!(
        text(&h, "ins-node0001", "network/interfaces/macs/"),
        "52:54:00:00:01:11/"
    );
    let nic = "network/interfaces/macs/52:54:00:00:01:11";
    assert_eq!(
        text(&h, "ins-node0001", &format!("{nic}/vpc-id")),
        "vpc-demo0001"
    );
    assert_eq!(
        text(&h, "ins-node0001", &format!("{nic}/subnet-id")),
        "subnet-demo0001"
    );
    assert_eq!(
        text(&h, "ins-node0001", &format!("{nic}/primary-local-ipv4")),
        "198.18.1.11"
    );
    assert_eq!(
        text(&h, "ins-node0001", &format!("{nic}/mac")),
        "52:54:00:00:01:11"
    );
    assert_eq!(
        text(&h, "ins-node0001", &format!("{nic}/local-ipv4s/")),
        "198.18.1.11/\n198.18.1.100/"
    );
    assert_eq!(
        text(
            &h,
            "ins-node0001",
            &format!("{nic}/local-ipv4s/198.18.1.11/subnet-mask")
        ),
        "255.255.255.0"
    );
    assert_eq!(
        text(
            &h,
            "ins-node0001",
            &format!("{nic}/local-ipv4s/198.18.1.11/gateway")
        ),
        "198.18.1.1"
    );
    assert_eq!(
        text(&h, "ins-node0001", "cam/security-credentials/"),
        "tcvip-demo-role"
    );
    assert!(text(&h, "ins-node0001", "").contains("instance-id"));
    // Not found: wrong role, a MAC of another instance, upper-case path, unknown instance.
    assert_eq!(
        md(&h, "ins-node0001", "cam/security-credentials/other-role").status,
        404
    );
    assert_eq!(
        md(
            &h,
            "ins-node0001",
            "network/interfaces/macs/52:54:00:00:01:12/vpc-id"
        )
        .status,
        404
    );
    assert_eq!(md(&h, "ins-node0001", "Instance-Id").status, 404);
    assert_eq!(md(&h, "ins-nope0001", "instance-id").status, 404);
    assert_eq!(md(&h, "ins-node0001", "public-ipv4").status, 404, "no EIP");
    // Without a prefix, a caller at 127.0.0.1 is nobody.
    assert_eq!(
        get(h.addr(), "/latest/meta-data/instance-id")
            .unwrap()
            .status,
        404
    );
    let last = h.metadata_requests().pop().unwrap();
    assert_eq!(
        (last.instance, last.path.as_str(), last.status),
        (None, "instance-id", 404)
    );
}

const LOOPBACK: &str = r#"
region = "ap-guangzhou"
[[vpc]]
id = "vpc-loop0001"
[[subnet]]
id = "subnet-loop0001"
vpc = "vpc-loop0001"
cidr_block = "127.0.0.0/24"
zone = "ap-guangzhou-3"
[[instance]]
id = "ins-loop0001"
name = "a"
zone = "ap-guangzhou-3"
vpc = "vpc-loop0001"
[[instance]]
id = "ins-loop0002"
name = "b"
zone = "ap-guangzhou-3"
vpc = "vpc-loop0001"
[[eni]]
id = "eni-loop0001"
mac = "52:54:00:00:00:11"
subnet = "subnet-loop0001"
primary_ip = "127.0.0.11"
instance = "ins-loop0001"
primary = true
[[eni]]
id = "eni-loop0002"
mac = "52:54:00:00:00:12"
subnet = "subnet-loop0001"
primary_ip = "127.0.0.12"
instance = "ins-loop0002"
primary = true
"#;

fn from(h: &fake_vpc::FakeVpcHandle, src: [u8; 4], path: &str) -> Raw {
    let mut s = connect_from(Ipv4Addr::from(src), h.addr()).unwrap();
    send_on(
        &mut s,
        format!("GET /latest/meta-data/{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap()
}

#[test]
fn callers_are_told_apart_by_source_address() {
    let h = FakeVpc::start(
        Topology::from_toml_str(LOOPBACK).unwrap(),
        Options::default(),
    )
    .unwrap();
    assert_eq!(
        from(&h, [127, 0, 0, 11], "instance-id").text(),
        "ins-loop0001"
    );
    assert_eq!(
        from(&h, [127, 0, 0, 12], "instance-id").text(),
        "ins-loop0002"
    );
    assert_eq!(from(&h, [127, 0, 0, 12], "local-ipv4").text(), "127.0.0.12");
    assert_eq!(from(&h, [127, 0, 0, 13], "instance-id").status, 404);
    // The explicit prefix wins over the source address.
    let mut s = connect_from(Ipv4Addr::new(127, 0, 0, 11), h.addr()).unwrap();
    let r = send_on(
        &mut s,
        b"GET /ins-loop0002/latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.text(), "ins-loop0002");

    let with_default = format!("metadata_default_instance = \"ins-loop0002\"\n{LOOPBACK}");
    let h = FakeVpc::start(
        Topology::from_toml_str(&with_default).unwrap(),
        Options::default(),
    )
    .unwrap();
    assert_eq!(
        from(&h, [127, 0, 0, 13], "instance-id").text(),
        "ins-loop0002"
    );
    assert_eq!(
        from(&h, [127, 0, 0, 11], "instance-id").text(),
        "ins-loop0001"
    );
}

#[test]
fn metadata_can_be_switched_off_and_faulted() {
    let h = start_default();
    h.set_metadata_available(false);
    assert!(get(h.addr(), "/ins-node0001/latest/meta-data/instance-id").is_err());
    // The API side is unaffected.
    assert_ok(&api(&h, "DescribeNetworkInterfaces", serde_json::json!({})));
    h.set_metadata_available(true);
    assert_eq!(text(&h, "ins-node0001", "instance-id"), "ins-node0001");
    h.inject(FaultSpec {
        action: Some("metadata".into()),
        count: 1,
        fault: Fault::Http500,
    });
    assert_eq!(md(&h, "ins-node0001", "instance-id").status, 500);
    assert_eq!(md(&h, "ins-node0001", "instance-id").status, 200);
}
