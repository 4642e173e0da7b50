//! Per-VIP single-flight locks.
//!
//! A VIP lock is an OS lock (`flock`, through `std::fs::File::lock`) on `vip-<ip>.lock`, which is
//! never deleted. After locking, the winner writes who it is (pid, start time, purpose) into the
//! file, so that a loser can say who holds it; the guard clears that and unlocks on drop, and the
//! OS releases the lock if the holder dies. The OS lock is the truth: holder information that
//! names a dead process is reported as stale, never used to break the lock.

use std::fs::{File, TryLockError};
use std::net::Ipv4Addr;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::dir::StateDir;
use crate::error::StateError;
use crate::guard::{Guard, GuardBind, bind_guard, guard_address, guard_holder, guard_pid};
use crate::holder::{Holder, read_holder};
use crate::lock_file::{lock_with_deadline, open_lock_file};
use crate::time::now_ms;

/// Longest purpose string stored in a lock file.
const MAX_PURPOSE_LEN: usize = 200;

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
    /// `None` when the lock file cannot exist (a read-only state directory no earlier run left
    /// it in): the guard alone holds the lock then.
    file: Option<File>,
    path: PathBuf,
    vip: Ipv4Addr,
    holder: Holder,
    /// The guard that outlives the lock file (see [`Guard`]); `None` only when a stuck holder
    /// still keeps it.
    _guard: Option<Guard>,
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
        // The guard goes first: whoever finds the lock free must not find the guard still held.
        drop(self._guard.take());
        // Best effort: the close below releases the lock whatever happens here.
        if let Some(file) = &self.file {
            let _ = file.set_len(0);
            let _ = file.unlock();
        }
    }
}

impl StateDir {
    /// Takes the single-flight lock for `vip` if nobody holds it; never waits.
    pub fn try_lock_vip(&self, vip: Ipv4Addr, purpose: &str) -> Result<LockAttempt, StateError> {
        self.try_lock_vip_until(vip, purpose, None)
    }

