//! check-self, keepalived's track script: no API call while the cached cloud view is fresh, a
//! detached reconcile with a growing cooldown, stray VIPs removed on a BACKUP, nothing
//! destructive when the cloud or the recorded state is unknown, service checks with timeouts,
//! and always an answer before `check.deadline_ms`.
//!
//! Tests that change an interface run check-self inside a network namespace they create (root
//! only, see [`crate::netns`]: without root they fail saying so). The others keep the host's interfaces as
//! they are: their VIP is on an interface that does not exist (see [`loopback_topology`]), or
//! nothing is recorded.

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use fake_vpc::{Fault, FaultSpec};
use vip_state::{CloudView, KeepalivedState, now_ms};

use crate::netns::{Netns, ip, require_tool};
use crate::util::*;

const LO_VIP: Ipv4Addr = OFF_HOST_VIP;
const LO_ME: &str = "eni-lo000001";
const LO_PEER: &str = "eni-lo000002";

/// `[[vip]]` 126.0.1.100 on an interface that does not exist (a MASTER's restore attempt fails
/// and changes nothing on this host), plus `more`.
fn lo_vip(more: &str) -> String {
    format!("[[vip]]\naddress = \"126.0.1.100\"\ninterface = \"tcvnone0\"\n\n{more}")
}

/// Identity given in the config, so discovery asks nothing.
fn node_section(instance: &str, eni: &str, vpc: &str) -> String {
    format!("[node]\ninstance_id = \"{instance}\"\neni_id = \"{eni}\"\nvpc_id = \"{vpc}\"\n\n")
}

fn view(vip: Ipv4Addr, holder: &str, instance: &str, age: Duration) -> CloudView {
    CloudView {
        vip,
        holder_eni: Some(holder.to_owned()),
        holder_instance: Some(instance.to_owned()),
        ip_state: Some("AVAILABLE".to_owned()),
        learned_at_ms: now_ms() - age.as_millis() as u64,
    }
}

