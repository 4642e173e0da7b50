//! notify-action: records keepalived's state and returns at once; on MASTER a detached
//! vip-migrate moves the VIP (issue 5, items 1–4).

use std::thread;
use std::time::Duration;

use fake_vpc::{Fault, FaultSpec};
use vip_state::{KeepalivedState, MigrationOutcome};

use crate::util::*;

/// How long a detached migration may take on a loaded machine before the test gives up.
const SETTLE: Duration = Duration::from_secs(45);

/// Every API call is held up this long by the fake (the first few of them).
const SLOW_CLOUD: Duration = Duration::from_millis(1500);

fn slow_cloud(fake: &fake_vpc::FakeVpcHandle, calls: u32) {
    fake.inject(FaultSpec {
        action: None,
        count: calls,
        fault: Fault::Delay(SLOW_CLOUD),
    });
}

/// The VIP ends on `eni`, the detached run ends, and its record says how.
fn settle(fake: &fake_vpc::FakeVpcHandle, node: &Node, eni: &str) -> MigrationOutcome {
    assert!(
        wait_for(SETTLE, || fake.holder_of(VIP).as_deref() == Some(eni)),
        "VIP never reached {eni}: holder {:?}\nlog:\n{}",
        fake.holder_of(VIP),
        node.log_text()
    );
    wait_detached(node, SETTLE);
    let record = node
        .state()
        .read_migration(VIP)
        .value
        .unwrap_or_else(|| panic!("no migration record\nlog:\n{}", node.log_text()));
    assert!(record.ended_at_ms.is_some(), "{record:?}");
    record.outcome
}

#[test]
fn master_one_word_form_records_and_returns_while_the_cloud_is_slow() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    slow_cloud(&fake, 3);
    let node = Node::new(&fake, "ins-node0002", "");
    let _reap = Detached(&node);

    let run = node.run("notify-action", &["MASTER"]);
    eprintln!("notify-action MASTER took {:?}", run.elapsed);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.elapsed < Duration::from_millis(500),
        "notify-action waited for the cloud: {:?} (each call is delayed {SLOW_CLOUD:?})",
        run.elapsed
    );
    let read = node.state().read_state("default");
    assert_eq!(read.state, KeepalivedState::Master, "{read:?}");

    assert_eq!(
        settle(&fake, &node, "eni-node0002"),
        MigrationOutcome::Success
    );
    let migrates = fake.calls_of("MigratePrivateIpAddress");
    assert_eq!(migrates.len(), 1, "{migrates:?}");
    assert_eq!(
        migrates[0].params["DestinationNetworkInterfaceId"],
        "eni-node0002"
    );
}

#[test]
fn master_generic_form_records_instance_and_priority_and_moves_the_vip() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    slow_cloud(&fake, 3);
    let node = Node::new(
        &fake,
        "ins-node0002",
        &format!("[[vip]]\naddress = \"{VIP}\"\ninstance = \"VI_1\"\n"),
    );
    let _reap = Detached(&node);

    let run = node.run("notify-action", &["INSTANCE", "VI_1", "MASTER", "100"]);
    eprintln!(
        "notify-action INSTANCE VI_1 MASTER 100 took {:?}",
        run.elapsed
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.elapsed < Duration::from_millis(500),
        "notify-action waited for the cloud: {:?}",
        run.elapsed
    );
    let record = node
        .state()
        .read_state("VI_1")
        .record
        .expect("VI_1 recorded");
    assert_eq!(
        (record.state, record.priority),
        (KeepalivedState::Master, Some(100))
    );

    assert_eq!(
        settle(&fake, &node, "eni-node0002"),
        MigrationOutcome::Success
    );
    assert_eq!(fake.calls_of("MigratePrivateIpAddress").len(), 1);
}

#[test]
fn backup_fault_and_stop_record_and_return_without_touching_the_cloud() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    slow_cloud(&fake, 100);
    let node = Node::new(
        &fake,
        "ins-node0001",
        &format!("[[vip]]\naddress = \"{VIP}\"\ninstance = \"VI_1\"\n"),
    );
    let _reap = Detached(&node);
    let mut last_seq = 0;
    for (args, want) in [
        (&["BACKUP"][..], KeepalivedState::Backup),
        (&["FAULT"][..], KeepalivedState::Fault),
        (
            &["INSTANCE", "VI_1", "BACKUP", "90"][..],
            KeepalivedState::Backup,
        ),
        (&["STOP"][..], KeepalivedState::Stop),
        (
            &["INSTANCE", "VI_1", "STOP", "0"][..],
            KeepalivedState::Stop,
        ),
    ] {
        let run = node.run("notify-action", args);
        eprintln!("notify-action {args:?} took {:?}", run.elapsed);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        if want == KeepalivedState::Stop {
            assert!(
                run.elapsed < Duration::from_millis(500),
                "STOP must end well under keepalived's 1 s: {:?}",
                run.elapsed
            );
        }
        let record = node.state().read_state("VI_1").record.expect("recorded");
        assert_eq!(record.state, want, "{args:?}");
        assert!(
            record.seq > last_seq,
            "{args:?}: seq {} after {last_seq}",
            record.seq
        );
        last_seq = record.seq;
        assert!(
            detached_of(&node).is_empty(),
            "{args:?} started a migration"
        );
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
}

