//! Logging: one key=value line per event, to syslog (default), stderr or a size-capped file.
//!
//! keepalived sends its scripts' stdout and stderr to /dev/null, so tcvip's binaries log to the
//! syslog socket `/dev/log` (journald or rsyslog) with ident `tcvip`, facility daemon, and the
//! binary's name in every line:
//!
//! ```text
//! <30>Nov 26 11:40:00 tcvip[4242]: bin=vip-migrate level=info event=migrate_done vip=10.0.1.100 eni=eni-x request_id=7c1e attempt=2 elapsed_ms=1234
//! ```
//!
//! - Targets ([`LogTarget`], from `[log] target`): `syslog`, `stderr`, `file:/path`. A file is
//!   opened for appending and rotated once to `/path.1` before it would pass its cap
//!   ([`DEFAULT_FILE_CAP`] unless set), so it never grows without bound. When `/dev/log` or the
//!   file cannot be used, lines go to stderr. When stderr is a terminal (an operator at the
//!   console), lines are echoed there too.
//! - Levels ([`Level`], from `[log] level`): error, warn, info, debug, trace; events below the
//!   configured level are dropped before anything is formatted.
//! - Values are rendered with `Display`; a value with spaces, quotes, `=`, backslashes or control
//!   characters is quoted and escaped, so each event stays one parseable line.
//! - Secrets: wrap them in [`Redacted`]. Besides that, a field whose key contains `secret`,
//!   `password`, `token`, `authorization` or `signature`, and any value that looks like a signed
//!   TC3 Authorization header, is written as `[redacted]`.
//! - Logging never fails the caller and never panics: every error is swallowed. Before [`init`]
//!   (or when it was never called) events go to stderr at level info.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use tcvip::log::{self, Level, LogSettings, LogTarget, Redacted};
//!
//! log::init(LogSettings::new("vip-migrate", LogTarget::parse("stderr").unwrap(), Level::Info));
//! let vip = Ipv4Addr::new(10, 0, 1, 100);
//! tcvip::info!("migrate_done", vip = vip, eni = "eni-x", attempt = 2, elapsed_ms = 1234);
//! tcvip::debug!("not shown at level info", vip = vip);
//! tcvip::warn!("credentials", secret_id = "AKID...", secret_key = Redacted("never printed"));
//! // The same without a macro:
//! log::emit(Level::Error, "migrate_failed", &[("vip", &vip), ("error", &"permission denied")]);
//! ```

mod format;
mod sink;

use std::fmt::{self, Display};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use sink::Sink;

/// The file target's default cap: rotate before the file passes 1 MiB.
pub const DEFAULT_FILE_CAP: u64 = 1024 * 1024;

/// The syslog socket.
pub const DEFAULT_SYSLOG_SOCKET: &str = "/dev/log";

/// The environment variable that names another syslog socket (a chroot's, or a test's).
pub const SYSLOG_SOCKET_ENV: &str = "TCVIP_SYSLOG_SOCKET";

/// How important an event is. Ordered from most to least important.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Something failed.
    Error,
    /// Something is wrong but work goes on.
    Warn,
    /// A normal event worth keeping (the default level).
    Info,
    /// Detail for diagnosis.
    Debug,
    /// Even more detail.
    Trace,
}

impl Level {
    /// The lower-case word, e.g. `warn`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }

    /// The syslog severity (err 3, warning 4, info 6, debug 7).
    pub fn syslog_severity(self) -> u8 {
        match self {
            Level::Error => 3,
            Level::Warn => 4,
            Level::Info => 6,
            Level::Debug | Level::Trace => 7,
        }
    }
}

impl Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not a log level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid log level {0:?}: expected \"error\", \"warn\", \"info\", \"debug\" or \"trace\"")]
pub struct LevelError(pub String);

impl FromStr for Level {
    type Err = LevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Level::Error,
            Level::Warn,
            Level::Info,
            Level::Debug,
            Level::Trace,
        ]
        .into_iter()
        .find(|l| l.as_str() == s)
        .ok_or_else(|| LevelError(s.to_owned()))
    }
}

/// Where log lines go (`[log] target`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// The local syslog socket (journald or rsyslog). The default.
    Syslog,
    /// Standard error.
    Stderr,
    /// A file, appended to and rotated once at its cap.
    File(PathBuf),
}

/// A `[log] target` value that is none of the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid log target {0:?}: expected \"syslog\", \"stderr\" or \"file:/absolute/path\"")]
pub struct LogTargetError(pub String);

