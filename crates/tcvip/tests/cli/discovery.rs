//! Identity discovery against the in-process fake VPC (API + metadata service on loopback):
//! what is learned from where, that configuration and the cache save calls, and that a failure
//! names the key to set.

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::time::Duration;

use fake_vpc::{FakeVpc, FakeVpcHandle, Options, Topology};
use tcvip::config::Config;
use tcvip::discovery::{Discoverer, DiscoveryError, FactSource, IDENTITY_CACHE, Identity};
use vip_state::StateDir;

const SECRET_ID: &str = "AKIDTCVIPDEMO00000000000000000000000";
const SECRET_KEY: &str = "tcvipDemoSecretKey00000000000000";
const NODE1_MAC: &str = "52:54:00:00:01:11";

fn start() -> FakeVpcHandle {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fake-vpc/examples/two-nodes.toml");
    FakeVpc::start(Topology::load(path).unwrap(), Options::default()).unwrap()
}

/// A configuration pointing at the simulator, as node `instance` sees it, with `extra` TOML.
fn config(fake: &FakeVpcHandle, instance: &str, extra: &str) -> Config {
    let text = format!(
        "[cloud]\nendpoint = \"{}\"\n\
         [metadata]\nurl = \"{}\"\n\
         [credentials]\nsource = \"file\"\nsecret_id = \"{SECRET_ID}\"\nsecret_key = \"{SECRET_KEY}\"\n\
         {extra}",
        fake.url(),
        fake.metadata_url(instance)
    );
    let text = if text.contains("[[vip]]") {
        text
    } else {
        format!("{text}\n[[vip]]\naddress = \"198.18.1.100\"\n")
    };
    Config::from_toml_str(&text, Path::new("/test/tcvip.toml")).unwrap()
}

/// A /sys/class/net stand-in: `lo` and `eth0` with `mac` (written lower-case, as the kernel does).
fn sysfs(mac: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, addr, physical) in [("lo", "00:00:00:00:00:00", false), ("eth0", mac, true)] {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).unwrap();
        std::fs::write(
            d.join("address"),
            format!("{}\n", addr.to_ascii_lowercase()),
        )
        .unwrap();
        if physical {
            std::fs::create_dir(d.join("device")).unwrap();
        }
    }
    dir
}

fn state_dir() -> (tempfile::TempDir, StateDir) {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path().join("state")).unwrap();
    (dir, state)
}

fn source_of(d: &tcvip::discovery::Discovery, name: &str) -> Option<FactSource> {
    d.facts.iter().find(|f| f.name == name).map(|f| f.source)
}

#[test]
fn learns_every_fact_from_metadata_the_api_and_sysfs() {
    let fake = start();
    let cfg = config(&fake, "ins-node0001", "");
    let sys = sysfs(NODE1_MAC);
    let d = Discoverer::new(&cfg)
        .with_sys_class_net(sys.path())
        .discover()
        .unwrap();
    let id = &d.identity;
    assert_eq!(id.instance_id.as_str(), "ins-node0001");
    assert_eq!(id.region.as_str(), "ap-guangzhou");
    assert_eq!(id.zone.as_deref(), Some("ap-guangzhou-3"));
    assert_eq!(id.vpc_id.as_str(), "vpc-demo0001");
    assert_eq!(
        id.subnet_id.as_ref().map(|s| s.as_str()),
        Some("subnet-demo0001")
    );
    assert_eq!(id.mac.as_ref().map(|m| m.as_str()), Some(NODE1_MAC));
    assert_eq!(id.primary_ipv4, Some(Ipv4Addr::new(198, 18, 1, 11)));
    assert_eq!(id.eni_id.as_str(), "eni-node0001");
    assert_eq!(id.interface.as_deref(), Some("eth0"));
    assert_eq!(id.interface_for(&cfg.vips[0]), Some("eth0"));

    assert_eq!(source_of(&d, "instance_id"), Some(FactSource::Metadata));
    assert_eq!(source_of(&d, "eni_id"), Some(FactSource::Api));
    assert_eq!(source_of(&d, "interface"), Some(FactSource::Sysfs));
    assert_eq!(d.discovered().count(), d.facts.len());

    // One DescribeNetworkInterfaces, filtered by the instance (and its VPC).
    let calls = fake.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].action, "DescribeNetworkInterfaces");
    assert_eq!(calls[0].outcome, "OK");
    let filters = calls[0].params["Filters"].to_string();
    assert!(
        filters.contains("attachment.instance-id") && filters.contains("ins-node0001"),
        "{filters}"
    );
    assert!(filters.contains("vpc-demo0001"), "{filters}");
}

#[test]
fn the_other_node_finds_its_own_eni() {
    let fake = start();
    let cfg = config(&fake, "ins-node0002", "");
    let sys = sysfs("52:54:00:00:01:12");
    let d = Discoverer::new(&cfg)
        .with_sys_class_net(sys.path())
        .discover()
        .unwrap();
    assert_eq!(d.identity.eni_id.as_str(), "eni-node0002");
    assert_eq!(d.identity.primary_ipv4, Some(Ipv4Addr::new(198, 18, 1, 12)));
}

