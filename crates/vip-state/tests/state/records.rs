//! State records: atomic, monotonic, readable under concurrency, tolerant of damage.

use std::collections::BTreeSet;
use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use vip_state::{KeepalivedState, Launch, ReadWarning, Recorded, Source, StateDir, StateError};

use crate::util::{ENV_DIR, entries, spawn_helper, state_dir, wait_output};

const COUNT_ENV: &str = "VIP_STATE_TEST_RECORDS";

#[test]
fn a_write_leaves_exactly_the_record_and_its_lock() {
    let (_tmp, dir) = state_dir();
    for st in [KeepalivedState::Backup, KeepalivedState::Master] {
        dir.record_state("VI_1", st, Some(100), Source::Notify)
            .unwrap();
    }
    assert_eq!(entries(dir.path()), ["state-VI_1.json", "state-VI_1.lock"]);
    let read = dir.read_state("VI_1");
    assert_eq!(read.warning, None);
    assert_eq!(read.state, KeepalivedState::Master);
    assert_eq!(read.seq, 2);
    let rec = read.record.unwrap();
    assert_eq!(
        (rec.instance.as_str(), rec.priority, rec.source),
        ("VI_1", Some(100), Source::Notify)
    );
    assert!(rec.recorded_at_ms > 0);
}

#[test]
fn sequence_numbers_grow_by_one_per_record_and_per_instance() {
    let (_tmp, dir) = state_dir();
    let seqs: Vec<u64> = (0..5)
        .map(|_| {
            dir.record_state("VI_1", KeepalivedState::Fault, None, Source::Fifo)
                .unwrap()
                .seq
        })
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    let other = dir
        .record_state("VI_2", KeepalivedState::Master, None, Source::Manual)
        .unwrap();
    assert_eq!(other.seq, 1);
    assert_eq!(dir.read_state("VI_1").seq, 5);
}

