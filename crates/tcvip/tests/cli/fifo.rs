//! `notify-action --fifo PATH`, the long-lived FIFO reader (issue 13): every line recorded in
//! order with source `fifo`, a MASTER moved in-process through the core, a BACKUP 1 ms after a
//! MASTER ending BACKUP with no write after it, EOF and SIGTERM ending the reader.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use fake_vpc::{Fault, FaultSpec};
use vip_state::{KeepalivedState, MigrationOutcome, Source};

use crate::util::*;

const SETTLE: Duration = Duration::from_secs(45);
/// The instance (keepalived quotes its name on the line; names with spaces are the parser's
/// unit tests: tcvip.toml refuses them).
const INSTANCE: &str = "VI_1";

/// A node whose VIP follows "VI 1", a FIFO in its directory, and the reader started on it.
struct Reader {
    node: Node,
    fifo: PathBuf,
    child: Child,
}

impl Reader {
    fn start(fake: &fake_vpc::FakeVpcHandle, instance_id: &str) -> Reader {
        Reader::start_with(fake, instance_id, |_| Vec::new())
    }

    /// [`Reader::start`] with more arguments, made from the node (its directory).
    fn start_with(
        fake: &fake_vpc::FakeVpcHandle,
        instance_id: &str,
        extra: impl FnOnce(&Node) -> Vec<String>,
    ) -> Reader {
        let node = Node::new(
            fake,
            instance_id,
            &format!("[[vip]]\naddress = \"{VIP}\"\ninstance = \"{INSTANCE}\"\n"),
        );
        let fifo = node.dir.path().join("tcvip.fifo");
        mkfifo(&fifo);
        let extra = extra(&node);
        let child = node
            .command("notify-action")
            .args(&extra)
            .arg("--fifo")
            .arg(&fifo)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Reader { node, fifo, child }
    }

    /// keepalived's end of the FIFO, once the reader has opened its end (a reader that exited
    /// first fails the test with its stderr, instead of leaving the open waiting).
    fn writer(&mut self) -> File {
        let mut file = None;
        wait_for(Duration::from_secs(20), || {
            file = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&self.fifo)
                .ok();
            file.is_some() || self.child.try_wait().unwrap().is_some()
        });
        match file {
            Some(file) => file,
            None => {
                let _ = self.child.kill();
                let out = self.child.wait_with_output_stderr();
                panic!(
                    "the reader never opened the FIFO: {out}\nlog:\n{}",
                    self.node.log_text()
                )
            }
        }
    }

    /// Waits for the reader to exit; its exit code, or `None` past `timeout`.
    fn exited_within(&mut self, timeout: Duration) -> Option<i32> {
        let mut code = None;
        wait_for(timeout, || match self.child.try_wait().unwrap() {
            Some(status) => {
                code = Some(status.code().unwrap_or(-1));
                true
            }
            None => false,
        });
        code
    }

    fn wait_log(&self, needle: &str) {
        assert!(
            wait_for(SETTLE, || self.node.log_text().contains(needle)),
            "no {needle:?} in the log:\n{}",
            self.node.log_text()
        );
    }
}

trait StderrOf {
    fn wait_with_output_stderr(&mut self) -> String;
}

impl StderrOf for Child {
    fn wait_with_output_stderr(&mut self) -> String {
        let _ = self.wait();
        let mut text = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut text);
        }
        text
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

fn line(state: &str, priority: u32) -> String {
    format!("INSTANCE \"{INSTANCE}\" {state} {priority}\n")
}

fn slow_cloud(fake: &fake_vpc::FakeVpcHandle, calls: u32, delay: Duration) {
    fake.inject(FaultSpec {
        action: None,
        count: calls,
        fault: Fault::Delay(delay),
    });
}

