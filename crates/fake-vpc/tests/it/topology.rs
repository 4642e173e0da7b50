use fake_vpc::{FakeVpc, Options, Topology, TopologyError};

use crate::util::*;

#[test]
fn examples_load_and_describe_the_demo() {
    let t = two_nodes();
    assert_eq!(t.region, "ap-guangzhou");
    assert_eq!(t.vpcs[0].id, "vpc-demo0001");
    assert_eq!(t.subnets[0].cidr_block, "198.18.1.0/24");
    assert_eq!(t.keys[0].secret_id, DEMO_ID);
    assert_eq!(t.keys[0].secret_key, DEMO_KEY);
    assert!(
        t.instances
            .iter()
            .all(|i| i.role.as_deref() == Some("tcvip-demo-role"))
    );
    let h = start_default();
    assert_eq!(h.holder_of(VIP).as_deref(), Some("eni-node0001"));
    let three = Topology::load(format!(
        "{}/examples/three-nodes.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert_eq!(three.instances.len(), 3);
    let h = FakeVpc::start(three, Options::default()).unwrap();
    assert_eq!(
        get(h.addr(), "/ins-node0003/latest/meta-data/local-ipv4")
            .unwrap()
            .text(),
        "198.18.1.13"
    );
    // Debug output never shows the key.
    assert!(!format!("{:?}", two_nodes()).contains(DEMO_KEY));
}

fn invalid(extra: &str) -> String {
    let text = format!("{}\n{extra}", include_str!("../../examples/two-nodes.toml"));
    match Topology::from_toml_str(&text) {
        Err(e @ TopologyError::Invalid { .. }) | Err(e @ TopologyError::Parse(_)) => e.to_string(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn invalid_topologies_are_refused_naming_the_entry() {
    let eni =
        |body: &str| format!("[[eni]]\nid = \"eni-node0003\"\nmac = \"52:54:00:00:01:13\"\n{body}");
    assert_eq!(
        invalid(&eni(
            "subnet = \"subnet-x\"\nprimary_ip = \"198.18.1.13\"\n"
        )),
        "eni[2] (eni-node0003): subnet \"subnet-x\" is not defined"
    );
    assert!(
        invalid(&eni(
            "subnet = \"subnet-demo0001\"\nprimary_ip = \"198.18.2.13\"\n"
        ))
        .starts_with("eni[2] (eni-node0003): primary_ip 198.18.2.13 is outside subnet")
    );
    assert!(
        invalid(&eni("subnet = \"subnet-demo0001\"\nprimary_ip = \"198.18.1.13\"\nsecondary_ips = [\"198.18.1.100\"]\n"))
            .contains("IP 198.18.1.100 is already held by eni[0] (eni-node0001)")
    );
    assert_eq!(
        invalid(&eni(
            "subnet = \"subnet-demo0001\"\nprimary_ip = \"198.18.1.13\"\ninstance = \"ins-x\"\n"
        )),
        "eni[2] (eni-node0003): instance \"ins-x\" is not defined"
    );
    assert!(
        invalid(&eni("subnet = \"subnet-demo0001\"\nprimary_ip = \"198.18.1.13\"\ninstance = \"ins-node0001\"\nprimary = true\n"))
            .contains("instance ins-node0001 already has a primary ENI")
    );
    assert!(invalid("[[instance]]\nid = \"ins-node0001\"\nname = \"x\"\nzone = \"z\"\nvpc = \"vpc-demo0001\"\n")
        .starts_with("instance[2] (ins-node0001): id \"ins-node0001\" is defined twice"));
    assert!(
        invalid(&eni(
            "subnet = \"subnet-demo0001\"\nprimary_ip = \"198.18.1.13\"\ncolour = \"red\"\n"
        ))
        .contains("colour")
    );
    assert!(invalid("[[eip]]\nid = \"eip-x0001\"\nip = \"198.19.0.1\"\neni = \"eni-node0002\"\nprivate_ip = \"198.18.1.100\"\n")
        .contains("eip[0] (eip-x0001): private_ip 198.18.1.100 is not held by eni-node0002"));
    assert!(
        invalid(
            "[[key]]\nsecret_id = \"AKIDTCVIPDEMO00000000000000000000000\"\nsecret_key = \"x\"\n"
        )
        .contains("key[1] (AKIDTCVIPDEMO00000000000000000000000): secret_id is defined twice")
    );
    let err = Topology::load("/nonexistent/topology.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/topology.toml"), "{err}");
}
