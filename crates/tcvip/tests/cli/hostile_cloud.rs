//! Hostile conditions for the cloud side: broken API and metadata replies, missing credentials, frozen
//! and killed processes, a state directory pulled from under a run.

use std::thread;
use std::time::Duration;

use fake_vpc::{FakeVpcHandle, Fault, FaultSpec};
use vip_state::{KeepalivedState, MigrationOutcome};

use crate::util::*;

/// `[node]` facts for ins-node0002 of the examples, so that discovery makes no API call.
const NODE2_LOCAL: &str = "[node]\ninstance_id = \"ins-node0002\"\neni_id = \"eni-node0002\"\n\
                           vpc_id = \"vpc-demo0001\"\n";

/// A MASTER node for `instance_id`.
fn master(fake: &FakeVpcHandle, instance_id: &str, extra: &str) -> Node {
    let node = Node::new(fake, instance_id, extra);
    node.record("default", KeepalivedState::Master);
    node
}

fn edit_config(node: &Node, from: &str, to: &str) {
    let text = std::fs::read_to_string(&node.config).unwrap();
    assert!(text.contains(from), "{from:?} not in {text}");
    std::fs::write(&node.config, text.replacen(from, to, 1)).unwrap();
}

fn writes(fake: &FakeVpcHandle) -> usize {
    fake.calls_of("MigratePrivateIpAddress").len() + fake.calls_of("AssignPrivateIpAddresses").len()
}

// ---------------------------------------------------------------------------------------------
// item 5: a malformed metadata reply is transient

#[test]
fn one_malformed_metadata_reply_does_not_abandon_a_role_credential_failover() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    // The interface is named, so that the one bad reply is the role's (no MAC is looked up).
    let node = master(
        &fake,
        "ins-node0002",
        &format!("{NODE2_LOCAL}[[vip]]\naddress = \"{VIP}\"\ninterface = \"lo\"\n"),
    );
    edit_config(&node, "source = \"env\"\n", "source = \"cvm-role\"\n");
    fake.inject(FaultSpec {
        action: Some("metadata".into()),
        count: 1,
        fault: Fault::Garbage,
    });
    let run = node.run("vip-migrate", &["--deadline-s", "20"]);
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{}", node.log_text());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));
    assert_eq!(writes(&fake), 1);
}

// ---------------------------------------------------------------------------------------------
// item 4: a landed move is not reported as failed when DescribeVpcTaskResult keeps failing

