//! The operator's commands on a `kind = "havip"` VIP against fake-vpc: `tcvip eip associate |
//! disassociate` (HaVipAssociateAddressIp / HaVipDisassociateAddressIp, verified with
//! DescribeHaVips), `tcvip status --json`, `tcvip allocate` refusing a HAVIP, and doctor's
//! HAVIP checks.

use std::net::Ipv4Addr;
use std::time::Duration;

use fake_vpc::FakeVpcHandle;
use serde_json::Value;

use crate::doctor::{doctor, finding, healthy_conf, tcvip};
use crate::util::*;

/// The HAVIP's address.
const HAVIP_VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 200);

/// The two-node example with havip-demo0001 (198.18.1.200) bound to node 1, an unbound EIP
/// eip-demo0002 and eip-demo0003 on node 1's secondary IP.
fn topology(extra: &str) -> String {
    format!(
        "{}\n\
         [[eip]]\nid = \"eip-demo0002\"\nip = \"198.19.0.11\"\n\n\
         [[eip]]\nid = \"eip-demo0003\"\nip = \"198.19.0.12\"\neni = \"eni-node0001\"\nprivate_ip = \"198.18.1.100\"\n\n\
         [[havip]]\nid = \"havip-demo0001\"\nvip = \"198.18.1.200\"\nsubnet = \"subnet-demo0001\"\neni = \"eni-node0001\"\n\
         {extra}",
        example("two-nodes")
    )
}

/// A node whose one VIP is the HAVIP (on `lo`), with `more` appended to its `[[vip]]`.
fn havip_node(fake: &FakeVpcHandle, instance: &str, more: &str) -> Node {
    Node::new(
        fake,
        instance,
        &format!(
            "[[vip]]\naddress = \"{HAVIP_VIP}\"\nkind = \"havip\"\nhavip_id = \"havip-demo0001\"\ninterface = \"lo\"\n{more}"
        ),
    )
}

