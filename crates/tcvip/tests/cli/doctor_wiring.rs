//! `tcvip doctor` on keepalived.conf wiring gone wrong: each break caught with its fix, from a
//! healthy rendering of the shipped example changed one line at a time.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use crate::doctor::*;
use crate::util::*;

/// Runs doctor with the instance file changed by `edit`, expects `code` and a finding
/// containing `summary` whose fix contains `fix`.
fn broken(
    edit: impl Fn(String) -> String,
    main_edit: impl Fn(String) -> String,
    code: i32,
    summary: &str,
    fix: &str,
) {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = node1(&fake);
    let instance = edit(healthy_instance());
    let main = main_edit(healthy_conf());
    assert!(
        instance != healthy_instance() || main != healthy_conf(),
        "the edit changed nothing"
    );
    let run = doctor(&node, &main, &instance, "2.2.7", &[]);
    assert_eq!(run.code, code, "{}", run.stdout);
    let f = finding(&run, summary);
    assert!(
        f.contains("fix: ") && f.contains(fix),
        "fix {fix:?} missing in:\n{f}"
    );
}

fn same(s: String) -> String {
    s
}

#[test]
fn doctor_catches_a_vip_missing_from_virtual_ipaddress() {
    broken(
        |s| s.replace("198.18.1.100/32 dev lo", "198.18.1.101/32 dev lo"),
        same,
        2,
        "no vrrp_instance lists 198.18.1.100 in virtual_ipaddress",
        "add `198.18.1.100/32 dev IFACE` to virtual_ipaddress",
    );
}

#[test]
fn doctor_catches_a_vip_on_the_wrong_device() {
    broken(
        |s| s.replace("198.18.1.100/32 dev lo", "198.18.1.100/32 dev eth1"),
        same,
        2,
        "VI_1: 198.18.1.100 is put on eth1, but tcvip expects it on lo",
        "write `198.18.1.100/32 dev lo` in virtual_ipaddress",
    );
}

#[test]
fn doctor_catches_multicast_vrrp() {
    broken(
        |s| {
            s.replace("    unicast_src_ip 198.18.1.11\n", "")
                .replace("    unicast_peer {\n        198.18.1.12\n    }\n", "")
        },
        same,
        2,
        "VI_1: no unicast_peer",
        "add `unicast_src_ip 198.18.1.11` and `unicast_peer { PEER_PRIMARY_IP }`",
    );
}

#[test]
fn doctor_catches_a_wrong_unicast_src_ip() {
    broken(
        |s| s.replace("unicast_src_ip 198.18.1.11", "unicast_src_ip 198.18.1.99"),
        same,
        2,
        "unicast_src_ip 198.18.1.99 is not this node's primary IP 198.18.1.11",
        "set `unicast_src_ip 198.18.1.11`",
    );
}

#[test]
fn doctor_catches_notify_not_wired() {
    broken(
        |s| {
            s.lines()
                .filter(|l| !l.trim_start().starts_with("notify \""))
                .map(|l| format!("{l}\n"))
                .collect()
        },
        same,
        2,
        "VI_1: notify is not wired to notify-action",
        "add `notify \"/usr/local/bin/notify-action\"` to vrrp_instance VI_1",
    );
}

#[test]
fn doctor_warns_when_notify_master_rx_lower_pri_is_not_wired() {
    broken(
        |s| {
            s.lines()
                .filter(|l| !l.contains("notify_master_rx_lower_pri"))
                .map(|l| format!("{l}\n"))
                .collect()
        },
        same,
        1,
        "VI_1: notify_master_rx_lower_pri is not wired",
        "add `notify_master_rx_lower_pri \"/usr/local/bin/notify-action MASTER_RX_LOWER_PRI\"`",
    );
}

#[test]
fn doctor_catches_a_track_script_timeout_not_above_the_deadline() {
    broken(
        same,
        |s| s.replace("    timeout 3\n", ""),
        2,
        "vrrp_script tcvip_check timeout 2 s is not above check.deadline_ms 2000",
        "set `timeout 3` in vrrp_script tcvip_check",
    );
}

#[test]
fn doctor_catches_a_missing_check_self_track_script() {
    broken(
        |s| s.replace("    track_script {\n        tcvip_check\n    }\n", ""),
        same,
        2,
        "VI_1: no track_script runs check-self",
        "track_script { tcvip_check }",
    );
}

#[test]
fn doctor_catches_missing_script_security() {
    broken(
        same,
        |s| s.replace("    enable_script_security\n", ""),
        2,
        "global_defs has no enable_script_security",
        "add `enable_script_security` and `script_user root` to global_defs",
    );
}

#[test]
fn doctor_catches_a_script_others_can_replace() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("check-self");
    std::fs::copy(bin("check-self"), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o757)).unwrap();
    let original = bin("check-self").display().to_string();
    let copy_text = copy.display().to_string();
    broken(
        same,
        |s| s.replace(&original, &copy_text),
        2,
        &format!("{copy_text}: {copy_text} is writable by others"),
        "install with scripts/install.sh",
    );
}

#[test]
fn doctor_catches_a_feature_the_keepalived_version_lacks() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = node1(&fake);
    let run = doctor(&node, &healthy_conf(), &healthy_instance(), "1.3.5", &[]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let f = finding(
        &run,
        "keepalived 1.3.5 does not know: notify_master_rx_lower_pri (from 2.0.6)",
    );
    assert!(f.contains("fix: remove those lines"), "{f}");
}

#[test]
fn doctor_catches_a_vip_that_is_a_primary_ip() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(
        &fake,
        "ins-node0001",
        "[[vip]]\naddress = \"198.18.1.12\"\ninterface = \"lo\"\n",
    );
    let instance = healthy_instance().replace("198.18.1.100/32", "198.18.1.12/32");
    let run = doctor(&node, &healthy_conf(), &instance, "2.2.7", &[]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let f = finding(&run, "198.18.1.12 is the primary IP of eni-node0002");
    assert!(f.contains("fix: a primary IP can never move"), "{f}");
}