impl LogTarget {
    /// Parses `syslog`, `stderr` or `file:/absolute/path`.
    pub fn parse(s: &str) -> Result<LogTarget, LogTargetError> {
        match s {
            "syslog" => Ok(LogTarget::Syslog),
            "stderr" => Ok(LogTarget::Stderr),
            _ => match s.strip_prefix("file:") {
                Some(p) if Path::new(p).is_absolute() && p.len() > 1 => {
                    Ok(LogTarget::File(PathBuf::from(p)))
                }
                _ => Err(LogTargetError(s.to_owned())),
            },
        }
    }
}

impl FromStr for LogTarget {
    type Err = LogTargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LogTarget::parse(s)
    }
}

impl Display for LogTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogTarget::Syslog => f.write_str("syslog"),
            LogTarget::Stderr => f.write_str("stderr"),
            LogTarget::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

/// How a process logs; see [`LogSettings::new`] for the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// The binary's name, written as `bin=` in every line.
    pub binary: &'static str,
    /// Where lines go.
    pub target: LogTarget,
    /// The least important level written.
    pub level: Level,
    /// Rotate a file target before it would pass this many bytes.
    pub file_cap: u64,
    /// The syslog socket (tests point it elsewhere).
    pub syslog_socket: PathBuf,
    /// Also write every line to stderr (besides a syslog or file target).
    pub echo_stderr: bool,
}

impl LogSettings {
    /// Settings with a 1 MiB file cap, `/dev/log` (or `$TCVIP_SYSLOG_SOCKET` when set to an
    /// absolute path), and an echo to stderr when stderr is a terminal and the target is not
    /// stderr already.
    pub fn new(binary: &'static str, target: LogTarget, level: Level) -> LogSettings {
        use std::io::IsTerminal as _;
        let echo_stderr = target != LogTarget::Stderr && std::io::stderr().is_terminal();
        LogSettings {
            binary,
            target,
            level,
            file_cap: DEFAULT_FILE_CAP,
            syslog_socket: std::env::var_os(SYSLOG_SOCKET_ENV)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .unwrap_or_else(|| PathBuf::from(DEFAULT_SYSLOG_SOCKET)),
            echo_stderr,
        }
    }
}

/// A logger. Binaries use the process-wide one through [`init`] and the macros; tests may build
/// their own.
#[derive(Debug)]
pub struct Logger {
    binary: &'static str,
    level: Level,
    sink: Sink,
    echo_stderr: bool,
}

impl Logger {
    /// Opens the target; when it cannot be used, the logger writes to stderr instead.
    pub fn new(settings: LogSettings) -> Logger {
        let sink = match &settings.target {
            LogTarget::Syslog => Sink::syslog(&settings.syslog_socket),
            LogTarget::Stderr => Sink::Stderr,
            LogTarget::File(path) => Sink::file(path, settings.file_cap.max(1)),
        };
        let echo_stderr = settings.echo_stderr && !matches!(sink, Sink::Stderr);
        Logger {
            binary: settings.binary,
            level: settings.level,
            sink,
            echo_stderr,
        }
    }

    /// Whether events reach stderr (the target, a fallback, or the echo for a terminal).
    pub fn writes_stderr(&self) -> bool {
        self.echo_stderr || matches!(self.sink, Sink::Stderr)
    }

    /// Whether events at `level` are written.
    pub fn enabled(&self, level: Level) -> bool {
        level <= self.level
    }

    /// Writes one event, if its level is enabled. Never fails, never panics.
    pub fn log(&self, level: Level, event: &str, fields: &[(&str, &dyn Display)]) {
        if !self.enabled(level) {
            return;
        }
        let message = format::message(self.binary, level, event, fields);
        self.sink.write(level, &message);
        if self.echo_stderr {
            sink::write_stderr(&message);
        }
    }
}

static LOGGER: OnceLock<Logger> = OnceLock::new();
static BEFORE_INIT: OnceLock<Logger> = OnceLock::new();

/// Sets up the process-wide logger. Only the first call counts; it returns false for later ones.
pub fn init(settings: LogSettings) -> bool {
    let mut fresh = false;
    LOGGER.get_or_init(|| {
        fresh = true;
        Logger::new(settings)
    });
    fresh
}

/// Whether [`init`] has set up the process-wide logger.
pub fn is_initialized() -> bool {
    LOGGER.get().is_some()
}

/// The process-wide logger: the one [`init`] set up, else stderr at level info.
pub fn logger() -> &'static Logger {
    LOGGER.get().unwrap_or_else(|| {
        BEFORE_INIT.get_or_init(|| Logger {
            binary: "tcvip",
            level: Level::Info,
            sink: Sink::Stderr,
            echo_stderr: false,
        })
    })
}

