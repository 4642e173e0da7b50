//! Where lines go: the syslog socket, stderr, or a size-capped file. Every failure is swallowed
//! (a line that cannot reach syslog or the file goes to stderr instead).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Level;

/// syslog facility "daemon".
const FACILITY_DAEMON: u8 = 3;

/// The syslog ident of every line.
pub(crate) const IDENT: &str = "tcvip";

/// How long a send to the syslog socket may block when its queue is full.
const SYSLOG_SEND_TIMEOUT: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub(crate) enum Sink {
    Stderr,
    Syslog { socket: UnixDatagram, path: PathBuf },
    File(FileSink),
}

impl Sink {
    /// A syslog sink on `path`, or stderr (with a note there) when it cannot be used.
    pub(crate) fn syslog(path: &Path) -> Sink {
        let socket = UnixDatagram::unbound().and_then(|s| {
            s.set_write_timeout(Some(SYSLOG_SEND_TIMEOUT))?;
            Ok(s)
        });
        match socket {
            Ok(socket) if path.exists() => Sink::Syslog {
                socket,
                path: path.to_path_buf(),
            },
            _ => {
                note(&format!(
                    "syslog socket {} unavailable; logging to stderr",
                    path.display()
                ));
                Sink::Stderr
            }
        }
    }

    /// A file sink, or stderr (with a note there) when the file cannot be opened.
    pub(crate) fn file(path: &Path, cap: u64) -> Sink {
        match open_append(path) {
            Ok(file) => Sink::File(FileSink {
                path: path.to_path_buf(),
                cap,
                file: Mutex::new(file),
            }),
            Err(e) => {
                note(&format!(
                    "cannot open log file {}: {e}; logging to stderr",
                    path.display()
                ));
                Sink::Stderr
            }
        }
    }

    /// Writes one line (`message` is the key=value part).
    pub(crate) fn write(&self, level: Level, message: &str) {
        match self {
            Sink::Stderr => write_stderr(message),
            Sink::Syslog { socket, path } => {
                let datagram = syslog_line(level, message);
                if socket.send_to(datagram.as_bytes(), path).is_err() {
                    write_stderr(message);
                }
            }
            Sink::File(f) => {
                if !f.write(message) {
                    write_stderr(message);
                }
            }
        }
    }
}

/// `2026-11-26T11:40:00.123Z tcvip[123]: <message>`, the line format of stderr and files.
pub(crate) fn plain_line(message: &str) -> String {
    format!(
        "{} {IDENT}[{}]: {message}\n",
        vip_state::format_utc(vip_state::now_ms()),
        std::process::id()
    )
}

pub(crate) fn write_stderr(message: &str) {
    let _ = std::io::stderr()
        .lock()
        .write_all(plain_line(message).as_bytes());
}

/// A note about logging itself, on stderr.
fn note(what: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{IDENT}: {what}");
}

/// RFC 3164 as the C library's `syslog()` sends it to the local socket (no hostname):
/// `<PRI>Mmm dd hh:mm:ss tcvip[pid]: <message>`.
pub(crate) fn syslog_line(level: Level, message: &str) -> String {
    let pri = FACILITY_DAEMON * 8 + level.syslog_severity();
    format!(
        "<{pri}>{} {IDENT}[{}]: {message}",
        syslog_timestamp(SystemTime::now()),
        std::process::id()
    )
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Mmm dd hh:mm:ss` in local time (day space-padded), as RFC 3164 has it.
fn syslog_timestamp(now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let t = libc::time_t::try_from(secs).unwrap_or(0);
    // SAFETY: `libc::tm` is plain data (integers and a nullable pointer); all-zero is valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r writes only into `tm`.
    let ok = !unsafe { libc::localtime_r(&t, &mut tm) }.is_null();
    let month = usize::try_from(tm.tm_mon)
        .ok()
        .and_then(|m| MONTHS.get(m))
        .copied();
    match month {
        Some(month) if ok => format!(
            "{month} {:>2} {:02}:{:02}:{:02}",
            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec
        ),
        // Only when the C library cannot convert the time: UTC, same shape.
        _ => {
            let utc = vip_state::format_utc(secs.saturating_mul(1000));
            let m = utc
                .get(5..7)
                .and_then(|m| m.parse::<usize>().ok())
                .unwrap_or(1);
            format!(
                "{} {:>2} {}",
                MONTHS.get(m.wrapping_sub(1)).copied().unwrap_or("Jan"),
                utc.get(8..10).unwrap_or("01").trim_start_matches('0'),
                utc.get(11..19).unwrap_or("00:00:00")
            )
        }
    }
}

/// An append-only file that is rotated to `<path>.1` before it would pass `cap` bytes.
#[derive(Debug)]
pub(crate) struct FileSink {
    path: PathBuf,
    cap: u64,
    file: Mutex<File>,
}

impl FileSink {
    /// Appends one line; false if it could not be written.
    fn write(&self, message: &str) -> bool {
        let line = plain_line(message);
        let mut file = match self.file.lock() {
            Ok(f) => f,
            Err(poisoned) => poisoned.into_inner(),
        };
        let size = file.metadata().map_or(0, |m| m.len());
        if size > 0
            && size.saturating_add(line.len() as u64) > self.cap
            && let Some(fresh) = self.rotate(&file)
        {
            *file = fresh;
        }
        file.write_all(line.as_bytes()).is_ok()
    }

    /// Renames the file to `<path>.1` (replacing an older one) and opens a new one. Several
    /// processes may log to one file: the rename happens under a lock on the file, and only if
    /// `path` is still the file we hold, so one rotation never throws away another's.
    fn rotate(&self, current: &File) -> Option<File> {
        if !self.still_ours(current) {
            // Another process rotated already: just follow it to the new file.
            return open_append(&self.path).ok();
        }
        if !try_lock_briefly(current) {
            return None;
        }
        if self.still_ours(current) {
            let mut rotated = self.path.as_os_str().to_owned();
            rotated.push(".1");
            let _ = std::fs::rename(&self.path, PathBuf::from(rotated));
        }
        let _ = current.unlock();
        open_append(&self.path).ok()
    }

    fn still_ours(&self, current: &File) -> bool {
        match (current.metadata(), std::fs::metadata(&self.path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
}

/// Locks `file`, trying for at most ~50 ms (a rotation holds it only for a rename).
fn try_lock_briefly(file: &File) -> bool {
    for _ in 0..10 {
        match file.try_lock() {
            Ok(()) => return true,
            Err(TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(5)),
            Err(TryLockError::Error(_)) => return false,
        }
    }
    false
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn syslog_priority_is_daemon_plus_severity() {
        assert!(syslog_line(Level::Error, "m").starts_with("<27>"));
        assert!(syslog_line(Level::Warn, "m").starts_with("<28>"));
        assert!(syslog_line(Level::Info, "m").starts_with("<30>"));
        assert!(syslog_line(Level::Debug, "m").starts_with("<31>"));
        assert!(syslog_line(Level::Trace, "m").starts_with("<31>"));
    }

    #[test]
    fn syslog_timestamp_has_the_rfc3164_shape() {
        let ts = syslog_timestamp(UNIX_EPOCH + Duration::from_secs(1_790_000_000));
        assert_eq!(ts.len(), 15, "{ts:?}");
        assert!(MONTHS.contains(&&ts[..3]), "{ts:?}");
        assert_eq!(&ts[9..10], ":");
        assert_eq!(&ts[12..13], ":");
    }
}