fn writes(fake: &fake_vpc::FakeVpcHandle) -> Vec<String> {
    fake.calls()
        .into_iter()
        .map(|c| c.action)
        .filter(|a| !a.starts_with("Describe"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Network namespaces

/// A node for a namespace: everything local (identity in the config, the VIP on `tv0`).
fn netns_node(fake: &fake_vpc::FakeVpcHandle, more: &str) -> Node {
    Node::new(
        fake,
        "ins-node0001",
        &format!(
            "{}[[vip]]\naddress = \"198.18.1.100\"\ninterface = \"tv0\"\n\n{more}",
            node_section("ins-node0001", "eni-node0001", "vpc-demo0001")
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// 16: a healthy MASTER asks nothing

#[test]
fn healthy_master_with_a_fresh_view_makes_no_api_call() {
    let fake = start(&loopback_topology(LO_ME), Duration::ZERO);

    // Identity from the config and a fresh view: not even the first run calls anything.
    let node = Node::new(
        &fake,
        "ins-lo000001",
        &format!(
            "{}{}",
            node_section("ins-lo000001", LO_ME, "vpc-lo000001"),
            lo_vip("")
        ),
    );
    node.state()
        .write_cloud_view(&view(LO_VIP, LO_ME, "ins-lo000001", Duration::ZERO))
        .unwrap();
    node.record("default", KeepalivedState::Master);
    for _ in 0..3 {
        let run = node.run("check-self", &[]);
        assert_eq!(run.code, 0, "{run:?}");
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    assert!(fake.metadata_requests().is_empty());
    let check = node.state().read_check().value.unwrap();
    assert_eq!(check.reason, "MASTER: healthy");

    // Discovered identity: the first run learns it and the holder once; then nothing per TTL.
    let node = Node::new(&fake, "ins-lo000001", &lo_vip(""));
    node.record("default", KeepalivedState::Master);
    let run = node.run("check-self", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let first = fake.calls();
    assert!(!first.is_empty());
    assert!(
        first.iter().all(|c| c.action.starts_with("Describe")),
        "{first:?}"
    );
    fake.clear_calls();
    let metadata_before = fake.metadata_requests().len();
    for _ in 0..5 {
        let run = node.run("check-self", &[]);
        assert_eq!(run.code, 0, "{run:?}");
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(fake.metadata_requests().len(), metadata_before);
    assert!(detached_of(&node).is_empty());
}

// ---------------------------------------------------------------------------------------------
// 17: reconcile, detached, with a growing cooldown

#[test]
fn master_with_an_expired_view_reconciles_in_the_background() {
    let lag = Duration::from_secs(2);
    let fake = start(&loopback_topology(LO_PEER), lag);
    let node = Node::new(&fake, "ins-lo000001", &lo_vip("[check]\ncloud_ttl_s = 5\n"));
    let _detached = Detached(&node);
    node.record("default", KeepalivedState::Master);
    // An old belief that the VIP is here.
    node.state()
        .write_cloud_view(&view(
            LO_VIP,
            LO_ME,
            "ins-lo000001",
            Duration::from_secs(60),
        ))
        .unwrap();

    let run = node.run("check-self", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    // check-self did not wait for the move (it lands `lag` after the Migrate call).
    assert_ne!(
        fake.holder_of(LO_VIP).as_deref(),
        Some(LO_ME),
        "check-self waited for the migration: {run:?}"
    );
    // The migration outlives check-self, in a session of its own (keepalived's kill of the
    // track script's process group cannot reach it).
    let running = detached_of(&node);
    assert_eq!(running.len(), 1, "{running:?}: {}", node.log_text());
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", running[0])).unwrap();
    let after_name = stat.rsplit_once(')').unwrap().1;
    let session: u32 = after_name
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(session, running[0], "not in its own session: {stat}");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", running[0])).unwrap();
    let argv: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert!(argv[0].ends_with("vip-migrate"), "{argv:?}");
    assert!(argv.iter().any(|a| a == "--reconcile"), "{argv:?}");
    assert!(
        wait_for(Duration::from_secs(30), || fake
            .holder_of(LO_VIP)
            .as_deref()
            == Some(LO_ME)),
        "the reconcile never moved the VIP here: {}",
        node.log_text()
    );
    wait_detached(&node, Duration::from_secs(30));
    let moves = fake.calls_of("MigratePrivateIpAddress");
    assert_eq!(moves.len(), 1, "{moves:?}");
    assert_eq!(moves[0].params["SourceNetworkInterfaceId"], LO_PEER);
    assert_eq!(moves[0].params["DestinationNetworkInterfaceId"], LO_ME);
    let log = node.log_text();
    assert!(log.contains("event=reconcile"), "{log}");
    assert!(log.contains("migrate_started"), "{log}");

    // The VIP is here now: further checks start nothing.
    fake.clear_calls();
    for _ in 0..3 {
        assert_eq!(node.run("check-self", &[]).code, 0);
    }
    assert!(writes(&fake).is_empty());
    assert!(detached_of(&node).is_empty());
}

// ---------------------------------------------------------------------------------------------
// 18: BACKUP removes a stray VIP, and restarts nothing

/// A directory of stand-ins for programs check-self must never run; each leaves a mark.
fn traps(dir: &Path) -> std::path::PathBuf {
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
// A MASTER puts back a VIP that vanished from its NIC, without the cloud

#[test]
fn master_restores_a_vanished_vip_without_asking_the_cloud() {
    let ns = Netns::create();
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = netns_node(&fake, "");
    node.state()
        .write_cloud_view(&view(VIP, "eni-node0001", "ins-node0001", Duration::ZERO))
        .unwrap();
    node.record("default", KeepalivedState::Master);
    assert!(!ns.has(VIP));
    let run = ns.run(&node, "check-self", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(ns.has(VIP), "VIP not restored: {}", node.log_text());
    assert!(node.log_text().contains("vip_restored"));
    // Again: nothing to do.
    let run = ns.run(&node, "check-self", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(ns.has(VIP));
}

// ---------------------------------------------------------------------------------------------
// 19: an unknown cloud is never a reason to change anything

#[test]
fn unreachable_cloud_changes_nothing_and_exits_per_policy() {
    let ns = Netns::create();
    // Inside the namespace the fake on the host's 127.0.0.1 is unreachable.
    let fake = start(&example("two-nodes"), Duration::ZERO);
    for (policy, code) in [("", 0), ("[check]\non_cloud_error = \"fail\"\n", 1)] {
        let node = netns_node(&fake, policy);
        // The view is stale and says the peer holds the VIP: only the cloud could confirm.
        node.state()
            .write_cloud_view(&view(
                VIP,
                "eni-node0002",
                "ins-node0002",
                Duration::from_secs(3600),
            ))
            .unwrap();
        node.record("default", KeepalivedState::Master);
        if !ns.has(VIP) {
            ns.add("198.18.1.100/32");
        }
        let run = ns.run(&node, "check-self", &[]);
        assert_eq!(run.code, code, "policy {policy:?}: {run:?}");
        assert!(ns.has(VIP), "the VIP went: {}", node.log_text());
        let log = node.log_text();
        assert!(log.contains("cloud_unknown"), "{log}");
        assert!(!log.contains("migrate_started"), "{log}");
        assert!(node.state().read_reconcile(VIP).value.is_none());
        assert!(detached_of(&node).is_empty());
    }
}

#[test]
fn failing_cloud_api_starts_nothing_and_exits_per_policy() {
    let fake = start(&loopback_topology(LO_PEER), Duration::ZERO);
    for (policy, code) in [
        ("", 0),
        ("on_cloud_error = \"pass\"\n", 0),
        ("on_cloud_error = \"fail\"\n", 1),
    ] {
        let node = Node::new(
            &fake,
            "ins-lo000001",
            &format!(
                "{}{}",
                node_section("ins-lo000001", LO_ME, "vpc-lo000001"),
                lo_vip(&format!("[check]\n{policy}"))
            ),
        );
        node.record("default", KeepalivedState::Master);
        for fault in [
            Fault::ApiError("InternalError".into(), "try later".into()),
            Fault::Http500,
            Fault::Garbage,
        ] {
            fake.inject(FaultSpec {
                action: None,
                count: 1000,
                fault: fault.clone(),
            });
            let run = node.run("check-self", &[]);
            fake.clear_faults();
            assert_eq!(run.code, code, "{policy:?} {fault:?}: {run:?}");
            assert!(node.log_text().contains("cloud_unknown"));
        }
        assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
        assert!(detached_of(&node).is_empty());
        assert!(!node.log_text().contains("migrate_started"));
        assert_eq!(fake.holder_of(LO_VIP).as_deref(), Some(LO_PEER));
    }
}

// ---------------------------------------------------------------------------------------------
// 20: service checks, and the deadline

#[test]
fn a_failing_service_check_fails_the_check() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(
        &fake,
        "ins-node0001",
        "[check]\nservice_checks = [ { argv = [\"true\"], timeout_ms = 1000 }, \
         { argv = [\"false\"], timeout_ms = 1000 } ]\n",
    );
    let run = node.run("check-self", &[]);
    assert_eq!(run.code, 1, "{run:?}");
    let record = node.state().read_check().value.unwrap();
    assert!(record.reason.contains("false"), "{record:?}");

    let ok = Node::new(
        &fake,
        "ins-node0001",
        "[check]\nservice_checks = [ { argv = [\"true\"], timeout_ms = 1000 } ]\n",
    );
    assert_eq!(ok.run("check-self", &[]).code, 0);

    let missing = Node::new(
        &fake,
        "ins-node0001",
        "[check]\nservice_checks = [ { argv = [\"/nonexistent/tcvip-check\"], timeout_ms = 1000 } ]\n",
    );
    assert_eq!(missing.run("check-self", &[]).code, 1);
}

/// Pids of running `sleep` processes with exactly this argument.
fn sleeps(arg: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let argv: Vec<&[u8]> = c.split(|b| *b == 0).collect();
                argv.len() >= 2 && argv[0].ends_with(b"sleep") && argv[1] == arg.as_bytes()
            })
        })
        .collect()
}

#[test]
fn a_hanging_service_check_is_killed_at_its_timeout() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    // A distinctive duration, to find the process again.
    let arg = "31.4159";
    let node = Node::new(
        &fake,
        "ins-node0001",
        &format!(
            "[check]\ndeadline_ms = 5000\nservice_checks = [ {{ argv = [\"sleep\", \"{arg}\"], timeout_ms = 300 }} ]\n"
        ),
    );
    let run = node.run("check-self", &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.elapsed >= Duration::from_millis(300),
        "did not wait for the check: {run:?}"
    );
    assert!(
        run.elapsed < Duration::from_millis(300) + Duration::from_millis(2500),
        "{run:?}"
    );
    let record = node.state().read_check().value.unwrap();
    assert!(record.reason.contains("sleep"), "{record:?}");
    assert!(
        wait_for(Duration::from_secs(5), || sleeps(arg).is_empty()),
        "the hanging check outlived check-self: {:?}",
        sleeps(arg)
    );
}

#[test]
fn check_self_returns_before_its_deadline_whatever_the_cloud_does() {
    let fake = start(&loopback_topology(LO_PEER), Duration::ZERO);
    let deadline_ms = 800u64;
    let margin = Duration::from_secs(5);
    for (policy, service, code) in [
        ("", "", 0),
        ("on_cloud_error = \"fail\"\n", "", 1),
        // A healthy service still passes when the cloud is slow.
        (
            "",
            "service_checks = [ { argv = [\"true\"], timeout_ms = 500 } ]\n",
            0,
        ),
    ] {
        let node = Node::new(
            &fake,
            "ins-lo000001",
            &lo_vip(&format!(
                "[check]\ndeadline_ms = {deadline_ms}\ncloud_ttl_s = 1\n{policy}{service}"
            )),
        );
        node.record("default", KeepalivedState::Master);
        // Slow metadata and a slow API: discovery and the lookup both hang.
        for action in [None, Some("metadata".to_owned())] {
            fake.inject(FaultSpec {
                action,
                count: 1000,
                fault: Fault::Delay(Duration::from_secs(20)),
            });
        }
        let run = node.run("check-self", &[]);
        fake.clear_faults();
        assert_eq!(run.code, code, "{policy:?} {service:?}: {run:?}");
        let log = node.log_text();
        // By its own clock (from start to exit code) check-self kept its deadline…
        let own = log
            .lines()
            .filter(|l| l.contains("event=check_done"))
            .filter_map(|l| {
                l.split("elapsed_ms=")
                    .nth(1)?
                    .split(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .next_back();
        let own: u64 = own.unwrap_or_else(|| panic!("no check_done event: {log}"));
        // (With 100 ms for a loaded scheduler; waiting for the 1 s metadata timeout or the 2 s
        // request timeout would show.)
        assert!(own < deadline_ms + 100, "check-self took {own} ms: {log}");
        // …and from outside (process start and exit included, on a loaded machine) it was
        // nowhere near the 20 s the cloud would have taken.
        assert!(
            run.elapsed < Duration::from_millis(deadline_ms) + margin,
            "check-self overran check.deadline_ms = {deadline_ms} ({policy:?} {service:?}): \
             {run:?}\n{log}"
        );
        assert!(log.contains("cloud_unknown"), "{log}");
        assert!(detached_of(&node).is_empty());
    }
    assert!(writes(&fake).is_empty());
}

// ---------------------------------------------------------------------------------------------
// 21: keepalived just started

#[test]
fn nothing_recorded_yet_does_nothing() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    // The VIP is held by the peer; a node that knows nothing of keepalived yet must not act.
    let node = Node::new(&fake, "ins-node0002", "");
    for _ in 0..2 {
        let run = node.run("check-self", &[]);
        assert_eq!(run.code, 0, "{run:?}");
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    assert!(detached_of(&node).is_empty());
    let record = node.state().read_check().value.unwrap();
    assert!(record.reason.contains("no keepalived state"), "{record:?}");
}

#[test]
fn nothing_recorded_yet_leaves_the_nic_alone() {
    let ns = Netns::create();
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = netns_node(&fake, "");
    ns.add("198.18.1.100/32");
    for _ in 0..2 {
        let run = ns.run(&node, "check-self", &[]);
        assert_eq!(run.code, 0, "{run:?}");
        thread::sleep(Duration::from_millis(600));
    }
    assert!(ns.has(VIP), "{}", node.log_text());

    // Nor does it put a missing VIP on the NIC.
    let empty = Netns::create();
    let run = empty.run(&node, "check-self", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!empty.has(VIP));
}

/// Runs check-self as the child of a process named `keepalived` (a copy of /bin/sh) that started
/// `delay` before it.
fn check_under_keepalived(node: &Node, delay: Duration) -> Run {
    let parent = node.dir.path().join("keepalived");
    std::fs::copy("/bin/sh", &parent).unwrap();
    // `; exit $?` keeps the shell from exec-ing check-self: the shell stays its parent.
    let script = format!("sleep {}; \"$0\" \"$@\"; exit $?", delay.as_secs_f64());
    let mut cmd = Command::new(&parent);
    cmd.arg("-c")
        .arg(script)
        .arg(bin("check-self"))
        .arg("--config")
        .arg(&node.config)
        .env("TENCENTCLOUD_SECRET_ID", SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", SECRET_KEY)
        .stdin(Stdio::null());
    run(&mut cmd)
}

/// Node 1 with the VIP on an interface that does not exist (a restore attempt shows in the log
/// as vip_restore_failed and changes nothing on this host) and a fresh view: the VIP is here.
fn node_on_a_missing_interface(fake: &fake_vpc::FakeVpcHandle) -> Node {
    let more = format!(
        "[[vip]]\naddress = \"198.18.1.100\"\ninterface = \"tcvnone0\"\n\n{}",
        node_section("ins-node0001", "eni-node0001", "vpc-demo0001")
    );
    let node = Node::new(fake, "ins-node0001", &more);
    node.state()
        .write_cloud_view(&view(VIP, "eni-node0001", "ins-node0001", Duration::ZERO))
        .unwrap();
    node
}

#[test]
fn a_master_record_from_before_keepalived_started_changes_nothing() {
    // keepalived restarted on a node that was MASTER; before its first notification is recorded
    // it runs the track script. The old MASTER record must not put the VIP back on the NIC.
    // (The VIP's interface does not exist, so an attempt would show as vip_restore_failed and
    // change nothing on this host.)
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = node_on_a_missing_interface(&fake);

    // Recorded before keepalived started: a previous life.
    node.record("default", KeepalivedState::Master);
    thread::sleep(Duration::from_millis(50));
    let run = check_under_keepalived(&node, Duration::ZERO);
    assert_eq!(run.code, 0, "{run:?}");
    let log = node.log_text();
    assert!(log.contains("event=state_predates_keepalived"), "{log}");
    assert!(
        !log.contains("vip_restore"),
        "acted on a stale record:\n{log}"
    );

    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

#[test]
fn a_master_record_written_after_keepalived_started_is_acted_on() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = node_on_a_missing_interface(&fake);
    let recorder = {
        let state_dir = node.state_dir.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            vip_state::StateDir::open(&state_dir)
                .unwrap()
                .record_state(
                    "default",
                    KeepalivedState::Master,
                    Some(100),
                    vip_state::Source::Manual,
                )
                .unwrap();
        })
    };
    let run = check_under_keepalived(&node, Duration::from_millis(900));
    recorder.join().unwrap();
    assert_eq!(run.code, 0, "{run:?}");
    let log = node.log_text();
    assert!(!log.contains("state_predates_keepalived"), "{log}");
    assert!(
        log.contains("event=vip_restore_failed"),
        "the MASTER record was ignored:\n{log}"
    );
}

#[test]
fn one_track_script_checks_every_configured_instance() {
    // Two vrrp_instances, each with its VIP, and `check-self` without --instance (as the shipped
    // examples wire it): both are checked, and neither makes the check fail.
    let fake = start(&loopback_topology(LO_ME), Duration::ZERO);
    let node = Node::new(
        &fake,
        "ins-lo000001",
        &format!(
            "{}[[vip]]\naddress = \"126.0.1.100\"\ninstance = \"VI_1\"\ninterface = \"tcvnone0\"\n\n\
             [[vip]]\naddress = \"126.0.0.50\"\ninstance = \"VI_2\"\ninterface = \"lo\"\n",
            node_section("ins-lo000001", LO_ME, "vpc-lo000001"),
        ),
    );
    node.state()
        .write_cloud_view(&view(LO_VIP, LO_ME, "ins-lo000001", Duration::ZERO))
        .unwrap();
    node.record("VI_1", KeepalivedState::Master);
    node.record("VI_2", KeepalivedState::Backup);
    let run = node.run("check-self", &[]);
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{}", node.log_text());
    let check = node.state().read_check().value.unwrap();
    assert!(
        check.reason.contains("VI_1 MASTER") && check.reason.contains("VI_2 BACKUP"),
        "{check:?}"
    );
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    // One instance on its own, as before.
    let run = node.run("check-self", &["--instance", "VI_2"]);
    assert_eq!(run.code, 0, "{run:?}");
}

// ---------------------------------------------------------------------------------------------
// Never harm the node (issue 10, item 1)

/// Caches the identity of node 1 as discovery would, with `tv0`'s MAC as the primary MAC and
/// 198.18.1.11 as the primary IP.
fn cache_identity_on_tv0(ns: &Netns, node: &Node) {
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

    // An address that is its interface's first (its own) is not a stray either, whatever the
    // configuration says.
    ip(&[
        "-n",
        &ns.name,
        "addr",
        "add",
        "198.18.1.100/32",
        "dev",
        "tv1",
    ])
    .unwrap();
    let node = Node::new(
        &fake,
        "ins-node0001",
        &format!(
            "{}[[vip]]\naddress = \"198.18.1.100\"\ninterface = \"tv1\"\n",
            node_section("ins-node0001", "eni-node0001", "vpc-demo0001")
        ),
    );
    node.record("default", KeepalivedState::Backup);
    for _ in 0..2 {
        let run = ns.run(&node, "check-self", &[]);
        assert_eq!(run.code, 0, "{run:?}");
        thread::sleep(Duration::from_millis(600));
    }
    assert!(ns.has_on("tv1", VIP), "tv1 lost its own address");
    let log = node.log_text();
    assert!(log.contains("event=stray_vip_kept"), "{log}");
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}
