//! The binaries under hostile conditions (issue 10): a config path that is not a file, a state
//! directory that cannot be used, errors before the log is set up, descriptors and children that
//! outlive their welcome, and overlapping track-script runs.

use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

const BINARIES: [&str; 4] = ["notify-action", "vip-migrate", "vip-query", "check-self"];

/// The arguments that make `binary` act (and so read its configuration).
fn act_args(binary: &str) -> &'static [&'static str] {
    match binary {
        "notify-action" => &["MASTER"],
        "vip-migrate" => &["--force"],
        _ => &[],
    }
}

/// Runs `cmd`, killing it past `limit` (then `None`: it hung).
fn run_within(cmd: &mut Command, limit: Duration) -> Option<Run> {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            let mut run = Run::from(out);
            run.elapsed = started.elapsed();
            return Some(run);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

#[test]
fn a_fifo_at_the_config_path_is_exit_78_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("tcvip.toml");
    mkfifo(&fifo);
    for binary in BINARIES {
        let mut cmd = Command::new(bin(binary));
        cmd.arg("--config")
            .arg(&fifo)
            .args(act_args(binary))
            .stdin(Stdio::null());
        let run = run_within(&mut cmd, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{binary} hung opening a FIFO as its config"));
        assert_eq!(run.code, 78, "{binary}: {run:?}");
        assert!(
            run.stderr.contains("not a regular file (a FIFO)"),
            "{binary}: {run:?}"
        );
        assert!(
            run.stderr.contains(&fifo.display().to_string()),
            "{binary}: {run:?}"
        );
    }
}

#[test]
fn an_unusable_state_directory_is_exit_78_naming_it() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(&fake, "ins-node0001", "");
    // A file where the directory should be, then a directory others may write to.
    std::fs::write(&node.state_dir, b"not a directory").unwrap();
    for binary in BINARIES {
        let run = node.run(binary, act_args(binary));
        assert_eq!(run.code, 78, "{binary}: {run:?}");
        assert!(
            run.stderr.contains("is not a directory"),
            "{binary}: {run:?}"
        );
        assert!(
            run.stderr.contains(&node.state_dir.display().to_string()),
            "{binary}: {run:?}"
        );
    }
    std::fs::remove_file(&node.state_dir).unwrap();
    std::fs::create_dir(&node.state_dir).unwrap();
    std::fs::set_permissions(
        &node.state_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    for binary in BINARIES {
        let run = node.run(binary, act_args(binary));
        assert_eq!(run.code, 78, "{binary}: {run:?}");
        assert!(run.stderr.contains("chmod 700"), "{binary}: {run:?}");
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

#[test]
fn an_error_before_the_log_is_set_up_reaches_syslog_under_the_binary_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tcvip.toml");
    // A typo: the file never parses, so log.target is never known.
    std::fs::write(&config, "[[vip]]\nadress = \"10.0.1.100\"\n").unwrap();
    let socket_path = dir.path().join("log.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for binary in BINARIES {
        let run = run(Command::new(bin(binary))
            .arg("--config")
            .arg(&config)
            .args(act_args(binary))
            .env("TCVIP_SYSLOG_SOCKET", &socket_path)
            .stdin(Stdio::null()));
        assert_eq!(run.code, 78, "{binary}: {run:?}");
        let mut buf = vec![0u8; 65536];
        let n = socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("{binary}: nothing reached syslog: {e}"));
        let line = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(line.contains(" tcvip["), "{binary}: {line}");
        assert!(
            line.contains(&format!("bin={binary} level=error event=failed exit=78")),
            "{binary}: {line}"
        );
        assert!(
            line.contains("adress"),
            "{binary}: the key is not named: {line}"
        );
        // stderr still has it for a person at the console.
        assert!(run.stderr.contains("adress"), "{binary}: {run:?}");
    }
}

#[test]
fn a_service_check_that_leaves_a_child_holding_its_output_is_not_waited_for() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    // A distinctive duration, to find the leftover again.
    let arg = "27.1828";
    let node = Node::new(
        &fake,
        "ins-node0001",
        &format!(
            "[check]\ndeadline_ms = 20000\nservice_checks = [ {{ argv = [\"sh\", \"-c\", \
             \"sleep {arg} & echo started\"], timeout_ms = 20000 }} ]\n"
        ),
    );
    let run = node.run("check-self", &[]);
    for pid in sleeps(arg) {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
    assert_eq!(run.code, 0, "the check passed: {run:?}");
    // It exited at once: check-self must not wait for the leftover (20 s here), far beyond
    // keepalived's script timeout.
    assert!(run.elapsed < Duration::from_secs(10), "{run:?}");
}

/// Node 1 of the two-node example, identity in the config, its VIP on an interface that does
/// not exist (a restore attempt fails and changes nothing on this host).
fn node_off_the_host(fake: &fake_vpc::FakeVpcHandle, more: &str) -> Node {
    Node::new(
        fake,
        "ins-node0001",
        &format!(
            "[node]\ninstance_id = \"ins-node0001\"\neni_id = \"eni-node0001\"\nvpc_id = \"vpc-demo0001\"\n\n\
             [[vip]]\naddress = \"{VIP}\"\ninterface = \"tcvnone0\"\n\n{more}"
        ),
    )
}

#[test]
fn the_verdict_is_saved_when_the_cloud_used_up_the_deadline_and_each_run_is_shown() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = node_off_the_host(
        &fake,
        "[check]\ndeadline_ms = 1000\ncloud_ttl_s = 1\non_cloud_error = \"fail\"\n",
    );
    node.record("default", vip_state::KeepalivedState::Master);
    fake.inject(fake_vpc::FaultSpec {
        action: None,
        count: 1000,
        fault: fake_vpc::Fault::Delay(Duration::from_secs(20)),
    });
    let first = node.run("check-self", &[]);
    assert_eq!(first.code, 1, "{first:?}");
    let record = node
        .state()
        .read_check()
        .value
        .unwrap_or_else(|| panic!("the verdict was not saved: {}", node.log_text()));
    assert_eq!(record.result, vip_state::CheckResult::Fail, "{record:?}");
    assert!(record.reason.contains("cloud unknown"), "{record:?}");

    // The same verdict again: "last check" is this run, and says since when it has held.
    thread::sleep(Duration::from_millis(20));
    let second = node.run("check-self", &[]);
    assert_eq!(second.code, 1, "{second:?}");
    let again = node.state().read_check().value.unwrap();
    assert!(again.at_ms > record.at_ms, "{record:?} {again:?}");
    assert_eq!(again.since(), record.at_ms, "{record:?} {again:?}");
    fake.clear_faults();
    let status = node.run("vip-query", &["--status"]);
    let line = status
        .stdout
        .lines()
        .find(|l| l.contains("last check:"))
        .unwrap_or_else(|| panic!("{status:?}"))
        .to_owned();
    assert!(
        line.contains(&format!(
            "last check: fail at {} (the same since {}): ",
            vip_state::format_utc(again.at_ms),
            vip_state::format_utc(record.at_ms)
        )),
        "{line}"
    );
}

