//! Caches and last-run records: round trips with the time learned, atomic writes, damage-tolerant
//! reads.

use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vip_state::{
    CheckRecord, CheckResult, CloudView, MigrationOutcome, MigrationRecord, ReadWarning,
    ReconcileRecord, StateError, now_ms,
};

use crate::util::{entries, state_dir};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 100);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Identity {
    instance_id: String,
    eni_id: String,
}

fn identity() -> Identity {
    Identity {
        instance_id: "ins-1".into(),
        eni_id: "eni-1".into(),
    }
}

#[test]
fn a_cache_round_trips_with_the_time_it_was_learned() {
    let (_tmp, dir) = state_dir();
    let before = now_ms();
    dir.write_identity(&identity()).unwrap();
    let loaded = dir.read_identity::<Identity>();
    assert_eq!(loaded.warning, None);
    let cached = loaded.value.unwrap();
    assert_eq!(cached.value, identity());
    assert!(cached.learned_at_ms >= before && cached.learned_at_ms <= now_ms());
    assert!(cached.is_fresh(Duration::from_secs(60)));

    dir.write_cache_at("node", &identity(), 1_000).unwrap();
    let old = dir.read_cache::<Identity>("node").value.unwrap();
    assert_eq!(old.learned_at_ms, 1_000);
    assert!(!old.is_fresh(Duration::from_secs(60)));
    assert!(old.age() > Duration::from_secs(3600));
    assert_eq!(
        entries(dir.path()),
        ["cache-identity.json", "cache-node.json"]
    );
}

#[test]
fn an_absent_cache_is_none_without_a_warning() {
    let (_tmp, dir) = state_dir();
    let loaded = dir.read_identity::<Identity>();
    assert_eq!((loaded.value, loaded.warning), (None, None));
    assert_eq!(dir.read_cloud_view(VIP).value, None);
    // Reading creates nothing.
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn a_damaged_cache_reads_as_absent_with_a_warning() {
    let (_tmp, dir) = state_dir();
    let path = dir.path().join("cache-identity.json");
    for content in [
        &b""[..],
        b"{\"value\":{\"instance_id\":",
        b"[1,2,3]",
        b"\xff\xfe",
    ] {
        std::fs::write(&path, content).unwrap();
        let loaded = dir.read_identity::<Identity>();
        assert_eq!(loaded.value, None, "{content:?}");
        let warning = loaded.warning.unwrap();
        assert!(
            matches!(
                warning,
                ReadWarning::Empty { .. } | ReadWarning::Corrupt { .. }
            ),
            "{warning:?}"
        );
        assert!(
            warning.to_string().contains("cache-identity.json"),
            "{warning}"
        );
    }
    // A value of the wrong shape is damaged too.
    dir.write_cache("identity", &42u32).unwrap();
    assert!(matches!(
        dir.read_identity::<Identity>().warning,
        Some(ReadWarning::Corrupt { .. })
    ));
    // And a new write repairs it.
    dir.write_identity(&identity()).unwrap();
    assert_eq!(
        dir.read_identity::<Identity>().value.unwrap().value,
        identity()
    );
}

#[test]
fn typed_records_round_trip() {
    let (_tmp, dir) = state_dir();
    let view = CloudView {
        vip: VIP,
        holder_eni: Some("eni-peer".into()),
        holder_instance: Some("ins-peer".into()),
        ip_state: Some("AVAILABLE".into()),
        learned_at_ms: now_ms(),
    };
    dir.write_cloud_view(&view).unwrap();
    assert_eq!(dir.read_cloud_view(VIP).value, Some(view));

    let migration = MigrationRecord {
        vip: VIP,
        started_at_ms: 10,
        ended_at_ms: Some(20),
        outcome: MigrationOutcome::Success,
        from_eni: Some("eni-peer".into()),
        to_eni: Some("eni-self".into()),
        request_ids: vec!["req-1".into(), "req-2".into()],
        attempts: 2,
        message: "moved".into(),
    };
    dir.write_migration(&migration).unwrap();
    assert_eq!(dir.read_migration(VIP).value, Some(migration));

    let check = CheckRecord {
        result: CheckResult::Fail,
        reason: "service check failed: haproxy".into(),
        at_ms: 5,
        since_ms: 3,
    };
    dir.write_check(&check).unwrap();
    assert_eq!(dir.read_check().value, Some(check));

    let rec = ReconcileRecord::next_attempt(
        None,
        VIP,
        Some("eni-peer"),
        Duration::from_secs(10),
        now_ms(),
    );
    dir.write_reconcile(&rec).unwrap();
    assert_eq!(dir.read_reconcile(VIP).value, Some(rec));
    dir.clear_reconcile(VIP).unwrap();
    assert_eq!(dir.read_reconcile(VIP).value, None);
    dir.clear_reconcile(VIP).unwrap();

    assert_eq!(
        entries(dir.path()),
        [
            "cache-check.json",
            "cache-cloud-10.0.1.100.json",
            "cache-migration-10.0.1.100.json"
        ]
    );
}

#[test]
fn a_record_about_another_vip_is_not_believed() {
    let (_tmp, dir) = state_dir();
    let other = Ipv4Addr::new(10, 0, 1, 10);
    dir.write_cloud_view(&CloudView {
        vip: other,
        holder_eni: Some("eni-x".into()),
        holder_instance: None,
        ip_state: None,
        learned_at_ms: now_ms(),
    })
    .unwrap();
    std::fs::copy(
        dir.path().join("cache-cloud-10.0.1.10.json"),
        dir.path().join("cache-cloud-10.0.1.100.json"),
    )
    .unwrap();
    let loaded = dir.read_cloud_view(VIP);
    assert_eq!(loaded.value, None);
    assert!(matches!(loaded.warning, Some(ReadWarning::Corrupt { .. })));
    assert_eq!(dir.read_cloud_view(other).value.unwrap().vip, other);
}

#[test]
fn cache_names_cannot_escape_the_directory() {
    let (tmp, dir) = state_dir();
    for bad in ["../x", "a/b", ".hidden", ""] {
        let err = dir.write_cache(bad, &1u8).unwrap_err();
        assert!(
            matches!(err, StateError::InvalidCacheName { .. }),
            "{err:?}"
        );
        let loaded = dir.read_cache::<u8>(bad);
        assert!(matches!(
            loaded.warning,
            Some(ReadWarning::InvalidName { .. })
        ));
    }
    assert!(entries(dir.path()).is_empty());
    assert_eq!(entries(tmp.path()), ["tcvip"]);
}

#[test]
fn concurrent_cache_writers_leave_one_whole_file() {
    let (_tmp, dir) = state_dir();
    let writers: Vec<_> = (0..4u32)
        .map(|w| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                for i in 0..50u32 {
                    dir.write_cache("counter", &(w * 1000 + i)).unwrap();
                    let read = dir.read_cache::<u32>("counter");
                    assert_eq!(read.warning, None);
                    assert!(read.value.is_some());
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let last = dir.read_cache::<u32>("counter").value.unwrap().value;
    assert_eq!(last % 1000, 49);
    assert_eq!(entries(dir.path()), ["cache-counter.json"]);
}
