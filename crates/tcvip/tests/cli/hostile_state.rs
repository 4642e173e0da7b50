//! The binaries when the state directory fails them (issue 10): a notification that cannot be
//! recorded, a newer one noted beside the record, and a state directory read-only or full. The
//! VIP still moves where keepalived says, and check-self fails so that keepalived knows.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::netns::{require_root, require_tool};
use crate::util::*;

#[test]
fn a_master_notification_that_cannot_be_recorded_still_moves_the_vip_and_check_self_fails() {
    // Node 2 becomes MASTER while something holds its instance lock past notify-action's wait:
    // the MASTER cannot be recorded over the old BACKUP record.
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = Node::new(
        &fake,
        "ins-node0002",
        &format!(
            "[node]\ninstance_id = \"ins-node0002\"\neni_id = \"eni-node0002\"\nvpc_id = \"vpc-demo0001\"\n\n\
             [[vip]]\naddress = \"{VIP}\"\ninterface = \"tcvnone0\"\n"
        ),
    );
    let _detached = Detached(&node);
    node.record("default", vip_state::KeepalivedState::Backup);
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(node.state_dir.join("state-default.lock"))
        .unwrap();
    lock.lock().unwrap();

    let notify = node.run("notify-action", &["MASTER"]);
    assert_ne!(notify.code, 0, "{notify:?}");
    assert!(notify.stderr.contains("recording MASTER"), "{notify:?}");
    // The move is made all the same.
    assert!(
        wait_for(Duration::from_secs(30), || fake.holder_of(VIP).as_deref()
            == Some("eni-node0002")),
        "the VIP did not move: {}",
        node.log_text()
    );
    assert_eq!(fake.calls_of("MigratePrivateIpAddress").len(), 1);
    wait_detached(&node, Duration::from_secs(30));
    let log = node.log_text();
    assert!(log.contains("event=state_not_recorded"), "{log}");
    assert!(log.contains("notified_master_after_seq=1"), "{log}");

    // The record still says BACKUP: check-self must not act on it (it would remove the VIP
    // keepalived put on this MASTER's NIC) but fail, so that keepalived goes to FAULT.
    let check = node.run("check-self", &[]);
    assert_eq!(check.code, 1, "{check:?}");
    let record = node.state().read_check().value.unwrap();
    assert!(
        record
            .reason
            .contains("MASTER notification could not be recorded"),
        "{record:?}"
    );
    assert!(!node.log_text().contains("stray"), "{}", node.log_text());

    // Once the next notification is recorded, the record is trusted again.
    lock.unlock().unwrap();
    let notify = node.run("notify-action", &["MASTER"]);
    assert_eq!(notify.code, 0, "{notify:?}");
    wait_detached(&node, Duration::from_secs(30));
    let check = node.run("check-self", &[]);
    assert_eq!(check.code, 0, "{check:?}");
}

#[test]
fn a_newer_backup_that_could_not_be_recorded_stops_a_move() {
    // The MASTER could not be recorded, then neither could the BACKUP that followed it: the
    // note of the BACKUP, newer than the record, stops vip-migrate before any write.
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(
        &fake,
        "ins-node0002",
        &format!(
            "[node]\ninstance_id = \"ins-node0002\"\neni_id = \"eni-node0002\"\nvpc_id = \"vpc-demo0001\"\n\n\
             [[vip]]\naddress = \"{VIP}\"\ninterface = \"tcvnone0\"\n"
        ),
    );
    node.record("default", vip_state::KeepalivedState::Backup);
    let seq = node.state().read_state("default").seq.to_string();
    node.state()
        .write_unrecorded(&vip_state::Unrecorded {
            instance: "default".to_owned(),
            state: vip_state::KeepalivedState::Backup,
            at_ms: vip_state::now_ms() + 1,
            error: "timed out waiting for the lock".to_owned(),
            launch: None,
        })
        .unwrap();
    let run = node.run("vip-migrate", &["--notified-master", &seq]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(fake.calls_of("MigratePrivateIpAddress").is_empty());
}

/// How the state directory is broken for [`run_with_state`].
#[derive(Clone, Copy)]
enum Broken {
    /// Mounted read-only.
    ReadOnly,
    /// On a file system with no space left (its files copied onto a small, filled tmpfs).
    Full,
}

/// `binary args…` of `node`, run in a mount namespace of its own where the state directory is
/// broken as `how` says (root and `unshare` needed: the test fails without them). Nothing
/// outside that namespace changes.
fn run_with_state(node: &Node, how: Broken, binary: &str, args: &[&str]) -> Run {
    require_root("a mount namespace");
    require_tool("unshare");
    let script = match how {
        Broken::ReadOnly => {
            "mount --bind \"$1\" \"$1\" && mount -o remount,bind,ro \"$1\" && shift && exec \"$@\""
        }
        Broken::Full => {
            "set -e; d=$1; shift; keep=$(mktemp -d); cp -a \"$d/.\" \"$keep/\"; \
             mount -t tmpfs -o size=64k,mode=700 tcvip-full \"$d\"; cp -a \"$keep/.\" \"$d/\"; \
             rm -rf \"$keep\"; dd if=/dev/zero of=\"$d/filler\" bs=4k 2>/dev/null || true; exec \"$@\""
        }
    };
    let inner = node.command(binary);
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
    ])
    .arg(&node.state_dir)
    .arg(inner.get_program())
    .args(inner.get_args())
    .args(args);
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    run(cmd.stdin(Stdio::null()))
}

#[test]
fn a_read_only_or_full_state_directory_still_moves_the_vip_and_fails_the_check() {
    // `lock_file`: whether an earlier migration left the VIP's lock file. Without it, on a
    // read-only directory, the VIP's guard alone keeps the run single-flight.
    for (how, error, lock_file) in [
        (Broken::ReadOnly, "Read-only file system", true),
        (Broken::ReadOnly, "Read-only file system", false),
        (Broken::Full, "No space left on device", true),
    ] {
        let fake = start(&example("two-nodes"), Duration::ZERO);
        let node = Node::new(
            &fake,
            "ins-node0002",
            &format!(
                "[node]\ninstance_id = \"ins-node0002\"\neni_id = \"eni-node0002\"\nvpc_id = \"vpc-demo0001\"\n\n\
                 [[vip]]\naddress = \"{VIP}\"\ninterface = \"tcvnone0\"\n"
            ),
        );
        let _detached = Detached(&node);
        node.record("default", vip_state::KeepalivedState::Backup);
        if lock_file {
            // Any earlier migration left the VIP's lock file: locking it needs no write.
            drop(node.state().try_lock_vip(VIP, "earlier").unwrap());
        }
        let notify = run_with_state(&node, how, "notify-action", &["MASTER"]);
        assert_ne!(notify.code, 0, "{error}: {notify:?}");
        assert!(notify.stderr.contains(error), "{error}: {notify:?}");
        assert!(
            wait_for(Duration::from_secs(30), || fake.holder_of(VIP).as_deref()
                == Some("eni-node0002")),
            "{error} (lock file: {lock_file}): the VIP did not move: {}",
            node.log_text()
        );
        wait_detached(&node, Duration::from_secs(30));
        let check = run_with_state(&node, how, "check-self", &[]);
        assert_eq!(check.code, 1, "{error}: {check:?}");
        let log = node.log_text();
        assert!(log.contains("cannot write its state"), "{error}: {log}");
    }
}