#[test]
fn a_move_that_landed_is_confirmed_by_describe_when_the_task_result_keeps_failing() {
    for fault in [
        Fault::Garbage,
        Fault::Http500,
        Fault::Drop,
        // Past the request timeout (2 s): each poll times out.
        Fault::Delay(Duration::from_millis(2500)),
    ] {
        let fake = start(&example("two-nodes"), Duration::from_millis(300));
        fake.inject(FaultSpec {
            action: Some("DescribeVpcTaskResult".into()),
            count: 1000,
            fault: fault.clone(),
        });
        let node = master(&fake, "ins-node0002", NODE2_LOCAL);
        let run = node.run("vip-migrate", &["--deadline-s", "40"]);
        assert_eq!(run.code, 0, "{fault:?}: {run:?}\nlog:\n{}", node.log_text());
        assert!(run.stdout.contains("moved from eni-node0001"), "{run:?}");
        assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));
        assert_eq!(writes(&fake), 1, "{fault:?}");
        let polls = fake.calls_of("DescribeVpcTaskResult").len();
        assert!((1..=6).contains(&polls), "{fault:?}: {polls} polls");
        assert_eq!(
            node.state().read_migration(VIP).value.map(|r| r.outcome),
            Some(MigrationOutcome::Success)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// item 2: the "VIP not on the NIC" grace survives a second MASTER record

#[test]
fn master_master_backup_in_a_burst_moves_nothing_when_the_vip_is_not_on_the_nic() {
    // Two nodes timing out together in a burst of notifications: MASTER, MASTER 50 ms later,
    // BACKUP 150 ms after that; the VIP is not on this node's interface throughout.
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = master(
        &fake,
        "ins-node0002",
        &format!("{NODE2_LOCAL}[[vip]]\naddress = \"{VIP}\"\ninterface = \"lo\"\n"),
    );
    let mut cmd = node.command("vip-migrate");
    let migrate = thread::spawn(move || run(&mut cmd));
    assert!(
        wait_for(Duration::from_secs(20), || node
            .log_text()
            .contains("event=vip_not_on_nic")),
        "log:\n{}",
        node.log_text()
    );
    thread::sleep(Duration::from_millis(50));
    node.record("default", KeepalivedState::Master);
    thread::sleep(Duration::from_millis(150));
    node.record("default", KeepalivedState::Backup);
    let run = migrate.join().unwrap();
    assert_eq!(run.code, 4, "{run:?}\nlog:\n{}", node.log_text());
    assert_eq!(writes(&fake), 0, "{:?}", fake.calls());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
}
/// The `attempt=` values of the log lines of `event`.
fn attempts_of(log: &str, event: &str) -> Vec<u32> {
    log.lines()
        .filter(|l| l.contains(&format!("event={event} ")))
        .filter_map(|l| {
            l.split(' ')
                .find_map(|kv| kv.strip_prefix("attempt="))
                .and_then(|v| v.parse().ok())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// item 11: no credentials at all

/// A node with `credentials.source = "auto"` and nothing for env or profile to find.
fn node_without_credentials(fake: &FakeVpcHandle) -> (Node, tempfile::TempDir) {
    let node = master(fake, "ins-node0002", NODE2_LOCAL);
    edit_config(&node, "source = \"env\"\n", "source = \"auto\"\n");
    (node, tempfile::tempdir().unwrap())
}

fn run_without_credentials(node: &Node, home: &std::path::Path, args: &[&str]) -> Run {
    let mut cmd = node.command("vip-migrate");
    cmd.args(args)
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .env_remove("TENCENTCLOUD_CREDENTIALS_FILE")
        .env("HOME", home);
    run(&mut cmd)
}

#[test]
fn no_credentials_anywhere_is_77_at_once() {
    // The loopback topology binds no CAM role: the metadata service answers 404, a definite
    // "none", as the environment and the profile files do.
    let fake = start(&loopback_topology("eni-lo000001"), Duration::ZERO);
    let node = master(
        &fake,
        "ins-lo000002",
        "[node]\ninstance_id = \"ins-lo000002\"\neni_id = \"eni-lo000002\"\nvpc_id = \"vpc-lo000001\"\n\n\
         [[vip]]\naddress = \"126.0.1.100\"\ninterface = \"tcvnone0\"\n",
    );
    edit_config(&node, "source = \"env\"\n", "source = \"auto\"\n");
    let home = tempfile::tempdir().unwrap();
    let run = run_without_credentials(&node, home.path(), &["--deadline-s", "60"]);
    assert_eq!(run.code, 77, "{run:?}\nlog:\n{}", node.log_text());
    assert!(
        run.elapsed < Duration::from_secs(20),
        "retried what cannot change: {run:?}"
    );
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    for attempt in attempts_of(&node.log_text(), "api_error") {
        assert!(attempt >= 1, "{}", node.log_text());
    }
}

#[test]
fn credentials_whose_source_cannot_be_reached_are_3_promptly_counting_attempts() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let (node, home) = node_without_credentials(&fake);
    fake.set_metadata_available(false);
    let run = run_without_credentials(&node, home.path(), &["--deadline-s", "60"]);
    assert_eq!(run.code, 3, "{run:?}\nlog:\n{}", node.log_text());
    assert!(
        run.elapsed < Duration::from_secs(30),
        "retried to the deadline: {run:?}"
    );
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    let attempts = attempts_of(&node.log_text(), "api_error");
    assert!(attempts.len() >= 2, "{}", node.log_text());
    let counted: Vec<u32> = (1..=attempts.len() as u32).collect();
    assert_eq!(attempts, counted, "{}", node.log_text());
    assert_eq!(
        node.state().read_migration(VIP).value.map(|r| r.outcome),
        Some(MigrationOutcome::Failed)
    );
}

#[test]
fn no_credentials_anywhere_stops_discovery_at_once_too() {
    // Discovery must ask the API for this node's ENI, and so needs credentials. No role bound
    // (the loopback topology has none): every source answers "none".
    let fake = start(&loopback_topology("eni-lo000001"), Duration::ZERO);
    let node = master(
        &fake,
        "ins-lo000002",
        "[node]\ninstance_id = \"ins-lo000002\"\nvpc_id = \"vpc-lo000001\"\n\n\
         [[vip]]\naddress = \"126.0.1.100\"\ninterface = \"tcvnone0\"\n",
    );
    edit_config(&node, "source = \"env\"\n", "source = \"auto\"\n");
    let home = tempfile::tempdir().unwrap();
    let run = run_without_credentials(&node, home.path(), &["--deadline-s", "60"]);
    assert_eq!(run.code, 77, "{run:?}\nlog:\n{}", node.log_text());
    assert!(run.stderr.contains("no source gave credentials"), "{run:?}");
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

// ---------------------------------------------------------------------------------------------
// item 12: unreachable to the deadline is 3; clock skew names the clock

#[test]
fn an_api_unreachable_to_the_deadline_is_unknown_3() {
    for fault in [Fault::Drop, Fault::Http500] {
        let fake = start(&example("two-nodes"), Duration::from_millis(200));
        fake.inject(FaultSpec {
            action: None,
            count: 100_000,
            fault: fault.clone(),
        });
        let node = master(&fake, "ins-node0002", NODE2_LOCAL);
        let run = node.run("vip-migrate", &["--deadline-s", "3"]);
        assert_eq!(run.code, 3, "{fault:?}: {run:?}\nlog:\n{}", node.log_text());
        assert!(run.stderr.contains("deadline"), "{run:?}");
        assert_eq!(writes(&fake), 0);
    }
}

#[test]
fn a_clock_skew_refusal_says_to_check_the_clock() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    fake.inject(FaultSpec {
        action: Some("DescribeNetworkInterfaces".into()),
        count: 10,
        fault: Fault::ApiError(
            "AuthFailure.SignatureExpire".into(),
            "Signature expired. Timestamp is later than the server time by more than 5 minutes."
                .into(),
        ),
    });
    let node = master(&fake, "ins-node0002", NODE2_LOCAL);
    let run = node.run("vip-migrate", &["--deadline-s", "20"]);
    assert_eq!(run.code, 77, "{run:?}\nlog:\n{}", node.log_text());
    assert!(
        run.stderr.contains("check the node's clock (NTP)"),
        "{run:?}"
    );
    assert!(
        !run.stderr.contains("after refreshing credentials"),
        "{run:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// issue 9: which credential source was used is logged once

#[test]
fn the_credential_source_is_logged_once_at_info() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = master(&fake, "ins-node0002", NODE2_LOCAL);
    let run = node.run("vip-migrate", &[]);
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{}", node.log_text());
    let log = node.log_text();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("event=credentials "))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("level=info"), "{log}");
    assert!(lines[0].contains("source=env"), "{log}");
    assert!(!lines[0].contains(SECRET_KEY), "{log}");

    edit_config(&node, "source = \"env\"\n", "source = \"cvm-role\"\n");
    edit_config(&node, "level = \"debug\"", "level = \"info\"");
    let run = node.run("vip-query", &[]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "true\n"), "{run:?}");
    let log = node.log_text();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("bin=vip-query") && l.contains("event=credentials "))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("source=cvm-role"), "{log}");
    assert!(lines[0].contains("tcvip-demo-role"), "{log}");
    assert!(lines[0].contains("expires=20"), "{log}");
}

