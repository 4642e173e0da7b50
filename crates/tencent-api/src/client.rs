//! The blocking API client: one signed POST per call, every failure typed.
//!
//! The client never retries on its own; see [`Error::retry_class`] and [`crate::retry`].

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::clock::{Clock, SystemClock};
use crate::credentials::{CredentialProvider, check_header_safe};
use crate::endpoint::Endpoint;
use crate::error::{Error, RetryClass};
use crate::error_chain::chain;
use crate::sign::{DEFAULT_CONTENT_TYPE, SignInput, sign};

mod reply;

use reply::{Exchange, excerpt, parse_reply};

pub use crate::endpoint::DEFAULT_VPC_ENDPOINT;
/// VPC API version.
pub const VPC_VERSION: &str = "2017-03-12";
/// How long an idle pooled connection is kept (above a one-minute idle refresh).
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(150);
/// TCP keepalive on API connections.
pub const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

/// Where and how to call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Where calls go, parsed once ([`Endpoint::parse`]).
    pub endpoint: Endpoint,
    /// `X-TC-Region`, e.g. `ap-guangzhou`.
    pub region: String,
    /// `X-TC-Language` (`en-US` or `zh-CN`); not sent when `None`.
    pub language: Option<String>,
    /// Credential-scope service, `vpc` whichever VPC host is used.
    pub service: String,
    /// `X-TC-Version`.
    pub version: String,
    /// TCP (and proxy) connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout: connect, send, and read the complete reply.
    pub timeout: Duration,
    /// Largest reply body accepted.
    pub max_body_bytes: usize,
    /// A PEM file of CA certificates trusted in addition to the built-in roots (a
    /// TLS-inspecting proxy's CA, or a test endpoint's).
    pub ca_file: Option<std::path::PathBuf>,
}

impl ClientConfig {
    /// VPC 2017-03-12 at the public endpoint in `region`, English messages, connect timeout
    /// 1 s, total 3 s (fits a track script), 4 MiB body cap.
    pub fn vpc(region: impl Into<String>) -> Self {
        Self {
            endpoint: Endpoint::default(),
            region: region.into(),
            language: Some("en-US".into()),
            service: "vpc".into(),
            version: VPC_VERSION.into(),
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(3),
            max_body_bytes: 4 * 1024 * 1024,
            ca_file: None,
        }
    }

    /// The same configuration with another endpoint.
    pub fn with_endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// The same configuration with both timeouts set.
    pub fn with_timeouts(mut self, connect: Duration, total: Duration) -> Self {
        self.connect_timeout = connect;
        self.timeout = total;
        self
    }
}

/// A signed-call client. Cheap to construct: nothing is built or read until the first call.
///
/// [`until`](Self::until) gives a handle whose every call (credentials included) ends by a
/// deadline; it shares the HTTP client, so it costs no new connection.
#[derive(Debug, Clone)]
pub struct Client {
    config: ClientConfig,
    credentials: Arc<dyn CredentialProvider>,
    clock: Arc<dyn Clock>,
    deadline: Option<Instant>,
    http: Arc<OnceLock<Result<reqwest::blocking::Client, String>>>,
    observer: Option<crate::observe::Observer>,
}

impl Client {
    /// Validates `config` (header-safe region/version/language/service) without I/O.
    pub fn new(
        config: ClientConfig,
        credentials: Arc<dyn CredentialProvider>,
    ) -> Result<Client, Error> {
        check_config_value("region", &config.region, false)?;
        check_config_value("service", &config.service, false)?;
        check_config_value("version", &config.version, false)?;
        if let Some(lang) = &config.language {
            check_config_value("language", lang, false)?;
        }
        if config.timeout.is_zero() || config.connect_timeout.is_zero() {
            return Err(Error::InvalidConfig("timeouts must be above zero".into()));
        }
        Ok(Client {
            config,
            credentials,
            clock: Arc::new(SystemClock),
            deadline: None,
            http: Arc::new(OnceLock::new()),
            observer: crate::observe::default_observer(),
        })
    }

    /// The same client, each of whose calls ends by `deadline`: a call's timeout is the
    /// smaller of [`ClientConfig::timeout`] and the time left, credentials are fetched within
    /// it ([`CredentialProvider::credentials_until`]), and a call with no time left is not
    /// sent ([`Error::DeadlineReached`]). Every typed action works on the handle.
    pub fn until(&self, deadline: Instant) -> Client {
        let mut bound = self.clone();
        bound.deadline = Some(deadline);
        bound
    }

