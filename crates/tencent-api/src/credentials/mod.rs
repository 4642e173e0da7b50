//! Where the SecretId / SecretKey (and session token) come from.
//!
//! Providers: [`StaticCredentials`], [`EnvCredentials`], [`ProfileCredentials`],
//! [`CvmRoleCredentials`], and [`DefaultChain`] (env → profile → CVM role, as the SDKs do).
//! No `Debug` or `Display` here ever shows a secret key or a token.

mod chain;
mod cvm_role;
mod env;
mod profile;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub use chain::DefaultChain;
pub use cvm_role::{CvmRoleCredentials, ROLE_CREDENTIALS_PATH, ROLE_REFRESH_MARGIN_SECS};
pub use env::{
    ENV_SECRET_ID, ENV_SECRET_KEY, ENV_SECURITY_TOKEN, ENV_TOKEN, EnvCredentials, EnvLookup,
    process_env,
};
pub use profile::{ENV_CREDENTIALS_FILE, ProfileCredentials, parse_profile};

use crate::metadata::MetadataError;

/// A SecretId, SecretKey and, for temporary credentials, a session token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `AKID…`; not secret (it appears in every Authorization header).
    pub secret_id: String,
    /// Secret; never printed.
    pub secret_key: String,
    /// Session token for temporary credentials, sent as `X-TC-Token`; never printed.
    pub token: Option<String>,
}

impl Credentials {
    /// Long-term credentials without a token.
    pub fn new(secret_id: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            secret_id: secret_id.into(),
            secret_key: secret_key.into(),
            token: None,
        }
    }

    /// The same credentials with a session token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"** redacted **")
            .field("token", &self.token.as_ref().map(|_| "** redacted **"))
            .finish()
    }
}

/// Where the credentials a provider handed out last came from (never the secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// `env`, `profile`, `cvm-role` or `static`.
    pub source: &'static str,
    /// The profile file, the role name: what the source was exactly, when it says more.
    pub detail: Option<String>,
    /// When temporary credentials expire (unix seconds).
    pub expires_unix: Option<i64>,
}

/// A source of credentials.
pub trait CredentialProvider: Send + Sync + fmt::Debug {
    /// Current credentials; may do I/O (file, metadata service) and may cache.
    fn credentials(&self) -> Result<Credentials, CredentialError>;

    /// As [`credentials`](Self::credentials), with any network read ending by `deadline`
    /// (`None`: only the reads' own timeouts). Providers that read no network need not
    /// override it.
    fn credentials_until(&self, deadline: Option<Instant>) -> Result<Credentials, CredentialError> {
        let _ = deadline;
        self.credentials()
    }

    /// Drops anything cached, so that the next [`credentials`](Self::credentials) fetches
    /// afresh; call after `AuthFailure.TokenFailure`.
    fn invalidate(&self) {}

    /// Where the credentials come from, for messages (never the secrets themselves).
    fn describe(&self) -> String;

    /// Where the credentials handed out last came from, once some were.
    fn provenance(&self) -> Option<Provenance> {
        None
    }
}

