//! `[metrics]` (issue 13): the textfile every binary rewrites, scraped through a real
//! node_exporter, and the FIFO reader's `GET /metrics`.
//!
//! The node_exporter scrape needs Debian's `prometheus-node-exporter`: with `TCVIP_NODE_EXPORTER`
//! set (tests/e2e/node-exporter.sh sets it) it is required; otherwise a missing binary skips
//! only the scrape, loudly.

use std::fs::OpenOptions;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use vip_state::KeepalivedState;

use crate::util::*;

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on `addr` with a 5 s deadline: the body, or `None` when nobody answered.
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then(|| body.to_owned())
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn node_exporter() -> Option<PathBuf> {
    let required = std::env::var_os("TCVIP_NODE_EXPORTER");
    let path = required
        .clone()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(NODE_EXPORTER));
    if path.exists() {
        return Some(path);
    }
    assert!(
        required.is_none(),
        "TCVIP_NODE_EXPORTER names {}, which does not exist",
        path.display()
    );
    eprintln!(
        "SKIPPED the node_exporter scrape: {NODE_EXPORTER} is missing (apt-get install prometheus-node-exporter, or run tests/e2e/node-exporter.sh)"
    );
    None
}

/// Scrapes `dir` through node_exporter's textfile collector (only that collector).
fn scrape_textfiles(binary: &Path, dir: &Path) -> String {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _exporter = Killed(
        Command::new(binary)
            .arg(format!("--collector.textfile.directory={}", dir.display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--collector.disable-defaults")
            .arg("--collector.textfile")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut body = None;
    wait_for(Duration::from_secs(15), || {
        body = get(addr, "/metrics");
        body.is_some()
    });
    body.unwrap_or_else(|| panic!("node_exporter never answered on {addr}"))
}

fn metrics_section(textfile: &Path, extra: &str) -> String {
    format!("[metrics]\ntextfile = \"{}\"\n{extra}", textfile.display())
}

#[test]
fn fork_mode_runs_write_the_textfile_and_node_exporter_serves_it() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let collector = tempfile::tempdir().unwrap();
    let prom = collector.path().join("tcvip.prom");
    let node = Node::new(&fake, "ins-node0002", &metrics_section(&prom, ""));
    node.record("default", KeepalivedState::Master);

    let run = node.run("vip-migrate", &[]);
    assert_eq!(run.code, 0, "{run:?}\nlog:\n{}", node.log_text());
    let after_migrate = std::fs::read_to_string(&prom).unwrap();
    let vip = VIP.to_string();
    for line in [
        "tcvip_keepalived_vrrp_state{iname=\"default\"} 2".to_owned(),
        format!("tcvip_migrations_total{{vip=\"{vip}\",outcome=\"success\"}} 1"),
        "tcvip_api_calls_total{action=\"MigratePrivateIpAddress\",code=\"ok\"} 1".to_owned(),
        "tcvip_api_call_duration_seconds_count{action=\"MigratePrivateIpAddress\"} 1".to_owned(),
        "tcvip_credentials_info{source=\"env\"} 1".to_owned(),
        format!("tcvip_vip_here{{vip=\"{vip}\",iname=\"default\"}} 1"),
    ] {
        assert!(
            after_migrate.lines().any(|l| l == line),
            "no {line:?} in:\n{after_migrate}"
        );
    }
    let duration = after_migrate
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!(
                "tcvip_last_move_duration_seconds{{vip=\"{vip}\"}} "
            ))
        })
        .unwrap_or_else(|| panic!("no move duration in:\n{after_migrate}"));
    let duration: f64 = duration.parse().unwrap();
    assert!(duration > 0.0 && duration < 30.0, "{duration}");

    // Another process adds to the same counters: a second migrate (already here) and a check.
    let run = node.run("vip-migrate", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let run = node.run("check-self", &[]);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains(&format!(
            "tcvip_migrations_total{{vip=\"{vip}\",outcome=\"success\"}} 1\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "tcvip_migrations_total{{vip=\"{vip}\",outcome=\"already_here\"}} 1\n"
        )),
        "{text}"
    );
    let result = if run.code == 0 { "pass" } else { "fail" };
    assert!(
        text.contains(&format!(
            "tcvip_check_self_total{{result=\"{result}\"}} 1\n"
        )),
        "{run:?}\n{text}"
    );
    let migrates = fake.calls_of("MigratePrivateIpAddress").len();
    assert!(
        text.contains(&format!(
            "tcvip_api_calls_total{{action=\"MigratePrivateIpAddress\",code=\"ok\"}} {migrates}\n"
        )),
        "{text}"
    );

    let Some(binary) = node_exporter() else {
        return;
    };
    let scraped = scrape_textfiles(&binary, collector.path());
    // The HELP line itself reads "node_textfile_scrape_error 1 if there was an error…".
    let errors: Vec<&str> = scraped
        .lines()
        .filter(|l| l.starts_with("node_textfile_scrape_error "))
        .collect();
    assert_eq!(errors, ["node_textfile_scrape_error 0"], "{scraped}");
    for line in [
        "tcvip_keepalived_vrrp_state{iname=\"default\"} 2".to_owned(),
        format!("tcvip_migrations_total{{outcome=\"success\",vip=\"{vip}\"}} 1"),
        format!("tcvip_migrations_total{{outcome=\"already_here\",vip=\"{vip}\"}} 1"),
        "tcvip_api_call_duration_seconds_bucket{action=\"MigratePrivateIpAddress\",le=\"+Inf\"} 1"
            .to_owned(),
        "tcvip_credentials_info{source=\"env\"} 1".to_owned(),
    ] {
        assert!(
            scraped.lines().any(|l| l == line),
            "node_exporter did not serve {line:?}:\n{scraped}"
        );
    }
}

#[test]
fn the_fifo_reader_serves_metrics_and_rewrites_the_textfile() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let collector = tempfile::tempdir().unwrap();
    let prom = collector.path().join("tcvip.prom");
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let node = Node::new(
        &fake,
        "ins-node0002",
        &format!(
            "[[vip]]\naddress = \"{VIP}\"\ninstance = \"VI_1\"\n{}",
            metrics_section(&prom, &format!("listen = \"{listen}\"\n"))
        ),
    );
    let fifo = node.dir.path().join("tcvip.fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let mut reader = Killed(
        node.command("notify-action")
            .arg("--fifo")
            .arg(&fifo)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut writer = None;
    wait_for(Duration::from_secs(20), || {
        writer = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .ok();
        writer.is_some() || reader.0.try_wait().unwrap().is_some()
    });
    let mut writer = writer.unwrap_or_else(|| panic!("no reader; log:\n{}", node.log_text()));
    writer.write_all(b"INSTANCE \"VI_1\" MASTER 150\n").unwrap();
    let want = format!("tcvip_migrations_total{{vip=\"{VIP}\",outcome=\"success\"}} 1\n");
    let mut served = String::new();
    let moved = wait_for(Duration::from_secs(45), || {
        served = get(listen, "/metrics").unwrap_or_default();
        served.contains(&want)
    });
    assert!(
        moved,
        "GET /metrics never showed the move:\n{served}\nlog:\n{}",
        node.log_text()
    );
    assert!(
        served.contains("tcvip_keepalived_vrrp_state{iname=\"VI_1\"} 2\n"),
        "{served}"
    );
    assert!(
        served
            .contains("tcvip_api_calls_total{action=\"MigratePrivateIpAddress\",code=\"ok\"} 1\n"),
        "{served}"
    );
    // The textfile follows within the reader's one-second republish.
    assert!(
        wait_for(Duration::from_secs(5), || std::fs::read_to_string(&prom)
            .is_ok_and(|t| t.contains(&want))),
        "{}",
        std::fs::read_to_string(&prom).unwrap_or_default()
    );
    assert_eq!(get(listen, "/nothing").as_deref(), Some("try /metrics\n"));
    drop(writer);
    let _ = reader.0.wait();
}