#[test]
fn lines_are_recorded_in_order_malformed_ones_skipped_and_eof_exits() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let mut reader = Reader::start(&fake, "ins-node0001");
    let mut w = reader.writer();
    w.write_all(line("BACKUP", 100).as_bytes()).unwrap();
    w.write_all(b"this is not a keepalived line\n").unwrap();
    w.write_all(line("BACKUP_PRIORITY", 90).as_bytes()).unwrap();
    w.write_all(line("{UNKNOWN}", 90).as_bytes()).unwrap();
    w.write_all(line("FAULT", 0).as_bytes()).unwrap();
    w.write_all(line("BACKUP", 100).as_bytes()).unwrap();
    w.write_all(line("STOP", 100).as_bytes()).unwrap();
    drop(w);
    // keepalived closed its end: the reader is done.
    let code = reader.exited_within(Duration::from_secs(10));
    assert_eq!(code, Some(0), "log:\n{}", reader.node.log_text());

    let record = reader
        .node
        .state()
        .read_state(INSTANCE)
        .record
        .expect("recorded");
    assert_eq!(record.state, KeepalivedState::Stop, "{record:?}");
    assert_eq!(record.source, Source::Fifo);
    assert_eq!(record.seq, 4, "one record per state line: {record:?}");
    let log = reader.node.log_text();
    let states: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("event=state ") && l.contains("source=fifo"))
        .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("state=")))
        .collect();
    assert_eq!(states, ["BACKUP", "FAULT", "BACKUP", "STOP"], "log:\n{log}");
    assert_eq!(
        log.matches("event=fifo_line_skipped").count(),
        2,
        "log:\n{log}"
    );
    assert!(log.contains("event=fifo_stop"), "log:\n{log}");
    assert!(fake.calls_of("MigratePrivateIpAddress").is_empty());
}

#[test]
fn master_moves_the_vip_in_process() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let mut reader = Reader::start(&fake, "ins-node0002");
    let mut w = reader.writer();
    w.write_all(line("MASTER", 150).as_bytes()).unwrap();
    assert!(
        wait_for(SETTLE, || fake.holder_of(VIP).as_deref()
            == Some("eni-node0002")),
        "the VIP never moved; log:\n{}",
        reader.node.log_text()
    );
    reader.wait_log("event=migrate_done");
    assert!(
        detached_of(&reader.node) == [reader.child.id()],
        "the reader started a vip-migrate process instead of moving in-process"
    );
    let migrates = fake.calls_of("MigratePrivateIpAddress");
    assert_eq!(migrates.len(), 1, "{migrates:?}");
    let record = reader.node.state().read_migration(VIP).value.unwrap();
    assert_eq!(record.outcome, MigrationOutcome::Success, "{record:?}");
    drop(w);
}

#[test]
fn master_then_backup_one_ms_later_ends_backup_with_no_write_after_the_backup() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let mut reader = Reader::start(&fake, "ins-node0002");
    let mut w = reader.writer();
    // The identity, credentials and client are made before the first line.
    reader.wait_log("event=fifo_warm ");
    // The cloud is slow: the BACKUP is recorded while the move runs (at its lookup, or, on the
    // warm path, while its first write, sent before the BACKUP, is answered).
    slow_cloud(&fake, 2, Duration::from_millis(800));
    w.write_all(line("MASTER", 150).as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(1));
    w.write_all(line("BACKUP", 100).as_bytes()).unwrap();
    assert!(
        wait_for(SETTLE, || {
            reader.node.state().read_state(INSTANCE).state == KeepalivedState::Backup
        }),
        "log:\n{}",
        reader.node.log_text()
    );
    // Whatever the worker had started is over.
    let _ = wait_for(Duration::from_secs(5), || {
        let log = reader.node.log_text();
        log.contains("event=migrate_failed")
            || log.contains("event=migrate_done")
            || log.contains("reason=not MASTER")
    });
    std::thread::sleep(Duration::from_millis(1500));
    // No write call was sent once the BACKUP was recorded (the reader logs both, in order).
    let log = reader.node.log_text();
    let backup = log
        .lines()
        .position(|l| l.contains("event=state ") && l.contains("state=BACKUP"))
        .unwrap_or_else(|| panic!("no BACKUP recorded in the log:\n{log}"));
    let late: Vec<&str> = log
        .lines()
        .skip(backup + 1)
        .filter(|l| l.contains("event=migrate_call"))
        .collect();
    assert!(
        late.is_empty(),
        "a write after the BACKUP: {late:?}\nlog:\n{log}"
    );
    assert_eq!(
        reader.node.state().read_state(INSTANCE).state,
        KeepalivedState::Backup
    );
    drop(w);
}

