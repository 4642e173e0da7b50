//! vip-migrate when things go wrong: keepalived leaving MASTER mid-run, refused signatures, a
//! cloud that stops answering or never lands the move (each ends by the deadline), SIGTERM,
//! flags out of range, discovery over a flaky cloud. Helpers in [`crate::migrate`].

use std::thread;
use std::time::{Duration, Instant};

use fake_vpc::{Fault, FaultSpec};
use vip_state::{KeepalivedState, MigrationOutcome};

use crate::migrate::*;
use crate::util::*;

#[test]
fn backup_recorded_while_the_cloud_is_slow_stops_before_any_write() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    fake.inject(FaultSpec {
        action: Some("DescribeNetworkInterfaces".into()),
        count: 1,
        fault: Fault::Delay(Duration::from_millis(1500)),
    });
    let node = master(&fake, "ins-node0002", NODE2_LOCAL);
    let mut cmd = node.command("vip-migrate");
    let migrate = thread::spawn(move || run(&mut cmd));

    // The run has started (its in-flight record is written before the first lookup) and the
    // slow lookup has not been answered yet: keepalived now says BACKUP.
    assert!(wait_for(Duration::from_secs(20), || {
        node.state()
            .read_migration(VIP)
            .value
            .is_some_and(|r| r.outcome == MigrationOutcome::InFlight)
    }));
    node.record("default", KeepalivedState::Backup);
    assert!(
        fake.calls_of("DescribeNetworkInterfaces").is_empty(),
        "the lookup was not slow enough to record BACKUP during it"
    );

    let run = migrate.join().unwrap();
    assert_eq!(run.code, 4, "{run:?}\nlog:\n{}", node.log_text());
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
    assert_eq!(
        last_migration(&node, VIP).outcome,
        MigrationOutcome::Aborted
    );
}

#[test]
fn signature_failure_is_not_retried_and_exits_77() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    fake.inject(FaultSpec {
        action: Some("MigratePrivateIpAddress".into()),
        count: 5,
        fault: Fault::ApiError(
            "AuthFailure.SignatureFailure".into(),
            "The provided credentials could not be validated.".into(),
        ),
    });
    let node = master(&fake, "ins-node0002", "");
    let run = node.run("vip-migrate", &["--deadline-s", "20"]);
    assert_eq!(run.code, 77, "{run:?}\nlog:\n{}", node.log_text());
    assert!(
        run.stderr.contains("AuthFailure.SignatureFailure"),
        "{run:?}"
    );
    assert_eq!(fake.calls_of("MigratePrivateIpAddress").len(), 1);
    assert!(
        run.elapsed < Duration::from_secs(10),
        "waited as if it could be retried: {:?}",
        run.elapsed
    );
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
}

#[test]
fn a_move_that_never_lands_fails_at_the_deadline_not_later() {
    let fake = start(&example("two-nodes"), Duration::from_secs(3600));
    let node = master(&fake, "ins-node0002", "");
    let run = node.run("vip-migrate", &["--deadline-s", "2"]);
    eprintln!("gave up after {:?}", run.elapsed);
    assert_eq!(run.code, 1, "{run:?}\nlog:\n{}", node.log_text());
    assert!(run.elapsed >= Duration::from_secs(2), "{:?}", run.elapsed);
    assert!(
        run.elapsed < Duration::from_secs(5),
        "overran its deadline: {:?}",
        run.elapsed
    );
    assert!(run.stderr.contains("deadline"), "{run:?}");
    assert_eq!(fake.calls_of("MigratePrivateIpAddress").len(), 1);
    assert_eq!(
        last_migration(&node, VIP).outcome,
        MigrationOutcome::TimedOut
    );
}

