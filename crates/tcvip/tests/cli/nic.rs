//! The NIC probe: exact address matching, the `ip` command under a timeout, the in-memory seam,
//! MAC → interface lookup, and a real run inside a network namespace this test creates.
//!
//! The namespace test needs root ([`crate::netns`]): without it, it fails saying so.

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::netns::Netns;
use tcvip::nic::{
    FakeNic, IfaceAddr, IpCommandNic, Nic, NicError, NicOp, command, interface_by_mac,
    parse_addr_show,
};

/// Writing an executable while another thread forks can make exec fail with ETXTBSY; tests that
/// write scripts or spawn processes take this lock.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 100);
const NEAR: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);

/// A stand-in for `ip`: a shell script (test-only) with the given body.
fn fake_ip(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("ip");
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn parsing_compares_addresses_not_text() {
    let out = "2: eth0    inet 10.0.1.100/32 scope global eth0\\       valid_lft forever preferred_lft forever\n\
               2: eth0    inet 10.0.1.101/24 brd 10.0.1.255 scope global secondary eth0\n";
    let addrs = parse_addr_show(out).unwrap();
    assert!(addrs.iter().any(|a| a.ip == VIP));
    assert!(
        !addrs.iter().any(|a| a.ip == NEAR),
        "10.0.1.10 is not 10.0.1.100"
    );
    assert_eq!(
        addrs[1],
        IfaceAddr {
            ip: Ipv4Addr::new(10, 0, 1, 101),
            prefix_len: 24
        }
    );
}

#[test]
fn has_ip_through_the_command_is_exact() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let ip = fake_ip(
        dir.path(),
        "echo '2: eth0    inet 10.0.1.10/24 brd 10.0.1.255 scope global eth0\\       valid_lft forever'",
    );
    let nic = IpCommandNic::new().with_ip_path(&ip);
    assert!(nic.has_ip("eth0", NEAR).unwrap());
    assert!(
        !nic.has_ip("eth0", VIP).unwrap(),
        "10.0.1.100 is not 10.0.1.10"
    );
    assert!(!nic.has_ip("eth0", Ipv4Addr::new(10, 0, 1, 1)).unwrap());
}

#[test]
fn command_failures_carry_stderr_and_missing_devices_are_named() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let ip = fake_ip(
        dir.path(),
        "echo 'RTNETLINK answers: Operation not permitted' >&2; exit 2",
    );
    let e = IpCommandNic::new()
        .with_ip_path(&ip)
        .add_ip("eth0", VIP, 32)
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, NicError::Failed { .. }), "{msg}");
    assert!(
        msg.contains("Operation not permitted") && msg.contains("addr add 10.0.1.100/32 dev eth0"),
        "{msg}"
    );

    let ip = fake_ip(
        dir.path(),
        "echo 'Device \"eth9\" does not exist.' >&2; exit 1",
    );
    let e = IpCommandNic::new()
        .with_ip_path(&ip)
        .has_ip("eth9", VIP)
        .unwrap_err();
    assert!(
        matches!(e, NicError::NoSuchInterface { ref iface } if iface == "eth9"),
        "{e}"
    );

    let e = IpCommandNic::new()
        .with_ip_path(dir.path().join("no-such-ip"))
        .has_ip("eth0", VIP)
        .unwrap_err();
    assert!(matches!(e, NicError::Spawn { .. }), "{e}");
}

