//! check-self on a BACKUP, FAULT or STOP node: a stray VIP removed from the interface keepalived
//! manages it on (and nowhere else, never the node's own address), nothing restarted, nothing but
//! `ip` run. Namespace tests (root, see [`crate::netns`]); helpers in [`crate::check`].

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use vip_state::KeepalivedState;

use crate::check::*;
use crate::netns::{Netns, ip, require_tool};
use crate::util::*;

// ---------------------------------------------------------------------------------------------
// 18: BACKUP removes a stray VIP, and restarts nothing

/// A directory of stand-ins for programs check-self must never run; each leaves a mark.
pub(crate) fn traps(dir: &Path) -> std::path::PathBuf {
    let bin = dir.join("trap-bin");
    std::fs::create_dir_all(&bin).unwrap();
    for name in [
        "keepalived",
        "systemctl",
        "service",
        "killall",
        "pkill",
        "kill",
    ] {
        let p = bin.join(name);
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\necho \"{name} $*\" >> {}\n",
                dir.join("trapped").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

#[test]
fn backup_removes_a_stray_vip_and_restarts_nothing() {
    let ns = Netns::create();
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = netns_node(&fake, "");
    let trap_bin = traps(node.dir.path());
    let path = format!(
        "{}:{}",
        trap_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    node.record("default", KeepalivedState::Backup);
    ns.add("198.18.1.100/32");
    // A neighbour address that must survive: matching is exact.
    ns.add("198.18.1.10/24");

    let check = |ns: &Netns| {
        let inner = node.command("check-self");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns.name])
            .arg(inner.get_program())
            .args(inner.get_args())
            .stdin(Stdio::null());
        for (k, v) in inner.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.env("PATH", &path);
        run(&mut cmd)
    };

    // Seen once: it may be keepalived adding it just before the MASTER notification.
    let first = check(&ns);
    assert_eq!(first.code, 0, "{first:?}");
    assert!(ns.has(VIP), "removed at first sight");
    thread::sleep(Duration::from_millis(700));
    let second = check(&ns);
    assert_eq!(second.code, 0, "{second:?}");
    assert!(!ns.has(VIP), "stray VIP still on tv0: {}", node.log_text());
    assert!(ns.has(Ipv4Addr::new(198, 18, 1, 10)), "the neighbour went");
    let log = node.log_text();
    assert!(log.contains("stray_vip_removed"), "{log}");

    // Nothing was restarted or signalled, nothing migrated, the cloud was not asked.
    let trapped = std::fs::read_to_string(node.dir.path().join("trapped")).unwrap_or_default();
    assert!(trapped.is_empty(), "check-self ran: {trapped}");
    assert!(!log.contains("migrate_started"), "{log}");
    assert!(detached_of(&node).is_empty());
    assert!(fake.calls().is_empty());

    // Gone is gone: later checks are quiet.
    let third = check(&ns);
    assert_eq!(third.code, 0, "{third:?}");
}

#[test]
fn a_labelled_vip_is_found_on_its_device() {
    // keepalived's `virtual_ipaddress { 198.18.1.100/32 dev tv0 label tv0:vip }` puts the
    // address on tv0 under the label tv0:vip; it is still tv0's address.
    let ns = Netns::create();
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = netns_node(&fake, "");
    ip(&[
        "-n",
        &ns.name,
        "addr",
        "add",
        "198.18.1.100/32",
        "dev",
        "tv0",
        "label",
        "tv0:vip",
    ])
    .unwrap();

    // A MASTER sees it in place: nothing to restore, no error.
    node.state()
        .write_cloud_view(&view(VIP, "eni-node0001", "ins-node0001", Duration::ZERO))
        .unwrap();
    node.record("default", KeepalivedState::Master);
    let run = ns.run(&node, "check-self", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let log = node.log_text();
    assert!(!log.contains("vip_restore"), "{log}");
    assert!(!log.contains("level=error"), "{log}");
    let status = ns.run(&node, "vip-query", &["--status"]);
    assert!(status.stdout.contains("NIC: on tv0"), "{status:?}");

    // A BACKUP removes it.
    node.record("default", KeepalivedState::Backup);
    for _ in 0..2 {
        let run = ns.run(&node, "check-self", &[]);
        assert_eq!(run.code, 0, "{run:?}");
        thread::sleep(Duration::from_millis(600));
    }
    assert!(
        !ns.has(VIP),
        "labelled stray not removed: {}",
        node.log_text()
    );
}

#[test]
fn fault_and_stop_remove_a_stray_vip_too_unless_told_not_to() {
    let ns = Netns::create();
    let fake = start(&example("two-nodes"), Duration::ZERO);
    for (state, more, removed) in [
        (KeepalivedState::Fault, "", true),
        (KeepalivedState::Stop, "", true),
        (
            KeepalivedState::Backup,
            "[check]\nremove_stray_vip = false\n",
            false,
        ),
    ] {
        let node = netns_node(&fake, more);
        node.record("default", state);
        if !ns.has(VIP) {
            ns.add("198.18.1.100/32");
        }
        for _ in 0..2 {
            let run = ns.run(&node, "check-self", &[]);
            assert_eq!(run.code, 0, "{state}: {run:?}");
            thread::sleep(Duration::from_millis(600));
        }
        assert_eq!(
            !ns.has(VIP),
            removed,
            "{state} {more:?}: {}",
            node.log_text()
        );
    }
    assert!(fake.calls().is_empty());
}

#[test]
fn backup_execs_nothing_but_ip() {
    // With strace, the whole process tree of check-self is visible: it runs `ip` to remove the
    // stray and nothing else (no keepalived, no systemctl, no shell), and signals no process.
    let ns = Netns::create();
    require_tool("strace");
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = netns_node(&fake, "");
    node.record("default", KeepalivedState::Backup);
    ns.add("198.18.1.100/32");
    let trace = node.dir.path().join("trace");
    let traced = |ns: &Netns| {
        let inner = node.command("check-self");
        let mut cmd = Command::new("strace");
        cmd.args(["-f", "-qq", "-e", "trace=execve,kill,tgkill", "-o"])
            .arg(&trace)
            .args(["ip", "netns", "exec", &ns.name])
            .arg(inner.get_program())
            .args(inner.get_args())
            .stdin(Stdio::null());
        for (k, v) in inner.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        run(&mut cmd)
    };
    assert_eq!(traced(&ns).code, 0);
    thread::sleep(Duration::from_millis(700));
    let run = traced(&ns);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!ns.has(VIP));
    let text = std::fs::read_to_string(&trace).unwrap();
    let programs: Vec<String> = text
        .lines()
        .filter(|l| l.contains("execve(\"") && l.trim_end().ends_with("= 0"))
        .filter_map(|l| l.split('"').nth(1))
        .map(|p| p.rsplit('/').next().unwrap_or(p).to_owned())
        .collect();
    // strace starts `ip netns exec`, which starts check-self, which starts `ip addr del`.
    let check_self = programs.iter().position(|p| p == "check-self");
    assert!(check_self.is_some(), "{programs:?}\n{text}");
    // (`ip addr show` to learn the prefix, then `ip addr del`.)
    let after: Vec<&String> = programs[check_self.unwrap() + 1..].iter().collect();
    assert!(!after.is_empty(), "{programs:?}");
    assert!(after.iter().all(|p| *p == "ip"), "{programs:?}");
    let signals: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" kill(") || l.contains(" tgkill("))
        .collect();
    assert!(signals.is_empty(), "{signals:?}");
}

