#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use vip_state::{
    CheckRecord, CheckResult, KeepalivedState, MigrationOutcome, MigrationRecord, ReconcileRecord,
    Source, StateDir,
};

use super::counters::{Counters, CredentialFact, Delta};
use super::render::{InstanceFacts, Snapshot, VipFacts, escape_label, render};
use super::*;

const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 100);

fn migration(outcome: MigrationOutcome, started: u64, ended: Option<u64>) -> MigrationRecord {
    MigrationRecord {
        vip: VIP,
        started_at_ms: started,
        ended_at_ms: ended,
        outcome,
        from_eni: None,
        to_eni: None,
        request_ids: Vec::new(),
        attempts: 1,
        message: String::new(),
    }
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#')).collect()
}

#[test]
fn renders_state_vip_check_reconcile_and_credentials_lines() {
    let mut counters = Counters::default();
    counters.count_migration(&migration(MigrationOutcome::Success, 1_000, Some(2_250)));
    counters.count_check(&CheckRecord {
        result: CheckResult::Pass,
        reason: "ok".into(),
        at_ms: 5_000,
        since_ms: 0,
    });
    counters.credentials = Some(CredentialFact {
        source: "cvm-role".into(),
        expires_unix: Some(1_800_000_000),
    });
    let snap = Snapshot {
        instances: vec![
            InstanceFacts {
                iname: "VI_1".into(),
                state: KeepalivedState::Master,
                recorded_at_ms: Some(1_500),
            },
            InstanceFacts {
                iname: "VI_2".into(),
                state: KeepalivedState::Unknown,
                recorded_at_ms: None,
            },
        ],
        vips: vec![VipFacts {
            vip: VIP,
            iname: "VI_1".into(),
            kind: "secondary-ip",
            havip_id: None,
            here: Some(true),
            cloud_view_at_ms: Some(2_000),
            reconcile: Some(ReconcileRecord {
                vip: VIP,
                holder_eni: None,
                last_attempt_at_ms: 3_000,
                cooldown_s: 20,
                repeats: 2,
            }),
        }],
        check: Some(CheckRecord {
            result: CheckResult::Pass,
            reason: "ok".into(),
            at_ms: 5_000,
            since_ms: 0,
        }),
        counters,
    };
    let text = render(&snap);
    assert_eq!(
        lines(&text),
        vec![
            r#"tcvip_keepalived_vrrp_state{iname="VI_1"} 2"#,
            r#"tcvip_keepalived_vrrp_state{iname="VI_2"} 0"#,
            r#"tcvip_keepalived_state_recorded_timestamp_seconds{iname="VI_1"} 1.5"#,
            r#"tcvip_vip_here{vip="10.0.1.100",iname="VI_1"} 1"#,
            r#"tcvip_vip_cloud_view_timestamp_seconds{vip="10.0.1.100"} 2"#,
            r#"tcvip_vip_info{vip="10.0.1.100",iname="VI_1",kind="secondary-ip",havip_id=""} 1"#,
            r#"tcvip_migrations_total{vip="10.0.1.100",outcome="success"} 1"#,
            r#"tcvip_last_move_duration_seconds{vip="10.0.1.100"} 1.25"#,
            r#"tcvip_last_migration_end_timestamp_seconds{vip="10.0.1.100"} 2.25"#,
            r#"tcvip_check_self_total{result="pass"} 1"#,
            r#"tcvip_check_self_healthy 1"#,
            r#"tcvip_check_self_last_timestamp_seconds 5"#,
            r#"tcvip_reconcile_cooldown_seconds{vip="10.0.1.100"} 20"#,
            r#"tcvip_reconcile_last_attempt_timestamp_seconds{vip="10.0.1.100"} 3"#,
            r#"tcvip_reconcile_repeats{vip="10.0.1.100"} 2"#,
            r#"tcvip_credentials_info{source="cvm-role"} 1"#,
            r#"tcvip_credentials_expiry_timestamp_seconds{source="cvm-role"} 1800000000"#,
        ]
    );
    assert!(text.contains(
        "# HELP tcvip_keepalived_vrrp_state keepalived state recorded per instance: 0=INIT/unknown, 1=BACKUP, 2=MASTER, 3=FAULT, 4=STOP.\n# TYPE tcvip_keepalived_vrrp_state gauge\ntcvip_keepalived_vrrp_state{iname=\"VI_1\"} 2\n"
    ));
    // Families without samples are left out: no API calls, so no api families.
    assert!(!text.contains("tcvip_api_calls_total"), "{text}");
    // Each family has exactly one TYPE line.
    let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
    let mut dedup = types.clone();
    dedup.dedup();
    assert_eq!(types, dedup);
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
    assert_eq!(escape_label("x\ny"), r"x\ny");
    let snap = Snapshot {
        instances: vec![InstanceFacts {
            iname: "odd \"name\"\\\n".into(),
            state: KeepalivedState::Backup,
            recorded_at_ms: None,
        }],
        ..Snapshot::default()
    };
    assert_eq!(
        lines(&render(&snap)),
        vec![r#"tcvip_keepalived_vrrp_state{iname="odd \"name\"\\\n"} 1"#]
    );
}

#[test]
fn latency_histogram_buckets_are_cumulative_with_inf_sum_and_count() {
    let mut delta = Delta::default();
    delta.observe_call("MigratePrivateIpAddress", "ok", Duration::from_millis(3));
    delta.observe_call("MigratePrivateIpAddress", "ok", Duration::from_millis(40));
    delta.observe_call(
        "MigratePrivateIpAddress",
        "UnauthorizedOperation",
        Duration::from_millis(200),
    );
    delta.observe_call(
        "MigratePrivateIpAddress",
        "timeout",
        Duration::from_secs(12),
    );
    let mut counters = Counters::default();
    counters.merge(&delta);
    counters.merge(&delta); // a second run adds the same again
    let text = render(&Snapshot {
        counters,
        ..Snapshot::default()
    });
    let a = "action=\"MigratePrivateIpAddress\"";
    let expected = format!(
        "# TYPE tcvip_api_calls_total counter
tcvip_api_calls_total{{{a},code=\"UnauthorizedOperation\"}} 2
tcvip_api_calls_total{{{a},code=\"ok\"}} 4
tcvip_api_calls_total{{{a},code=\"timeout\"}} 2
# HELP tcvip_api_call_duration_seconds Duration of Tencent Cloud API calls, by action.
# TYPE tcvip_api_call_duration_seconds histogram
tcvip_api_call_duration_seconds_bucket{{{a},le=\"0.005\"}} 2
tcvip_api_call_duration_seconds_bucket{{{a},le=\"0.01\"}} 2
tcvip_api_call_duration_seconds_bucket{{{a},le=\"0.025\"}} 2
tcvip_api_call_duration_seconds_bucket{{{a},le=\"0.05\"}} 4
tcvip_api_call_duration_seconds_bucket{{{a},le=\"0.1\"}} 4
tcvip_api_call_duration_seconds_bucket{{{a},le=\"0.25\"}} 6
tcvip_api_call_duration_seconds_bucket{{{a},le=\"0.5\"}} 6
tcvip_api_call_duration_seconds_bucket{{{a},le=\"1\"}} 6
tcvip_api_call_duration_seconds_bucket{{{a},le=\"2.5\"}} 6
tcvip_api_call_duration_seconds_bucket{{{a},le=\"5\"}} 6
tcvip_api_call_duration_seconds_bucket{{{a},le=\"10\"}} 6
tcvip_api_call_duration_seconds_bucket{{{a},le=\"+Inf\"}} 8
tcvip_api_call_duration_seconds_sum{{{a}}} 24.486
tcvip_api_call_duration_seconds_count{{{a}}} 8
"
    );
    assert!(text.ends_with(&expected), "{text}");
}

#[test]
fn a_record_is_counted_once_and_in_flight_not_at_all() {
    let mut c = Counters::default();
    c.count_migration(&migration(MigrationOutcome::InFlight, 1_000, None));
    assert!(c.migrations.is_empty());
    let done = migration(MigrationOutcome::Failed, 1_000, Some(1_500));
    c.count_migration(&done);
    c.count_migration(&done);
    c.count_migration(&migration(
        MigrationOutcome::AlreadyHere,
        2_000,
        Some(2_100),
    ));
    let m = &c.migrations["10.0.1.100"];
    assert_eq!((m["failed"], m["already_here"]), (1, 1));
    // Only a success sets the duration of the last move.
    assert!(c.last_move_ms.is_empty());
    let check = CheckRecord {
        result: CheckResult::Fail,
        reason: "drained".into(),
        at_ms: 9,
        since_ms: 0,
    };
    c.count_check(&check);
    c.count_check(&check);
    assert_eq!(c.checks["fail"], 1);
}

fn config(dir: &Path, textfile: &Path) -> Config {
    let text = format!(
        "[[vip]]\naddress = \"10.0.1.100\"\ninstance = \"VI_1\"\n[state]\ndir = \"{}\"\n[metrics]\ntextfile = \"{}\"\n",
        dir.join("state").display(),
        textfile.display()
    );
    Config::from_toml_str(&text, &dir.join("tcvip.toml")).unwrap()
}

#[test]
fn publish_renders_the_state_dir_and_rewrites_only_on_change() {
    let tmp = tempfile::tempdir().unwrap();
    let prom = tmp.path().join("tcvip.prom");
    let cfg = config(tmp.path(), &prom);
    let state = StateDir::open(&cfg.state.dir).unwrap();
    state
        .record_state("VI_1", KeepalivedState::Master, Some(100), Source::Notify)
        .unwrap();
    state
        .write_migration(&migration(MigrationOutcome::Success, 1_000, Some(1_900)))
        .unwrap();
    publish(&cfg, &state);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains("tcvip_keepalived_vrrp_state{iname=\"VI_1\"} 2\n"),
        "{text}"
    );
    assert!(text.contains("tcvip_migrations_total{vip=\"10.0.1.100\",outcome=\"success\"} 1\n"));
    assert!(text.contains("tcvip_last_move_duration_seconds{vip=\"10.0.1.100\"} 0.9\n"));
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(&prom).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o644);
    // Nothing changed: the file is left alone (same inode), and the migration not recounted.
    publish(&cfg, &state);
    assert_eq!(std::fs::metadata(&prom).unwrap().ino(), meta.ino());
    // A state change is written.
    state
        .record_state("VI_1", KeepalivedState::Backup, Some(100), Source::Notify)
        .unwrap();
    publish(&cfg, &state);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains("tcvip_keepalived_vrrp_state{iname=\"VI_1\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("outcome=\"success\"} 1\n"));
    // No temporary file is left next to it.
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "state")
        .collect();
    assert_eq!(names, vec!["tcvip.prom"]);
}

#[test]
fn without_a_metrics_section_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "[[vip]]\naddress = \"10.0.1.100\"\n[state]\ndir = \"{}\"\n",
        tmp.path().join("state").display()
    );
    let cfg = Config::from_toml_str(&text, &tmp.path().join("tcvip.toml")).unwrap();
    assert!(observer(&cfg.metrics).is_none());
    let state = StateDir::open(&cfg.state.dir).unwrap();
    publish(&cfg, &state);
    let names: Vec<_> = std::fs::read_dir(tmp.path().join("state"))
        .unwrap()
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn concurrent_writers_never_leave_a_torn_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tcvip.prom");
    let a = "a 1\n".repeat(20_000);
    let b = "b 2\n".repeat(30_000);
    textfile::write_atomic(&path, a.as_bytes()).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|content| {
            let path = path.clone();
            std::thread::spawn(move || {
                for _ in 0..100 {
                    textfile::write_atomic(&path, content.as_bytes()).unwrap();
                }
            })
        })
        .collect();
    let reader = {
        let (path, stop, a, b) = (path.clone(), stop.clone(), a.clone(), b.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let got = std::fs::read_to_string(&path).unwrap();
                assert!(got == a || got == b, "torn file of {} bytes", got.len());
                reads += 1;
            }
            reads
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(reader.join().unwrap() > 0);
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(left.len(), 1);
}

#[test]
fn concurrent_publishers_count_every_api_call() {
    // Four "processes" (here: merges of separate deltas) under the lock lose nothing. Each may
    // wait long for it: what is pinned is the serialization, not how fast a loaded disk syncs
    // (three holders' fsyncs can outlast a run's short wait; that case has its own test).
    let tmp = tempfile::tempdir().unwrap();
    let prom = tmp.path().join("tcvip.prom");
    let cfg = std::sync::Arc::new(config(tmp.path(), &prom));
    let state = StateDir::open(&cfg.state.dir).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (cfg, state) = (cfg.clone(), state.clone());
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let mut d = Delta::default();
                    d.observe_call("DescribeNetworkInterfaces", "ok", Duration::from_millis(1));
                    merge(&cfg, &state, &d, Duration::from_secs(30)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let c = merge(&cfg, &state, &Delta::default(), LOCK_WAIT).unwrap();
    assert_eq!(c.api_calls["DescribeNetworkInterfaces"]["ok"], 40);
}

#[test]
fn a_lock_held_past_the_wait_fails_the_merge_and_counts_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let prom = tmp.path().join("tcvip.prom");
    let cfg = config(tmp.path(), &prom);
    let state = StateDir::open(&cfg.state.dir).unwrap();
    let mut d = Delta::default();
    d.observe_call("DescribeNetworkInterfaces", "ok", Duration::from_millis(1));
    let held = textfile::lock(&state.path().join(LOCK_FILE), LOCK_WAIT).unwrap();
    let started = std::time::Instant::now();
    let err = merge(&cfg, &state, &d, Duration::from_millis(50)).unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert!(
        err.contains("metrics.lock") && err.contains("stayed locked"),
        "{err}"
    );
    drop(held);
    let c = merge(&cfg, &state, &d, LOCK_WAIT).unwrap();
    assert_eq!(c.api_calls["DescribeNetworkInterfaces"]["ok"], 1);
}

#[test]
fn serves_the_last_exposition_on_get_metrics() {
    use std::io::{Read as _, Write as _};
    let addr = serve::spawn_serving("127.0.0.1:0".parse().unwrap(), || {
        Some(Arc::new("tcvip_x 1\n".into()))
    })
    .unwrap();
    let get = |req: &str| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let ok = get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.0 200 OK\r\n"), "{ok}");
    assert!(ok.contains("Content-Type: text/plain; version=0.0.4"));
    assert!(ok.ends_with("\r\n\r\ntcvip_x 1\n"), "{ok}");
    assert!(get("GET / HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 404"));
    assert!(get("POST /metrics HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 405"));
}

#[test]
fn metrics_keys_are_checked_with_clear_errors() {
    let parse = |metrics: &str| {
        Config::from_toml_str(
            &format!("[[vip]]\naddress = \"10.0.1.100\"\n[metrics]\n{metrics}\n"),
            Path::new("/t/tcvip.toml"),
        )
    };
    let c = parse("textfile = \"/var/lib/node_exporter/textfile_collector/tcvip.prom\"\nlisten = \"127.0.0.1:9489\"").unwrap();
    assert_eq!(c.metrics.listen, Some("127.0.0.1:9489".parse().unwrap()));
    assert!(c.metrics.enabled());
    assert!(!parse("").unwrap().metrics.enabled());
    for (bad, words) in [
        (
            "textfile = \"tcvip.prom\"",
            ["metrics.textfile", "absolute"],
        ),
        (
            "textfile = \"/var/lib/x/tcvip.txt\"",
            ["metrics.textfile", ".prom"],
        ),
        ("listen = \"9489\"", ["listen", "ADDRESS:PORT"]),
        ("listen = \"127.0.0.1:0\"", ["listen", "port from 1"]),
        ("port = 1", ["port", "textfile"]),
    ] {
        let msg = parse(bad).unwrap_err().to_string();
        for w in words {
            assert!(msg.contains(w), "{bad}: {msg}");
        }
    }
}

#[test]
fn a_havip_has_its_kind_in_vip_info_and_vip_here_from_its_binding() {
    let tmp = tempfile::tempdir().unwrap();
    let prom = tmp.path().join("tcvip.prom");
    let text = format!(
        "[[vip]]\naddress = \"10.0.1.100\"\ninstance = \"VI_1\"\n\
         [[vip]]\naddress = \"10.0.1.200\"\ninstance = \"VI_1\"\nkind = \"havip\"\nhavip_id = \"havip-ohz2bq4e\"\n\
         [state]\ndir = \"{}\"\n[metrics]\ntextfile = \"{}\"\n",
        tmp.path().join("state").display(),
        prom.display()
    );
    let cfg = Config::from_toml_str(&text, &tmp.path().join("tcvip.toml")).unwrap();
    let state = StateDir::open(&cfg.state.dir).unwrap();
    let identity: Identity = serde_json::from_value(serde_json::json!({
        "instance_id": "ins-node0001",
        "region": "ap-guangzhou",
        "zone": null,
        "vpc_id": "vpc-demo0001",
        "subnet_id": null,
        "mac": null,
        "primary_ipv4": null,
        "eni_id": "eni-node0001",
    }))
    .unwrap();
    state.write_cache(IDENTITY_CACHE, &identity).unwrap();
    // The HAVIP bound to this node's ENI (as check-self learns it from DescribeHaVips); the
    // secondary IP elsewhere.
    for (vip, holder) in [
        (Ipv4Addr::new(10, 0, 1, 200), "eni-node0001"),
        (Ipv4Addr::new(10, 0, 1, 100), "eni-node0002"),
    ] {
        state
            .write_cloud_view(&vip_state::CloudView {
                vip,
                holder_eni: Some(holder.into()),
                holder_instance: None,
                ip_state: Some("AVAILABLE".into()),
                learned_at_ms: 4_000,
            })
            .unwrap();
    }
    publish(&cfg, &state);
    let text = std::fs::read_to_string(&prom).unwrap();
    for line in [
        "tcvip_vip_here{vip=\"10.0.1.200\",iname=\"VI_1\"} 1\n",
        "tcvip_vip_here{vip=\"10.0.1.100\",iname=\"VI_1\"} 0\n",
        "tcvip_vip_info{vip=\"10.0.1.200\",iname=\"VI_1\",kind=\"havip\",havip_id=\"havip-ohz2bq4e\"} 1\n",
        "tcvip_vip_info{vip=\"10.0.1.100\",iname=\"VI_1\",kind=\"secondary-ip\",havip_id=\"\"} 1\n",
    ] {
        assert!(text.contains(line), "{line:?} missing:\n{text}");
    }
}
