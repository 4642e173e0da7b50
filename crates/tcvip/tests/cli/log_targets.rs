//! The log targets as a user sees them: file lines and rotation, syslog datagrams, level
//! filtering, the stderr fallback, and secrets kept out of the log.

use std::fmt;
use std::net::Ipv4Addr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tcvip::log::{Level, LogSettings, LogTarget, Logger, Redacted};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 100);
const HELPER_ENV: &str = "TCVIP_LOG_TEST_HELPER";

fn settings(binary: &'static str, target: LogTarget, level: Level) -> LogSettings {
    let mut s = LogSettings::new(binary, target, level);
    s.echo_stderr = false;
    s
}

fn file_logger(path: &Path, level: Level, cap: u64) -> Logger {
    let mut s = settings("check-self", LogTarget::File(path.to_path_buf()), level);
    s.file_cap = cap;
    Logger::new(s)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `<utc time> tcvip[<pid>]: <message>` → `<message>`, checking the prefix.
fn message_of(line: &str) -> &str {
    let (time, rest) = line.split_once(' ').unwrap();
    assert_eq!(time.len(), 24, "{line}");
    assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{line}");
    let prefix = format!("tcvip[{}]: ", std::process::id());
    rest.strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{line:?} lacks {prefix:?}"))
}

#[test]
fn file_lines_are_one_key_value_event_each() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tcvip.log");
    let log = file_logger(&path, Level::Info, 1 << 20);
    log.log(
        Level::Info,
        "migrate_done",
        &[
            ("vip", &VIP),
            ("eni", &"eni-x"),
            ("request_id", &"7c1e-44"),
            ("attempt", &2),
            ("elapsed_ms", &1234),
        ],
    );
    log.log(
        Level::Warn,
        "cloud_unreachable",
        &[("error", &"connect: \"timed out\"\nafter 3000 ms")],
    );
    let text = read(&path);
    let messages: Vec<&str> = text.lines().map(message_of).collect();
    assert_eq!(
        messages,
        [
            "bin=check-self level=info event=migrate_done vip=10.0.1.100 eni=eni-x request_id=7c1e-44 attempt=2 elapsed_ms=1234",
            r#"bin=check-self level=warn event=cloud_unreachable error="connect: \"timed out\"\nafter 3000 ms""#,
        ]
    );
}

#[test]
fn levels_below_the_configured_one_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tcvip.log");
    let log = file_logger(&path, Level::Warn, 1 << 20);
    for level in [
        Level::Error,
        Level::Warn,
        Level::Info,
        Level::Debug,
        Level::Trace,
    ] {
        log.log(level, "e", &[("at", &level)]);
    }
    let levels: Vec<String> = read(&path)
        .lines()
        .map(|l| message_of(l).split(' ').nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(levels, ["level=error", "level=warn"]);
    assert!(!log.enabled(Level::Info));

    let path = dir.path().join("debug.log");
    let log = file_logger(&path, Level::Debug, 1 << 20);
    for level in [Level::Error, Level::Info, Level::Debug, Level::Trace] {
        log.log(level, "e", &[]);
    }
    assert_eq!(read(&path).lines().count(), 3);
}

#[test]
fn the_file_is_rotated_once_at_its_cap_and_never_grows_without_bound() {
    const CAP: u64 = 4096;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tcvip.log");
    let rotated = dir.path().join("tcvip.log.1");
    let log = file_logger(&path, Level::Info, CAP);
    let filler = "x".repeat(60);
    for n in 0..1000 {
        log.log(Level::Info, "tick", &[("n", &n), ("filler", &filler)]);
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size <= CAP, "{size} bytes after event {n}");
    }
    assert!(std::fs::metadata(&rotated).unwrap().len() <= CAP);
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["tcvip.log", "tcvip.log.1"]);

    // The newest events are kept, in order, across the two files; the oldest are gone.
    let numbers: Vec<u32> = [read(&rotated), read(&path)]
        .concat()
        .lines()
        .map(|l| {
            let m = message_of(l);
            let n = m.split(' ').find_map(|kv| kv.strip_prefix("n=")).unwrap();
            n.parse().unwrap()
        })
        .collect();
    assert_eq!(*numbers.last().unwrap(), 999);
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    assert!(numbers[0] > 0);
}

#[test]
fn an_existing_file_is_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tcvip.log");
    std::fs::write(&path, "earlier line\n").unwrap();
    file_logger(&path, Level::Info, 1 << 20).log(Level::Info, "later", &[]);
    let text = read(&path);
    assert!(text.starts_with("earlier line\n"), "{text}");
    assert!(text.ends_with("event=later\n"), "{text}");
}

