//! `tcvip allocate | eip | drain | undrain | status` against the simulated cloud, and the EIP
//! hooks of vip-migrate and check-self under both behaviours of an EIP on a migrated IP.

use std::net::Ipv4Addr;
use std::time::Duration;

use fake_vpc::{EipOnMigrate, FakeVpcHandle};
use vip_state::KeepalivedState;

use crate::util::*;

/// Two EIPs: eip-demo0001 on the VIP (node 1), eip-demo0002 unbound.
const EIPS: &str = "
[[eip]]
id = \"eip-demo0001\"
ip = \"198.19.0.10\"
eni = \"eni-node0001\"
private_ip = \"198.18.1.100\"

[[eip]]
id = \"eip-demo0002\"
ip = \"198.19.0.11\"
";

/// The EIP `id` as the simulator has it: (status, eni, private ip).
fn eip_state(fake: &FakeVpcHandle, id: &str) -> (String, Option<String>, Option<Ipv4Addr>) {
    let world = fake.world();
    let x = world.eips().iter().find(|x| x.id == id).unwrap();
    (x.status.as_str().to_owned(), x.eni.clone(), x.private_ip)
}

/// A node config without any `[[vip]]` (step 1: nothing allocated yet).
fn node_without_vip(fake: &FakeVpcHandle, instance: &str) -> Node {
    let node = Node::new(fake, instance, "");
    let text = std::fs::read_to_string(&node.config).unwrap();
    let text = text.replace(&format!("[[vip]]\naddress = \"{VIP}\"\n"), "");
    assert!(!text.contains("[[vip]]"));
    std::fs::write(&node.config, text).unwrap();
    node
}

#[test]
fn allocate_assigns_a_new_address_waits_for_it_and_prints_a_vip_block() {
    let fake = start(&example("two-nodes"), Duration::from_millis(400));
    let node = node_without_vip(&fake, "ins-node0002");
    let run = node.run("tcvip", &["allocate"]);
    assert_eq!(run.code, 0, "{run:?}");
    // stdout is valid TOML with one [[vip]] whose address the cloud now has on this ENI.
    let parsed: toml::Table = toml::from_str(&run.stdout).unwrap();
    let vips = parsed["vip"].as_array().unwrap();
    assert_eq!(vips.len(), 1, "{}", run.stdout);
    let ip: Ipv4Addr = vips[0]["address"].as_str().unwrap().parse().unwrap();
    assert_eq!(fake.holder_of(ip).as_deref(), Some("eni-node0002"));
    assert_eq!(fake.ip_state(ip), Some(fake_vpc::IpState::Available));
    assert!(run.stdout.contains("AVAILABLE"), "{}", run.stdout);
    assert_eq!(fake.calls_of("AssignPrivateIpAddresses").len(), 1);
    // It waited for the landing: the address was looked at more than once.
    assert!(fake.calls_of("DescribeNetworkInterfaces").len() >= 2);
}