#[test]
fn a_hanging_command_is_killed_at_its_timeout() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    // The script forks a child too: the whole process group must go.
    let ip = fake_ip(dir.path(), "sleep 60 & sleep 60");
    let nic = IpCommandNic::new()
        .with_ip_path(&ip)
        .with_timeout(Duration::from_millis(300));
    let start = Instant::now();
    let e = nic.has_ip("eth0", VIP).unwrap_err();
    assert!(matches!(e, NicError::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("300 ms"), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn command_run_returns_output_and_status() {
    let _g = serial();
    let out = command::run(
        Path::new("/bin/sh"),
        &["-c".into(), "echo out; echo err >&2; exit 3".into()],
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str(), out.status.code()),
        ("out\n", "err\n", Some(3))
    );
}

#[test]
fn names_that_look_like_options_are_refused_before_running_anything() {
    let nic = IpCommandNic::new().with_ip_path("/nonexistent/ip");
    for bad in ["-n", "", "eth0 x", "a/b", "sixteen-chars-xx"] {
        let e = nic.has_ip(bad, VIP).unwrap_err();
        assert!(
            matches!(e, NicError::InvalidArgument { .. }),
            "{bad:?}: {e}"
        );
    }
    assert!(matches!(
        nic.add_ip("eth0", VIP, 33),
        Err(NicError::InvalidArgument { .. })
    ));
}

#[test]
fn fake_nic_is_exact_idempotent_and_records_changes() {
    let nic = FakeNic::new()
        .with_interface("eth0")
        .with_address("eth0", NEAR, 24);
    assert!(nic.has_ip("eth0", NEAR).unwrap());
    assert!(!nic.has_ip("eth0", VIP).unwrap());
    nic.add_ip("eth0", VIP, 32).unwrap();
    nic.add_ip("eth0", VIP, 32).unwrap();
    assert_eq!(nic.addresses("eth0").unwrap().len(), 2);
    nic.remove_ip("eth0", VIP).unwrap();
    assert!(!nic.has_ip("eth0", VIP).unwrap());
    assert!(
        nic.has_ip("eth0", NEAR).unwrap(),
        "removing 10.0.1.100 keeps 10.0.1.10"
    );
    assert_eq!(
        nic.ops(),
        [
            NicOp::Add("eth0".into(), VIP, 32),
            NicOp::Add("eth0".into(), VIP, 32),
            NicOp::Remove("eth0".into(), VIP)
        ]
    );
    assert!(matches!(
        nic.has_ip("eth1", VIP),
        Err(NicError::NoSuchInterface { .. })
    ));
    nic.fail_with(Some("RTNETLINK answers: Operation not permitted"));
    assert!(
        nic.add_ip("eth0", VIP, 32)
            .unwrap_err()
            .to_string()
            .contains("not permitted")
    );
}

fn sys_iface(root: &Path, name: &str, mac: &str, physical: bool, master: bool) {
    let d = root.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("address"), format!("{mac}\n")).unwrap();
    if physical {
        std::fs::create_dir(d.join("device")).unwrap();
    }
    if master {
        std::fs::create_dir(d.join("master")).unwrap();
    }
}

#[test]
fn interface_by_mac_is_case_insensitive_and_prefers_the_real_device() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    sys_iface(root, "lo", "00:00:00:00:00:00", false, false);
    sys_iface(root, "eth0", "52:54:00:bf:b3:51", true, false);
    sys_iface(root, "eth0.10", "52:54:00:bf:b3:51", false, false);
    sys_iface(root, "eth1", "52:54:00:bf:b3:52", true, true);
    sys_iface(root, "bond0", "52:54:00:bf:b3:52", false, false);
    sys_iface(root, "eth2", "52:54:00:bf:b3:53", false, false);
    sys_iface(root, "eth3", "52:54:00:bf:b3:53", false, false);

    assert_eq!(
        interface_by_mac(root, "52:54:00:BF:B3:51")
            .unwrap()
            .as_deref(),
        Some("eth0")
    );
    assert_eq!(
        interface_by_mac(root, "52:54:00:BF:B3:52")
            .unwrap()
            .as_deref(),
        Some("bond0")
    );
    assert_eq!(interface_by_mac(root, "52:54:00:BF:B3:59").unwrap(), None);
    let e = interface_by_mac(root, "52:54:00:bf:b3:53").unwrap_err();
    assert!(
        e.to_string().contains("eth2, eth3") && e.to_string().contains("vip.interface"),
        "{e}"
    );
    assert!(matches!(
        interface_by_mac(&root.join("missing"), "x"),
        Err(NicError::Sysfs { .. })
    ));
}

#[test]
fn real_interface_inside_a_network_namespace() {
    let _g = serial();
    let ns = Netns::bare();
    let nic = IpCommandNic::new().with_netns(&ns.name).unwrap();
    // Addresses from 198.18.0.0/15, inside the namespace only.
    let vip = Ipv4Addr::new(198, 18, 1, 100);
    let near = Ipv4Addr::new(198, 18, 1, 10);

    assert!(nic.addresses("tv0").unwrap().is_empty());
    nic.add_ip("tv0", near, 24).unwrap();
    assert!(nic.has_ip("tv0", near).unwrap());
    assert!(
        !nic.has_ip("tv0", vip).unwrap(),
        "198.18.1.100 must not match 198.18.1.10"
    );

    nic.add_ip("tv0", vip, 32).unwrap();
    nic.add_ip("tv0", vip, 32).unwrap(); // already there: success
    assert!(nic.has_ip("tv0", vip).unwrap());
    assert!(
        !nic.has_ip("tv1", vip).unwrap(),
        "only on the interface it was put on"
    );

    nic.remove_ip("tv0", vip).unwrap();
    assert!(!nic.has_ip("tv0", vip).unwrap());
    assert!(nic.has_ip("tv0", near).unwrap(), "removing .100 keeps .10");
    nic.remove_ip("tv0", vip).unwrap(); // already gone: success
    nic.remove_ip("tv0", near).unwrap(); // removed with its real /24 prefix
    assert!(nic.addresses("tv0").unwrap().is_empty());

    assert!(matches!(
        nic.has_ip("tv9", vip),
        Err(NicError::NoSuchInterface { .. })
    ));
    assert!(matches!(
        nic.add_ip("tv9", vip, 32),
        Err(NicError::NoSuchInterface { .. })
    ));
}
