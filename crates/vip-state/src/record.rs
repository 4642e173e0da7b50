//! Per-instance keepalived state records: `state-<instance>.json`, replaced atomically under the
//! instance lock `state-<instance>.lock`, with a sequence number that only grows.
//!
//! The lock file also keeps a copy of the last sequence number written, so that a damaged record
//! does not restart the sequence: the next write continues from the larger of the two.

use std::fmt;
use std::fs::File;
use std::io::Read as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::atomic::{Temp, write_atomic};
use crate::dir::StateDir;
use crate::error::StateError;
use crate::launch::Launch;
use crate::lock_file::{lock_with_deadline, open_lock_file};
use crate::names::instance_stem;
use crate::time::now_ms;

/// Largest record or cache file read; anything longer is treated as corrupt.
pub(crate) const MAX_FILE_LEN: u64 = 64 * 1024;

/// A keepalived VRRP state, as keepalived spells it (upper case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum KeepalivedState {
    /// This node holds the VIPs of the instance.
    Master,
    /// Another node should hold them.
    Backup,
    /// The instance is faulted (a tracked script or interface failed).
    Fault,
    /// keepalived stopped the instance.
    Stop,
    /// Nothing valid was recorded. Never a reason for a destructive action.
    Unknown,
}

impl KeepalivedState {
    /// The upper-case word, e.g. `MASTER`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeepalivedState::Master => "MASTER",
            KeepalivedState::Backup => "BACKUP",
            KeepalivedState::Fault => "FAULT",
            KeepalivedState::Stop => "STOP",
            KeepalivedState::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for KeepalivedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not a keepalived state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown keepalived state {0:?}: expected MASTER, BACKUP, FAULT, STOP or UNKNOWN")]
pub struct ParseStateError(pub String);

impl FromStr for KeepalivedState {
    type Err = ParseStateError;

    /// Parses `MASTER`, `BACKUP`, `FAULT`, `STOP` or `UNKNOWN`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            KeepalivedState::Master,
            KeepalivedState::Backup,
            KeepalivedState::Fault,
            KeepalivedState::Stop,
            KeepalivedState::Unknown,
        ]
        .into_iter()
        .find(|st| st.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| ParseStateError(s.to_owned()))
    }
}

/// Where a recorded state came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A keepalived notify script invocation.
    Notify,
    /// A line read from keepalived's notify FIFO.
    Fifo,
    /// An operator.
    Manual,
}

impl Source {
    /// The lower-case word, e.g. `notify`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Notify => "notify",
            Source::Fifo => "fifo",
            Source::Manual => "manual",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Source::Notify, Source::Fifo, Source::Manual]
            .into_iter()
            .find(|src| src.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown state source {s:?}: expected notify, fifo or manual"))
    }
}

/// One recorded keepalived state of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRecord {
    /// The keepalived instance (or group) name.
    pub instance: String,
    /// The state keepalived announced.
    pub state: KeepalivedState,
    /// Sequence number: each record of an instance has a larger one than the record before.
    pub seq: u64,
    /// When it was recorded (unix ms).
    pub recorded_at_ms: u64,
    /// keepalived's effective priority, when it said.
    #[serde(default)]
    pub priority: Option<u32>,
    /// Who told us.
    pub source: Source,
    /// When and as which process the notification that wrote this was launched, when known:
    /// a notification launched before it is older news and is not recorded over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<Launch>,
    /// The keepalived process that reported this state, when known (the notify script's or the
    /// FIFO reader's parent): a MASTER whose keepalived has since died (SIGKILL runs no notify)
    /// must not keep moving the VIP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalived: Option<Launch>,
}

/// What [`StateDir::record_notification`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The new latest record.
    Written(StateRecord),
    /// Nothing was written: the latest record (given here) comes from a notification that
    /// keepalived launched after this one.
    Superseded(StateRecord),
}

/// Why a read found nothing usable. The reader still gets an answer (UNKNOWN, or no cache); the
/// caller should log this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadWarning {
    /// Nothing has been written yet.
    Missing {
        /// The file looked for.
        path: PathBuf,
    },
    /// The file is empty.
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file does not hold what it should.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The file could not be read.
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: String,
    },
    /// The name asked for cannot name a file.
    InvalidName {
        /// Why the name was refused.
        error: String,
    },
}