    /// As [`try_lock_vip`](Self::try_lock_vip), saying in the lock file when this run will have
    /// ended (unix ms), so that others can tell a stuck holder ([`Holder::is_stuck`]).
    pub fn try_lock_vip_until(
        &self,
        vip: Ipv4Addr,
        purpose: &str,
        deadline_ms: Option<u64>,
    ) -> Result<LockAttempt, StateError> {
        let path = self.vip_lock_path(vip);
        let Some(file) = open_vip_lock_file(&path)? else {
            return self.claim_guard_only(path, vip, purpose, deadline_ms);
        };
        match file.try_lock() {
            Ok(()) => Ok(self.claim_guarded(file, path, vip, purpose, deadline_ms, None)),
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
        self.lock_vip_timeout_until(vip, purpose, timeout, None)
    }

    /// As [`lock_vip_timeout`](Self::lock_vip_timeout), with this run's deadline (unix ms).
    pub fn lock_vip_timeout_until(
        &self,
        vip: Ipv4Addr,
        purpose: &str,
        timeout: Duration,
        deadline_ms: Option<u64>,
    ) -> Result<VipLock, StateError> {
        let path = self.vip_lock_path(vip);
        let started = Instant::now();
        loop {
            let attempt = match open_vip_lock_file(&path)? {
                Some(file) => {
                    let left = timeout.saturating_sub(started.elapsed());
                    lock_with_deadline(&file, &path, left, read_holder)?;
                    self.claim_guarded(file, path.clone(), vip, purpose, deadline_ms, None)
                }
                None => self.claim_guard_only(path.clone(), vip, purpose, deadline_ms)?,
            };
            match attempt {
                LockAttempt::Acquired(lock) => return Ok(lock),
                LockAttempt::Busy(holder) if started.elapsed() >= timeout => {
                    return Err(StateError::LockTimeout {
                        path,
                        waited: started.elapsed(),
                        holder,
                    });
                }
                LockAttempt::Busy(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    /// Claims a freshly locked file, unless another process holds the VIP's guard (its lock
    /// file was removed under it): then the lock is let go and that process reported.
    /// `stuck_pid`: a stuck holder whose guard is taken over with its lock (it keeps the name,
    /// which cannot be taken from it; the new lock then goes without one).
    fn claim_guarded(
        &self,
        file: File,
        path: PathBuf,
        vip: Ipv4Addr,
        purpose: &str,
        deadline_ms: Option<u64>,
        stuck_pid: Option<u32>,
    ) -> LockAttempt {
        let guard = match bind_guard(self.path(), vip) {
            GuardBind::Bound(guard) => Some(guard),
            GuardBind::Held(pid) if pid.is_some() && pid == stuck_pid => None,
            GuardBind::Held(Some(pid)) if pid == std::process::id() => None,
            GuardBind::Held(pid) => {
                let _ = file.unlock();
                return LockAttempt::Busy(guard_holder(pid));
            }
        };
        LockAttempt::Acquired(claim(Some(file), path, vip, purpose, deadline_ms, guard))
    }

    /// The lock when its file cannot exist (see [`open_vip_lock_file`]): the guard, bound
    /// atomically by the kernel, is then the whole lock. Where there are no abstract sockets
    /// either, nothing can make the run single-flight, and the file system's error stands.
    fn claim_guard_only(
        &self,
        path: PathBuf,
        vip: Ipv4Addr,
        purpose: &str,
        deadline_ms: Option<u64>,
    ) -> Result<LockAttempt, StateError> {
        match bind_guard(self.path(), vip) {
            GuardBind::Bound(guard) => Ok(LockAttempt::Acquired(claim(
                None,
                path,
                vip,
                purpose,
                deadline_ms,
                Some(guard),
            ))),
            GuardBind::Held(Some(pid)) if pid == std::process::id() => Err(StateError::io(
                "opening lock file",
                &path,
                std::io::Error::from_raw_os_error(libc::EROFS),
            )),
            GuardBind::Held(pid) => Ok(LockAttempt::Busy(guard_holder(pid))),
        }
    }

    /// Takes over the lock for `vip` from `stuck`, a holder past its deadline
    /// ([`Holder::is_stuck`]): the OS lock of a stopped process is never released, so its lock
    /// file is removed and a new one taken. Runs that do this are serialized by a second lock,
    /// and the file is removed only while `stuck` is still the one holding it; whoever holds it
    /// otherwise is reported as [`LockAttempt::Busy`]. The stuck process keeps its descriptor of
    /// the removed file; should it resume, it finds its deadline passed and stops.
    pub fn take_over_stuck_vip_lock(
        &self,
        vip: Ipv4Addr,
        stuck: &Holder,
        purpose: &str,
        deadline_ms: Option<u64>,
    ) -> Result<LockAttempt, StateError> {
        let guard_path = self.join(&format!("vip-{vip}.takeover.lock"));
        let guard = open_lock_file(&guard_path)?;
        lock_with_deadline(&guard, &guard_path, Duration::from_secs(2), |_| None)?;
        let path = self.vip_lock_path(vip);
        let file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => {
                return Ok(self.claim_guarded(file, path, vip, purpose, deadline_ms, None));
            }
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(StateError::io("locking", &path, e)),
        }
        let current = read_holder(&path);
        let same = current
            .as_ref()
            .is_some_and(|c| c.pid == stuck.pid && c.started_at_ms == stuck.started_at_ms);
        if !same {
            return Ok(LockAttempt::Busy(current));
        }
        drop(file);
        std::fs::remove_file(&path).map_err(|e| StateError::io("removing lock file", &path, e))?;
        let file = open_lock_file(&path)?;
        let attempt = match file.try_lock() {
            Ok(()) => {
                Ok(self.claim_guarded(file, path, vip, purpose, deadline_ms, Some(stuck.pid)))
            }
            Err(TryLockError::WouldBlock) => Ok(LockAttempt::Busy(read_holder(&path))),
            Err(TryLockError::Error(e)) => Err(StateError::io("locking", &path, e)),
        };
        let _ = guard.unlock();
        attempt
    }

    /// Whether the lock for `vip` is held right now (it is taken and released at once when free).
    pub fn vip_lock_status(&self, vip: Ipv4Addr) -> Result<LockStatus, StateError> {
        let path = self.vip_lock_path(vip);
        let Some(file) = open_vip_lock_file(&path)? else {
            // No lock file can exist: the guard alone says.
            let guard = guard_address(self.path(), vip).ok();
            return Ok(match guard.as_ref().and_then(guard_pid) {
                Some(pid) => LockStatus::Held(guard_holder(Some(pid))),
                None => LockStatus::Free,
            });
        };
        match file.try_lock() {
            Ok(()) => {
                let _ = file.unlock();
                // Free, unless its lock file was removed under a run that still holds the guard.
                let guard = guard_address(self.path(), vip).ok();
                match guard.as_ref().and_then(guard_pid) {
                    Some(pid) => Ok(LockStatus::Held(guard_holder(Some(pid)))),
                    None => Ok(LockStatus::Free),
                }
            }
            Err(TryLockError::WouldBlock) => Ok(LockStatus::Held(read_holder(&path))),
            Err(TryLockError::Error(e)) => Err(StateError::io("locking", &path, e)),
        }
    }

    /// Whether the run that wrote `record` died before saying how it ended (killed, crashed):
    /// the record says in flight, yet nobody holds the VIP's lock.
    pub fn migration_died(&self, record: &crate::MigrationRecord) -> bool {
        record.outcome == crate::MigrationOutcome::InFlight
            && record.ended_at_ms.is_none()
            && matches!(self.vip_lock_status(record.vip), Ok(LockStatus::Free))
    }

    fn vip_lock_path(&self, vip: Ipv4Addr) -> PathBuf {
        self.join(&format!("vip-{vip}.lock"))
    }
}

/// Writes our holder information into a freshly locked file.
fn claim(
    file: Option<File>,
    path: PathBuf,
    vip: Ipv4Addr,
    purpose: &str,
    deadline_ms: Option<u64>,
    guard: Option<Guard>,
) -> VipLock {
    let holder = Holder {
        pid: std::process::id(),
        started_at_ms: now_ms(),
        purpose: purpose.chars().take(MAX_PURPOSE_LEN).collect(),
        deadline_ms,
    };
    // Holder information is advisory: failing to write it must not lose the lock we hold.
    if let (Some(file), Ok(json)) = (&file, serde_json::to_vec(&holder)) {
        let _ = file.set_len(0);
        let _ = file.write_all_at(&json, 0);
    }
    VipLock {
        file,
        path,
        vip,
        holder,
        _guard: guard,
    }
}

/// Opens a VIP's lock file as [`open_lock_file`] does; `None` when it cannot exist: the state
/// directory is read-only and no earlier run left the file. A MASTER must still be able to move
/// the VIP then; the VIP's guard (an abstract socket, no file) makes the run single-flight.
fn open_vip_lock_file(path: &Path) -> Result<Option<File>, StateError> {
    match open_lock_file(path) {
        Ok(file) => Ok(Some(file)),
        Err(StateError::Io { source, .. })
            if source.raw_os_error() == Some(libc::EROFS) && !path.exists() =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
