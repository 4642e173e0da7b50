//! TLS for the simulator: a CA and a server certificate made at start (for `localhost`,
//! `127.0.0.1` and `::1`), so a client tests the same handshake a real endpoint costs. The CA
//! certificate is handed out as PEM for the client to trust (tcvip's `cloud.ca_file`).

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// A freshly made certificate chain and the server configuration that serves it.
#[derive(Clone)]
pub struct TlsIdentity {
    /// The CA certificate (PEM) that signed the server certificate: what a client trusts.
    pub ca_pem: String,
    pub config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// Makes a new CA and server certificate. TLS 1.3 and 1.2 are offered, as real endpoints do.
    pub fn generate() -> Result<TlsIdentity, String> {
        let err = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
        let ca_key = KeyPair::generate().map_err(|e| err("CA key", &e))?;
        let mut ca_params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| err("CA parameters", &e))?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "fake-vpc test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .map_err(|e| err("CA certificate", &e))?;
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate().map_err(|e| err("server key", &e))?;
        let mut params = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])
        .map_err(|e| err("server parameters", &e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "fake-vpc");
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(|e| err("server certificate", &e))?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| err("TLS versions", &e))?
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone(), ca_cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .map_err(|e| err("TLS configuration", &e))?;
        Ok(TlsIdentity {
            ca_pem: ca_cert.pem(),
            config: Arc::new(config),
        })
    }
}