#[test]
fn sigterm_ends_the_reader_within_a_second_and_records_the_move_it_cut() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let mut reader = Reader::start(&fake, "ins-node0002");
    let mut w = reader.writer();
    reader.wait_log("event=fifo_warm ");
    // The move hangs in its holder lookup.
    slow_cloud(&fake, 5, Duration::from_secs(5));
    w.write_all(line("MASTER", 150).as_bytes()).unwrap();
    reader.wait_log("event=fifo_migrate ");
    let sent = Instant::now();
    // SAFETY: kill(2) on the child's pid.
    assert_eq!(
        unsafe { libc::kill(reader.child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    // keepalived SIGKILLs a reader 1 s after its SIGTERM.
    let code = reader.exited_within(Duration::from_secs(1));
    let took = sent.elapsed();
    assert_eq!(
        code,
        Some(0),
        "still running {took:?} after SIGTERM; log:\n{}",
        reader.node.log_text()
    );
    let record = reader.node.state().read_migration(VIP).value.unwrap();
    assert_ne!(record.outcome, MigrationOutcome::InFlight, "{record:?}");
    assert!(record.ended_at_ms.is_some(), "{record:?}");
    let log = reader.node.log_text();
    assert!(
        log.contains("event=fifo_stop reason=SIGTERM"),
        "log:\n{log}"
    );
    assert!(fake.calls_of("MigratePrivateIpAddress").is_empty());
    drop(w);
}

#[test]
fn leaving_master_hands_the_vip_to_the_peer_as_in_fork_mode() {
    let fake = start(&example("two-nodes"), Duration::from_millis(200));
    let mut reader = Reader::start_with(&fake, "ins-node0002", |node| {
        let conf = node.dir.path().join("keepalived.conf");
        std::fs::write(
            &conf,
            format!(
                "vrrp_instance {INSTANCE} {{\n    interface eth0\n    virtual_router_id 51\n    \
                 advert_int 1\n    unicast_src_ip 198.18.1.12\n    unicast_peer {{\n        \
                 198.18.1.11\n    }}\n    virtual_ipaddress {{\n        {VIP}/32 dev eth0\n    }}\n}}\n"
            ),
        )
        .unwrap();
        vec!["--keepalived-conf".to_owned(), conf.display().to_string()]
    });
    let mut w = reader.writer();
    w.write_all(line("MASTER", 150).as_bytes()).unwrap();
    assert!(
        wait_for(SETTLE, || fake.holder_of(VIP).as_deref()
            == Some("eni-node0002")),
        "the VIP never moved here; log:\n{}",
        reader.node.log_text()
    );
    reader.wait_log("event=migrate_done");
    // keepalived leaves MASTER while the cloud still routes the VIP here: the hand-over gives
    // it to the only peer, as notify-action does in fork mode.
    w.write_all(line("BACKUP", 100).as_bytes()).unwrap();
    assert!(
        wait_for(SETTLE, || fake.holder_of(VIP).as_deref()
            == Some("eni-node0001")),
        "the VIP was not handed to the peer: holder {:?}\nlog:\n{}",
        fake.holder_of(VIP),
        reader.node.log_text()
    );
    reader.wait_log("event=handoff_done");
    let migrates = fake.calls_of("MigratePrivateIpAddress");
    assert_eq!(migrates.len(), 2, "{migrates:?}");
    assert_eq!(
        migrates[1].params["DestinationNetworkInterfaceId"],
        "eni-node0001"
    );
    // The end of the FIFO ends the reader; the hand-over run is over too.
    drop(w);
    assert_eq!(reader.exited_within(Duration::from_secs(10)), Some(0));
    wait_detached(&reader.node, SETTLE);
}
