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

/// How far past its own deadline a holder that is still alive counts as stuck (frozen by
/// SIGSTOP, hung in the kernel): a run cuts its requests at its deadline and only records how
/// it ended after that, which takes milliseconds.
pub const STUCK_MARGIN_MS: u64 = 5_000;

/// Who holds a VIP lock, as written by the holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Process id of the holder.
    pub pid: u32,
    /// When it took the lock (unix ms).
    pub started_at_ms: u64,
    /// What it is doing, e.g. "migrate" or "reconcile".
    pub purpose: String,
    /// When its run must have ended (unix ms), when it said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
}

impl Holder {
    /// Whether this holder is alive but more than [`STUCK_MARGIN_MS`] past its own deadline:
    /// it will not finish, and waiting for it (joining it) would block failover for good.
    pub fn is_stuck(&self, now_ms: u64) -> bool {
        self.deadline_ms
            .is_some_and(|d| now_ms > d.saturating_add(STUCK_MARGIN_MS))
            && self.is_alive()
    }

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
        } else if self.is_stuck(now_ms()) {
            let past = now_ms().saturating_sub(self.deadline_ms.unwrap_or_default());
            write!(
                f,
                " [stuck: {:.1}s past its deadline, stopped (SIGSTOP) or hung; not joined: kill it]",
                past as f64 / 1000.0
            )?;
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

/// A second mark of a VIP lock that does not live in the state directory: a listening Unix
/// socket in the abstract namespace, named after the state directory's path and the VIP. The
/// kernel frees it when its holder exits. When the state directory is deleted under a running
/// migration (its lock file with it), a new run finds the fresh lock file free, but not this
/// name, and joins the first run instead of running beside it.
#[derive(Debug)]
struct Guard(#[allow(dead_code)] std::os::unix::net::UnixListener);

/// What became of binding the guard.
enum GuardBind {
    Bound(Guard),
    /// Another process holds it: its pid, when the kernel says.
    Held(Option<u32>),
}

fn guard_address(dir: &Path, vip: Ipv4Addr) -> std::io::Result<std::os::unix::net::SocketAddr> {
    use std::os::linux::net::SocketAddrExt as _;
    // FNV-1a of the path as given (it may no longer exist, so it cannot be canonicalized).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in dir.as_os_str().as_encoded_bytes() {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    std::os::unix::net::SocketAddr::from_abstract_name(format!("tcvip/{hash:016x}/vip-{vip}"))
}

fn bind_guard(dir: &Path, vip: Ipv4Addr) -> GuardBind {
    let Ok(addr) = guard_address(dir, vip) else {
        return GuardBind::Held(None);
    };
    match std::os::unix::net::UnixListener::bind_addr(&addr) {
        Ok(listener) => GuardBind::Bound(Guard(listener)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => GuardBind::Held(guard_pid(&addr)),
        // No abstract sockets here (not Linux, a locked-down sandbox): the lock file alone.
        Err(_) => GuardBind::Held(Some(std::process::id())),
    }
}

/// The pid holding the guard at `addr`, if someone does (connecting does not take the name).
fn guard_pid(addr: &std::os::unix::net::SocketAddr) -> Option<u32> {
    use std::os::fd::AsRawFd as _;
    let stream = std::os::unix::net::UnixStream::connect_addr(addr).ok()?;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given; the fd is open.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &raw mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    u32::try_from(cred.pid).ok().filter(|p| *p > 0)
}

/// Who holds a guard whose lock file is gone.
fn guard_holder(pid: Option<u32>) -> Option<Holder> {
    pid.map(|pid| Holder {
        pid,
        started_at_ms: now_ms(),
        purpose: "unknown: its lock file was removed (state directory deleted?)".to_owned(),
        deadline_ms: None,
    })
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
            deadline_ms: None,
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

    #[test]
    fn a_live_holder_past_its_deadline_and_the_margin_is_stuck() {
        let me = Holder {
            pid: std::process::id(),
            started_at_ms: 1_000,
            purpose: "migrate".into(),
            deadline_ms: Some(61_000),
        };
        assert!(!me.is_stuck(61_000));
        assert!(!me.is_stuck(61_000 + STUCK_MARGIN_MS));
        assert!(me.is_stuck(61_001 + STUCK_MARGIN_MS));
        // Without a deadline (an older writer), or dead (stale, and the OS lock is free), never.
        let old = Holder {
            deadline_ms: None,
            ..me.clone()
        };
        assert!(!old.is_stuck(u64::MAX));
        let dead = Holder {
            pid: i32::MAX as u32,
            ..me.clone()
        };
        assert!(!dead.is_stuck(u64::MAX));
        assert!(
            Holder {
                deadline_ms: Some(0),
                ..me
            }
            .to_string()
            .contains("stuck")
        );
    }
}