#[test]
fn bad_arguments_exit_2_with_usage_and_record_nothing() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(
        &fake,
        "ins-node0002",
        &format!("[[vip]]\naddress = \"{VIP}\"\ninstance = \"VI_1\"\n"),
    );
    let _reap = Detached(&node);
    for args in [
        &["master"][..],
        &["PROMOTED"][..],
        &[][..],
        &["MASTER", "VI_1"][..],
        &["INSTANCE", "VI_1", "MASTER"][..],
        &["INSTANCE", "VI_1", "MASTER", "100", "extra"][..],
        &["VRRP", "VI_1", "MASTER", "100"][..],
        &["INSTANCE", "VI_1", "SLAVE", "100"][..],
        &["INSTANCE", "VI_1", "MASTER", "high"][..],
        &["INSTANCE", "VI_1", "MASTER", "256"][..],
    ] {
        let run = node.run("notify-action", args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains("usage"), "{args:?}: {run:?}");
        for instance in ["VI_1", "default"] {
            let read = node.state().read_state(instance);
            assert!(read.record.is_none(), "{args:?} recorded {read:?}");
        }
        assert!(
            detached_of(&node).is_empty(),
            "{args:?} started a migration"
        );
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

#[test]
fn master_rx_lower_pri_leaves_a_vip_that_is_already_here() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = Node::new(&fake, "ins-node0001", "");
    let _reap = Detached(&node);
    node.record("default", KeepalivedState::Master);
    let run = node.run("notify-action", &["MASTER_RX_LOWER_PRI"]);
    assert_eq!(run.code, 0, "{run:?}");
    // Not a state change: nothing new is recorded.
    let read = node.state().read_state("default");
    assert_eq!((read.state, read.seq), (KeepalivedState::Master, 1));
    // The reconcile run asks the cloud, finds the VIP here and writes nothing.
    assert!(
        wait_for(SETTLE, || node
            .state()
            .read_migration(VIP)
            .value
            .is_some_and(|r| r.ended_at_ms.is_some())),
        "no reconcile run\nlog:\n{}",
        node.log_text()
    );
    wait_detached(&node, SETTLE);
    let record = node.state().read_migration(VIP).value.expect("record");
    assert_eq!(record.outcome, MigrationOutcome::AlreadyHere, "{record:?}");
    assert!(!fake.calls_of("DescribeNetworkInterfaces").is_empty());
    assert!(fake.calls_of("MigratePrivateIpAddress").is_empty());
    assert!(fake.calls_of("AssignPrivateIpAddresses").is_empty());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
}

#[test]
fn master_rx_lower_pri_takes_the_vip_back_from_another_eni() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = Node::new(&fake, "ins-node0002", "");
    let _reap = Detached(&node);
    node.record("default", KeepalivedState::Master);
    let run = node.run("notify-action", &["MASTER_RX_LOWER_PRI"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        settle(&fake, &node, "eni-node0002"),
        MigrationOutcome::Success
    );
    let migrates = fake.calls_of("MigratePrivateIpAddress");
    assert_eq!(migrates.len(), 1, "{migrates:?}");
    assert_eq!(
        migrates[0].params["SourceNetworkInterfaceId"],
        "eni-node0001"
    );
}

#[test]
fn master_rx_lower_pri_never_assigns_an_unassigned_vip() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    fake.with_world(|w| w.remove_secondary_ip(VIP)).unwrap();
    let node = Node::new(
        &fake,
        "ins-node0002",
        "[failover]\nassign_if_unassigned = true\n",
    );
    let _reap = Detached(&node);
    node.record("default", KeepalivedState::Master);
    let run = node.run("notify-action", &["MASTER_RX_LOWER_PRI"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        wait_for(SETTLE, || node
            .state()
            .read_migration(VIP)
            .value
            .is_some_and(|r| r.ended_at_ms.is_some())),
        "no reconcile run\nlog:\n{}",
        node.log_text()
    );
    wait_detached(&node, SETTLE);
    assert!(fake.calls_of("AssignPrivateIpAddresses").is_empty());
    assert!(fake.calls_of("MigratePrivateIpAddress").is_empty());
    assert_eq!(fake.holder_of(VIP), None);
}

