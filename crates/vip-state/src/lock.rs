//! Per-VIP single-flight locks, and the lock-file plumbing shared with the instance lock.
//!
//! A VIP lock is an OS lock (`flock`, through `std::fs::File::lock`) on `vip-<ip>.lock`, which is
//! never deleted. After locking, the winner writes who it is (pid, start time, purpose) into the
//! file, so that a loser can say who holds it; the guard clears that and unlocks on drop, and the
//! OS releases the lock if the holder dies. The OS lock is the truth: holder information that
//! names a dead process is reported as stale, never used to break the lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Read as _;
use std::net::Ipv4Addr;
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::dir::StateDir;
use crate::error::StateError;
use crate::time::{age_of, format_utc, now_ms};

/// Longest purpose string stored in a lock file.
const MAX_PURPOSE_LEN: usize = 200;

/// Who holds a VIP lock, as written by the holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Process id of the holder.
    pub pid: u32,
    /// When it took the lock (unix ms).
    pub started_at_ms: u64,
    /// What it is doing, e.g. "migrate" or "reconcile".
    pub purpose: String,
}

impl Holder {
    /// Whether the process named by `pid` still exists. `false` means this holder information is
    /// stale (the lock itself may still be held, e.g. by a process that inherited the descriptor).
    pub fn is_alive(&self) -> bool {
        pid_alive(self.pid)
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} (purpose {:?}, since {}, {:.1}s ago)",
            self.pid,
            self.purpose,
            format_utc(self.started_at_ms),
            age_of(self.started_at_ms).as_secs_f64()
        )?;
        if !self.is_alive() {
            write!(f, " [pid not running: holder information is stale]")?;
        }
        Ok(())
    }
}

/// Whether a process with this pid exists (signal 0 sends nothing).
pub(crate) fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks that the pid exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// "held by pid ..." or "held by an unidentified process".
pub fn describe_holder(holder: Option<&Holder>) -> String {
    match holder {
        Some(h) => format!("held by {h}"),
        None => "held by an unidentified process".to_owned(),
    }
}

/// The outcome of [`StateDir::try_lock_vip`].
#[derive(Debug)]
pub enum LockAttempt {
    /// The lock is ours until the guard is dropped.
    Acquired(VipLock),
    /// Someone else holds it; who, when the lock file says so.
    Busy(Option<Holder>),
}

/// Whether a VIP lock is held, without keeping it (see [`StateDir::vip_lock_status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockStatus {
    /// Nobody holds it.
    Free,
    /// Someone holds it; who, when the lock file says so.
    Held(Option<Holder>),
}

/// A held VIP lock. Dropping it clears the holder information and releases the lock.
#[derive(Debug)]
pub struct VipLock {
    file: File,
    path: PathBuf,
    vip: Ipv4Addr,
    holder: Holder,
}

impl VipLock {
    /// The VIP this lock is for.
    pub fn vip(&self) -> Ipv4Addr {
        self.vip
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What this process wrote into the lock file.
    pub fn holder(&self) -> &Holder {
        &self.holder
    }
}

impl Drop for VipLock {
    fn drop(&mut self) {
        // Best effort: the close below releases the lock whatever happens here.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

impl StateDir {
    /// Takes the single-flight lock for `vip` if nobody holds it; never waits.
    pub fn try_lock_vip(&self, vip: Ipv4Addr, purpose: &str) -> Result<LockAttempt, StateError> {
        let path = self.vip_lock_path(vip);
        let file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(LockAttempt::Acquired(claim(file, path, vip, purpose))),
            Err(TryLockError::WouldBlock) => Ok(LockAttempt::Busy(read_holder(&path))),
            Err(TryLockError::Error(e)) => Err(StateError::io("locking", &path, e)),
        }
    }

    /// Takes the single-flight lock for `vip`, waiting at most `timeout`. The timeout error names
    /// the holder (pid, purpose, since when).
    pub fn lock_vip_timeout(
        &self,
        vip: Ipv4Addr,
        purpose: &str,
        timeout: Duration,
    ) -> Result<VipLock, StateError> {
        let path = self.vip_lock_path(vip);
        let file = open_lock_file(&path)?;
        lock_with_deadline(&file, &path, timeout, read_holder)?;
        Ok(claim(file, path, vip, purpose))
    }

    /// Whether the lock for `vip` is held right now (it is taken and released at once when free).
    pub fn vip_lock_status(&self, vip: Ipv4Addr) -> Result<LockStatus, StateError> {
        let path = self.vip_lock_path(vip);
        let file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => {
                let _ = file.unlock();
                Ok(LockStatus::Free)
            }
            Err(TryLockError::WouldBlock) => Ok(LockStatus::Held(read_holder(&path))),
            Err(TryLockError::Error(e)) => Err(StateError::io("locking", &path, e)),
        }
    }

