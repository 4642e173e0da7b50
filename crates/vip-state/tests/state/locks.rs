//! Per-VIP single-flight locks: exclusive, named holders, deadlines, release on drop and on death.

use std::io::{BufRead as _, BufReader};
use std::net::Ipv4Addr;
use std::time::Duration;

use vip_state::{Holder, LockAttempt, LockStatus, StateDir, StateError};

use crate::util::{ENV_DIR, entries, spawn_helper, state_dir};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 100);
const VIP_ENV: &str = "VIP_STATE_TEST_VIP";

fn acquired(attempt: LockAttempt) -> vip_state::VipLock {
    match attempt {
        LockAttempt::Acquired(lock) => lock,
        LockAttempt::Busy(h) => panic!("expected the lock, busy: {h:?}"),
    }
}

#[test]
fn second_taker_is_told_who_holds_the_lock() {
    let (_tmp, dir) = state_dir();
    let lock = acquired(dir.try_lock_vip(VIP, "migrate").unwrap());
    assert_eq!(lock.vip(), VIP);
    assert_eq!(entries(dir.path()), ["vip-10.0.1.100.lock"]);

    let LockAttempt::Busy(Some(holder)) = dir.try_lock_vip(VIP, "reconcile").unwrap() else {
        panic!("a second taker got the lock");
    };
    assert_eq!(holder.pid, std::process::id());
    assert_eq!(holder.purpose, "migrate");
    assert!(holder.is_alive());
    assert_eq!(&holder, lock.holder());
    assert_eq!(
        dir.vip_lock_status(VIP).unwrap(),
        LockStatus::Held(Some(holder))
    );

    drop(lock);
    assert_eq!(dir.vip_lock_status(VIP).unwrap(), LockStatus::Free);
    let again = acquired(dir.try_lock_vip(VIP, "reconcile").unwrap());
    assert_eq!(again.holder().purpose, "reconcile");
}

#[test]
fn vips_are_locked_exactly() {
    let (_tmp, dir) = state_dir();
    let _a = acquired(
        dir.try_lock_vip(Ipv4Addr::new(10, 0, 1, 10), "migrate")
            .unwrap(),
    );
    let _b = acquired(dir.try_lock_vip(VIP, "migrate").unwrap());
}

#[test]
fn lock_timeout_names_the_holder() {
    let (_tmp, dir) = state_dir();
    let _held = acquired(dir.try_lock_vip(VIP, "migrate").unwrap());
    let err = dir
        .lock_vip_timeout(VIP, "reconcile", Duration::from_millis(150))
        .unwrap_err();
    let StateError::LockTimeout { holder, waited, .. } = &err else {
        panic!("expected a timeout, got {err:?}");
    };
    assert!(*waited >= Duration::from_millis(150));
    assert_eq!(holder.as_ref().unwrap().purpose, "migrate");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    assert!(msg.contains("\"migrate\""), "{msg}");
    assert!(msg.contains("vip-10.0.1.100.lock"), "{msg}");
    assert!(msg.contains("since "), "{msg}");
}

#[test]
fn a_waiter_gets_the_lock_when_it_is_released() {
    let (_tmp, dir) = state_dir();
    let held = acquired(dir.try_lock_vip(VIP, "migrate").unwrap());
    let waiter = {
        let dir = dir.clone();
        std::thread::spawn(move || {
            dir.lock_vip_timeout(VIP, "second", Duration::from_secs(30))
                .map(|l| l.holder().purpose.clone())
        })
    };
    // Usually the waiter is already polling by now; the outcome is the same either way.
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !waiter.is_finished(),
        "the waiter returned while the lock was held"
    );
    drop(held);
    assert_eq!(waiter.join().unwrap().unwrap(), "second");
}

/// Another process holds the lock: the loser names it, and its death frees the lock.
#[test]
fn a_lock_held_by_another_process_names_it_and_dies_with_it() {
    if let Ok(path) = std::env::var(ENV_DIR) {
        return hold_lock(&path);
    }
    let (_tmp, dir) = state_dir();
    let mut child = spawn_helper(
        "locks::a_lock_held_by_another_process_names_it_and_dies_with_it",
        &[
            (ENV_DIR, dir.path().display().to_string()),
            (VIP_ENV, VIP.to_string()),
        ],
    );
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("LOCKED") {
        line.clear();
        assert_ne!(out.read_line(&mut line).unwrap(), 0, "helper exited early");
    }

    let err = dir
        .lock_vip_timeout(VIP, "migrate", Duration::from_millis(200))
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&format!("pid {}", child.id())), "{msg}");
    assert!(msg.contains("\"held by helper\""), "{msg}");

    child.kill().unwrap();
    child.wait().unwrap();
    let lock = dir
        .lock_vip_timeout(VIP, "migrate", Duration::from_secs(30))
        .unwrap();
    assert_eq!(lock.holder().pid, std::process::id());
}

/// Holder information left in a free lock file (a crashed holder) does not block anyone.
#[test]
fn stale_holder_information_does_not_block() {
    let (_tmp, dir) = state_dir();
    let stale = Holder {
        pid: i32::MAX as u32,
        started_at_ms: 1,
        purpose: "crashed".into(),
        deadline_ms: None,
    };
    std::fs::write(
        dir.path().join("vip-10.0.1.100.lock"),
        serde_json::to_vec(&stale).unwrap(),
    )
    .unwrap();
    let lock = acquired(dir.try_lock_vip(VIP, "migrate").unwrap());
    assert_eq!(lock.holder().purpose, "migrate");
}

/// The child's part of `a_lock_held_by_another_process_names_it_and_dies_with_it`: takes the
/// lock, says so, and holds it until killed or until stdin closes.
fn hold_lock(path: &str) {
    let dir = StateDir::open(path).unwrap();
    let vip: Ipv4Addr = std::env::var(VIP_ENV).unwrap().parse().unwrap();
    let _lock = dir
        .lock_vip_timeout(vip, "held by helper", Duration::from_secs(30))
        .unwrap();
    println!("LOCKED");
    let mut sink = String::new();
    let _ = std::io::stdin().read_line(&mut sink);
}