// ---------------------------------------------------------------------------------------------
// item 12: a profile file readable by others is refused like a tcvip.toml with keys

#[test]
fn a_profile_file_readable_by_others_is_refused_with_78() {
    use std::os::unix::fs::PermissionsExt as _;
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = master(&fake, "ins-node0002", NODE2_LOCAL);
    let profile = node.dir.path().join("credentials");
    std::fs::write(
        &profile,
        format!("[default]\nsecret_id = {SECRET_ID}\nsecret_key = {SECRET_KEY}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&profile, std::fs::Permissions::from_mode(0o644)).unwrap();
    edit_config(
        &node,
        "source = \"env\"\n",
        &format!(
            "source = \"profile\"\nprofile_file = \"{}\"\n",
            profile.display()
        ),
    );
    let run = node.run("vip-migrate", &[]);
    assert_eq!(run.code, 78, "{run:?}\nlog:\n{}", node.log_text());
    assert!(run.stderr.contains("0644"), "{run:?}");
    assert!(run.stderr.contains("chmod 600"), "{run:?}");
    assert!(!run.stderr.contains(SECRET_KEY), "{run:?}");
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());

    std::fs::set_permissions(&profile, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = node.run("vip-migrate", &[]);
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{}", node.log_text());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));
}

// ---------------------------------------------------------------------------------------------
// item 7: a frozen lock holder does not block failover forever

fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_frozen_lock_holder_past_its_deadline_is_reported_stuck_and_not_joined() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    // The VIP is not on lo: the first run waits briefly before its write, and is frozen there.
    let node = master(
        &fake,
        "ins-node0002",
        &format!("{NODE2_LOCAL}[[vip]]\naddress = \"{VIP}\"\ninterface = \"lo\"\n"),
    );
    let mut frozen = node
        .command("vip-migrate")
        .args(["--deadline-s", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || node
            .log_text()
            .contains("event=vip_not_on_nic")),
        "log:\n{}",
        node.log_text()
    );
    signal(frozen.id(), "STOP");
    // Past its 1 s deadline and the margin.
    thread::sleep(Duration::from_millis(
        1000 + vip_state::STUCK_MARGIN_MS + 500,
    ));

    let status = node.run("vip-query", &["--status"]);
    assert!(status.stdout.contains("stuck"), "{status:?}");

    let run = node.run("vip-migrate", &["--deadline-s", "20"]);
    let log = node.log_text();
    let _ = frozen.kill();
    let _ = frozen.wait();
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{log}");
    assert!(
        !run.stdout.contains("in flight"),
        "joined the frozen run: {run:?}"
    );
    assert!(log.contains("event=migration_stuck"), "{log}");
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));
    assert_eq!(writes(&fake), 1);
}

