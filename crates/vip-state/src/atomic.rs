//! Atomic replacement of a small file: write a temporary file in the same directory, fsync it,
//! rename it over the target, fsync the directory. A reader opens either the old or the new file,
//! never a half-written one, and a crash leaves at worst a stray temporary file.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::StateError;

/// How the temporary file is named.
pub(crate) enum Temp {
    /// `<target>.tmp`: only for writers that hold a lock serializing all writers of the target.
    /// A leftover from a crashed writer is simply overwritten by the next one.
    Fixed,
    /// `.<target>.<pid>.<n>.tmp`, created exclusively: for writers that hold no lock.
    Unique,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The temporary path used for `target` when writers are serialized by a lock.
pub(crate) fn fixed_temp_path(target: &Path) -> PathBuf {
    let mut s = target.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

fn unique_temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Replaces `target` (in directory `dir`) with `bytes`, atomically and durably.
pub(crate) fn write_atomic(
    dir: &Path,
    target: &Path,
    bytes: &[u8],
    temp: Temp,
) -> Result<(), StateError> {
    let tmp = match temp {
        Temp::Fixed => fixed_temp_path(target),
        Temp::Unique => unique_temp_path(target),
    };
    let mut opts = OpenOptions::new();
    opts.write(true).mode(0o600);
    match temp {
        Temp::Fixed => opts.create(true).truncate(true),
        Temp::Unique => opts.create_new(true),
    };
    let mut file = opts
        .open(&tmp)
        .map_err(|e| StateError::io("creating temporary file", &tmp, e))?;
    let written = file
        .write_all(bytes)
        .map_err(|e| StateError::io("writing temporary file", &tmp, e))
        .and_then(|()| {
            file.sync_all()
                .map_err(|e| StateError::io("syncing temporary file", &tmp, e))
        })
        .and_then(|()| {
            std::fs::rename(&tmp, target)
                .map_err(|e| StateError::io("renaming temporary file over", target, e))
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)
}

/// Makes a rename in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StateError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StateError::io("syncing directory", dir, e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f.json");
        write_atomic(dir.path(), &target, b"one", Temp::Unique).unwrap();
        write_atomic(dir.path(), &target, b"two", Temp::Fixed).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["f.json"]);
    }

    #[test]
    fn unique_temp_names_differ() {
        let t = Path::new("/x/cache-a.json");
        assert_ne!(unique_temp_path(t), unique_temp_path(t));
        assert_eq!(fixed_temp_path(t), Path::new("/x/cache-a.json.tmp"));
    }
}
