//! Temporary credentials of the CVM instance role, from the metadata service.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde_json::Value;

use super::{CredentialError, CredentialProvider, Credentials, check_header_safe};
use crate::clock::{Clock, SystemClock};
use crate::metadata::MetadataClient;

/// Metadata path that lists the role name; the role's credentials are at `<this><role>`.
pub const ROLE_CREDENTIALS_PATH: &str = "cam/security-credentials/";

/// Cached credentials are refetched once `ExpiredTime - now` is this many seconds or fewer
/// (both SDKs use 300, the signature's clock tolerance).
pub const ROLE_REFRESH_MARGIN_SECS: i64 = 300;

/// When a refresh fails, cached credentials with more than this left are used all the same.
pub const ROLE_STILL_USABLE_SECS: i64 = 30;

#[derive(Clone)]
struct Cached {
    role: String,
    credentials: Credentials,
    expired_time: i64,
}

/// Fetches the role name, then `TmpSecretId`/`TmpSecretKey`/`Token`/`ExpiredTime`; caches them
/// until [`ROLE_REFRESH_MARGIN_SECS`] before expiry. Concurrent callers share one fetch.
pub struct CvmRoleCredentials {
    metadata: MetadataClient,
    clock: Arc<dyn Clock>,
    role: Option<String>,
    cache: Mutex<Option<Cached>>,
}

impl CvmRoleCredentials {
    /// Reads the role name and credentials through `metadata`, with the system clock.
    pub fn new(metadata: MetadataClient) -> Self {
        Self {
            metadata,
            clock: Arc::new(SystemClock),
            role: None,
            cache: Mutex::new(None),
        }
    }

    /// Uses `clock` to decide when cached credentials are due for refresh.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Skips the role-name lookup and uses `role`.
    pub fn with_role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    fn lock(&self) -> MutexGuard<'_, Option<Cached>> {
        // A panic while holding the lock leaves at worst a stale cache entry; keep going.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn role_name(
        &self,
        metadata: &MetadataClient,
        cached: Option<&Cached>,
    ) -> Result<String, CredentialError> {
        if let Some(role) = &self.role {
            return Ok(role.clone());
        }
        if let Some(c) = cached {
            return Ok(c.role.clone());
        }
        let listing = metadata
            .get(ROLE_CREDENTIALS_PATH)
            .map_err(CredentialError::RoleName)?;
        let role = listing
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or_default()
            .to_owned();
        validate_role(&role)?;
        Ok(role)
    }

    fn fetch(&self, metadata: &MetadataClient, role: &str) -> Result<Cached, CredentialError> {
        let text = metadata
            .get(&format!("{ROLE_CREDENTIALS_PATH}{role}"))
            .map_err(|source| CredentialError::RoleFetch {
                role: role.to_owned(),
                source,
            })?;
        let reply_err = |reason: String| CredentialError::RoleReply {
            role: role.to_owned(),
            reason,
        };
        // serde_json syntax errors name only a position, never the text.
        // A reply that is not JSON at all is a garbled exchange (retried), unlike a JSON reply
        // that says no (`Code`) or lacks a field.
        let v: Value = serde_json::from_str(&text).map_err(|e| CredentialError::RoleMalformed {
            role: role.to_owned(),
            reason: format!(
                "reply is not JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        })?;
        let code = v.get("Code").and_then(Value::as_str).unwrap_or("");
        if code != "Success" {
            return Err(reply_err(format!("Code is {code:?}, not \"Success\"")));
        }
        let field = |name: &str| -> Result<String, CredentialError> {
            v.get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| reply_err(format!("reply lacks {name}")))
        };
        let secret_id = field("TmpSecretId")?;
        let secret_key = field("TmpSecretKey")?;
        let token = field("Token")?;
        let expired_time = match v.get("ExpiredTime") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| reply_err("reply lacks a numeric ExpiredTime".into()))?;
        let source = self.describe();
        check_header_safe(&source, "TmpSecretId", &secret_id)?;
        check_header_safe(&source, "Token", &token)?;
        Ok(Cached {
            role: role.to_owned(),
            credentials: Credentials {
                secret_id,
                secret_key,
                token: Some(token),
            },
            expired_time,
        })
    }
}

fn validate_role(role: &str) -> Result<(), CredentialError> {
    let ok = !role.is_empty()
        && role != "."
        && role != ".."
        && role
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'?' | b'#' | b'%' | b'\\'));
    if ok {
        Ok(())
    } else {
        Err(CredentialError::RoleReply {
            role: role.chars().take(64).collect(),
            reason: "the metadata service returned an unusable role name".into(),
        })
    }
}

impl fmt::Debug for CvmRoleCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CvmRoleCredentials")
            .field("metadata", &self.metadata.base_url())
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl CredentialProvider for CvmRoleCredentials {
    fn credentials(&self) -> Result<Credentials, CredentialError> {
        self.credentials_until(None)
    }

    fn credentials_until(&self, deadline: Option<Instant>) -> Result<Credentials, CredentialError> {
        let metadata = self.metadata.until_opt(deadline);
        let mut cache = self.lock();
        let now = self.clock.now_unix();
        if let Some(c) = cache.as_ref()
            && c.expired_time.saturating_sub(now) > ROLE_REFRESH_MARGIN_SECS
        {
            return Ok(c.credentials.clone());
        }
        let fresh = match self
            .role_name(&metadata, cache.as_ref())
            .and_then(|role| self.fetch(&metadata, &role))
        {
            Ok(fresh) => fresh,
            // The refresh starts 300 s early; a metadata blip in that window must not fail a
            // call that the cached keys can still sign.
            Err(e) => match cache.as_ref() {
                Some(c) if c.expired_time.saturating_sub(now) > ROLE_STILL_USABLE_SECS => {
                    return Ok(c.credentials.clone());
                }
                _ => return Err(e),
            },
        };
        let credentials = fresh.credentials.clone();
        *cache = Some(fresh);
        Ok(credentials)
    }

    fn invalidate(&self) {
        *self.lock() = None;
    }

    fn describe(&self) -> String {
        format!("CVM role ({})", self.metadata.url_of(ROLE_CREDENTIALS_PATH))
    }

    fn provenance(&self) -> Option<super::Provenance> {
        self.lock().as_ref().map(|c| super::Provenance {
            source: "cvm-role",
            detail: Some(c.role.clone()),
            expires_unix: Some(c.expired_time),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_that_would_escape_the_path_are_refused() {
        assert!(validate_role("tcvip-role").is_ok());
        assert!(validate_role("").is_err());
        assert!(validate_role("..").is_err());
        assert!(validate_role("a/b").is_err());
        assert!(validate_role("a b").is_err());
    }
}