#[test]
fn two_masters_10_ms_apart_make_one_migrate_call() {
    let fake = start(&example("two-nodes"), Duration::from_millis(800));
    let node = Node::new(&fake, "ins-node0002", "");
    let _reap = Detached(&node);
    let mut first = node.command("notify-action");
    first.arg("MASTER");
    let mut second = node.command("notify-action");
    second.arg("MASTER");
    let first = thread::spawn(move || run(&mut first));
    thread::sleep(Duration::from_millis(10));
    let second = thread::spawn(move || run(&mut second));
    let (first, second) = (first.join().unwrap(), second.join().unwrap());
    assert_eq!((first.code, second.code), (0, 0), "{first:?}\n{second:?}");

    assert_eq!(
        settle(&fake, &node, "eni-node0002"),
        MigrationOutcome::Success
    );
    let migrates = fake.calls_of("MigratePrivateIpAddress");
    assert_eq!(migrates.len(), 1, "{migrates:?}\nlog:\n{}", node.log_text());
    let read = node.state().read_state("default");
    assert_eq!(
        (read.state, read.seq),
        (KeepalivedState::Master, 2),
        "{read:?}"
    );
}

#[test]
fn master_backup_master_while_moving_ends_with_the_vip_here_and_one_write() {
    let fake = start(&example("two-nodes"), Duration::from_millis(1500));
    let node = Node::new(&fake, "ins-node0002", "");
    let _reap = Detached(&node);
    assert_eq!(node.run("notify-action", &["MASTER"]).code, 0);
    assert!(wait_for(SETTLE, || !fake
        .calls_of("MigratePrivateIpAddress")
        .is_empty()));
    // keepalived flaps: the migration in flight sees BACKUP or the newer MASTER; either way the
    // VIP must end here, and the move already accepted is not issued again.
    assert_eq!(node.run("notify-action", &["BACKUP"]).code, 0);
    assert_eq!(node.run("notify-action", &["MASTER"]).code, 0);
    assert_eq!(
        settle(&fake, &node, "eni-node0002"),
        MigrationOutcome::Success
    );
    let migrates = fake.calls_of("MigratePrivateIpAddress");
    assert_eq!(migrates.len(), 1, "{migrates:?}\nlog:\n{}", node.log_text());
    assert_eq!(
        node.state().read_state("default").state,
        KeepalivedState::Master
    );
}

#[test]
fn stop_ends_well_under_a_second_even_when_the_state_is_locked() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(&fake, "ins-node0001", "");
    let _reap = Detached(&node);
    node.record("default", KeepalivedState::Master);
    // Another recorder is stuck holding the instance lock.
    let lock = std::fs::File::open(node.state_dir.join("state-default.lock")).unwrap();
    lock.lock().unwrap();
    let run = node.run("notify-action", &["STOP"]);
    drop(lock);
    eprintln!(
        "notify-action STOP with the lock held took {:?}",
        run.elapsed
    );
    assert!(
        run.elapsed < Duration::from_millis(900),
        "keepalived would have killed it: {run:?}"
    );
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("STOP"), "{run:?}");
    assert_eq!(
        node.state().read_state("default").state,
        KeepalivedState::Master
    );
}

#[test]
fn a_late_master_rx_lower_pri_does_not_undo_a_newer_fault() {
    // Notify scripts run concurrently and finish out of order: a MASTER_RX_LOWER_PRI handled
    // after the FAULT that followed it must neither record MASTER nor move the VIP here.
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = Node::new(&fake, "ins-node0002", "");
    let _reap = Detached(&node);
    assert_eq!(
        node.run("notify-action", &["INSTANCE", "VI_1", "FAULT", "100"])
            .code,
        0
    );
    let run = node.run("notify-action", &["MASTER_RX_LOWER_PRI"]);
    assert_eq!(run.code, 0, "{run:?}");
    let read = node.state().read_state("default");
    assert_eq!((read.state, read.seq), (KeepalivedState::Fault, 1));
    thread::sleep(Duration::from_millis(500));
    wait_detached(&node, SETTLE);
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
}

