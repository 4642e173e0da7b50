//! The SDKs' default chain: environment → profile file → CVM role.

use std::sync::Mutex;
use std::time::Instant;

use super::{
    CredentialError, CredentialProvider, Credentials, CvmRoleCredentials, EnvCredentials,
    ProfileCredentials,
};
use crate::metadata::MetadataClient;

/// Tries each provider in order on every call; the first success wins. When all fail, the
/// error lists every source with its reason.
#[derive(Debug)]
pub struct DefaultChain {
    providers: Vec<Box<dyn CredentialProvider>>,
    last_source: Mutex<Option<String>>,
    /// Which provider answered last.
    last_index: Mutex<Option<usize>>,
}

impl DefaultChain {
    /// Env (process environment) → profile (SDK search order) → CVM role via `metadata`.
    pub fn standard(metadata: MetadataClient) -> Self {
        Self::new(vec![
            Box::new(EnvCredentials::new()),
            Box::new(ProfileCredentials::new()),
            Box::new(CvmRoleCredentials::new(metadata)),
        ])
    }

    /// A chain over `providers`, tried in order.
    pub fn new(providers: Vec<Box<dyn CredentialProvider>>) -> Self {
        Self {
            providers,
            last_source: Mutex::new(None),
            last_index: Mutex::new(None),
        }
    }

    /// Credentials and the description of the provider that gave them.
    pub fn credentials_with_source(&self) -> Result<(Credentials, String), CredentialError> {
        self.credentials_with_source_until(None)
    }

    /// As [`credentials_with_source`](Self::credentials_with_source), each source's network
    /// reads ending by `deadline`.
    pub fn credentials_with_source_until(
        &self,
        deadline: Option<Instant>,
    ) -> Result<(Credentials, String), CredentialError> {
        let mut tried = Vec::new();
        for (i, p) in self.providers.iter().enumerate() {
            match p.credentials_until(deadline) {
                Ok(c) => {
                    *self.last_index.lock().unwrap_or_else(|e| e.into_inner()) = Some(i);
                    let source = p.describe();
                    *self.last_source.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(source.clone());
                    return Ok((c, source));
                }
                // A source refused for safety ends the search: falling through to the next
                // source would hide the problem.
                Err(e) if e.is_config() => {
                    tried.push((p.describe(), e));
                    break;
                }
                Err(e) => tried.push((p.describe(), e)),
            }
        }
        Err(CredentialError::Chain { tried })
    }

    /// The description of the provider that answered last, if any did.
    pub fn last_source(&self) -> Option<String> {
        self.last_source
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl CredentialProvider for DefaultChain {
    fn credentials(&self) -> Result<Credentials, CredentialError> {
        self.credentials_with_source().map(|(c, _)| c)
    }

    fn credentials_until(&self, deadline: Option<Instant>) -> Result<Credentials, CredentialError> {
        self.credentials_with_source_until(deadline).map(|(c, _)| c)
    }

    fn invalidate(&self) {
        for p in &self.providers {
            p.invalidate();
        }
    }

    fn describe(&self) -> String {
        let names: Vec<String> = self.providers.iter().map(|p| p.describe()).collect();
        format!("chain [{}]", names.join(" -> "))
    }

    fn provenance(&self) -> Option<super::Provenance> {
        let i = (*self.last_index.lock().unwrap_or_else(|e| e.into_inner()))?;
        self.providers.get(i)?.provenance()
    }
}
