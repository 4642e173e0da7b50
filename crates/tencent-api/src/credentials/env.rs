//! Credentials from environment variables.

use std::fmt;
use std::sync::Arc;

use super::{CredentialError, CredentialProvider, Credentials, check_header_safe};

/// SecretId variable (all SDKs and tools).
pub const ENV_SECRET_ID: &str = "TENCENTCLOUD_SECRET_ID";
/// SecretKey variable (all SDKs and tools).
pub const ENV_SECRET_KEY: &str = "TENCENTCLOUD_SECRET_KEY";
/// Session token variable used by tccli; read first.
pub const ENV_TOKEN: &str = "TENCENTCLOUD_TOKEN";
/// Session token variable used by Terraform and others; read when [`ENV_TOKEN`] is unset.
pub const ENV_SECURITY_TOKEN: &str = "TENCENTCLOUD_SECURITY_TOKEN";

/// Looks up one environment variable; injectable so tests never touch the process environment.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The real process environment (non-UTF-8 values read as unset).
pub fn process_env() -> EnvLookup {
    Arc::new(|name| std::env::var(name).ok())
}

/// `TENCENTCLOUD_SECRET_ID` + `TENCENTCLOUD_SECRET_KEY`, token from `TENCENTCLOUD_TOKEN` or
/// `TENCENTCLOUD_SECURITY_TOKEN`. Read on every call; empty values count as unset.
#[derive(Clone)]
pub struct EnvCredentials {
    lookup: EnvLookup,
}

impl EnvCredentials {
    /// Reads the process environment.
    pub fn new() -> Self {
        Self::from_lookup(process_env())
    }

    /// Reads variables through `lookup`.
    pub fn from_lookup(lookup: EnvLookup) -> Self {
        Self { lookup }
    }

    fn var(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }
}

impl Default for EnvCredentials {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for EnvCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvCredentials").finish_non_exhaustive()
    }
}

impl CredentialProvider for EnvCredentials {
    fn credentials(&self) -> Result<Credentials, CredentialError> {
        let id = self
            .var(ENV_SECRET_ID)
            .ok_or(CredentialError::EnvMissing { var: ENV_SECRET_ID })?;
        let key = self
            .var(ENV_SECRET_KEY)
            .ok_or(CredentialError::EnvMissing {
                var: ENV_SECRET_KEY,
            })?;
        let token = self.var(ENV_TOKEN).or_else(|| self.var(ENV_SECURITY_TOKEN));
        let source = self.describe();
        check_header_safe(&source, ENV_SECRET_ID, &id)?;
        if let Some(t) = &token {
            check_header_safe(&source, "token", t)?;
        }
        Ok(Credentials {
            secret_id: id,
            secret_key: key,
            token,
        })
    }

    fn describe(&self) -> String {
        format!("environment ({ENV_SECRET_ID}, {ENV_SECRET_KEY})")
    }

    fn provenance(&self) -> Option<super::Provenance> {
        Some(super::Provenance {
            source: "env",
            detail: Some(format!("{ENV_SECRET_ID}, {ENV_SECRET_KEY}")),
            expires_unix: None,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> EnvCredentials {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        EnvCredentials::from_lookup(Arc::new(move |k| map.get(k).cloned()))
    }

    #[test]
    fn id_and_key_without_token() {
        let c = env(&[(ENV_SECRET_ID, "AKID1"), (ENV_SECRET_KEY, "k1")])
            .credentials()
            .unwrap();
        assert_eq!(c, Credentials::new("AKID1", "k1"));
    }

    #[test]
    fn token_prefers_tccli_name_then_security_token() {
        let base = [(ENV_SECRET_ID, "AKID1"), (ENV_SECRET_KEY, "k1")];
        let both = [&base[..], &[(ENV_TOKEN, "t1"), (ENV_SECURITY_TOKEN, "t2")]].concat();
        assert_eq!(
            env(&both).credentials().unwrap().token.as_deref(),
            Some("t1")
        );
        let second = [&base[..], &[(ENV_SECURITY_TOKEN, "t2")]].concat();
        assert_eq!(
            env(&second).credentials().unwrap().token.as_deref(),
            Some("t2")
        );
        let empty_first = [&base[..], &[(ENV_TOKEN, ""), (ENV_SECURITY_TOKEN, "t2")]].concat();
        assert_eq!(
            env(&empty_first).credentials().unwrap().token.as_deref(),
            Some("t2")
        );
    }

    #[test]
    fn missing_or_empty_variables_are_named() {
        let e = env(&[]).credentials().unwrap_err();
        assert!(e.to_string().contains(ENV_SECRET_ID), "{e}");
        let e = env(&[(ENV_SECRET_ID, "AKID1"), (ENV_SECRET_KEY, "  ")])
            .credentials()
            .unwrap_err();
        assert!(e.to_string().contains(ENV_SECRET_KEY), "{e}");
    }
}