    /// The deadline its calls end by, if bound to one.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Uses `clock` for `X-TC-Timestamp` (tests fix the time with it).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Tells `observer` about every call from now on ([`crate::observe`]).
    pub fn with_observer(mut self, observer: crate::observe::Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The URL requests are posted to.
    pub fn endpoint_url(&self) -> &str {
        self.config.endpoint.url()
    }

    /// The Host header requests are signed and sent with.
    pub fn host_header(&self) -> &str {
        self.config.endpoint.authority()
    }

    /// The credential provider.
    pub fn credentials(&self) -> &Arc<dyn CredentialProvider> {
        &self.credentials
    }

    /// Calls `action` with `body` (a JSON object) and returns the `Response` object.
    pub fn call_json(&self, action: &str, body: &Value) -> Result<Value, Error> {
        let bytes = serde_json::to_vec(body).map_err(|e| Error::Encode {
            action: action.to_owned(),
            detail: e.to_string(),
        })?;
        self.call_bytes(action, bytes)
    }

    /// Calls `action` with `request` serialized as JSON and decodes the `Response` as `Resp`.
    pub fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        action: &str,
        request: &Req,
    ) -> Result<Resp, Error> {
        let bytes = serde_json::to_vec(request).map_err(|e| Error::Encode {
            action: action.to_owned(),
            detail: e.to_string(),
        })?;
        let response = self.call_bytes(action, bytes)?;
        serde_json::from_value(response).map_err(|e| Error::Decode {
            action: action.to_owned(),
            detail: format!("Response has an unexpected shape: {e}"),
        })
    }

    /// Like [`call_json`](Self::call_json), but on [`RetryClass::RefreshCredentials`]
    /// (`AuthFailure.TokenFailure` / `SignatureExpire`) invalidates the credential provider and
    /// calls once more. Such a request was rejected before it acted, so repeating it is safe.
    pub fn call_json_refresh_once(&self, action: &str, body: &Value) -> Result<Value, Error> {
        match self.call_json(action, body) {
            Err(e) if e.retry_class() == RetryClass::RefreshCredentials => {
                self.credentials.invalidate();
                self.call_json(action, body)
            }
            other => other,
        }
    }

    fn http(&self, action: &str) -> Result<&reqwest::blocking::Client, Error> {
        self.http
            .get_or_init(|| {
                let mut builder = reqwest::blocking::Client::builder()
                    .connect_timeout(self.config.connect_timeout)
                    .timeout(self.config.timeout)
                    .redirect(reqwest::redirect::Policy::none())
                    // A warm connection is what makes a move one round trip: keep it longer
                    // than the idle refresh interval of a long-lived caller, and let TCP
                    // keepalive notice a dead peer.
                    .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                    .tcp_keepalive(TCP_KEEPALIVE)
                    .tcp_nodelay(true);
                if let Some(path) = &self.config.ca_file {
                    let pem = std::fs::read(path)
                        .map_err(|e| format!("reading ca_file {}: {e}", path.display()))?;
                    let certs = reqwest::Certificate::from_pem_bundle(&pem)
                        .map_err(|e| format!("ca_file {}: {}", path.display(), chain(&e)))?;
                    if certs.is_empty() {
                        return Err(format!(
                            "ca_file {}: no PEM certificate in it",
                            path.display()
                        ));
                    }
                    for cert in certs {
                        builder = builder.add_root_certificate(cert);
                    }
                }
                builder.build().map_err(|e| chain(&e))
            })
            .as_ref()
            .map_err(|detail| Error::Transport {
                action: action.to_owned(),
                detail: format!("cannot build the HTTP client: {detail}"),
            })
    }

    /// Signs and posts exactly `body`, and interprets the reply; the observer is told.
    fn call_bytes(&self, action: &str, body: Vec<u8>) -> Result<Value, Error> {
        let started = Instant::now();
        let result = self.call_bytes_unobserved(action, body);
        if let Some(observer) = &self.observer {
            observer.call(action, result.as_ref().map(|_| ()), started.elapsed());
        }
        result
    }