#[test]
fn allocate_an_exact_address_and_refuse_a_taken_one_naming_its_holder() {
    let fake = start(&example("two-nodes"), Duration::from_millis(100));
    let node = node_without_vip(&fake, "ins-node0002");
    let run = node.run("tcvip", &["allocate", "--ip", "198.18.1.100"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("198.18.1.100 is taken")
            && run.stderr.contains("eni-node0001")
            && run.stderr.contains("ins-node0001"),
        "{}",
        run.stderr
    );
    assert!(fake.calls_of("AssignPrivateIpAddresses").is_empty());

    let dry = node.run("tcvip", &["allocate", "--ip", "198.18.1.150", "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(fake.calls_of("AssignPrivateIpAddresses").is_empty());
    assert_eq!(fake.holder_of(Ipv4Addr::new(198, 18, 1, 150)), None);

    let run = node.run("tcvip", &["allocate", "--ip", "198.18.1.150"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("[[vip]]\naddress = \"198.18.1.150\""),
        "{}",
        run.stdout
    );
    assert_eq!(
        fake.holder_of(Ipv4Addr::new(198, 18, 1, 150)).as_deref(),
        Some("eni-node0002")
    );
    // Again: already here, nothing written.
    let again = node.run("tcvip", &["allocate", "--ip", "198.18.1.150"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again.stdout.contains("already on eni-node0002"),
        "{}",
        again.stdout
    );
    assert_eq!(fake.calls_of("AssignPrivateIpAddresses").len(), 1);
}

#[test]
fn allocate_on_a_full_eni_names_the_quota() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    fake.with_world(|w| {
        for i in 0..20 {
            w.add_secondary_ip("eni-node0002", Ipv4Addr::new(198, 18, 1, 120 + i))
                .unwrap();
        }
    });
    let node = node_without_vip(&fake, "ins-node0002");
    let run = node.run("tcvip", &["allocate"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("quota") && run.stderr.contains("holds 21"),
        "{}",
        run.stderr
    );
}

/// node 2 with the VIP's EIP configured, MASTER recorded, after vip-migrate.
fn migrate_with_eip(policy: EipOnMigrate) -> (FakeVpcHandle, Node, Run) {
    let fake = start(
        &format!("{}\n{EIPS}", example("two-nodes")),
        Duration::from_millis(200),
    );
    fake.with_world(|w| w.set_eip_on_migrate(policy));
    let node = Node::new(
        &fake,
        "ins-node0002",
        &format!("[[vip]]\naddress = \"{VIP}\"\neip = \"eip-demo0001\"\n"),
    );
    node.record("default", KeepalivedState::Master);
    let run = node.run("vip-migrate", &[]);
    (fake, node, run)
}

#[test]
fn vip_migrate_leaves_an_eip_that_followed_the_move_alone() {
    let (fake, _node, run) = migrate_with_eip(EipOnMigrate::Follow);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));
    assert_eq!(
        eip_state(&fake, "eip-demo0001"),
        ("BIND".into(), Some("eni-node0002".into()), Some(VIP))
    );
    assert!(fake.calls_of("AssociateAddress").is_empty());
    assert!(run.stdout.contains("points at it"), "{}", run.stdout);
}

#[test]
fn vip_migrate_binds_a_dropped_eip_again_after_the_move() {
    let (fake, node, run) = migrate_with_eip(EipOnMigrate::Drop);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));
    assert_eq!(
        eip_state(&fake, "eip-demo0001"),
        ("BIND".into(), Some("eni-node0002".into()), Some(VIP))
    );
    let calls = fake.calls_of("AssociateAddress");
    assert_eq!(calls.len(), 1);
    assert!(run.stdout.contains("bound again"), "{}", run.stdout);
    assert!(node.log_text().contains("eip_rebound"));
    // The task was polled, and the binding verified.
    assert!(!fake.calls_of("DescribeTaskResult").is_empty());
}

#[test]
fn vip_migrate_binds_no_eip_once_the_node_is_no_longer_master() {
    let fake = start(&format!("{}\n{EIPS}", example("two-nodes")), Duration::ZERO);
    fake.with_world(|w| {
        w.set_eip_on_migrate(EipOnMigrate::Drop);
    });
    // The VIP is here already, its EIP dropped; the record says BACKUP.
    let node = Node::new(
        &fake,
        "ins-node0001",
        &format!("[[vip]]\naddress = \"{VIP}\"\neip = \"eip-demo0002\"\n"),
    );
    node.record("default", KeepalivedState::Backup);
    let run = node.run("vip-migrate", &[]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(fake.calls_of("AssociateAddress").is_empty());
    assert_eq!(eip_state(&fake, "eip-demo0002").0, "UNBIND");
}

#[test]
fn eip_associate_show_disassociate_round_trip() {
    let fake = start(
        &format!(
            "{}\n{}",
            example("two-nodes"),
            &EIPS[EIPS.find("\n[[eip]]\nid = \"eip-demo0002").unwrap()..]
        ),
        Duration::from_millis(200),
    );
    let node = Node::new(&fake, "ins-node0001", "");
    let show = node.run("tcvip", &["eip", "show"]);
    assert_eq!(show.code, 0, "{show:?}");
    assert!(
        show.stdout.contains("none bound (none configured)"),
        "{}",
        show.stdout
    );

    let run = node.run("tcvip", &["eip", "associate", "--eip", "eip-demo0002"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        eip_state(&fake, "eip-demo0002"),
        ("BIND".into(), Some("eni-node0001".into()), Some(VIP))
    );
    assert!(
        run.stdout.contains("eip = \"eip-demo0002\""),
        "{}",
        run.stdout
    );
    assert!(!fake.calls_of("DescribeTaskResult").is_empty());

    // With the key set: show says ok; status shows it.
    let text = std::fs::read_to_string(&node.config).unwrap().replace(
        &format!("address = \"{VIP}\"\n"),
        &format!("address = \"{VIP}\"\neip = \"eip-demo0002\"\n"),
    );
    std::fs::write(&node.config, text).unwrap();
    let show = node.run("tcvip", &["eip", "show"]);
    assert_eq!(show.code, 0, "{show:?}");
    assert!(
        show.stdout.contains("configured eip-demo0002: ok"),
        "{}",
        show.stdout
    );
    let json = node.run("tcvip", &["eip", "show", "--json"]);
    let v: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(v["verdict"], "ok");
    assert_eq!(v["bound"]["address_id"], "eip-demo0002");

    let run = node.run("tcvip", &["eip", "disassociate"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        eip_state(&fake, "eip-demo0002"),
        ("UNBIND".into(), None, None)
    );
    let show = node.run("tcvip", &["eip", "show"]);
    assert_eq!(show.code, 1, "{show:?}");
    assert!(show.stdout.contains("NOT on the VIP"), "{}", show.stdout);

    // An EIP bound to another address is not taken.
    fake.with_world(|w| {
        w.add_secondary_ip("eni-node0002", Ipv4Addr::new(198, 18, 1, 150))
            .unwrap()
    });
    let node2 = Node::new(
        &fake,
        "ins-node0002",
        "[[vip]]\naddress = \"198.18.1.150\"\n",
    );
    assert_eq!(
        node2
            .run("tcvip", &["eip", "associate", "--eip", "eip-demo0002"])
            .code,
        0
    );
    let run = node.run("tcvip", &["eip", "associate"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("bound elsewhere") && run.stderr.contains("198.18.1.150"),
        "{}",
        run.stderr
    );
}

#[test]
fn check_self_as_master_repairs_a_dropped_eip_once_per_ttl() {
    let topology = format!(
        "{}\n[[eip]]\nid = \"eip-lo000001\"\nip = \"198.19.0.10\"\n",
        loopback_topology("eni-lo000001")
    );
    let fake = start(&topology, Duration::from_millis(100));
    let node = Node::new(
        &fake,
        "ins-lo000001",
        "[[vip]]\naddress = \"126.0.1.100\"\ninterface = \"tcvnone0\"\neip = \"eip-lo000001\"\n\n\
         [check]\ncloud_ttl_s = 60\nremove_stray_vip = false\n",
    );
    let _detached = Detached(&node);
    node.record("default", KeepalivedState::Master);
    let run = node.run("check-self", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        fake.wait_until(Duration::from_secs(30), |w| {
            w.eips().iter().any(|x| {
                x.id == "eip-lo000001"
                    && x.status.as_str() == "BIND"
                    && x.eni.as_deref() == Some("eni-lo000001")
            })
        }),
        "{}",
        node.log_text()
    );
    wait_detached(&node, Duration::from_secs(30));
    assert_eq!(fake.calls_of("AssociateAddress").len(), 1);
    // The repair left a fresh view: the next checks ask the cloud nothing about the EIP.
    let before = fake.calls_of("DescribeAddresses").len();
    for _ in 0..2 {
        assert_eq!(node.run("check-self", &[]).code, 0);
    }
    assert_eq!(fake.calls_of("DescribeAddresses").len(), before);
    assert_eq!(fake.calls_of("AssociateAddress").len(), 1);
}

#[test]
fn drain_fails_check_self_until_undrain_and_shows_in_status() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(&fake, "ins-node0001", "");
    // The harness gives every node its own drain file.
    let drain_file = node.dir.path().join("drain");
    let text = format!(
        "{}\n[check]\nremove_stray_vip = false\n",
        std::fs::read_to_string(&node.config).unwrap(),
    );
    std::fs::write(&node.config, text).unwrap();
    // Nothing recorded: check-self passes.
    assert_eq!(node.run("check-self", &[]).code, 0);
    let status = node.run("tcvip", &["status"]);
    assert!(status.stdout.contains("drain: no"), "{status:?}");

    let run = node
        .command("tcvip")
        .args(["drain", "--reason", "kernel update"])
        .env("USER", "root")
        .env("SUDO_USER", "alice")
        .output()
        .unwrap();
    let run = Run::from(run);
    assert_eq!(run.code, 0, "{run:?}");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&drain_file).unwrap()).unwrap();
    assert_eq!(record["reason"], "kernel update");
    assert_eq!(record["by"], "alice (as root)");
    assert!(record["since_ms"].as_u64().unwrap() > 0);

    let check = node.run("check-self", &[]);
    assert_eq!(check.code, 1, "{check:?}");
    let reason = node.state().read_check().value.unwrap().reason;
    assert!(
        reason.contains("drained")
            && reason.contains("kernel update")
            && reason.contains("tcvip undrain"),
        "{reason}"
    );
    let query = node.run("vip-query", &["--status"]);
    assert!(
        query.stdout.contains("drain: drained since") && query.stdout.contains("kernel update"),
        "{query:?}"
    );
    let json = node.run("tcvip", &["status", "--json"]);
    assert_eq!(json.code, 0, "{json:?}");
    let v: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(v["drain"]["reason"], "kernel update");
    assert_eq!(v["vips"][0]["here"], true);
    assert_eq!(v["vips"][0]["holder_eni"], "eni-node0001");

    let run = node.run("tcvip", &["undrain"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!drain_file.exists());
    assert_eq!(node.run("check-self", &[]).code, 0);
    let json = node.run("tcvip", &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert!(v["drain"].is_null());
    // Undrained twice is fine.
    assert_eq!(node.run("tcvip", &["undrain"]).code, 0);
}

#[test]
fn eip_associate_allocate_buys_a_new_eip_and_binds_it() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = Node::new(&fake, "ins-node0001", "");
    let run = node.run("tcvip", &["eip", "associate", "--allocate"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(fake.calls_of("AllocateAddresses").len(), 1);
    let world = fake.world();
    let eips = world.eips();
    assert_eq!(eips.len(), 1);
    let x = &eips[0];
    assert_eq!(
        (x.status.as_str(), x.eni.as_deref(), x.private_ip),
        ("BIND", Some("eni-node0001"), Some(VIP))
    );
    assert!(
        run.stdout
            .contains(&format!("allocated {} ({})", x.ip, x.id)),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("eip = \"{}\"", x.id)),
        "{}",
        run.stdout
    );
    drop(world);
    // With nobody holding the VIP nothing is bought.
    fake.with_world(|w| w.remove_secondary_ip(VIP).unwrap());
    let run = node.run("tcvip", &["eip", "associate", "--allocate"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("assigned to no ENI"), "{}", run.stderr);
    assert_eq!(fake.calls_of("AllocateAddresses").len(), 1);
}

#[test]
fn tcvip_usage_and_configuration_errors_have_their_codes() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(&fake, "ins-node0001", "");
    assert_eq!(node.run("tcvip", &["frobnicate"]).code, 2);
    assert_eq!(node.run("tcvip", &["allocate", "--count", "11"]).code, 2);
    let run = node.run("tcvip", &["eip", "associate"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("give --eip eip-") && run.stderr.contains("eip = "),
        "{}",
        run.stderr
    );
    let run = node.run("tcvip", &["eip", "associate", "--eip", "10.0.0.1"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("an EIP id like"), "{}", run.stderr);
    assert!(fake.calls_of("AssociateAddress").is_empty());
    // A broken tcvip.toml is 78, for every subcommand, allocate included.
    let text = std::fs::read_to_string(&node.config).unwrap();
    std::fs::write(&node.config, format!("{text}\n[failover]\ndeadline = 5\n")).unwrap();
    for args in [
        &["allocate"][..],
        &["drain"],
        &["undrain"],
        &["status"],
        &["eip", "show"],
    ] {
        let run = node.run("tcvip", args);
        assert_eq!(run.code, 78, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains("failover.deadline"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn drain_wait_returns_once_the_peer_has_the_vip_and_gives_up_at_its_deadline() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(&fake, "ins-node0001", "");
    node.record("default", KeepalivedState::Master);
    // Nothing hands over: exit 3, naming what is missing.
    let run = node.run("tcvip", &["drain", "--wait", "--deadline-s", "2"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("still MASTER")
            && run.stderr.contains("still on this node's ENI eni-node0001"),
        "{}",
        run.stderr
    );
    // keepalived leaves MASTER and the peer takes the VIP while it waits.
    let mut child = node
        .command("tcvip")
        .args(["drain", "--wait", "--deadline-s", "60"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "returned before the handover"
    );
    node.record("default", KeepalivedState::Fault);
    fake.with_world(|w| {
        w.remove_secondary_ip(VIP).unwrap();
        w.add_secondary_ip("eni-node0002", VIP).unwrap();
    });
    assert!(wait_for(Duration::from_secs(20), || child
        .try_wait()
        .unwrap()
        .is_some()));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("handed over after"));
}