#[test]
fn an_enis_primary_ip_is_refused_as_a_vip_with_exit_78() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    // 198.18.1.11 is node 1's own primary IP, 198.18.1.12 node 2's: each a typo away from a VIP.
    for (address, eni) in [
        ("198.18.1.11", "eni-node0001"),
        ("198.18.1.12", "eni-node0002"),
    ] {
        let node = Node::new(
            &fake,
            "ins-node0001",
            &format!("[[vip]]\naddress = \"{address}\"\ninterface = \"tcvnone0\"\n"),
        );
        let _detached = Detached(&node);
        node.record("default", vip_state::KeepalivedState::Master);
        let needle = format!("{address} is the primary IP of {eni}");
        let query = node.run("vip-query", &[]);
        assert_eq!(query.code, 78, "{address}: {query:?}");
        assert_eq!(query.stdout.trim(), "unknown", "{address}: {query:?}");
        assert!(query.stderr.contains(&needle), "{address}: {query:?}");
        let migrate = node.run("vip-migrate", &[]);
        assert_eq!(migrate.code, 78, "{address}: {migrate:?}");
        assert!(migrate.stderr.contains(&needle), "{address}: {migrate:?}");
        // check-self as MASTER fails (keepalived goes to FAULT) and starts nothing.
        let check = node.run("check-self", &[]);
        assert_ne!(check.code, 0, "{address}: {check:?}");
        let log = node.log_text();
        assert!(log.contains(&needle), "{address}: {check:?}\n{log}");
        assert!(!log.contains("migrate_started"), "{address}: {log}");
    }
    let writes: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| !c.action.starts_with("Describe"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[test]
fn a_second_check_self_while_one_runs_returns_the_last_verdict_at_once() {
    // keepalived 2.1.3-2.3.2 starts the track script again while the last run still runs.
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(
        &fake,
        "ins-node0001",
        "[check]\ndeadline_ms = 5000\nservice_checks = [ { argv = [\"sleep\", \"1.5\"], timeout_ms = 4000 } ]\n",
    );
    let first = node.run("check-self", &[]);
    assert_eq!(first.code, 0, "{first:?}");
    let mut slow = node
        .command("check-self")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || node
        .log_text()
        .matches("event=check_done")
        .count()
        == 1
        && sleeps_running("1.5")));
    let second = node.run("check-self", &[]);
    assert!(slow.wait().unwrap().success());
    assert_eq!(second.code, 0, "{second:?}");
    let log = node.log_text();
    assert!(log.contains("event=check_in_flight"), "{log}");
    // Only the two full runs ran the service check.
    assert_eq!(log.matches("event=check_done").count(), 2, "{log}");

    // The verdict returned is the last one reached: a failed run makes the next overlapping
    // copy fail too, without running anything.
    let state = node.state();
    let vip_state::FlightAttempt::Alone(held) = state.try_flight("check", "default").unwrap()
    else {
        panic!("check-self left its lock held");
    };
    held.finish(&vip_state::Verdict {
        code: 1,
        reason: "BACKUP: service check failed".to_owned(),
        at_ms: vip_state::now_ms(),
    })
    .unwrap();
    let third = node.run("check-self", &[]);
    assert_eq!(third.code, 1, "{third:?}");
    assert_eq!(node.log_text().matches("event=check_done").count(), 2);
    drop(held);
    assert_eq!(node.run("check-self", &[]).code, 0);
}

/// Whether a `sleep ARG` process is running.
fn sleeps_running(arg: &str) -> bool {
    !sleeps(arg).is_empty()
}