fn syslog_socket(dir: &Path) -> (PathBuf, UnixDatagram) {
    let path = dir.join("log.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (path, sock)
}

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = vec![0u8; 65536];
    let n = sock.recv(&mut buf).unwrap();
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

/// `<PRI>Mmm dd hh:mm:ss tcvip[pid]: message` → (PRI, message), checking the shape.
fn parse_syslog(datagram: &str) -> (u8, String) {
    let rest = datagram.strip_prefix('<').unwrap();
    let (pri, rest) = rest.split_once('>').unwrap();
    let (stamp, rest) = rest.split_at(15);
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    assert!(months.contains(&&stamp[..3]), "{datagram:?}");
    let day = stamp[4..6].trim_start();
    assert!(
        (1..=31).contains(&day.parse::<u32>().unwrap()),
        "{datagram:?}"
    );
    let clock: Vec<u32> = stamp[7..].split(':').map(|p| p.parse().unwrap()).collect();
    assert!(clock.len() == 3 && clock[0] < 24 && clock[1] < 60 && clock[2] < 61);
    let prefix = format!(" tcvip[{}]: ", std::process::id());
    let message = rest
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{datagram:?} lacks {prefix:?}"));
    (pri.parse().unwrap(), message.to_owned())
}

#[test]
fn syslog_lines_are_rfc3164_with_ident_facility_and_binary() {
    let dir = tempfile::tempdir().unwrap();
    let (path, sock) = syslog_socket(dir.path());
    let mut s = settings("vip-migrate", LogTarget::Syslog, Level::Info);
    s.syslog_socket = path;
    let log = Logger::new(s);

    log.log(
        Level::Info,
        "migrate_done",
        &[("vip", &VIP), ("attempt", &2)],
    );
    log.log(Level::Debug, "dropped", &[]);
    log.log(
        Level::Error,
        "migrate_failed",
        &[("error", &"auth failure")],
    );

    // daemon (3) * 8 + info (6) = 30; + err (3) = 27.
    assert_eq!(
        parse_syslog(&recv(&sock)),
        (
            30,
            "bin=vip-migrate level=info event=migrate_done vip=10.0.1.100 attempt=2".to_owned()
        )
    );
    assert_eq!(
        parse_syslog(&recv(&sock)),
        (
            27,
            r#"bin=vip-migrate level=error event=migrate_failed error="auth failure""#.to_owned()
        )
    );
}

#[derive(Clone)]
struct Credentials {
    secret_id: String,
    secret_key: String,
    token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_id", &self.secret_id)
            .field("secret_key", &Redacted(&self.secret_key))
            .field("token", &self.token.as_ref().map(Redacted))
            .finish()
    }
}

#[test]
fn secrets_never_reach_the_log() {
    const SECRET: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";
    const TOKEN: &str = "tok-3f9a1c0d5e7b";
    const SIGNATURE: &str = "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tcvip.log");
    let log = file_logger(&path, Level::Trace, 1 << 20);
    let creds = Credentials {
        secret_id: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE".into(),
        secret_key: SECRET.into(),
        token: Some(TOKEN.into()),
    };
    let authorization = format!(
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2026-11-26/vpc/tc3_request, SignedHeaders=content-type;host;x-tc-action, Signature={SIGNATURE}"
    );
    log.log(
        Level::Info,
        "credentials_loaded",
        &[("creds", &format!("{creds:?}"))],
    );
    log.log(Level::Info, "explicit", &[("key", &Redacted(SECRET))]);
    log.log(
        Level::Debug,
        "by_key",
        &[
            ("secret_key", &SECRET),
            ("SessionToken", &TOKEN),
            ("password", &SECRET),
        ],
    );
    log.log(
        Level::Debug,
        "request",
        &[
            ("authorization", &authorization),
            ("headers", &authorization),
        ],
    );
    let text = read(&path);
    assert_eq!(text.lines().count(), 4, "{text}");
    for secret in [SECRET, TOKEN, SIGNATURE] {
        assert!(!text.contains(secret), "{secret} leaked into:\n{text}");
    }
    // What is not secret still gets through, so the log stays useful.
    assert!(
        text.contains("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"),
        "{text}"
    );
    assert!(text.contains("[redacted]"), "{text}");
}

/// Runs the test `name` of this module again, alone in a child process, with `HELPER_ENV=arg`,
/// and returns its stderr: for what only a fresh process shows (the process-wide logger). The
/// test, seeing `HELPER_ENV`, plays the child's part.
fn in_a_child(name: &str, arg: &str) -> String {
    // module_path!() is "cli::log_targets"; libtest names tests without the crate.
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            &format!("{module}::{name}"),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, arg)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 passed"),
        "the child ran no test: {stdout}"
    );
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn without_a_syslog_socket_lines_go_to_stderr() {
    if let Ok(socket) = std::env::var(HELPER_ENV) {
        // The child: one event to a syslog socket that does not exist.
        let mut s = settings("notify-action", LogTarget::Syslog, Level::Info);
        s.syslog_socket = PathBuf::from(socket);
        Logger::new(s).log(Level::Info, "state_recorded", &[("state", &"MASTER")]);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such.sock");
    let err = in_a_child(
        "without_a_syslog_socket_lines_go_to_stderr",
        missing.to_str().unwrap(),
    );
    assert!(
        err.contains("bin=notify-action level=info event=state_recorded state=MASTER"),
        "{err}"
    );
}

#[test]
fn before_init_events_go_to_stderr_and_init_counts_once() {
    if std::env::var(HELPER_ENV).is_ok() {
        // The child: events before and after the one init that counts.
        tcvip::info!("early", n = 1);
        assert!(tcvip::log::init(settings(
            "vip-query",
            LogTarget::Stderr,
            Level::Warn
        )));
        assert!(!tcvip::log::init(settings(
            "other",
            LogTarget::Stderr,
            Level::Debug
        )));
        tcvip::info!("filtered", n = 0);
        tcvip::warn!("late", n = 2,);
        return;
    }
    let err = in_a_child("before_init_events_go_to_stderr_and_init_counts_once", "");
    assert!(
        err.contains("bin=tcvip level=info event=early n=1"),
        "{err}"
    );
    assert!(
        err.contains("bin=vip-query level=warn event=late n=2"),
        "{err}"
    );
    assert!(!err.contains("event=filtered"), "{err}");
}
