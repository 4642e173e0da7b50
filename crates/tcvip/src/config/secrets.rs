//! Secret values and the rule for files that hold them.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Deserializer};

use super::ConfigError;

/// A secret string (secret key, session token). `Debug` and `Display` never show it; read it
/// with [`Secret::expose`] only where it is used.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself. Never log or print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim().is_empty() {
            return Err(serde::de::Error::custom(
                "expected a non-empty string, found \"\"",
            ));
        }
        Ok(Secret(s))
    }
}

/// Refuses a configuration file that holds secrets unless it is owned by `owner_uid` (root in
/// production) and gives no permission to group or others (mode `& 0o077 == 0`).
///
/// `key` names the secret found, for the message.
pub(crate) fn check_secret_file(
    path: &Path,
    meta: &std::fs::Metadata,
    key: &str,
    owner_uid: u32,
) -> Result<(), ConfigError> {
    let mode = meta.mode() & 0o7777;
    let uid = meta.uid();
    if uid == owner_uid && mode & 0o077 == 0 {
        return Ok(());
    }
    let mut problems = Vec::new();
    if uid != owner_uid {
        problems.push(format!(
            "is owned by uid {uid}, not {}",
            owner_name(owner_uid)
        ));
    }
    if mode & 0o077 != 0 {
        problems.push(format!(
            "has mode {mode:04o}, which lets group or others access it"
        ));
    }
    Err(ConfigError::InsecureSecretFile {
        path: path.to_owned(),
        key: key.to_owned(),
        problem: problems.join(" and "),
        fix: format!(
            "{}chmod 600 {}",
            if owner_uid == 0 {
                format!("chown root:root {} && ", path.display())
            } else {
                String::new()
            },
            path.display()
        ),
    })
}

fn owner_name(uid: u32) -> String {
    if uid == 0 {
        "root (uid 0)".to_owned()
    } else {
        format!("uid {uid}")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn debug_redacts() {
        let s = Secret::new("hunter2-very-secret");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
