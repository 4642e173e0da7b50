//! Lock-file plumbing shared by the VIP locks, the instance locks and the single-flight runs:
//! opening a lock file and locking it with a deadline.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::StateError;
use crate::holder::Holder;

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