// ---------------------------------------------------------------------------------------------
// item 12: a killed run's migration record does not read "in flight" forever

#[test]
fn the_status_says_a_killed_run_died_instead_of_in_flight() {
    let fake = start(&example("two-nodes"), Duration::from_millis(1500));
    let node = master(&fake, "ins-node0002", NODE2_LOCAL);
    kill_after_first_write(&node, &fake, "MigratePrivateIpAddress");
    let record = node.state().read_migration(VIP).value.unwrap();
    assert_eq!(record.outcome, MigrationOutcome::InFlight, "{record:?}");
    let status = node.run("vip-query", &["--status"]);
    let line = status
        .stdout
        .lines()
        .find(|l| l.contains("last migration"))
        .unwrap_or_else(|| panic!("{status:?}"))
        .to_owned();
    assert!(line.contains("died"), "{status:?}");
    assert!(!line.contains("in_flight"), "{status:?}");
    assert!(!status.stdout.contains("in flight:"), "{status:?}");
}

// ---------------------------------------------------------------------------------------------
// item 12: deleting the state directory during a migration does not start a second one

#[test]
fn a_state_directory_deleted_during_a_migration_does_not_let_a_second_run_beside_it() {
    let fake = start(&example("two-nodes"), Duration::from_secs(3));
    let node = master(&fake, "ins-node0002", NODE2_LOCAL);
    let mut cmd = node.command("vip-migrate");
    let first = thread::spawn(move || run(&mut cmd));
    assert!(wait_for(Duration::from_secs(20), || !fake
        .calls_of("MigratePrivateIpAddress")
        .is_empty()));
    std::fs::remove_dir_all(&node.state_dir).unwrap();
    // keepalived notifies MASTER again (e.g. a restart): the record is back, the lock file not.
    node.record("default", KeepalivedState::Master);
    let status = node.run("vip-query", &["--status"]);
    assert!(status.stdout.contains("in flight:"), "{status:?}");
    let second = node.run("vip-migrate", &[]);
    assert_eq!(second.code, 0, "{second:?}\nlog:\n{}", node.log_text());
    assert!(
        second.stdout.contains("a migration is already in flight"),
        "ran beside the first: {second:?}\nlog:\n{}",
        node.log_text()
    );
    let first = first.join().unwrap();
    assert_eq!(first.code, 0, "{first:?}\nlog:\n{}", node.log_text());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));
    assert_eq!(writes(&fake), 1);
}