#[test]
fn a_second_instance_cannot_overwrite_the_only_one() {
    // tcvip.toml names no instance, but keepalived has two vrrp_instances wired to notify-action:
    // the second one's BACKUP must not overwrite the first one's MASTER.
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = Node::new(&fake, "ins-node0001", "");
    let _reap = Detached(&node);
    let run = node.run("notify-action", &["INSTANCE", "VI_1", "MASTER", "100"]);
    assert_eq!(run.code, 0, "{run:?}");
    let run = node.run("notify-action", &["INSTANCE", "VI_OTHER", "BACKUP", "50"]);
    assert_eq!(run.code, 78, "{run:?}");
    assert!(run.stderr.contains("instance = "), "{run:?}");
    let read = node.state().read_state("default");
    assert_eq!((read.state, read.seq), (KeepalivedState::Master, 1));

    // Once VI_1 has stopped (a reload that renamed it), the new name takes its place.
    assert_eq!(
        node.run("notify-action", &["INSTANCE", "VI_1", "STOP", "0"])
            .code,
        0
    );
    let run = node.run("notify-action", &["INSTANCE", "VI_MAIN", "BACKUP", "100"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        node.state().read_state("default").state,
        KeepalivedState::Backup
    );
    wait_detached(&node, SETTLE);
}

/// keepalived launches `first` and, a moment later, `second`; `second` records first (keepalived
/// waits for neither, so the later process may reach the instance lock first). Both exit 0, and
/// `second`'s state stands as the one and only record.
fn launched_in_order_recorded_in_reverse(
    node: &Node,
    first: KeepalivedState,
    second: KeepalivedState,
) {
    let signal = |sig: &str, pid: u32| {
        let ok = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    };
    // `first` is launched and frozen before it can record (the instance lock is held meanwhile)...
    let lock = std::fs::File::options()
        .create(true)
        .append(true)
        .open(node.state().path().join("state-default.lock"))
        .unwrap();
    lock.lock().unwrap();
    let mut first_child = node
        .command("notify-action")
        .args(["INSTANCE", "VI_1", first.as_str(), "100"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    signal("-STOP", first_child.id());
    drop(lock);
    // ...`second` is launched after it and records...
    let second_run = node.run(
        "notify-action",
        &["INSTANCE", "VI_1", second.as_str(), "100"],
    );
    // ...and `first` reaches the lock last.
    signal("-CONT", first_child.id());
    if !wait_for(RUN_LIMIT, || first_child.try_wait().unwrap().is_some()) {
        let _ = first_child.kill();
        panic!("notify-action {first} still running after {RUN_LIMIT:?}");
    }
    let first_run = Run::from(first_child.wait_with_output().unwrap());
    assert_eq!(second_run.code, 0, "{second_run:?}");
    assert_eq!(first_run.code, 0, "{first_run:?}");
    let read = node.state().read_state("default");
    assert_eq!(
        (read.state, read.seq),
        (second, 1),
        "{read:?}\nlog:\n{}",
        node.log_text()
    );
}

#[test]
fn a_master_that_reaches_the_lock_after_the_backup_launched_after_it_is_ignored() {
    // keepalived: "Entering MASTER STATE", then 0.1 ms later "Entering BACKUP STATE" (two nodes
    // timed out together). The MASTER notification, launched first, recorded last, must not
    // make this node MASTER nor move the VIP here.
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = Node::new(&fake, "ins-node0002", "");
    let _reap = Detached(&node);
    launched_in_order_recorded_in_reverse(&node, KeepalivedState::Master, KeepalivedState::Backup);
    let log = node.log_text();
    assert!(
        log.contains("event=state_superseded") && log.contains("latest=BACKUP"),
        "{log}"
    );
    assert!(!log.contains("event=migrate_started"), "{log}");
    thread::sleep(Duration::from_millis(300));
    wait_detached(&node, SETTLE);
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0001"));
}

#[test]
fn a_backup_that_reaches_the_lock_after_the_master_launched_after_it_is_ignored() {
    // The other order: BACKUP launched first, MASTER a moment later and recorded first. The node
    // stays MASTER and the VIP comes here.
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let node = Node::new(&fake, "ins-node0002", "");
    let _reap = Detached(&node);
    launched_in_order_recorded_in_reverse(&node, KeepalivedState::Backup, KeepalivedState::Master);
    assert_eq!(
        settle(&fake, &node, "eni-node0002"),
        MigrationOutcome::Success
    );
    assert_eq!(fake.calls_of("MigratePrivateIpAddress").len(), 1);
    assert_eq!(
        node.state().read_state("default").state,
        KeepalivedState::Master
    );
}