/// The HAVIP's EIP address as the simulator's DescribeHaVips shows it.
fn havip_address(node: &Node) -> String {
    let run = node.run("tcvip", &["status", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let v: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    v["vips"][0]["havip"]["address_ip"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn eip_of(fake: &FakeVpcHandle, id: &str) -> (String, Option<String>, Option<Ipv4Addr>) {
    let world = fake.world();
    let x = world.eips().iter().find(|x| x.id == id).unwrap();
    (x.status.as_str().to_owned(), x.havip.clone(), x.private_ip)
}

#[test]
fn eip_associate_on_a_havip_binds_by_address_verifies_and_is_idempotent() {
    let fake = start(&topology(""), Duration::from_millis(200));
    let node = havip_node(&fake, "ins-node0001", "");
    let run = node.run("tcvip", &["eip", "associate", "--eip", "eip-demo0002"]);
    assert_eq!(run.code, 0, "{run:?}");
    // HaVipAssociateAddressIp with the EIP's address (not its id), polled, then verified.
    let calls = fake.calls_of("HaVipAssociateAddressIp");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].params["HaVipId"], "havip-demo0001");
    assert_eq!(calls[0].params["AddressIp"], "198.19.0.11");
    assert!(!fake.calls_of("DescribeVpcTaskResult").is_empty());
    assert!(!fake.calls_of("DescribeHaVips").is_empty());
    assert!(fake.calls_of("AssociateAddress").is_empty());
    assert_eq!(
        eip_of(&fake, "eip-demo0002"),
        (
            "BIND".into(),
            Some("havip-demo0001".into()),
            Some(HAVIP_VIP)
        )
    );
    assert!(
        run.stdout.contains("eip = \"eip-demo0002\""),
        "{}",
        run.stdout
    );
    assert_eq!(havip_address(&node), "198.19.0.11");

    // Again: already there, no call.
    let again = node.run("tcvip", &["eip", "associate", "--eip", "eip-demo0002"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("already points at it"), "{again:?}");
    assert_eq!(fake.calls_of("HaVipAssociateAddressIp").len(), 1);

    // With the key set, show says ok.
    let node = havip_node(&fake, "ins-node0001", "eip = \"eip-demo0002\"\n");
    let show = node.run("tcvip", &["eip", "show", "--json"]);
    assert_eq!(show.code, 0, "{show:?}");
    let v: Value = serde_json::from_str(show.stdout.trim()).unwrap();
    assert_eq!(v["verdict"], "ok", "{v}");
    assert_eq!(v["havip_id"], "havip-demo0001");
    assert_eq!(v["holder_eni"], "eni-node0001");

    // Disassociate: HaVipDisassociateAddressIp, verified; then show says it is off.
    let run = node.run("tcvip", &["eip", "disassociate"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(fake.calls_of("HaVipDisassociateAddressIp").len(), 1);
    assert!(fake.calls_of("DisassociateAddress").is_empty());
    assert_eq!(eip_of(&fake, "eip-demo0002").0, "UNBIND");
    assert_eq!(havip_address(&node), "");
    let show = node.run("tcvip", &["eip", "show"]);
    assert_eq!(show.code, 1, "{show:?}");
    assert!(show.stdout.contains("NOT on the VIP"), "{}", show.stdout);
    assert!(
        show.stdout.starts_with(
            "198.18.1.200 (HAVIP havip-demo0001)
"
        ),
        "{}",
        show.stdout
    );
    // Nothing left to unbind: no call, said so.
    let run = node.run("tcvip", &["eip", "disassociate"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("no EIP is bound"), "{}", run.stdout);
    assert_eq!(fake.calls_of("HaVipDisassociateAddressIp").len(), 1);
}

#[test]
fn eip_associate_on_a_havip_refuses_an_eip_bound_elsewhere_and_a_wrong_havip() {
    let fake = start(&topology(""), Duration::from_millis(100));
    let node = havip_node(&fake, "ins-node0001", "");
    let run = node.run("tcvip", &["eip", "associate", "--eip", "eip-demo0003"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("bound elsewhere") && run.stderr.contains("198.18.1.100"),
        "{}",
        run.stderr
    );
    assert!(fake.calls_of("HaVipAssociateAddressIp").is_empty());
    assert!(fake.calls_of("DisassociateAddress").is_empty());
    assert_eq!(eip_of(&fake, "eip-demo0003").0, "BIND");

    // A HAVIP that has another EIP keeps it: refused, naming the unbind.
    let fake2 = start(
        &topology(
            "address_ip = \"198.19.0.11\"\n\n[[eip]]\nid = \"eip-demo0004\"\nip = \"198.19.0.13\"\n",
        ),
        Duration::from_millis(100),
    );
    let node2 = havip_node(&fake2, "ins-node0001", "");
    let run = node2.run("tcvip", &["eip", "associate", "--eip", "eip-demo0004"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("already has the EIP 198.19.0.11")
            && run.stderr.contains("tcvip eip disassociate"),
        "{}",
        run.stderr
    );
    assert!(fake2.calls_of("HaVipAssociateAddressIp").is_empty());
    assert!(fake2.calls_of("HaVipDisassociateAddressIp").is_empty());

    // A havip_id the cloud does not know: a configuration error naming the fix.
    let node = Node::new(
        &fake,
        "ins-node0001",
        &format!(
            "[[vip]]\naddress = \"{HAVIP_VIP}\"\nkind = \"havip\"\nhavip_id = \"havip-nothere1\"\n"
        ),
    );
    let run = node.run("tcvip", &["eip", "associate", "--eip", "eip-demo0002"]);
    assert_eq!(run.code, 78, "{run:?}");
    assert!(
        run.stderr.contains("havip-nothere1") && run.stderr.contains("havip_id"),
        "{}",
        run.stderr
    );
    assert!(fake.calls_of("HaVipAssociateAddressIp").is_empty());
}

#[test]
fn eip_associate_allocate_on_a_havip_buys_one_and_binds_it_to_the_havip() {
    let fake = start(&topology(""), Duration::from_millis(100));
    let node = havip_node(&fake, "ins-node0001", "");
    let run = node.run("tcvip", &["eip", "associate", "--allocate"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(fake.calls_of("AllocateAddresses").len(), 1);
    let calls = fake.calls_of("HaVipAssociateAddressIp");
    assert_eq!(calls.len(), 1, "{calls:?}");
    let address = calls[0].params["AddressIp"].as_str().unwrap().to_owned();
    assert_eq!(havip_address(&node), address);
    assert!(fake.calls_of("AssociateAddress").is_empty());
}

#[test]
fn status_json_shows_the_havip_its_holder_state_and_eip() {
    let fake = start(
        &topology("address_ip = \"198.19.0.11\"\n"),
        Duration::from_millis(100),
    );
    for (instance, here) in [("ins-node0001", true), ("ins-node0002", false)] {
        let node = havip_node(&fake, instance, "eip = \"eip-demo0002\"\n");
        let run = node.run("tcvip", &["status", "--json"]);
        assert_eq!(run.code, 0, "{run:?}");
        let v: Value = serde_json::from_str(run.stdout.trim()).unwrap();
        let vip = &v["vips"][0];
        assert_eq!(vip["kind"], "havip", "{vip}");
        assert_eq!(vip["here"], here, "{vip}");
        assert_eq!(vip["holder_eni"], "eni-node0001", "{vip}");
        let h = &vip["havip"];
        assert_eq!(h["id"], "havip-demo0001", "{h}");
        assert_eq!(h["bound"], true, "{h}");
        assert_eq!(h["state"], "AVAILABLE", "{h}");
        assert_eq!(h["instance"], "ins-node0001", "{h}");
        assert_eq!(h["flushed_time"], "never", "{h}");
        assert_eq!(h["address_ip"], "198.19.0.11", "{h}");
        assert_eq!(vip["eip"]["verdict"], "ok", "{vip}");
    }
}

#[test]
fn allocate_refuses_a_havip_vip_naming_the_console() {
    let fake = start(&topology(""), Duration::from_millis(100));
    let node = havip_node(&fake, "ins-node0001", "");
    let run = node.run("tcvip", &["allocate", "--ip", "198.18.1.200"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("havip-demo0001") && run.stderr.contains("HAVIP"),
        "{}",
        run.stderr
    );
    assert!(fake.calls_of("AssignPrivateIpAddresses").is_empty());
}

/// keepalived.conf's instance for the HAVIP on `lo`.
fn havip_instance() -> String {
    crate::doctor::healthy_instance().replace("198.18.1.100/32", "198.18.1.200/32")
}

#[test]
fn doctor_checks_a_havip_exists_has_the_address_and_is_in_this_subnet() {
    let fake = start(
        &format!(
            "{}\n[[subnet]]\nid = \"subnet-demo0002\"\nvpc = \"vpc-demo0001\"\ncidr_block = \"198.18.2.0/24\"\nzone = \"ap-guangzhou-3\"\n\n\
             [[havip]]\nid = \"havip-demo0002\"\nvip = \"198.18.2.200\"\nsubnet = \"subnet-demo0002\"\n",
            topology("")
        ),
        Duration::ZERO,
    );
    let node = havip_node(&fake, "ins-node0001", "");
    let run = doctor(&node, &healthy_conf(), &havip_instance(), "2.2.7", &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let f = finding(&run, "198.18.1.200: HAVIP havip-demo0001");
    assert!(
        f.contains("in this node's subnet subnet-demo0001") && f.contains("this node"),
        "{f}"
    );
    assert!(finding(&run, "vpc:DescribeHaVips").starts_with("ok"));
    // A havip-only config needs no MigratePrivateIpAddress.
    assert!(
        !run.stdout.contains("vpc:MigratePrivateIpAddress"),
        "{}",
        run.stdout
    );

    for (vip, havip, needle, fix) in [
        (
            "198.18.1.200",
            "havip-nothere1",
            "havip-nothere1 does not exist",
            "fix: create the HAVIP",
        ),
        (
            "198.18.1.201",
            "havip-demo0001",
            "havip-demo0001 has address 198.18.1.200, not 198.18.1.201",
            "fix: set havip_id",
        ),
        (
            "198.18.2.200",
            "havip-demo0002",
            "havip-demo0002 is in subnet subnet-demo0002, not this node's subnet-demo0001",
            "fix: ",
        ),
    ] {
        let node = Node::new(
            &fake,
            "ins-node0001",
            &format!(
                "[[vip]]\naddress = \"{vip}\"\nkind = \"havip\"\nhavip_id = \"{havip}\"\ninterface = \"lo\"\n"
            ),
        );
        let conf = havip_instance().replace("198.18.1.200/32", &format!("{vip}/32"));
        let run = doctor(&node, &healthy_conf(), &conf, "2.2.7", &[]);
        assert_eq!(run.code, 2, "{}", run.stdout);
        assert!(finding(&run, needle).contains(fix), "{}", run.stdout);
    }
}

#[test]
fn doctor_probes_the_havip_eip_actions_and_cam_policy_lists_them() {
    let fake = start(&topology("address_ip = \"198.19.0.11\"\n"), Duration::ZERO);
    let node = havip_node(&fake, "ins-node0001", "eip = \"eip-demo0002\"\n");
    fake.deny(&["HaVipAssociateAddressIp"]);
    let run = doctor(&node, &healthy_conf(), &havip_instance(), "2.2.7", &[]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let f = finding(&run, "vpc:HaVipAssociateAddressIp refused by CAM");
    assert!(f.contains("fix: grant vpc:HaVipAssociateAddressIp"), "{f}");
    assert!(finding(&run, "vpc:HaVipDisassociateAddressIp").starts_with("ok"));
    assert!(finding(&run, "eip-demo0002 is the EIP of havip-demo0001").starts_with("ok"));
    // An EIP that is not on the HAVIP: a warning naming `tcvip eip associate`.
    fake.clear_faults();
    let other = havip_node(&fake, "ins-node0001", "eip = \"eip-demo0003\"\n");
    let run = doctor(&other, &healthy_conf(), &havip_instance(), "2.2.7", &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = finding(&run, "eip-demo0003 is not the EIP of havip-demo0001");
    assert!(
        f.contains("\nwarn    eip") && f.contains("fix: `tcvip eip associate --vip 198.18.1.200`"),
        "{f}"
    );
    // The probes changed nothing.
    assert_eq!(
        eip_of(&fake, "eip-demo0002"),
        (
            "BIND".into(),
            Some("havip-demo0001".into()),
            Some(HAVIP_VIP)
        )
    );
    let policy = tcvip(&node, &["cam-policy"]);
    assert_eq!(policy.code, 0, "{policy:?}");
    let v: Value = serde_json::from_str(&policy.stdout).unwrap();
    let all = v["statement"].to_string();
    for action in [
        "vpc:DescribeHaVips",
        "vpc:HaVipAssociateAddressIp",
        "vpc:HaVipDisassociateAddressIp",
    ] {
        assert!(all.contains(action), "{action} missing: {all}");
    }
    assert!(!all.contains("vpc:MigratePrivateIpAddress"), "{all}");
    assert!(!all.contains("vpc:AssociateAddress\""), "{all}");
}

#[test]
fn doctor_warns_of_a_havip_bound_to_another_eni_of_this_instance() {
    let fake = start(
        &format!(
            "{}\n[[eni]]\nid = \"eni-node0001b\"\nmac = \"52:54:00:00:01:21\"\nsubnet = \"subnet-demo0001\"\n\
             primary_ip = \"198.18.1.21\"\nsecondary_ips = []\ninstance = \"ins-node0001\"\nprimary = false\n\n\
             [[havip]]\nid = \"havip-demo0003\"\nvip = \"198.18.1.201\"\nsubnet = \"subnet-demo0001\"\neni = \"eni-node0001b\"\n",
            example("two-nodes")
        ),
        Duration::ZERO,
    );
    let node = Node::new(
        &fake,
        "ins-node0001",
        "[[vip]]\naddress = \"198.18.1.201\"\nkind = \"havip\"\nhavip_id = \"havip-demo0003\"\ninterface = \"lo\"\n",
    );
    let conf = havip_instance().replace("198.18.1.200/32", "198.18.1.201/32");
    let run = doctor(&node, &healthy_conf(), &conf, "2.2.7", &[]);
    let needle = "havip-demo0003 is bound to eni-node0001b, another ENI of this instance than the node's eni-node0001";
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("warn") && l.contains(needle)),
        "{}",
        run.stdout
    );
    assert!(
        finding(&run, needle).contains("fix: set node.eni_id = \"eni-node0001b\""),
        "{}",
        run.stdout
    );
}