/// Whether the process-wide logger writes its events to stderr.
pub fn writes_stderr() -> bool {
    logger().writes_stderr()
}

/// Whether the process-wide logger writes events at `level`.
pub fn enabled(level: Level) -> bool {
    logger().enabled(level)
}

/// Writes one event through the process-wide logger.
pub fn emit(level: Level, event: &str, fields: &[(&str, &dyn Display)]) {
    logger().log(level, event, fields);
}

/// [`emit`] at [`Level::Error`].
pub fn error(event: &str, fields: &[(&str, &dyn Display)]) {
    emit(Level::Error, event, fields);
}

/// [`emit`] at [`Level::Warn`].
pub fn warn(event: &str, fields: &[(&str, &dyn Display)]) {
    emit(Level::Warn, event, fields);
}

/// [`emit`] at [`Level::Info`].
pub fn info(event: &str, fields: &[(&str, &dyn Display)]) {
    emit(Level::Info, event, fields);
}

/// [`emit`] at [`Level::Debug`].
pub fn debug(event: &str, fields: &[(&str, &dyn Display)]) {
    emit(Level::Debug, event, fields);
}

/// A value that is never shown: `Display` and `Debug` both print `[redacted]`.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Redacted<T>(pub T);

impl<T> Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(format::REDACTED)
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(format::REDACTED)
    }
}

/// Logs an event at a level: `tcvip::log_event!(Level::Info, "event", key = value, ...)`.
/// Values are anything `Display`; keys are identifiers.
#[macro_export]
macro_rules! log_event {
    ($level:expr, $event:expr $(, $key:ident = $value:expr)* $(,)?) => {{
        let level = $level;
        if $crate::log::enabled(level) {
            $crate::log::emit(
                level,
                $event,
                &[$((::core::stringify!($key), &$value as &dyn ::core::fmt::Display)),*],
            );
        }
    }};
}

/// Logs an event at level error: `tcvip::error!("event", key = value, ...)`.
#[macro_export]
macro_rules! error {
    ($($args:tt)*) => { $crate::log_event!($crate::log::Level::Error, $($args)*) };
}

/// Logs an event at level warn: `tcvip::warn!("event", key = value, ...)`.
#[macro_export]
macro_rules! warn {
    ($($args:tt)*) => { $crate::log_event!($crate::log::Level::Warn, $($args)*) };
}

/// Logs an event at level info: `tcvip::info!("event", key = value, ...)`.
#[macro_export]
macro_rules! info {
    ($($args:tt)*) => { $crate::log_event!($crate::log::Level::Info, $($args)*) };
}

/// Logs an event at level debug: `tcvip::debug!("event", key = value, ...)`.
#[macro_export]
macro_rules! debug {
    ($($args:tt)*) => { $crate::log_event!($crate::log::Level::Debug, $($args)*) };
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn targets_parse_or_name_the_expected_forms() {
        assert_eq!(LogTarget::parse("syslog").unwrap(), LogTarget::Syslog);
        assert_eq!(LogTarget::parse("stderr").unwrap(), LogTarget::Stderr);
        assert_eq!(
            LogTarget::parse("file:/var/log/tcvip.log").unwrap(),
            LogTarget::File(PathBuf::from("/var/log/tcvip.log"))
        );
        for bad in [
            "",
            "file:",
            "file:relative.log",
            "journal",
            "Syslog",
            "file:/",
        ] {
            let err = LogTarget::parse(bad).unwrap_err().to_string();
            assert!(
                err.contains(r#""syslog", "stderr" or "file:/absolute/path""#),
                "{err}"
            );
        }
        for t in ["syslog", "stderr", "file:/x/y.log"] {
            assert_eq!(LogTarget::parse(t).unwrap().to_string(), t);
        }
    }

    #[test]
    fn levels_parse_and_order() {
        assert_eq!("warn".parse::<Level>().unwrap(), Level::Warn);
        assert!(
            "WARNING"
                .parse::<Level>()
                .unwrap_err()
                .to_string()
                .contains("\"info\"")
        );
        assert!(Level::Error < Level::Warn && Level::Info < Level::Debug);
    }

    #[test]
    fn redacted_never_shows_its_content() {
        let r = Redacted("s3cr3t");
        assert_eq!(
            format!("{r} {r:?} {r:#?}"),
            "[redacted] [redacted] [redacted]"
        );
    }
}