#[test]
fn a_cloud_that_stops_answering_fails_at_the_deadline_not_later() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    fake.inject(FaultSpec {
        action: None,
        count: 1000,
        fault: Fault::Delay(Duration::from_secs(30)),
    });
    let node = master(&fake, "ins-node0002", NODE2_LOCAL);
    // Each request may take 8 s, far past the 3 s deadline.
    let config = std::fs::read_to_string(&node.config).unwrap();
    assert!(config.contains("timeout_ms = 2000"), "{config}");
    std::fs::write(
        &node.config,
        config.replace("timeout_ms = 2000", "timeout_ms = 8000"),
    )
    .unwrap();
    let run = node.run("vip-migrate", &["--deadline-s", "3"]);
    eprintln!("gave up after {:?}", run.elapsed);
    // Unreachable to the end: unknown (3).
    assert_eq!(run.code, 3, "{run:?}\nlog:\n{}", node.log_text());
    assert!(run.elapsed >= Duration::from_secs(3), "{:?}", run.elapsed);
    assert!(
        // The request in flight is cut at the deadline, not at its own timeout; the margin is
        // for a loaded machine.
        run.elapsed < Duration::from_millis(4500),
        "overran its deadline: {:?}\nlog:\n{}",
        run.elapsed,
        node.log_text()
    );
    assert!(writes(&fake).is_empty());
}

#[test]
fn an_expired_signature_is_refreshed_once_then_refused() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    fake.inject(FaultSpec {
        action: Some("MigratePrivateIpAddress".into()),
        count: 1,
        fault: Fault::ApiError("AuthFailure.SignatureExpire".into(), "expired".into()),
    });
    let node = master(&fake, "ins-node0002", "");
    let run = node.run("vip-migrate", &["--deadline-s", "20"]);
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{}", node.log_text());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));

    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    fake.inject(FaultSpec {
        action: Some("MigratePrivateIpAddress".into()),
        count: 10,
        fault: Fault::ApiError("AuthFailure.SignatureExpire".into(), "expired".into()),
    });
    let node = master(&fake, "ins-node0002", "");
    let run = node.run("vip-migrate", &["--deadline-s", "20"]);
    assert_eq!(run.code, 77, "{run:?}\nlog:\n{}", node.log_text());
    let tries = fake.calls_of("MigratePrivateIpAddress").len();
    assert!(
        tries <= 4,
        "kept retrying an expired signature: {tries} calls"
    );
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
}

#[test]
fn sigterm_stops_a_run_promptly_and_records_how_it_ended() {
    let fake = start(&example("two-nodes"), Duration::from_secs(30));
    let node = master(&fake, "ins-node0002", "");
    let mut child = node
        .command("vip-migrate")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(20), || !fake
        .calls_of("MigratePrivateIpAddress")
        .is_empty()));
    let signalled = Instant::now();
    let kill = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(kill.success());
    let mut status = None;
    assert!(
        wait_for(Duration::from_secs(10), || {
            status = child.try_wait().unwrap();
            status.is_some()
        }),
        "still running after SIGTERM"
    );
    let took = signalled.elapsed();
    eprintln!("stopped {took:?} after SIGTERM");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(status.unwrap().code(), Some(1));
    let record = last_migration(&node, VIP);
    assert_eq!(record.outcome, MigrationOutcome::Aborted, "{record:?}");
    assert!(record.ended_at_ms.is_some());
    assert!(record.message.contains("signal"), "{record:?}");
    assert_eq!(writes(&fake).len(), 1);
}

#[test]
fn a_deadline_out_of_range_is_a_usage_error() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = master(&fake, "ins-node0002", "");
    for bad in ["0", "3601", "18446744073709551615", "soon"] {
        let run = node.run("vip-migrate", &["--deadline-s", bad]);
        assert_eq!(run.code, 2, "--deadline-s {bad}: {run:?}");
        assert!(run.stderr.contains("--deadline-s"), "{run:?}");
    }
    assert!(fake.calls().is_empty());
}

#[test]
fn discovery_after_a_reboot_rides_out_a_flaky_cloud() {
    // Nothing cached (the state directory is on tmpfs): the first requests of discovery fail
    // (metadata dropped, DescribeNetworkInterfaces answering 500), and the move happens all the same.
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    fake.inject(FaultSpec {
        action: Some("metadata".into()),
        count: 1,
        fault: Fault::Drop,
    });
    fake.inject(FaultSpec {
        action: Some("DescribeNetworkInterfaces".into()),
        count: 2,
        fault: Fault::Http500,
    });
    let node = master(&fake, "ins-node0002", "");
    let run = node.run("vip-migrate", &["--deadline-s", "30"]);
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{}", node.log_text());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));
    assert!(node.log_text().contains("event=discovery_retry"));
}