    fn call_bytes_unobserved(&self, action: &str, body: Vec<u8>) -> Result<Value, Error> {
        if action.is_empty() || !action.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::InvalidRequest {
                action: action.to_owned(),
                detail: "an action name is ASCII letters and digits".into(),
            });
        }
        if self.time_left().is_zero() {
            return Err(self.deadline_reached(action, Duration::ZERO));
        }
        let creds = self.credentials.credentials_until(self.deadline)?;
        let source = self.credentials.describe();
        check_header_safe(&source, "SecretId", &creds.secret_id)?;
        if let Some(token) = &creds.token {
            check_header_safe(&source, "token", token)?;
        }
        let timestamp = self.clock.now_unix();
        let signed = sign(
            &SignInput {
                method: "POST",
                host: self.config.endpoint.authority(),
                content_type: DEFAULT_CONTENT_TYPE,
                body: &body,
                service: &self.config.service,
                timestamp,
                extra_headers: &[],
            },
            &creds.secret_id,
            &creds.secret_key,
        );
        let mut req = self
            .http(action)?
            .post(self.config.endpoint.request_url().clone())
            .header(reqwest::header::HOST, self.config.endpoint.authority())
            .header(reqwest::header::CONTENT_TYPE, DEFAULT_CONTENT_TYPE)
            .header(reqwest::header::AUTHORIZATION, &signed.authorization)
            .header("X-TC-Action", action)
            .header("X-TC-Version", &self.config.version)
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("X-TC-Region", &self.config.region);
        if let Some(lang) = &self.config.language {
            req = req.header("X-TC-Language", lang);
        }
        if let Some(token) = &creds.token {
            req = req.header("X-TC-Token", token);
        }
        // Credentials may have taken some of the time left.
        let timeout = self.time_left();
        if timeout.is_zero() {
            return Err(self.deadline_reached(action, Duration::ZERO));
        }
        let by_deadline = timeout < self.config.timeout;
        let exchange = Exchange {
            action: action.to_owned(),
            endpoint: self.config.endpoint.url().to_owned(),
            timeout,
            limit: self.config.max_body_bytes,
        };
        let req = req.timeout(timeout);
        let reply = crate::deadline::within(timeout, move || exchange.run(req.body(body)))
            .unwrap_or_else(|| {
                Err(Error::Timeout {
                    action: action.to_owned(),
                    after: timeout,
                })
            });
        let (status, body) = reply.map_err(|e| match e {
            Error::Timeout { action, after } if by_deadline => {
                Error::DeadlineReached { action, after }
            }
            other => other,
        })?;
        if status != 200 {
            return Err(Error::Http {
                action: action.to_owned(),
                status,
                body_excerpt: excerpt(&body),
            });
        }
        parse_reply(action, &body)
    }
}

impl Client {
    /// The time this call may take: the configured timeout, or less when the deadline is nearer.
    fn time_left(&self) -> Duration {
        match self.deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .min(self.config.timeout),
            None => self.config.timeout,
        }
    }

    fn deadline_reached(&self, action: &str, after: Duration) -> Error {
        Error::DeadlineReached {
            action: action.to_owned(),
            after,
        }
    }
}

fn check_config_value(name: &str, value: &str, allow_empty: bool) -> Result<(), Error> {
    if value.is_empty() && !allow_empty {
        return Err(Error::InvalidConfig(format!("{name} is empty")));
    }
    if !value.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(Error::InvalidConfig(format!(
            "{name} {value:?} contains whitespace or non-printable characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::credentials::{Credentials, StaticCredentials};

    fn creds() -> Arc<dyn CredentialProvider> {
        Arc::new(StaticCredentials::new(Credentials::new("AKID", "k")))
    }

    #[test]
    fn defaults_fit_a_track_script() {
        let c = ClientConfig::vpc("ap-guangzhou");
        assert_eq!(c.endpoint.url(), "https://vpc.tencentcloudapi.com/");
        assert_eq!(c.version, "2017-03-12");
        assert_eq!(c.service, "vpc");
        assert!(c.connect_timeout <= Duration::from_secs(1));
        assert!(c.timeout <= Duration::from_secs(3));
        assert_eq!(c.max_body_bytes, 4 << 20);
    }

    #[test]
    fn constructing_a_client_does_no_io_and_validates_config() {
        let c = Client::new(ClientConfig::vpc("ap-guangzhou"), creds()).unwrap();
        assert_eq!(c.endpoint_url(), "https://vpc.tencentcloudapi.com/");
        assert_eq!(c.host_header(), "vpc.tencentcloudapi.com");
        assert!(c.http.get().is_none());
        let bad = Client::new(ClientConfig::vpc("ap guangzhou"), creds()).unwrap_err();
        assert!(matches!(bad, Error::InvalidConfig(_)), "{bad}");
        let bad = Client::new(ClientConfig::vpc(""), creds()).unwrap_err();
        assert!(matches!(bad, Error::InvalidConfig(_)), "{bad}");
    }
}