impl<T: CredentialProvider + ?Sized> CredentialProvider for Arc<T> {
    fn credentials(&self) -> Result<Credentials, CredentialError> {
        (**self).credentials()
    }
    fn credentials_until(&self, deadline: Option<Instant>) -> Result<Credentials, CredentialError> {
        (**self).credentials_until(deadline)
    }
    fn invalidate(&self) {
        (**self).invalidate();
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn provenance(&self) -> Option<Provenance> {
        (**self).provenance()
    }
}

impl<T: CredentialProvider + ?Sized> CredentialProvider for Box<T> {
    fn credentials(&self) -> Result<Credentials, CredentialError> {
        (**self).credentials()
    }
    fn credentials_until(&self, deadline: Option<Instant>) -> Result<Credentials, CredentialError> {
        (**self).credentials_until(deadline)
    }
    fn invalidate(&self) {
        (**self).invalidate();
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn provenance(&self) -> Option<Provenance> {
        (**self).provenance()
    }
}

/// Why no credentials could be had. Messages name sources, paths, variables and URLs, never
/// secret values.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// An environment variable is unset or empty.
    #[error("environment variable {var} is not set")]
    EnvMissing { var: &'static str },
    /// No profile file at any candidate path.
    #[error("no credentials file (looked at {})", display_paths(.tried))]
    ProfileNotFound { tried: Vec<PathBuf> },
    /// The profile file exists but cannot be read.
    #[error("cannot read credentials file {}: {source}", .path.display())]
    ProfileIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The profile file holds secret keys but others may read or change it (or it belongs to
    /// someone else): refused, as tcvip refuses a tcvip.toml with keys in that state.
    #[error("credentials file {} {problem}: refusing to use the secret keys in it; fix: {fix}", .path.display())]
    ProfileInsecure {
        path: PathBuf,
        problem: String,
        fix: String,
    },
    /// The profile file exists but lacks what is needed.
    #[error("credentials file {}: {reason}", .path.display())]
    ProfileFormat { path: PathBuf, reason: String },
    /// The metadata service did not name a role (e.g. 404: no role bound to this instance).
    #[error("cannot learn the CVM role name: {0}")]
    RoleName(#[source] MetadataError),
    /// The metadata service did not give the role's credentials.
    #[error("cannot fetch credentials of CVM role {role:?}: {source}")]
    RoleFetch {
        role: String,
        #[source]
        source: MetadataError,
    },
    /// The role credentials reply was unusable (not JSON, `Code` not `Success`, fields missing).
    #[error("CVM role {role:?}: {reason}")]
    RoleReply { role: String, reason: String },
    /// The role credentials reply was garbled (not JSON): a fault of that exchange, retried.
    #[error("CVM role {role:?}: {reason}")]
    RoleMalformed { role: String, reason: String },
    /// A value cannot be sent (e.g. a token with a newline).
    #[error("{source_name}: {reason}")]
    Invalid { source_name: String, reason: String },
    /// Every source of a chain failed; each is listed with its reason.
    #[error("no source gave credentials; tried: {}", display_chain(.tried))]
    Chain {
        tried: Vec<(String, CredentialError)>,
    },
}

impl CredentialError {
    /// A configuration problem on this node (a profile file others can read), for a chain
    /// when any source has one: fixed by the operator, not by retrying.
    pub fn is_config(&self) -> bool {
        match self {
            CredentialError::ProfileInsecure { .. } => true,
            CredentialError::Chain { tried } => tried.iter().any(|(_, e)| e.is_config()),
            _ => false,
        }
    }

    /// A retry later may succeed (a metadata fetch timed out, could not connect, got a 5xx or
    /// a garbled reply). For a chain: when any source failed transiently.
    pub fn is_transient(&self) -> bool {
        match self {
            CredentialError::RoleName(m) | CredentialError::RoleFetch { source: m, .. } => {
                m.is_transient()
            }
            CredentialError::RoleMalformed { .. } => true,
            CredentialError::Chain { tried } => tried.iter().any(|(_, e)| e.is_transient()),
            _ => false,
        }
    }

    /// A metadata read was cut by its deadline (for a chain: any source's was).
    pub fn is_deadline(&self) -> bool {
        match self {
            CredentialError::RoleName(m) | CredentialError::RoleFetch { source: m, .. } => {
                m.is_deadline()
            }
            CredentialError::Chain { tried } => tried.iter().any(|(_, e)| e.is_deadline()),
            _ => false,
        }
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn display_chain(tried: &[(String, CredentialError)]) -> String {
    tried
        .iter()
        .map(|(source, e)| format!("[{source}: {e}]"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Fixed credentials, e.g. from tcvip's own configuration file.
#[derive(Clone)]
pub struct StaticCredentials(Credentials);

impl StaticCredentials {
    /// Always answers `credentials`.
    pub fn new(credentials: Credentials) -> Self {
        Self(credentials)
    }
}

impl fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StaticCredentials").field(&self.0).finish()
    }
}

impl CredentialProvider for StaticCredentials {
    fn credentials(&self) -> Result<Credentials, CredentialError> {
        Ok(self.0.clone())
    }

    fn describe(&self) -> String {
        "static credentials".into()
    }

    fn provenance(&self) -> Option<Provenance> {
        Some(Provenance {
            source: "static",
            detail: Some("fixed keys".into()),
            expires_unix: None,
        })
    }
}

/// Rejects values that cannot travel in an HTTP header or an Authorization line.
pub(crate) fn check_header_safe(
    source_name: &str,
    what: &str,
    value: &str,
) -> Result<(), CredentialError> {
    if value.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        Ok(())
    } else {
        Err(CredentialError::Invalid {
            source_name: source_name.into(),
            reason: format!("{what} contains whitespace or non-printable characters"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_key_and_token() {
        let c = Credentials::new("AKIDexample", "s3cr3t-key").with_token("t0k3n");
        let text = format!("{c:?} {:?}", StaticCredentials::new(c.clone()));
        assert!(text.contains("AKIDexample"));
        assert!(!text.contains("s3cr3t-key"));
        assert!(!text.contains("t0k3n"));
    }

    #[test]
    fn header_safety_rejects_newlines_and_spaces() {
        assert!(check_header_safe("s", "token", "abc/+=").is_ok());
        assert!(check_header_safe("s", "token", "a\nb").is_err());
        assert!(check_header_safe("s", "token", "a b").is_err());
    }
}