#[test]
fn a_failed_write_keeps_the_old_record() {
    let (_tmp, dir) = state_dir();
    dir.record_state("VI_1", KeepalivedState::Master, Some(150), Source::Notify)
        .unwrap();
    // A directory where the temporary file must go makes its creation fail, even for root.
    let blocker = dir.path().join("state-VI_1.json.tmp");
    std::fs::create_dir(&blocker).unwrap();
    let err = dir
        .record_state("VI_1", KeepalivedState::Backup, Some(150), Source::Notify)
        .unwrap_err();
    assert!(matches!(err, StateError::Io { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&blocker.display().to_string()),
        "{err}"
    );
    let read = dir.read_state("VI_1");
    assert_eq!(
        (read.state, read.seq, read.warning),
        (KeepalivedState::Master, 1, None)
    );

    std::fs::remove_dir(&blocker).unwrap();
    let next = dir
        .record_state("VI_1", KeepalivedState::Backup, None, Source::Notify)
        .unwrap();
    assert_eq!(next.seq, 2);
    assert_eq!(entries(dir.path()), ["state-VI_1.json", "state-VI_1.lock"]);
}

#[test]
fn missing_empty_and_corrupt_records_read_as_unknown() {
    let (_tmp, dir) = state_dir();
    let read = dir.read_state("VI_1");
    assert_eq!((read.state, read.seq), (KeepalivedState::Unknown, 0));
    assert!(matches!(read.warning, Some(ReadWarning::Missing { .. })));

    for _ in 0..3 {
        dir.record_state("VI_1", KeepalivedState::Master, None, Source::Notify)
            .unwrap();
    }
    let path = dir.path().join("state-VI_1.json");
    // (content, whether it should read as empty rather than corrupt)
    let damaged: [(&[u8], bool); 4] = [
        (b"", true),
        (b"\n  \n", true),
        (b"{\"instance\":\"VI_1\",\"sta", false),
        (b"\x00\xff garbage", false),
    ];
    for (content, empty) in damaged {
        std::fs::write(&path, content).unwrap();
        let read = dir.read_state("VI_1");
        assert_eq!(read.state, KeepalivedState::Unknown);
        assert_eq!(read.record, None);
        let warning = read.warning.unwrap();
        let as_expected = if empty {
            matches!(warning, ReadWarning::Empty { .. })
        } else {
            matches!(warning, ReadWarning::Corrupt { .. })
        };
        assert!(as_expected, "{content:?}: {warning:?}");
        assert!(warning.to_string().contains("state-VI_1.json"), "{warning}");
        // The last good sequence number is still known, and the sequence continues from it.
        assert_eq!(read.seq, 3);
    }
    let next = dir
        .record_state("VI_1", KeepalivedState::Backup, None, Source::Notify)
        .unwrap();
    assert_eq!(next.seq, 4);
}

#[test]
fn a_record_of_another_instance_is_not_believed() {
    let (_tmp, dir) = state_dir();
    dir.record_state("VI_2", KeepalivedState::Master, None, Source::Notify)
        .unwrap();
    std::fs::copy(
        dir.path().join("state-VI_2.json"),
        dir.path().join("state-VI_1.json"),
    )
    .unwrap();
    let read = dir.read_state("VI_1");
    assert_eq!(read.state, KeepalivedState::Unknown);
    assert!(matches!(read.warning, Some(ReadWarning::Corrupt { .. })));
}

#[test]
fn odd_instance_names_stay_inside_the_directory() {
    let (tmp, dir) = state_dir();
    for name in ["../escape", "..", "a/b", "VI 1", ".hidden", "vi-web.eth0"] {
        let rec = dir
            .record_state(name, KeepalivedState::Master, None, Source::Manual)
            .unwrap();
        assert_eq!(rec.instance, name);
        let read = dir.read_state(name);
        assert_eq!(
            (read.state, read.seq, read.warning),
            (KeepalivedState::Master, 1, None)
        );
    }
    assert_eq!(entries(tmp.path()), ["tcvip"]);
    assert!(entries(dir.path()).iter().all(|n| !n.starts_with('.')));
    assert_eq!(entries(dir.path()).len(), 12);

    let err = dir
        .record_state("", KeepalivedState::Master, None, Source::Manual)
        .unwrap_err();
    assert!(matches!(err, StateError::InvalidInstance { .. }), "{err:?}");
    let read = dir.read_state("");
    assert_eq!(read.state, KeepalivedState::Unknown);
    assert!(matches!(
        read.warning,
        Some(ReadWarning::InvalidName { .. })
    ));
}

#[test]
fn a_stuck_instance_lock_times_out_instead_of_hanging() {
    let (_tmp, dir) = state_dir();
    dir.record_state("VI_1", KeepalivedState::Backup, None, Source::Notify)
        .unwrap();
    let held = File::open(dir.path().join("state-VI_1.lock")).unwrap();
    held.lock().unwrap();
    let dir = dir.with_lock_timeout(Duration::from_millis(200));
    let err = dir
        .record_state("VI_1", KeepalivedState::Master, None, Source::Notify)
        .unwrap_err();
    assert!(matches!(err, StateError::LockTimeout { .. }), "{err:?}");
    assert!(err.to_string().contains("state-VI_1.lock"), "{err}");
    drop(held);
    let rec = dir
        .record_state("VI_1", KeepalivedState::Master, None, Source::Notify)
        .unwrap();
    assert_eq!(rec.seq, 2);
}

#[test]
fn readers_never_see_a_torn_record() {
    let (_tmp, dir) = state_dir();
    dir.record_state("VI_1", KeepalivedState::Backup, None, Source::Notify)
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let dir = dir.clone();
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let (mut reads, mut last) = (0u64, 0u64);
            loop {
                // Read once more after the writers are done, so the last read sees the last record.
                let finished = done.load(Ordering::Acquire);
                let read = dir.read_state("VI_1");
                assert_eq!(read.warning, None, "after {reads} good reads");
                assert!(
                    read.seq >= last,
                    "sequence went back: {last} -> {}",
                    read.seq
                );
                last = read.seq;
                reads += 1;
                if finished && reads >= 100 {
                    return last;
                }
            }
        })
    };
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let dir = dir.clone().with_lock_timeout(Duration::from_secs(30));
            std::thread::spawn(move || {
                for i in 0..150 {
                    let st = if (i + w) % 2 == 0 {
                        KeepalivedState::Master
                    } else {
                        KeepalivedState::Backup
                    };
                    dir.record_state("VI_1", st, Some(i), Source::Notify)
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let last_seen = reader.join().unwrap();
    assert_eq!(last_seen, 301);
    assert_eq!(dir.read_state("VI_1").seq, 301);
}

fn launched(ticks: u64, pid: u32) -> Option<Launch> {
    Some(Launch {
        boot_id: "boot-a".into(),
        start_ticks: ticks,
        pid,
    })
}

/// keepalived launched MASTER (pid 29038) then BACKUP (pid 29040) within one clock tick; the
/// BACKUP process reached the lock first. The MASTER that arrives last is older news.
#[test]
fn a_notification_launched_before_the_latest_record_is_not_recorded() {
    let (_tmp, dir) = state_dir();
    let backup = dir
        .record_notification(
            "VI_1",
            KeepalivedState::Backup,
            Some(100),
            Source::Notify,
            launched(500, 29040),
        )
        .unwrap();
    let Recorded::Written(backup) = backup else {
        panic!("the first notification must be written: {backup:?}");
    };
    let late = dir
        .record_notification(
            "VI_1",
            KeepalivedState::Master,
            Some(100),
            Source::Notify,
            launched(500, 29038),
        )
        .unwrap();
    assert_eq!(late, Recorded::Superseded(backup.clone()));
    let read = dir.read_state("VI_1");
    assert_eq!((read.state, read.seq), (KeepalivedState::Backup, 1));
    assert_eq!(read.record.unwrap().launch, backup.launch);

    // A later launch is recorded, with the next number; so is one launched a tick later with a
    // smaller pid (the pid counter wrapped).
    for (ticks, pid, st) in [
        (500, 29041, KeepalivedState::Master),
        (501, 12, KeepalivedState::Fault),
    ] {
        let r = dir
            .record_notification("VI_1", st, None, Source::Notify, launched(ticks, pid))
            .unwrap();
        assert!(
            matches!(r, Recorded::Written(ref rec) if rec.state == st),
            "{r:?}"
        );
    }
    assert_eq!(dir.read_state("VI_1").seq, 3);
}

#[test]
fn without_a_launch_on_either_side_every_notification_is_recorded() {
    let (_tmp, dir) = state_dir();
    // A record without a launch (an operator's, or one written before launches were kept)...
    dir.record_state("VI_1", KeepalivedState::Master, None, Source::Manual)
        .unwrap();
    let r = dir
        .record_notification(
            "VI_1",
            KeepalivedState::Backup,
            None,
            Source::Notify,
            launched(1, 1),
        )
        .unwrap();
    assert!(matches!(r, Recorded::Written(_)), "{r:?}");
    // ...and a notification whose launch is unknown.
    let r = dir
        .record_notification("VI_1", KeepalivedState::Fault, None, Source::Notify, None)
        .unwrap();
    assert!(matches!(r, Recorded::Written(_)), "{r:?}");
    // A launch from another boot does not compare: recorded.
    dir.record_notification(
        "VI_1",
        KeepalivedState::Master,
        None,
        Source::Notify,
        launched(900, 900),
    )
    .unwrap();
    let other_boot = Launch {
        boot_id: "boot-b".into(),
        start_ticks: 1,
        pid: 1,
    };
    let r = dir
        .record_notification(
            "VI_1",
            KeepalivedState::Backup,
            None,
            Source::Notify,
            Some(other_boot),
        )
        .unwrap();
    assert!(matches!(r, Recorded::Written(_)), "{r:?}");
    let read = dir.read_state("VI_1");
    assert_eq!((read.state, read.seq), (KeepalivedState::Backup, 5));
}

/// N processes × M records each: every sequence number from 1 to N×M is handed out exactly once.
#[test]
fn concurrent_processes_lose_no_record() {
    if let Ok(path) = std::env::var(ENV_DIR) {
        return record_many(&path);
    }
    const PROCESSES: usize = 4;
    const RECORDS: usize = 40;
    let (_tmp, dir) = state_dir();
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            spawn_helper(
                "records::concurrent_processes_lose_no_record",
                &[
                    (ENV_DIR, dir.path().display().to_string()),
                    (COUNT_ENV, RECORDS.to_string()),
                ],
            )
        })
        .collect();
    let mut seqs = BTreeSet::new();
    for child in children {
        let out = wait_output(child, Duration::from_secs(120));
        let mine: Vec<u64> = out
            .lines()
            // libtest may print "test ... " before the first line on the same line.
            .filter_map(|l| l.find("SEQ ").map(|i| &l[i + 4..]))
            .map(|n| n.trim().parse().unwrap())
            .collect();
        assert_eq!(mine.len(), RECORDS, "helper output:\n{out}");
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "{mine:?}");
        for s in mine {
            assert!(seqs.insert(s), "seq {s} handed out twice");
        }
    }
    let total = (PROCESSES * RECORDS) as u64;
    assert_eq!(seqs, (1..=total).collect::<BTreeSet<_>>());
    let read = dir.read_state("VI_1");
    assert_eq!((read.seq, read.warning), (total, None));
    assert_eq!(entries(dir.path()), ["state-VI_1.json", "state-VI_1.lock"]);
}

