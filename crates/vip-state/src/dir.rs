//! The state directory handle.

use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::StateError;

/// Where the state directory lives unless configured otherwise (`[state] dir`).
pub const DEFAULT_STATE_DIR: &str = "/run/tcvip";

/// How long `record_state` waits for the instance lock unless told otherwise. The lock is held
/// for a few milliseconds per write, so waiting longer than this means something is stuck.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// An open state directory. Cheap to clone; holds no file descriptors.
#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
    lock_timeout: Duration,
}

impl StateDir {
    /// Opens the state directory at `path`, creating it (and missing parents) with mode 0700.
    /// An existing directory is used as it is.
    pub fn open(path: impl AsRef<Path>) -> Result<StateDir, StateError> {
        let path = path.as_ref().to_path_buf();
        // Something else in the way says so, rather than "File exists".
        if std::fs::metadata(&path).is_ok_and(|m| !m.is_dir()) {
            return Err(StateError::NotADirectory { path });
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&path)
            .map_err(|e| StateError::io("creating state directory", &path, e))?;
        let meta = std::fs::metadata(&path)
            .map_err(|e| StateError::io("inspecting state directory", &path, e))?;
        if !meta.is_dir() {
            return Err(StateError::NotADirectory { path });
        }
        // A directory made by someone else, or writable by others, would let them forge the
        // keepalived state or hold the locks: refuse it rather than act on what it says.
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() };
        let reason = if meta.uid() != uid {
            Some(format!("it belongs to uid {}, not {uid}", meta.uid()))
        } else if meta.mode() & 0o022 != 0 {
            Some(format!(
                "its mode {:o} lets others write to it",
                meta.mode() & 0o7777
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(StateError::Insecure { path, reason, uid });
        }
        remove_orphan_temps(&path);
        Ok(StateDir {
            path,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        })
    }

    /// Sets how long [`StateDir::record_state`] waits for the instance lock.
    #[must_use]
    pub fn with_lock_timeout(mut self, timeout: Duration) -> StateDir {
        self.lock_timeout = timeout;
        self
    }

    /// How long [`StateDir::record_state`] waits for the instance lock.
    pub fn lock_timeout(&self) -> Duration {
        self.lock_timeout
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// Removes `.<target>.<pid>.<n>.tmp` files left by writers that died mid-write (their pid no
/// longer runs). Best effort: a directory that cannot be read is left as it is.
fn remove_orphan_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(pid) = orphan_temp_pid(name)
            && !crate::holder::pid_alive(pid)
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The writer's pid in a `.<target>.<pid>.<n>.tmp` name.
fn orphan_temp_pid(name: &str) -> Option<u32> {
    let stem = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let mut parts = stem.rsplitn(3, '.');
    let n = parts.next()?;
    let pid = parts.next()?;
    parts.next()?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn creates_missing_dir_0700() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("a/tcvip");
        let dir = StateDir::open(&p).unwrap();
        assert_eq!(dir.path(), p);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // Opening again is fine.
        StateDir::open(&p).unwrap();
    }

    #[test]
    fn a_file_in_the_way_is_an_error_naming_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("f");
        std::fs::write(&p, b"x").unwrap();
        let err = StateDir::open(&p).unwrap_err().to_string();
        assert!(err.contains(&p.display().to_string()), "{err}");
    }

    #[test]
    fn temp_files_of_dead_writers_are_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir
            .path()
            .join(".cache-view-198.18.1.100.json.4194999.0.tmp");
        let mine = dir
            .path()
            .join(format!(".state-VI_1.json.{}.3.tmp", std::process::id()));
        let other = dir.path().join("cache-identity.json");
        for f in [&dead, &mine, &other] {
            std::fs::write(f, b"{}").unwrap();
        }
        StateDir::open(dir.path()).unwrap();
        assert!(!dead.exists(), "a dead writer's temp file stays");
        assert!(mine.exists(), "a live writer's temp file was removed");
        assert!(other.exists());
        assert_eq!(orphan_temp_pid(".a.b.12.0.tmp"), Some(12));
        assert_eq!(orphan_temp_pid(".state-VI_1.json.tmp"), None);
        assert_eq!(orphan_temp_pid("state.12.0.tmp"), None);
    }

    #[test]
    fn a_directory_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = StateDir::open(&state).unwrap_err();
        assert!(matches!(e, StateError::Insecure { .. }), "{e:?}");
        assert!(e.to_string().contains("chmod 700"), "{e}");
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
        StateDir::open(&state).unwrap();
    }
}