#[test]
fn check_self_reports_a_stuck_migration_and_reconciles_past_it() {
    // The VIP is on an interface that does not exist here: check-self changes no interface.
    let fake = start(&loopback_topology("eni-lo000002"), Duration::ZERO);
    let node = master(
        &fake,
        "ins-lo000001",
        "[node]\ninstance_id = \"ins-lo000001\"\neni_id = \"eni-lo000001\"\nvpc_id = \"vpc-lo000001\"\n\n\
         [[vip]]\naddress = \"126.0.1.100\"\ninterface = \"tcvnone0\"\n",
    );
    let _detached = Detached(&node);
    let lo_vip = OFF_HOST_VIP;
    fake.inject(FaultSpec {
        action: Some("DescribeNetworkInterfaces".into()),
        count: 1,
        fault: Fault::Delay(Duration::from_secs(3)),
    });
    let mut frozen = node
        .command("vip-migrate")
        .args(["--deadline-s", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(20), || matches!(
        node.state().vip_lock_status(lo_vip),
        Ok(vip_state::LockStatus::Held(Some(_)))
    )));
    signal(frozen.id(), "STOP");
    thread::sleep(Duration::from_millis(
        1000 + vip_state::STUCK_MARGIN_MS + 500,
    ));

    // The delay was for the frozen run: check-self looks the VIP up again before a reconcile
    // (a cached view alone never starts one), and must not meet a delay meant for another.
    fake.clear_faults();
    // A fresh view: the peer holds the VIP, so this MASTER must reconcile.
    node.state()
        .write_cloud_view(&vip_state::CloudView {
            vip: lo_vip,
            holder_eni: Some("eni-lo000002".into()),
            holder_instance: Some("ins-lo000002".into()),
            ip_state: Some("AVAILABLE".into()),
            learned_at_ms: vip_state::now_ms(),
        })
        .unwrap();
    let run = node.run("check-self", &[]);
    let moved = wait_for(Duration::from_secs(30), || {
        fake.holder_of(lo_vip).as_deref() == Some("eni-lo000001")
    });
    let _ = frozen.kill();
    let _ = frozen.wait();
    let log = node.log_text();
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("bin=check-self") && l.contains("event=migration_stuck")),
        "{log}"
    );
    assert!(moved, "the reconcile waited for the stuck run: {log}");
}