impl fmt::Display for ReadWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadWarning::Missing { path } => write!(f, "{} does not exist yet", path.display()),
            ReadWarning::Empty { path } => write!(f, "{} is empty", path.display()),
            ReadWarning::Corrupt { path, reason } => {
                write!(f, "{} is corrupt: {reason}", path.display())
            }
            ReadWarning::Unreadable { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            ReadWarning::InvalidName { error } => f.write_str(error),
        }
    }
}

/// The result of [`StateDir::read_state`]: always an answer, plus a warning when the answer is
/// UNKNOWN because nothing valid was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOutcome {
    /// The state to act on: the record's, or `Unknown`.
    pub state: KeepalivedState,
    /// The record's sequence number, or the last good one known (0 when none is).
    pub seq: u64,
    /// The record, when a valid one was read.
    pub record: Option<StateRecord>,
    /// Why there is no valid record.
    pub warning: Option<ReadWarning>,
}

impl StateDir {
    /// Records `state` for `instance` with the next sequence number, atomically, under the
    /// instance lock (waiting at most [`StateDir::lock_timeout`]). Returns the new record.
    pub fn record_state(
        &self,
        instance: &str,
        state: KeepalivedState,
        priority: Option<u32>,
        source: Source,
    ) -> Result<StateRecord, StateError> {
        match self.record_notification(instance, state, priority, source, None)? {
            Recorded::Written(record) | Recorded::Superseded(record) => Ok(record),
        }
    }

    /// Like [`StateDir::record_state`], for a notification launched as `launch`: when the
    /// latest record comes from a notification launched after it (keepalived launched both, and
    /// the later one reached the lock first), nothing is written and the result says so.
    /// Without a launch on either side, the notification is recorded.
    pub fn record_notification(
        &self,
        instance: &str,
        state: KeepalivedState,
        priority: Option<u32>,
        source: Source,
        launch: Option<Launch>,
    ) -> Result<Recorded, StateError> {
        self.record_notification_from(instance, state, priority, source, launch, None)
    }

    /// [`StateDir::record_notification`], also naming the keepalived process that reported it.
    pub fn record_notification_from(
        &self,
        instance: &str,
        state: KeepalivedState,
        priority: Option<u32>,
        source: Source,
        launch: Option<Launch>,
        keepalived: Option<Launch>,
    ) -> Result<Recorded, StateError> {
        let stem = instance_stem(instance)?;
        let lock_path = self.join(&format!("state-{stem}.lock"));
        let record_path = self.join(&format!("state-{stem}.json"));
        let lock = open_lock_file(&lock_path)?;
        lock_with_deadline(&lock, &lock_path, self.lock_timeout(), |_| None)?;

        let current = read_record(&record_path, instance);
        if let (Some(ours), Some(latest)) = (&launch, &current.record)
            && let Some(theirs) = &latest.launch
            && ours.is_before(theirs)
        {
            return Ok(Recorded::Superseded(latest.clone()));
        }
        let last = current.seq.max(read_seq_copy(&lock));
        let record = StateRecord {
            instance: instance.to_owned(),
            state,
            seq: last.saturating_add(1),
            recorded_at_ms: now_ms(),
            priority,
            source,
            launch,
            keepalived,
        };
        let mut bytes = serde_json::to_vec(&record).map_err(|e| StateError::Serialize {
            path: record_path.clone(),
            source: e,
        })?;
        bytes.push(b'\n');
        write_atomic(self.path(), &record_path, &bytes, Temp::Fixed)?;
        // The copy only guards against a damaged record; the record itself is already durable.
        let digits = record.seq.to_string();
        if lock.write_all_at(digits.as_bytes(), 0).is_ok() {
            let _ = lock.set_len(digits.len() as u64);
        }
        Ok(Recorded::Written(record))
        // `lock` is closed here, which releases the instance lock.
    }