    fn vip_lock_path(&self, vip: Ipv4Addr) -> PathBuf {
        self.join(&format!("vip-{vip}.lock"))
    }
}

/// Writes our holder information into a freshly locked file.
fn claim(file: File, path: PathBuf, vip: Ipv4Addr, purpose: &str) -> VipLock {
    let holder = Holder {
        pid: std::process::id(),
        started_at_ms: now_ms(),
        purpose: purpose.chars().take(MAX_PURPOSE_LEN).collect(),
    };
    // Holder information is advisory: failing to write it must not lose the lock we hold.
    if let Ok(json) = serde_json::to_vec(&holder) {
        let _ = file.set_len(0);
        let _ = file.write_all_at(&json, 0);
    }
    VipLock {
        file,
        path,
        vip,
        holder,
    }
}

/// Reads the holder information of a lock file. The holder writes it right after locking, so an
/// empty or partial read is retried briefly before giving up.
fn read_holder(path: &Path) -> Option<Holder> {
    for attempt in 0..5 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
        let mut buf = Vec::new();
        let Ok(file) = File::open(path) else {
            return None;
        };
        if file.take(4096).read_to_end(&mut buf).is_err() {
            return None;
        }
        if let Ok(h) = serde_json::from_slice::<Holder>(&buf) {
            return Some(h);
        }
    }
    None
}

/// Opens (creating if needed, never truncating) a lock file, mode 0600. On a read-only file
/// system an existing lock file is opened for reading: an OS lock needs no write access, so a
/// migration can still be single-flight (only the holder information cannot be written).
pub(crate) fn open_lock_file(path: &Path) -> Result<File, StateError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .or_else(|e| match e.raw_os_error() {
            Some(libc::EROFS) => File::open(path).map_err(|_| e),
            _ => Err(e),
        })
        .map_err(|e| StateError::io("opening lock file", path, e))
}

/// Locks `file` exclusively, polling until `timeout` has passed. `holder` is asked who holds the
/// lock only when giving up.
pub(crate) fn lock_with_deadline(
    file: &File,
    path: &Path,
    timeout: Duration,
    holder: impl Fn(&Path) -> Option<Holder>,
) -> Result<(), StateError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(StateError::io("locking", path, e)),
        }
        let waited = start.elapsed();
        if waited >= timeout {
            return Err(StateError::LockTimeout {
                path: path.to_path_buf(),
                waited,
                holder: holder(path),
            });
        }
        std::thread::sleep(pause.min(timeout - waited));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn dead_pid_reads_as_stale() {
        let h = Holder {
            pid: i32::MAX as u32,
            started_at_ms: 0,
            purpose: "x".into(),
        };
        assert!(!h.is_alive());
        assert!(h.to_string().contains("stale"));
        let me = Holder {
            pid: std::process::id(),
            ..h
        };
        assert!(me.is_alive());
        assert!(!me.to_string().contains("stale"));
    }
}