// ---------------------------------------------------------------------------------------------
// Never harm the node (issue 10, item 1)

/// Caches the identity of node 1 as discovery would, with `tv0`'s MAC as the primary MAC and
/// 198.18.1.11 as the primary IP.
pub(crate) fn cache_identity_on_tv0(ns: &Netns, node: &Node) {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            "cat",
            "/sys/class/net/tv0/address",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mac = String::from_utf8(out.stdout).unwrap().trim().to_uppercase();
    let identity = serde_json::json!({
        "instance_id": "ins-node0001",
        "region": "ap-guangzhou",
        "vpc_id": "vpc-demo0001",
        "mac": mac,
        "primary_ipv4": "198.18.1.11",
        "eni_id": "eni-node0001",
    });
    node.state().write_cache("identity", &identity).unwrap();
}

#[test]
fn a_stray_is_removed_only_from_the_interface_keepalived_manages() {
    // The minimal config names no interface: the VIP belongs on the primary MAC's interface
    // (tv0). An LVS-DR real server keeps the same address on lo: that one stays.
    let ns = Netns::create();
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(
        &fake,
        "ins-node0001",
        &format!(
            "{}[[vip]]\naddress = \"198.18.1.100\"\n",
            node_section("ins-node0001", "eni-node0001", "vpc-demo0001")
        ),
    );
    cache_identity_on_tv0(&ns, &node);
    node.record("default", KeepalivedState::Backup);
    ns.add("198.18.1.100/32");
    ip(&[
        "-n",
        &ns.name,
        "addr",
        "add",
        "198.18.1.100/32",
        "dev",
        "lo",
    ])
    .unwrap();
    let first = ns.run(&node, "check-self", &[]);
    assert_eq!(first.code, 0, "{first:?}");
    thread::sleep(Duration::from_millis(700));
    let second = ns.run(&node, "check-self", &[]);
    assert_eq!(second.code, 0, "{second:?}");
    assert!(!ns.has(VIP), "the stray stayed on tv0: {}", node.log_text());
    assert!(ns.has_on("lo", VIP), "removed from lo: {}", node.log_text());
    assert!(ns.has(Ipv4Addr::new(198, 18, 1, 11)));
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

#[test]
fn a_backup_never_removes_the_nodes_own_address() {
    let ns = Netns::create();
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let own = Ipv4Addr::new(198, 18, 1, 11);
    // A VIP that is the node's primary IP (a typo away from the real one): refused, exit 78,
    // and the address stays.
    let typo = Node::new(
        &fake,
        "ins-node0001",
        &format!(
            "{}[[vip]]\naddress = \"198.18.1.11\"\ninterface = \"tv0\"\n",
            node_section("ins-node0001", "eni-node0001", "vpc-demo0001")
        ),
    );
    cache_identity_on_tv0(&ns, &typo);
    typo.record("default", KeepalivedState::Backup);
    for _ in 0..2 {
        let run = ns.run(&typo, "check-self", &[]);
        assert_eq!(run.code, 78, "{run:?}");
        assert!(
            run.stderr
                .contains("198.18.1.11 is the primary IP of eni-node0001"),
            "{run:?}"
        );
        thread::sleep(Duration::from_millis(600));
    }
    assert!(ns.has(own), "the node lost its own address");

    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}
