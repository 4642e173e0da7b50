//! `kind = "havip"`: vip-query reads DescribeHaVips; vip-migrate never makes a write call for a
//! HAVIP (it waits for the binding, then sends gratuitous ARPs itself); check-self as BACKUP
//! asks nothing about it; the gratuitous ARP frame as a peer captures it (root, a namespace).

use std::net::Ipv4Addr;
use std::time::Duration;

use serde_json::Value;
use vip_state::KeepalivedState;

use crate::migrate::writes;
use crate::netns::Netns;
use crate::util::*;

/// The HAVIP of these tests: not a secondary IP of any ENI.
const HAVIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 200);

/// The two-node example with a HAVIP at [`HAVIP`] bound to `eni` (none: unbound), its EIP
/// 203.0.113.20.
fn topology(eni: Option<&str>) -> String {
    format!(
        "{}\n[[eip]]\nid = \"eip-demo0002\"\nip = \"203.0.113.20\"\n\n[[havip]]\nid = \"havip-demo0001\"\nvip = \"{HAVIP}\"\nsubnet = \"subnet-demo0001\"\n\
         address_ip = \"203.0.113.20\"\n{}",
        example("two-nodes"),
        eni.map(|e| format!("eni = \"{e}\"\n")).unwrap_or_default()
    )
}

fn vip(havip_id: &str, more: &str) -> String {
    format!("[[vip]]\naddress = \"{HAVIP}\"\nkind = \"havip\"\nhavip_id = \"{havip_id}\"\n{more}")
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{stdout:?}: {e}"))
}

