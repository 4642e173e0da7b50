//! Credentials from the SDKs' INI profile file.
//!
//! ```ini
//! [default]
//! secret_id = AKID...
//! secret_key = ...
//! ```
//! Only section `[default]` is read; keys are case-insensitive, values are trimmed (quotes are
//! kept, as the SDKs do), `#` / `;` start comment lines, `=` or `:` separates key and value.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::env::{EnvLookup, process_env};
use super::{CredentialError, CredentialProvider, Credentials, check_header_safe};

/// Alternate profile path (Go SDK).
pub const ENV_CREDENTIALS_FILE: &str = "TENCENTCLOUD_CREDENTIALS_FILE";

/// Reads the first existing file among its candidate paths on every call.
#[derive(Debug, Clone)]
pub struct ProfileCredentials {
    candidates: Vec<PathBuf>,
    /// The file the last credentials came from.
    used: Arc<Mutex<Option<PathBuf>>>,
}

impl ProfileCredentials {
    /// The SDK search order from the process environment: `$TENCENTCLOUD_CREDENTIALS_FILE`,
    /// `~/.tencentcloud/credentials`, `/etc/tencentcloud/credentials`.
    pub fn new() -> Self {
        Self::from_lookup(&process_env())
    }

    /// The SDK search order, with variables read through `lookup`.
    pub fn from_lookup(lookup: &EnvLookup) -> Self {
        let mut candidates = Vec::new();
        if let Some(p) = lookup(ENV_CREDENTIALS_FILE).filter(|p| !p.trim().is_empty()) {
            candidates.push(PathBuf::from(p.trim()));
        }
        if let Some(home) = lookup("HOME").filter(|h| !h.is_empty()) {
            candidates.push(Path::new(&home).join(".tencentcloud").join("credentials"));
        }
        candidates.push(PathBuf::from("/etc/tencentcloud/credentials"));
        Self::with_candidates(candidates)
    }

    /// Exactly this file.
    pub fn with_path(path: impl Into<PathBuf>) -> Self {
        Self::with_candidates(vec![path.into()])
    }

    /// The first existing file among `candidates`.
    pub fn with_candidates(candidates: Vec<PathBuf>) -> Self {
        Self {
            candidates,
            used: Arc::default(),
        }
    }

    /// The paths searched, in order.
    pub fn candidates(&self) -> &[PathBuf] {
        &self.candidates
    }
}

impl Default for ProfileCredentials {
    fn default() -> Self {
        Self::new()
    }
}

impl CredentialProvider for ProfileCredentials {
    fn credentials(&self) -> Result<Credentials, CredentialError> {
        for path in &self.candidates {
            match std::fs::metadata(path) {
                Ok(meta) if meta.is_file() => check_private(path, &meta)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Ok(_) | Err(_) => {}
            }
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(CredentialError::ProfileIo {
                        path: path.clone(),
                        source: e,
                    });
                }
            };
            let creds = parse_profile(&text).map_err(|reason| CredentialError::ProfileFormat {
                path: path.clone(),
                reason,
            })?;
            check_header_safe(&path.display().to_string(), "secret_id", &creds.secret_id)?;
            *self.used.lock().unwrap_or_else(|e| e.into_inner()) = Some(path.clone());
            return Ok(creds);
        }
        Err(CredentialError::ProfileNotFound {
            tried: self.candidates.clone(),
        })
    }

    fn describe(&self) -> String {
        let paths: Vec<String> = self
            .candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        format!("profile file ({})", paths.join(", "))
    }

    fn provenance(&self) -> Option<super::Provenance> {
        let used = self
            .used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        Some(super::Provenance {
            source: "profile",
            detail: Some(used.display().to_string()),
            expires_unix: None,
        })
    }
}

/// Refuses a profile file that others may read or write, or that belongs to neither root nor
/// the user running this process: its keys may have been read, or planted.
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), CredentialError> {
    use std::os::unix::fs::MetadataExt as _;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let mode = meta.mode() & 0o7777;
    let uid = meta.uid();
    let mut problems = Vec::new();
    if uid != 0 && uid != me {
        problems.push(format!("is owned by uid {uid}, neither root nor uid {me}"));
    }
    if mode & 0o077 != 0 {
        problems.push(format!(
            "has mode {mode:04o}, which lets group or others access it"
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    let owner = if me == 0 { "root:root" } else { "$(id -u)" };
    Err(CredentialError::ProfileInsecure {
        path: path.to_owned(),
        problem: problems.join(" and "),
        fix: format!("chown {owner} {p} && chmod 600 {p}", p = path.display()),
    })
}

/// Parses profile text into credentials; the error names what is missing (never a value).
pub fn parse_profile(text: &str) -> Result<Credentials, String> {
    let mut in_default = false;
    let mut saw_default = false;
    let mut id = None;
    let mut key = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.strip_suffix(']').unwrap_or(rest).trim();
            in_default = name == "default";
            saw_default |= in_default;
            continue;
        }
        if !in_default {
            continue;
        }
        let Some(split) = line.find(['=', ':']) else {
            continue;
        };
        let name = line[..split].trim().to_ascii_lowercase();
        let value = line[split + 1..].trim();
        if value.is_empty() {
            continue;
        }
        match name.as_str() {
            "secret_id" => id = Some(value.to_owned()),
            "secret_key" => key = Some(value.to_owned()),
            _ => {}
        }
    }
    if !saw_default {
        return Err("no [default] section".into());
    }
    match (id, key) {
        (Some(secret_id), Some(secret_key)) => Ok(Credentials {
            secret_id,
            secret_key,
            token: None,
        }),
        (None, Some(_)) => Err("[default] has no secret_id".into()),
        (Some(_), None) => Err("[default] has no secret_key".into()),
        (None, None) => Err("[default] has neither secret_id nor secret_key".into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::Arc;

    #[test]
    fn trims_whitespace_and_ignores_other_sections_and_comments() {
        let text = "# comment\n[other]\nsecret_id = WRONG\n\n[ default ]\n  secret_id =  AKID1 \r\n; c\nSECRET_KEY=k1\t\nrole_arn = x\n";
        let c = parse_profile(text).unwrap();
        assert_eq!(c, Credentials::new("AKID1", "k1"));
    }

    #[test]
    fn missing_keys_are_named() {
        assert!(
            parse_profile("[default]\nsecret_id=a\n")
                .unwrap_err()
                .contains("secret_key")
        );
        assert!(
            parse_profile("[default]\nsecret_key=a\n")
                .unwrap_err()
                .contains("secret_id")
        );
        assert!(
            parse_profile("[default]\nsecret_id=\nsecret_key=k\n")
                .unwrap_err()
                .contains("secret_id")
        );
        assert!(
            parse_profile("[prod]\nsecret_id=a\nsecret_key=b\n")
                .unwrap_err()
                .contains("[default]")
        );
    }

    #[test]
    fn search_order_follows_the_sdk() {
        let lookup: EnvLookup = Arc::new(|k| match k {
            ENV_CREDENTIALS_FILE => Some("/x/creds".into()),
            "HOME" => Some("/home/u".into()),
            _ => None,
        });
        let p = ProfileCredentials::from_lookup(&lookup);
        assert_eq!(
            p.candidates(),
            [
                PathBuf::from("/x/creds"),
                PathBuf::from("/home/u/.tencentcloud/credentials"),
                PathBuf::from("/etc/tencentcloud/credentials"),
            ]
        );
    }
}