/// The child's part of `concurrent_processes_lose_no_record`: records `COUNT_ENV` states.
fn record_many(path: &str) {
    let count: u32 = std::env::var(COUNT_ENV).unwrap().parse().unwrap();
    let dir = StateDir::open(path)
        .unwrap()
        .with_lock_timeout(Duration::from_secs(60));
    for i in 0..count {
        let rec = dir
            .record_state("VI_1", KeepalivedState::Master, Some(i), Source::Notify)
            .unwrap();
        println!("SEQ {}", rec.seq);
        let read = dir.read_state("VI_1");
        assert_eq!(read.warning, None);
        assert!(read.seq >= rec.seq);
    }
}

#[test]
fn a_fifo_in_place_of_a_record_or_cache_reads_as_unreadable_at_once() {
    let (_tmp, dir) = state_dir();
    for name in ["state-VI_1.json", "cache-check.json"] {
        let status = std::process::Command::new("mkfifo")
            .arg(dir.path().join(name))
            .status()
            .unwrap();
        assert!(status.success());
    }
    // Without O_NONBLOCK each read would wait in open() for a writer that never comes.
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = dir.clone();
    std::thread::spawn(move || {
        let read = reader.read_state("VI_1");
        let check = reader.read_check();
        let _ = tx.send((read, check));
    });
    let (read, check) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a read blocked on a FIFO");
    assert_eq!(read.state, KeepalivedState::Unknown);
    assert!(
        matches!(&read.warning, Some(ReadWarning::Unreadable { error, .. }) if error.contains("not a regular file")),
        "{read:?}"
    );
    assert!(
        check.value.is_none() && check.warning.is_some(),
        "{check:?}"
    );
}
