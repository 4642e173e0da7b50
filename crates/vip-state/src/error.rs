//! The one error type of this crate. Every variant that touches the file system carries the path.

use std::path::PathBuf;
use std::time::Duration;

use crate::holder::Holder;

/// What went wrong in the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file-system operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "creating temporary file".
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The state directory path exists but is not a directory.
    #[error("state directory {} exists but is not a directory; remove it or set another state.dir", path.display())]
    NotADirectory {
        /// The offending path.
        path: PathBuf,
    },

    /// The state directory may be written by others: its records and locks could be forged.
    #[error(
        "state directory {} is not safe: {reason}; fix it with: chown {uid} {0} && chmod 700 {0}",
        path.display()
    )]
    Insecure {
        /// The directory.
        path: PathBuf,
        /// What is wrong (owner or mode).
        reason: String,
        /// The user it must belong to.
        uid: u32,
    },

    /// A keepalived instance name that cannot name a record (empty or too long).
    #[error("invalid keepalived instance name {name:?}: {reason}")]
    InvalidInstance {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// A cache name outside `[A-Za-z0-9._-]`, empty, too long or starting with '.'.
    #[error(
        "invalid cache name {name:?}: expected 1-100 characters of [A-Za-z0-9._-], not starting with '.'"
    )]
    InvalidCacheName {
        /// The name as given.
        name: String,
    },

    /// A value could not be serialized before writing it.
    #[error("serializing {}: {source}", path.display())]
    Serialize {
        /// The file that was to be written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },

    /// A lock could not be taken before the deadline.
    #[error("timed out after {:.1}s waiting for lock {}: {}", waited.as_secs_f64(), path.display(), crate::holder::describe_holder(holder.as_ref()))]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
        /// Who holds the lock, when the lock file says so.
        holder: Option<Holder>,
    },
}

impl StateError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StateError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