    /// Reads the latest record of `instance`. Never fails: a missing, empty or corrupt record
    /// reads as `Unknown` with a warning.
    pub fn read_state(&self, instance: &str) -> ReadOutcome {
        let stem = match instance_stem(instance) {
            Ok(s) => s,
            Err(e) => {
                return ReadOutcome {
                    state: KeepalivedState::Unknown,
                    seq: 0,
                    record: None,
                    warning: Some(ReadWarning::InvalidName {
                        error: e.to_string(),
                    }),
                };
            }
        };
        let mut outcome = read_record(&self.join(&format!("state-{stem}.json")), instance);
        if outcome.record.is_none()
            && let Ok(lock) = File::open(self.join(&format!("state-{stem}.lock")))
        {
            outcome.seq = read_seq_copy(&lock);
        }
        outcome
    }
}

fn read_record(path: &Path, instance: &str) -> ReadOutcome {
    let unknown = |warning| ReadOutcome {
        state: KeepalivedState::Unknown,
        seq: 0,
        record: None,
        warning: Some(warning),
    };
    let bytes = match read_small(path) {
        Ok(b) => b,
        Err(w) => return unknown(w),
    };
    match serde_json::from_slice::<StateRecord>(&bytes) {
        Ok(rec) if rec.instance == instance => ReadOutcome {
            state: rec.state,
            seq: rec.seq,
            record: Some(rec),
            warning: None,
        },
        Ok(rec) => unknown(ReadWarning::Corrupt {
            path: path.to_path_buf(),
            reason: format!("it records instance {:?}", rec.instance),
        }),
        Err(e) => unknown(ReadWarning::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

/// Reads a small file whole, mapping every failure to a warning.
pub(crate) fn read_small(path: &Path) -> Result<Vec<u8>, ReadWarning> {
    use std::os::unix::fs::OpenOptionsExt as _;
    // O_NONBLOCK: a FIFO put in place of a record must not block its reader in open().
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .and_then(|f| {
            if f.metadata()?.is_file() {
                Ok(f)
            } else {
                Err(std::io::Error::other("not a regular file"))
            }
        });
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ReadWarning::Missing {
                path: path.to_path_buf(),
            });
        }
        Err(e) => {
            return Err(ReadWarning::Unreadable {
                path: path.to_path_buf(),
                error: e.to_string(),
            });
        }
    };
    let mut bytes = Vec::new();
    if let Err(e) = file.take(MAX_FILE_LEN + 1).read_to_end(&mut bytes) {
        return Err(ReadWarning::Unreadable {
            path: path.to_path_buf(),
            error: e.to_string(),
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ReadWarning::Empty {
            path: path.to_path_buf(),
        });
    }
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(ReadWarning::Corrupt {
            path: path.to_path_buf(),
            reason: format!("longer than {MAX_FILE_LEN} bytes"),
        });
    }
    Ok(bytes)
}

/// The copy of the last sequence number kept in the instance lock file (0 when absent or bad).
fn read_seq_copy(lock: &File) -> u64 {
    let mut buf = [0u8; 24];
    let n = lock.read_at(&mut buf, 0).unwrap_or(0);
    std::str::from_utf8(&buf[..n])
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn state_words_round_trip() {
        for st in [
            KeepalivedState::Master,
            KeepalivedState::Backup,
            KeepalivedState::Fault,
            KeepalivedState::Stop,
            KeepalivedState::Unknown,
        ] {
            assert_eq!(st.to_string().parse::<KeepalivedState>().unwrap(), st);
        }
        assert_eq!(
            "master".parse::<KeepalivedState>().unwrap(),
            KeepalivedState::Master
        );
        let err = "MASTERX".parse::<KeepalivedState>().unwrap_err();
        assert!(err.to_string().contains("expected MASTER"), "{err}");
    }

    #[test]
    fn record_json_uses_keepalived_words() {
        let rec = StateRecord {
            instance: "VI_1".into(),
            state: KeepalivedState::Master,
            seq: 7,
            recorded_at_ms: 1,
            priority: Some(100),
            source: Source::Fifo,
            launch: None,
            keepalived: None,
        };
        let json = serde_json::to_string(&rec).unwrap();
        assert!(json.contains(r#""state":"MASTER""#), "{json}");
        assert!(json.contains(r#""source":"fifo""#), "{json}");
        assert_eq!(serde_json::from_str::<StateRecord>(&json).unwrap(), rec);
    }
}