#[test]
fn a_warm_cache_makes_no_call_at_all() {
    let fake = start();
    let cfg = config(&fake, "ins-node0001", "");
    let sys = sysfs(NODE1_MAC);
    let (_tmp, state) = state_dir();
    let first = Discoverer::new(&cfg)
        .with_state_dir(&state)
        .with_sys_class_net(sys.path())
        .discover()
        .unwrap();
    let cached = state
        .read_cache::<Identity>(IDENTITY_CACHE)
        .value
        .expect("identity cached");
    assert_eq!(cached.value.eni_id.as_str(), "eni-node0001");
    assert_eq!(
        cached.value.interface, None,
        "the interface is found afresh, never cached"
    );

    fake.clear_calls();
    let second = Discoverer::new(&cfg)
        .with_state_dir(&state)
        .with_sys_class_net(sys.path())
        .discover()
        .unwrap();
    assert_eq!(second.identity, first.identity);
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    assert!(
        fake.metadata_requests().is_empty(),
        "{:?}",
        fake.metadata_requests()
    );
    assert_eq!(source_of(&second, "eni_id"), Some(FactSource::Cache));
    assert_eq!(
        second.discovered().map(|f| f.name).collect::<Vec<_>>(),
        ["interface"]
    );

    // refresh(true) asks again.
    let third = Discoverer::new(&cfg)
        .with_state_dir(&state)
        .with_sys_class_net(sys.path())
        .refresh(true)
        .discover()
        .unwrap();
    assert_eq!(third.identity, first.identity);
    assert_eq!(fake.calls_of("DescribeNetworkInterfaces").len(), 1);
}

#[test]
fn a_cache_for_another_instance_is_ignored() {
    let fake = start();
    let (_tmp, state) = state_dir();
    let sys = sysfs(NODE1_MAC);
    let cfg1 = config(&fake, "ins-node0001", "");
    Discoverer::new(&cfg1)
        .with_state_dir(&state)
        .with_sys_class_net(sys.path())
        .discover()
        .unwrap();

    // The disk was cloned to node 2, whose config names its instance.
    let sys2 = sysfs("52:54:00:00:01:12");
    let cfg2 = config(
        &fake,
        "ins-node0002",
        "[node]\ninstance_id = \"ins-node0002\"\n",
    );
    let d = Discoverer::new(&cfg2)
        .with_state_dir(&state)
        .with_sys_class_net(sys2.path())
        .discover()
        .unwrap();
    assert_eq!(d.identity.eni_id.as_str(), "eni-node0002");
    assert!(
        d.warnings.iter().any(|w| w.contains("ins-node0001")),
        "{:?}",
        d.warnings
    );
}

#[test]
fn configured_facts_are_never_looked_up() {
    let fake = start();
    let text = format!(
        "[cloud]\nendpoint = \"{}\"\nregion = \"ap-guangzhou\"\n\
         [metadata]\nurl = \"{}\"\n\
         [node]\ninstance_id = \"ins-node0001\"\neni_id = \"eni-node0001\"\nvpc_id = \"vpc-demo0001\"\n\
         [[vip]]\naddress = \"198.18.1.100\"\ninterface = \"eth7\"\n",
        fake.url(),
        fake.metadata_url("ins-node0001")
    );
    let cfg = Config::from_toml_str(&text, Path::new("/test/tcvip.toml")).unwrap();
    let d = Discoverer::new(&cfg)
        .with_sys_class_net("/nonexistent")
        .discover()
        .unwrap();
    assert!(fake.calls().is_empty() && fake.metadata_requests().is_empty());
    assert_eq!(d.identity.eni_id.as_str(), "eni-node0001");
    assert_eq!(d.identity.mac, None);
    assert_eq!(d.identity.interface, None);
    assert_eq!(d.identity.interface_for(&cfg.vips[0]), Some("eth7"));
    assert!(
        d.facts.iter().all(|f| f.source == FactSource::Config),
        "{:?}",
        d.facts
    );
    assert_eq!(d.discovered().count(), 0);
}

#[test]
fn a_configured_eni_saves_the_api_call() {
    let fake = start();
    let cfg = config(&fake, "ins-node0001", "[node]\neni_id = \"eni-node0001\"\n");
    let sys = sysfs(NODE1_MAC);
    let d = Discoverer::new(&cfg)
        .with_sys_class_net(sys.path())
        .discover()
        .unwrap();
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    assert!(!fake.metadata_requests().is_empty());
    assert_eq!(source_of(&d, "eni_id"), Some(FactSource::Config));
    assert_eq!(d.identity.interface.as_deref(), Some("eth0"));
}

#[test]
fn unreachable_metadata_names_the_key_to_set() {
    let fake = start();
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = format!(
        "[cloud]\nendpoint = \"{}\"\n[metadata]\nurl = \"http://127.0.0.1:{port}/latest/meta-data/\"\n\
         [[vip]]\naddress = \"198.18.1.100\"\n",
        fake.url()
    );
    let cfg = Config::from_toml_str(&text, Path::new("/test/tcvip.toml")).unwrap();
    let e = Discoverer::new(&cfg)
        .with_sys_class_net("/nonexistent")
        .discover()
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, DiscoveryError::Metadata { .. }), "{msg}");
    assert!(
        msg.contains("set node.instance_id") && msg.contains("metadata.url"),
        "{msg}"
    );
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
}

