//! Who holds a lock: the holder information a lock's winner writes into its lock file (pid,
//! start time, purpose, deadline), how it reads back, and whether that process is alive or stuck.
//! Advisory only: the OS lock is the truth.

use std::fs::File;
use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::time::{age_of, format_utc, now_ms};

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

/// Reads the holder information of a lock file. The holder writes it right after locking, so an
/// empty or partial read is retried briefly before giving up.
pub(crate) fn read_holder(path: &Path) -> Option<Holder> {
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
