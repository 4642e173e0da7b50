//! Single-flight runs of a periodic command: `<kind>-<key>.lock`.
//!
//! keepalived 2.1.3 to 2.3.2 starts a track script again while its last run still runs. The
//! first run holds this lock for its whole run and, before letting go, writes its verdict into
//! the lock file; a run that finds the lock held returns that verdict (the last one reached) at
//! once, instead of doing the same work beside it. The OS lock is released when the holder exits,
//! however it exits.

use std::fs::{File, TryLockError};
use std::io::Read as _;
use std::os::unix::fs::FileExt as _;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::dir::StateDir;
use crate::error::StateError;
use crate::lock_file::open_lock_file;
use crate::names::instance_stem;

/// What a run concluded: its exit code and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The process exit code.
    pub code: u8,
    /// Why, in one line.
    pub reason: String,
    /// When it was reached (unix ms).
    pub at_ms: u64,
}

/// The outcome of [`StateDir::try_flight`].
#[derive(Debug)]
pub enum FlightAttempt {
    /// This run is the only one; it holds the lock until the guard is dropped.
    Alone(Flight),
    /// Another run is under way; the last verdict, when one was written.
    Busy(Option<Verdict>),
}

/// The held lock of a single-flight run.
#[derive(Debug)]
pub struct Flight {
    file: File,
    path: PathBuf,
}

impl Flight {
    /// The lock file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Keeps `verdict` as the last one, for the runs that find this one under way.
    pub fn finish(&self, verdict: &Verdict) -> Result<(), StateError> {
        let json = serde_json::to_vec(verdict).map_err(|e| StateError::Serialize {
            path: self.path.clone(),
            source: e,
        })?;
        self.file
            .write_all_at(&json, 0)
            .and_then(|()| self.file.set_len(json.len() as u64))
            .map_err(|e| StateError::io("writing the verdict to", &self.path, e))
    }
}

impl StateDir {
    /// Starts a single-flight run of `kind` (e.g. "check") for `key` (e.g. a keepalived
    /// instance): never waits.
    pub fn try_flight(&self, kind: &str, key: &str) -> Result<FlightAttempt, StateError> {
        let path = self.join(&format!("{kind}-{}.lock", instance_stem(key)?));
        let file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(FlightAttempt::Alone(Flight { file, path })),
            Err(TryLockError::WouldBlock) => Ok(FlightAttempt::Busy(read_verdict(&file))),
            Err(TryLockError::Error(e)) => Err(StateError::io("locking", &path, e)),
        }
    }
}

/// The verdict in a lock file. The holder may be writing it: a partial read is tried again.
fn read_verdict(file: &File) -> Option<Verdict> {
    for attempt in 0..3 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
        let mut buf = Vec::new();
        let mut reader = file.try_clone().ok()?;
        std::io::Seek::seek(&mut reader, std::io::SeekFrom::Start(0)).ok()?;
        reader.take(64 * 1024).read_to_end(&mut buf).ok()?;
        if let Ok(v) = serde_json::from_slice(&buf) {
            return Some(v);
        }
        if buf.is_empty() {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_second_run_gets_the_last_verdict_and_none_before_the_first() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::open(tmp.path()).unwrap();
        let FlightAttempt::Alone(first) = dir.try_flight("check", "VI_1").unwrap() else {
            panic!("not alone")
        };
        assert!(matches!(
            dir.try_flight("check", "VI_1").unwrap(),
            FlightAttempt::Busy(None)
        ));
        // Another key is another flight.
        assert!(matches!(
            dir.try_flight("check", "VI_2").unwrap(),
            FlightAttempt::Alone(_)
        ));
        let verdict = Verdict {
            code: 1,
            reason: "service check failed".into(),
            at_ms: 7,
        };
        first.finish(&verdict).unwrap();
        match dir.try_flight("check", "VI_1").unwrap() {
            FlightAttempt::Busy(Some(v)) => assert_eq!(v, verdict),
            other => panic!("{other:?}"),
        }
        drop(first);
        // (A process another test forks at this moment holds a copy of the descriptor until
        // its exec: allow it that long.)
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let next = loop {
            match dir.try_flight("check", "VI_1").unwrap() {
                FlightAttempt::Alone(next) => break next,
                FlightAttempt::Busy(_) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the lock outlived its holder"
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        };
        // A shorter verdict replaces a longer one whole.
        let short = Verdict {
            code: 0,
            reason: "ok".into(),
            at_ms: 8,
        };
        next.finish(&short).unwrap();
        assert_eq!(
            read_verdict(&std::fs::File::open(next.path()).unwrap()),
            Some(short)
        );
    }
}
