//! From the configuration to the tencent-api objects that act on it: the API client settings,
//! the credential provider for `credentials.source`, and the metadata client.

use std::sync::Arc;
use std::time::Duration;

use tencent_api::ClientConfig;
use tencent_api::credentials::{
    CredentialProvider, Credentials, CvmRoleCredentials, DefaultChain, EnvCredentials,
    ProfileCredentials, StaticCredentials,
};
use tencent_api::metadata::MetadataClient;

use super::{Config, CredentialSource, Region};

/// Connect and total timeout of each metadata GET (the service is link-local).
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(1);

impl Config {
    /// API client settings: `cloud.endpoint`, `cloud.language`, `cloud.timeout_ms` (the connect
    /// timeout is the smaller of 1 s and that), for `region`.
    pub fn client_config(&self, region: &Region) -> ClientConfig {
        let total = self.cloud.timeout();
        ClientConfig {
            language: Some(self.cloud.language.as_str().to_owned()),
            ca_file: self.cloud.ca_file.clone(),
            ..ClientConfig::vpc(region.as_str())
                .with_endpoint(self.cloud.endpoint.clone())
                .with_timeouts(total.min(Duration::from_secs(1)), total)
        }
    }

    /// The metadata service client for `metadata.url`.
    pub fn metadata_client(&self) -> MetadataClient {
        MetadataClient::new(self.metadata.url.clone(), METADATA_TIMEOUT)
    }

    /// The credential provider that `credentials.source` names.
    pub fn credential_provider(&self) -> Arc<dyn CredentialProvider> {
        let cr = &self.credentials;
        let profile = || match &cr.profile_file {
            Some(p) => ProfileCredentials::with_path(p.clone()),
            None => ProfileCredentials::new(),
        };
        match cr.source {
            CredentialSource::Auto => Arc::new(DefaultChain::new(vec![
                Box::new(EnvCredentials::new()),
                Box::new(profile()),
                Box::new(CvmRoleCredentials::new(self.metadata_client())),
            ])),
            CredentialSource::Env => Arc::new(EnvCredentials::new()),
            CredentialSource::Profile => Arc::new(profile()),
            CredentialSource::CvmRole => Arc::new(CvmRoleCredentials::new(self.metadata_client())),
            CredentialSource::File => {
                // Validation guarantees both keys with source "file"; empty strings otherwise
                // fail at the API with an authentication error, never a panic.
                let id = cr
                    .secret_id
                    .as_ref()
                    .map(|s| s.expose())
                    .unwrap_or_default();
                let key = cr
                    .secret_key
                    .as_ref()
                    .map(|s| s.expose())
                    .unwrap_or_default();
                let mut creds = Credentials::new(id, key);
                if let Some(t) = &cr.token {
                    creds = creds.with_token(t.expose());
                }
                Arc::new(StaticCredentials::new(creds))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::path::Path;

    use super::*;

    #[test]
    fn the_endpoint_parsed_from_the_file_is_the_one_the_client_uses() {
        let text = "[cloud]\nendpoint = \"HTTPS://VPC.Example.com:443/\"\n\n[[vip]]\naddress = \"10.0.1.100\"\n";
        let config = Config::from_toml_str(text, Path::new("/t/tcvip.toml")).unwrap();
        assert_eq!(config.cloud.endpoint.authority(), "vpc.example.com");
        let region: Region = "ap-guangzhou".parse().unwrap();
        let client_config = config.client_config(&region);
        assert_eq!(client_config.endpoint, config.cloud.endpoint);
        let client = tencent_api::Client::new(
            client_config,
            Arc::new(StaticCredentials::new(Credentials::new("AKID", "k"))),
        )
        .unwrap();
        assert_eq!(client.host_header(), "vpc.example.com");
        assert_eq!(client.endpoint_url(), "https://vpc.example.com/");
    }

    #[test]
    fn ca_file_reaches_the_client_and_must_be_absolute() {
        let text =
            "[cloud]\nca_file = \"/etc/tcvip/ca.pem\"\n\n[[vip]]\naddress = \"10.0.1.100\"\n";
        let config = Config::from_toml_str(text, Path::new("/t/tcvip.toml")).unwrap();
        let region: Region = "ap-guangzhou".parse().unwrap();
        assert_eq!(
            config.client_config(&region).ca_file.as_deref(),
            Some(Path::new("/etc/tcvip/ca.pem"))
        );
        let relative = text.replace("/etc/tcvip/ca.pem", "ca.pem");
        let e = Config::from_toml_str(&relative, Path::new("/t/tcvip.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cloud.ca_file"), "{e}");
    }
}
