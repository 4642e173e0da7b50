//! Caches: values learned from the outside world, stored with the time they were learned, as
//! `cache-<name>.json`. Written atomically; a corrupt cache reads as absent, with a warning.

use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::atomic::{Temp, write_atomic};
use crate::dir::StateDir;
use crate::error::StateError;
use crate::names::check_cache_name;
use crate::record::{ReadWarning, read_small};
use crate::time::{age_of, now_ms};

/// A value and when it was learned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cached<T> {
    /// The value.
    pub value: T,
    /// When it was learned (unix ms).
    pub learned_at_ms: u64,
}

impl<T> Cached<T> {
    /// How long ago it was learned (zero if that lies in the future).
    pub fn age(&self) -> Duration {
        age_of(self.learned_at_ms)
    }

    /// Whether it was learned at most `ttl` ago. A time in the future (the clock went back) is
    /// not fresh.
    pub fn is_fresh(&self, ttl: Duration) -> bool {
        let now = now_ms();
        self.learned_at_ms <= now && Duration::from_millis(now - self.learned_at_ms) <= ttl
    }
}

/// A read that always answers, plus a warning when the stored file was unusable. A cache that
/// was simply never written gives `None` without a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded<T> {
    /// What was read.
    pub value: T,
    /// Why a stored file was ignored.
    pub warning: Option<ReadWarning>,
}

#[derive(Serialize)]
struct CachedRef<'a, T> {
    value: &'a T,
    learned_at_ms: u64,
}

impl StateDir {
    /// Stores `value` under `name`, learned now.
    pub fn write_cache<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StateError> {
        self.write_cache_at(name, value, now_ms())
    }

    /// Stores `value` under `name`, learned at `learned_at_ms` (unix ms).
    pub fn write_cache_at<T: Serialize>(
        &self,
        name: &str,
        value: &T,
        learned_at_ms: u64,
    ) -> Result<(), StateError> {
        self.write_json(
            name,
            &CachedRef {
                value,
                learned_at_ms,
            },
        )
    }

    /// Reads the value stored under `name`. Absent, corrupt or unreadable: `None`.
    pub fn read_cache<T: DeserializeOwned>(&self, name: &str) -> Loaded<Option<Cached<T>>> {
        self.read_json(name)
    }

    /// Removes the value stored under `name` (nothing stored is fine).
    pub fn remove_cache(&self, name: &str) -> Result<(), StateError> {
        let path = self.cache_path(name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StateError::io("removing", path, e)),
        }
    }

    pub(crate) fn cache_path(&self, name: &str) -> Result<PathBuf, StateError> {
        check_cache_name(name)?;
        Ok(self.join(&format!("cache-{name}.json")))
    }

    /// Writes any serializable value as `cache-<name>.json`, atomically. Writers of one name are
    /// not serialized, so each uses its own temporary file; the last rename wins.
    pub(crate) fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StateError> {
        let path = self.cache_path(name)?;
        let mut bytes = serde_json::to_vec(value).map_err(|e| StateError::Serialize {
            path: path.clone(),
            source: e,
        })?;
        bytes.push(b'\n');
        write_atomic(self.path(), &path, &bytes, Temp::Unique)
    }

    pub(crate) fn read_json<T: DeserializeOwned>(&self, name: &str) -> Loaded<Option<T>> {
        let path = match self.cache_path(name) {
            Ok(p) => p,
            Err(e) => {
                return Loaded {
                    value: None,
                    warning: Some(ReadWarning::InvalidName {
                        error: e.to_string(),
                    }),
                };
            }
        };
        let bytes = match read_small(&path) {
            Ok(b) => b,
            Err(ReadWarning::Missing { .. }) => {
                return Loaded {
                    value: None,
                    warning: None,
                };
            }
            Err(w) => {
                return Loaded {
                    value: None,
                    warning: Some(w),
                };
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(v) => Loaded {
                value: Some(v),
                warning: None,
            },
            Err(e) => Loaded {
                value: None,
                warning: Some(ReadWarning::Corrupt {
                    path,
                    reason: e.to_string(),
                }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn freshness() {
        let now = now_ms();
        let c = |learned_at_ms| Cached {
            value: (),
            learned_at_ms,
        };
        assert!(c(now).is_fresh(Duration::from_secs(30)));
        assert!(!c(now - 60_000).is_fresh(Duration::from_secs(30)));
        assert!(!c(now + 60_000).is_fresh(Duration::from_secs(30)));
        assert!(c(now - 60_000).age() >= Duration::from_secs(60));
    }
}