#[test]
fn a_silent_metadata_service_times_out_and_names_the_key() {
    let fake = start();
    // Accepts connections (the kernel backlog) but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let text = format!(
        "[cloud]\nendpoint = \"{}\"\n[metadata]\nurl = \"http://127.0.0.1:{port}/latest/meta-data/\"\n\
         [node]\ninstance_id = \"ins-node0001\"\n[[vip]]\naddress = \"198.18.1.100\"\n",
        fake.url()
    );
    let cfg = Config::from_toml_str(&text, Path::new("/test/tcvip.toml")).unwrap();
    let start = std::time::Instant::now();
    let e = Discoverer::new(&cfg)
        .with_sys_class_net("/nonexistent")
        .discover()
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("timed out") && msg.contains("set cloud.region"),
        "{msg}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "bounded by the metadata timeout"
    );
}

#[test]
fn an_eni_without_the_mac_is_a_clear_error() {
    let fake = start();
    // Node 1's metadata (MAC ...:11), but node.instance_id claims node 2, whose ENI has ...:12.
    let cfg = config(
        &fake,
        "ins-node0001",
        "[node]\ninstance_id = \"ins-node0002\"\n",
    );
    let sys = sysfs(NODE1_MAC);
    let e = Discoverer::new(&cfg)
        .with_sys_class_net(sys.path())
        .discover()
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, DiscoveryError::NoMatchingEni { .. }), "{msg}");
    assert!(
        msg.contains("eni-node0002 (52:54:00:00:01:12)") && msg.contains("set node.eni_id"),
        "{msg}"
    );
}

#[test]
fn refused_credentials_name_the_key_that_avoids_the_call() {
    let fake = start();
    let text = format!(
        "[cloud]\nendpoint = \"{}\"\n[metadata]\nurl = \"{}\"\n\
         [credentials]\nsource = \"file\"\nsecret_id = \"AKIDWRONG\"\nsecret_key = \"wrong\"\n\
         [[vip]]\naddress = \"198.18.1.100\"\n",
        fake.url(),
        fake.metadata_url("ins-node0001")
    );
    let cfg = Config::from_toml_str(&text, Path::new("/test/tcvip.toml")).unwrap();
    let sys = sysfs(NODE1_MAC);
    let e = Discoverer::new(&cfg)
        .with_sys_class_net(sys.path())
        .discover()
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, DiscoveryError::Api { .. }), "{msg}");
    assert!(
        msg.contains("ins-node0001") && msg.contains("set node.eni_id"),
        "{msg}"
    );
    assert!(!msg.contains("wrong\""), "no secret in the message: {msg}");
}

#[test]
fn no_local_interface_with_the_mac_is_a_warning_that_asks_for_vip_interface() {
    // The cloud side (vip-migrate, vip-query) needs no interface; check-self reports it missing.
    let fake = start();
    let cfg = config(&fake, "ins-node0001", "");
    let sys = sysfs("52:54:00:99:99:99");
    let found = Discoverer::new(&cfg)
        .with_sys_class_net(sys.path())
        .discover()
        .unwrap();
    assert_eq!(found.identity.interface, None);
    assert_eq!(found.identity.eni_id.as_str(), "eni-node0001");
    assert!(
        found
            .warnings
            .iter()
            .any(|w| w.contains("set vip.interface")),
        "{:?}",
        found.warnings
    );
}

#[test]
fn configured_cloud_facts_survive_a_dead_metadata_service_without_an_interface() {
    // Every cloud fact is configured; the VIP names no interface, so discovery would like the
    // MAC. With the metadata service down the identity still stands (vip-migrate and vip-query
    // need no interface) and the missing interface is a warning naming vip.interface.
    let fake = start();
    fake.set_metadata_available(false);
    let text = format!(
        "[cloud]\nendpoint = \"{}\"\nregion = \"ap-guangzhou\"\n\
         [metadata]\nurl = \"{}\"\n\
         [node]\ninstance_id = \"ins-node0001\"\neni_id = \"eni-node0001\"\nvpc_id = \"vpc-demo0001\"\n\
         [[vip]]\naddress = \"198.18.1.100\"\n",
        fake.url(),
        fake.metadata_url("ins-node0001")
    );
    let cfg = Config::from_toml_str(&text, Path::new("/test/tcvip.toml")).unwrap();
    let d = Discoverer::new(&cfg)
        .with_sys_class_net("/nonexistent")
        .discover()
        .unwrap();
    assert_eq!(d.identity.eni_id.as_str(), "eni-node0001");
    assert_eq!(d.identity.interface, None);
    assert!(
        d.warnings.iter().any(|w| w.contains("vip.interface")),
        "{:?}",
        d.warnings
    );
    assert!(fake.calls().is_empty());
}