#[test]
fn query_says_where_the_havip_is_bound() {
    let fake = start(&topology(Some("eni-node0001")), Duration::ZERO);
    let here = Node::new(&fake, "ins-node0001", &vip("havip-demo0001", ""));
    let run = here.run("vip-query", &[]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "true\n"), "{run:?}");

    let there = Node::new(&fake, "ins-node0002", &vip("havip-demo0001", ""));
    let run = there.run("vip-query", &[]);
    assert_eq!((run.code, run.stdout.as_str()), (1, "false\n"), "{run:?}");

    let run = there.run("vip-query", &["--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let v = json(&run.stdout);
    assert_eq!(v["vip"], HAVIP.to_string());
    assert_eq!(v["answer"], "false");
    assert_eq!(v["kind"], "havip");
    assert_eq!(v["holder_eni"], "eni-node0001");
    assert_eq!(v["holder_instance"], "ins-node0001");
    assert_eq!(v["ip_state"], "AVAILABLE");
    assert_eq!(v["havip"]["id"], "havip-demo0001");
    assert_eq!(v["havip"]["bound"], true);
    assert_eq!(v["havip"]["address_ip"], "203.0.113.20");
    assert!(v["havip"]["flushed_time"].is_string(), "{v}");
    assert_eq!(v["eip"]["address_ip"], "203.0.113.20");
    assert_eq!(v["this_eni"], "eni-node0002");

    let run = there.run("vip-query", &["--status"]);
    assert!(
        run.stdout
            .contains("cloud: held by eni-node0001 on ins-node0001 (AVAILABLE)"),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains("HAVIP: havip-demo0001, state AVAILABLE"),
        "{run:?}"
    );

    // The HAVIP is looked up by id; nothing is written.
    let calls = fake.calls();
    let asked: Vec<_> = calls
        .iter()
        .filter(|c| c.action == "DescribeHaVips")
        .collect();
    assert!(!asked.is_empty());
    assert!(
        asked
            .iter()
            .all(|c| c.params["HaVipIds"][0] == "havip-demo0001")
    );
    assert!(calls.iter().all(|c| c.action.starts_with("Describe")));
}

#[test]
fn query_of_an_unbound_havip_is_false_and_says_so() {
    let fake = start(&topology(None), Duration::ZERO);
    let node = Node::new(&fake, "ins-node0001", &vip("havip-demo0001", ""));
    let run = node.run("vip-query", &["--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let v = json(&run.stdout);
    assert_eq!(v["answer"], "false");
    assert_eq!(v["holder_eni"], Value::Null);
    assert_eq!(v["havip"]["bound"], false);
    let run = node.run("vip-query", &["--status"]);
    assert!(run.stdout.contains("cloud: bound to no ENI"), "{run:?}");
}

#[test]
fn query_of_a_havip_that_does_not_exist_is_a_configuration_error() {
    let fake = start(&topology(Some("eni-node0001")), Duration::ZERO);
    let node = Node::new(&fake, "ins-node0001", &vip("havip-nope0001", ""));
    let run = node.run("vip-query", &[]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (78, "unknown\n"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("havip-nope0001") && run.stderr.contains("havip_id"),
        "{run:?}"
    );
}

#[test]
fn migrate_of_a_havip_bound_here_is_no_change_and_no_write() {
    let fake = start(&topology(Some("eni-node0001")), Duration::ZERO);
    let node = Node::new(&fake, "ins-node0001", &vip("havip-demo0001", ""));
    node.record("default", KeepalivedState::Master);
    let run = node.run("vip-migrate", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        format!("{HAVIP} (havip-demo0001) is already bound to eni-node0001 (no change)\n")
    );
    assert!(writes(&fake).is_empty());
    assert!(
        node.log_text().contains("event=havip_bound"),
        "{}",
        node.log_text()
    );
}

#[test]
fn migrate_of_a_havip_bound_elsewhere_never_calls_migrate_and_announces_from_the_interface() {
    let fake = start(&topology(Some("eni-node0001")), Duration::ZERO);
    // `lo`: a gratuitous ARP sent there reaches nothing outside this host, and the fake VPC does
    // not learn from it: the run sends them until its deadline.
    let node = Node::new(
        &fake,
        "ins-node0002",
        &format!(
            "{}\n[failover]\nhavip_bind_timeout_ms = 300\n",
            vip("havip-demo0001", "interface = \"lo\"\n")
        ),
    );
    node.record("default", KeepalivedState::Master);
    let run = node.run("vip-migrate", &["--deadline-s", "1"]);
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
    let log = node.log_text();
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if root {
        // 1: not bound when the deadline passed; 3 when the last look was cut off by it (on a
        // loaded machine) and so where the HAVIP is, is not known.
        assert!(matches!(run.code, 1 | 3), "{run:?}");
        assert!(
            run.stderr.contains(
                "(havip-demo0001): not bound to eni-node0002 when the deadline passed after"
            ) && run.stderr.contains("gratuitous ARPs sent by tcvip")
                && run.stderr.contains("last showed it bound to eni-node0001"),
            "{run:?}"
        );
        let garps = log.matches("event=havip_garp ").count();
        // One every 300 ms of the second, the first after 300 ms.
        assert!((2..=3).contains(&garps), "{garps}: {log}");
        assert!(log.contains("interface=lo attempt=1"), "{log}");
    } else {
        assert_eq!(run.code, 77, "{run:?}");
        assert!(run.stderr.contains("needs root or CAP_NET_RAW"), "{run:?}");
    }
}

#[test]
fn check_self_as_backup_asks_nothing_about_the_havip() {
    let fake = start(&topology(Some("eni-node0001")), Duration::ZERO);
    let node = Node::new(
        &fake,
        "ins-node0002",
        &vip("havip-demo0001", "interface = \"lo\"\n"),
    );
    node.record("default", KeepalivedState::Backup);
    let run = node.run("check-self", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let calls = fake.calls();
    assert!(
        calls.iter().all(|c| c.action != "DescribeHaVips"),
        "{calls:?}"
    );
    assert!(!node.log_text().contains("havip_garp"));
}

/// The frame as the other end of a veth pair receives it: Ethernet broadcast from the sender's
/// MAC, an ARP request whose sender and target IP are both the VIP.
#[test]
fn the_gratuitous_arp_arrives_on_the_peer_as_a_broadcast_arp_request() {
    let ns = Netns::bare();
    let path = format!("/run/netns/{}", ns.name);
    let handle = std::thread::spawn(move || -> Result<Vec<u8>, String> {
        let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        // SAFETY: setns on a namespace file we opened; it moves this thread only.
        let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
        if rc != 0 {
            return Err(format!("setns: {}", std::io::Error::last_os_error()));
        }
        let capture = capture_arp("tv1")?;
        tcvip::nic::garp::send_garp("tv0", Ipv4Addr::new(198, 18, 1, 100))
            .map_err(|e| e.to_string())?;
        receive(capture)
    });
    let frame = handle.join().unwrap().unwrap();
    // tv0's MAC, as `ip` shows it.
    let out = std::process::Command::new("ip")
        .args(["-n", &ns.name, "-o", "link", "show", "tv0"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mac = text
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .and_then(tcvip::nic::garp::parse_mac)
        .unwrap_or_else(|| panic!("no MAC in {text:?}"));
    assert_eq!(
        frame[..42],
        tcvip::nic::garp::garp_frame(mac, Ipv4Addr::new(198, 18, 1, 100))[..]
    );
    assert_eq!(&frame[0..6], &[0xff; 6]);
    assert_eq!(&frame[28..32], &frame[38..42]);
}

/// An AF_PACKET socket receiving ARP on `iface`, with a receive timeout.
fn capture_arp(iface: &str) -> Result<std::os::fd::OwnedFd, String> {
    use std::os::fd::FromRawFd as _;
    let proto = 0x0806u16.to_be();
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
    if fd < 0 {
        return Err(format!("socket: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: a descriptor we own.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    let name = std::ffi::CString::new(iface).unwrap();
    // SAFETY: NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    // SAFETY: zeroed sockaddr_ll is valid.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto;
    addr.sll_ifindex = ifindex as i32;
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: addr lives through the call.
    let rc = unsafe { libc::bind(raw, std::ptr::from_ref(&addr).cast(), len) };
    if rc != 0 {
        return Err(format!("bind: {}", std::io::Error::last_os_error()));
    }
    let tv = libc::timeval {
        tv_sec: 5,
        tv_usec: 0,
    };
    // SAFETY: tv lives through the call.
    unsafe {
        libc::setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            std::ptr::from_ref(&tv).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    Ok(fd)
}

fn receive(fd: std::os::fd::OwnedFd) -> Result<Vec<u8>, String> {
    let mut buf = [0u8; 1600];
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    // SAFETY: buf is valid for its length.
    let n = unsafe { libc::recv(raw, buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(format!(
            "no ARP frame on tv1 within 5 s: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(buf[..n as usize].to_vec())
}

#[test]
fn check_self_as_master_heals_a_havip_bound_elsewhere_through_the_gratuitous_arp_path() {
    let fake = start(&topology(Some("eni-node0001")), Duration::ZERO);
    // An interface that does not exist: the restore and the gratuitous ARP fail harmlessly,
    // and the reconcile says which key to set.
    let node = Node::new(
        &fake,
        "ins-node0002",
        &format!(
            "{}\n[failover]\nhavip_bind_timeout_ms = 200\n",
            vip("havip-demo0001", "interface = \"tcvnone0\"\n")
        ),
    );
    let _detached = Detached(&node);
    node.record("default", KeepalivedState::Master);
    let run = node.run("check-self", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    // check-self's own lookup (the reconcile it starts detached may already have made its own).
    assert!(!fake.calls_of("DescribeHaVips").is_empty());
    wait_detached(&node, Duration::from_secs(30));
    let log = node.log_text();
    assert!(log.contains("event=reconcile"), "{log}");
    assert!(log.contains("holder=eni-node0001"), "{log}");
    // The reconcile is vip-migrate's HAVIP path: a gratuitous ARP due, no write call.
    assert!(log.contains("event=havip_garp"), "{log}");
    assert!(log.contains("tcvnone0"), "{log}");
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
    // Within the TTL and the cooldown: no further question about the HAVIP, no new reconcile.
    fake.clear_calls();
    assert_eq!(node.run("check-self", &[]).code, 0);
    assert!(fake.calls_of("DescribeHaVips").is_empty());
    assert!(detached_of(&node).is_empty());
}

#[test]
fn drain_wait_on_a_havip_waits_until_the_vpc_binds_it_to_the_peer() {
    let fake = start(&topology(Some("eni-node0001")), Duration::ZERO);
    fake.set_havip_learn(Duration::from_millis(200));
    let node = Node::new(&fake, "ins-node0001", &vip("havip-demo0001", ""));
    node.record("default", KeepalivedState::Fault);
    // Still bound here (a secondary-IP lookup would find it on no ENI and call this done).
    let run = node.run("tcvip", &["drain", "--wait", "--deadline-s", "2"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("still on this node's ENI eni-node0001"),
        "{}",
        run.stderr
    );
    assert!(!fake.calls_of("DescribeHaVips").is_empty());
    // The peer's keepalived announces it; the VPC binds it there.
    let mac: fake_vpc::net::Mac = "52:54:00:00:01:12".parse().unwrap();
    fake.garp(HAVIP, mac);
    let run = node.run("tcvip", &["drain", "--wait", "--deadline-s", "20"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("handed over after"), "{}", run.stdout);
}

#[test]
fn migrate_keeps_the_eip_on_the_havip_and_never_on_the_eni() {
    // Bound here, its EIP not bound to it (dropped, or never bound).
    let topology = format!(
        "{}\n[[eip]]\nid = \"eip-demo0002\"\nip = \"203.0.113.20\"\n\n[[havip]]\nid = \"havip-demo0001\"\nvip = \"{HAVIP}\"\nsubnet = \"subnet-demo0001\"\neni = \"eni-node0001\"\n",
        example("two-nodes")
    );
    let fake = start(&topology, Duration::ZERO);
    let node = Node::new(
        &fake,
        "ins-node0001",
        &vip("havip-demo0001", "eip = \"eip-demo0002\"\n"),
    );
    node.record("default", KeepalivedState::Master);
    let run = node.run("vip-migrate", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let bound = |fake: &fake_vpc::FakeVpcHandle| {
        fake.with_world(|w| w.havips()[0].address_ip.map(|a| a.to_string()))
    };
    assert_eq!(bound(&fake).as_deref(), Some("203.0.113.20"));
    assert_eq!(fake.calls_of("HaVipAssociateAddressIp").len(), 1);
    assert!(fake.calls_of("AssociateAddress").is_empty());
    // Already on the HAVIP: the next run looks and binds nothing.
    fake.clear_calls();
    let run = node.run("vip-migrate", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(fake.calls_of("HaVipAssociateAddressIp").is_empty());
    assert!(fake.calls_of("AssociateAddress").is_empty());
    assert_eq!(bound(&fake).as_deref(), Some("203.0.113.20"));
}
