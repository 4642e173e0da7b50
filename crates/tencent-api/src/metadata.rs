//! The CVM instance metadata service: plain-text GETs, never through a proxy, short timeouts.

use std::io::Read;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::error_chain::chain;

/// Where the metadata service lives on a CVM. No test may contact it.
pub const DEFAULT_METADATA_URL: &str = "http://metadata.tencentyun.com/latest/meta-data/";

/// Connect and total timeout when none is given.
pub const DEFAULT_METADATA_TIMEOUT: Duration = Duration::from_secs(1);

/// Largest metadata reply accepted.
const MAX_METADATA_BYTES: u64 = 64 * 1024;

/// A failed metadata read. URLs carry no secrets; bodies are never included.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The base URL or path does not form a usable URL.
    #[error("invalid metadata URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// HTTP 404: the path does not exist (e.g. no CAM role bound to the instance).
    #[error("metadata {url} not found (HTTP 404)")]
    NotFound { url: String },
    /// Another non-200 status.
    #[error("metadata {url}: HTTP status {status}")]
    Http { url: String, status: u16 },
    /// No complete reply in time.
    #[error("metadata {url}: timed out after {after:?}")]
    Timeout { url: String, after: Duration },
    /// The read's deadline (shorter than the timeout) came first: cut after `after`, or not
    /// sent when `after` is zero.
    #[error("metadata {url}: {}", deadline_text(*.after))]
    DeadlineReached { url: String, after: Duration },
    /// The connection could not be established.
    #[error("metadata {url}: cannot connect: {detail}")]
    Connect { url: String, detail: String },
    /// Any other transport failure.
    #[error("metadata {url}: transport error: {detail}")]
    Transport { url: String, detail: String },
    /// The reply exceeded the size limit.
    #[error("metadata {url}: reply larger than {limit} bytes")]
    BodyTooLarge { url: String, limit: u64 },
    /// The reply was not UTF-8 text.
    #[error("metadata {url}: reply is not UTF-8 text")]
    NotUtf8 { url: String },
}

impl MetadataError {
    /// The path does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, MetadataError::NotFound { .. })
    }

    /// A retry may succeed: timeouts, connection and transport errors, HTTP 5xx and 429, and a
    /// malformed reply (not UTF-8, or larger than any real one): the service answers those paths
    /// with short text, so a garbled reply is a fault of this exchange, not an answer.
    pub fn is_transient(&self) -> bool {
        match self {
            MetadataError::Timeout { .. }
            | MetadataError::DeadlineReached { .. }
            | MetadataError::Connect { .. }
            | MetadataError::Transport { .. }
            | MetadataError::NotUtf8 { .. }
            | MetadataError::BodyTooLarge { .. } => true,
            MetadataError::Http { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// HTTP 429: the service asks for fewer requests.
    pub fn is_throttled(&self) -> bool {
        matches!(self, MetadataError::Http { status: 429, .. })
    }

    /// The read was cut (or not sent) because its deadline came.
    pub fn is_deadline(&self) -> bool {
        matches!(self, MetadataError::DeadlineReached { .. })
    }
}

fn deadline_text(after: Duration) -> String {
    if after.is_zero() {
        "not read: the deadline had passed".to_owned()
    } else {
        format!(
            "no reply within the {} ms left before the deadline",
            after.as_millis()
        )
    }
}

/// Reads paths under a metadata base URL.
///
/// Cheap to construct and to clone: the HTTP client is built on first use and shared by the
/// clones. [`until`](Self::until) gives a clone whose reads all end by a deadline.
#[derive(Debug, Clone)]
pub struct MetadataClient {
    base_url: String,
    timeout: Duration,
    deadline: Option<Instant>,
    http: Arc<OnceLock<Result<reqwest::blocking::Client, String>>>,
}

impl MetadataClient {
    /// A client for `base_url` (a trailing `/` is added when missing) with `timeout` as both
    /// the connect and the total timeout of each GET.
    pub fn new(base_url: impl Into<String>, timeout: Duration) -> Self {
        let mut base_url = base_url.into();
        if !base_url.ends_with('/') {
            base_url.push('/');
        }
        Self {
            base_url,
            timeout,
            deadline: None,
            http: Arc::new(OnceLock::new()),
        }
    }

    /// The same client, each of whose reads ends by `deadline` (or by its timeout, when that
    /// comes first); a read with no time left is not sent. Shares the HTTP client.
    pub fn until(&self, deadline: Instant) -> Self {
        let mut bound = self.clone();
        bound.deadline = Some(deadline);
        bound
    }

    /// As [`until`](Self::until) when `deadline` is `Some`; the same client otherwise.
    pub fn until_opt(&self, deadline: Option<Instant>) -> Self {
        match deadline {
            Some(d) => self.until(d),
            None => self.clone(),
        }
    }

    /// The deadline its reads end by, if bound to one.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The per-read timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The CVM metadata service with the default 1 s timeout.
    pub fn cvm_default() -> Self {
        Self::new(DEFAULT_METADATA_URL, DEFAULT_METADATA_TIMEOUT)
    }

    /// The base URL, always ending in `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The full URL of `path` (relative to the base; a leading `/` is ignored).
    pub fn url_of(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path.trim_start_matches('/'))
    }

    fn http(&self) -> Result<&reqwest::blocking::Client, String> {
        self.http
            .get_or_init(|| {
                reqwest::blocking::Client::builder()
                    .no_proxy()
                    .connect_timeout(self.timeout)
                    .timeout(self.timeout)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| chain(&e))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// GETs `path` and returns its text without the trailing newline(s).
    pub fn get(&self, path: &str) -> Result<String, MetadataError> {
        let url = self.url_of(path);
        let parsed = reqwest::Url::parse(&url).map_err(|e| MetadataError::InvalidUrl {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(MetadataError::InvalidUrl {
                url,
                reason: "scheme must be http or https".into(),
            });
        }
        let http = self.http().map_err(|detail| MetadataError::Transport {
            url: url.clone(),
            detail,
        })?;
        // The read ends at its timeout or its deadline, whichever comes first.
        let (timeout, by_deadline) = match self.deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                (left.min(self.timeout), left < self.timeout)
            }
            None => (self.timeout, false),
        };
        let timed_out = |url: String| {
            if by_deadline {
                MetadataError::DeadlineReached {
                    url,
                    after: timeout,
                }
            } else {
                MetadataError::Timeout {
                    url,
                    after: timeout,
                }
            }
        };
        if timeout.is_zero() {
            return Err(timed_out(url));
        }
        let request = http.get(parsed).timeout(timeout);
        let worker_url = url.clone();
        // The whole exchange, body included, ends at the timeout (see `deadline`).
        let body = crate::deadline::within(timeout, move || fetch(request, &worker_url, timeout))
            .unwrap_or_else(|| Err(timed_out(url.clone())))
            .map_err(|e| match e {
                MetadataError::Timeout { url, .. } => timed_out(url),
                other => other,
            })?;
        if body.len() as u64 > MAX_METADATA_BYTES {
            return Err(MetadataError::BodyTooLarge {
                url,
                limit: MAX_METADATA_BYTES,
            });
        }
        let text = String::from_utf8(body).map_err(|_| MetadataError::NotUtf8 { url })?;
        Ok(text.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// One GET and its body (at most one byte over the cap), on the worker.
fn fetch(
    request: reqwest::blocking::RequestBuilder,
    url: &str,
    timeout: Duration,
) -> Result<Vec<u8>, MetadataError> {
    let resp = request
        .send()
        .map_err(|e| transport_error(url, timeout, &e))?;
    let status = resp.status().as_u16();
    if status == 404 {
        return Err(MetadataError::NotFound {
            url: url.to_owned(),
        });
    }
    if status != 200 {
        return Err(MetadataError::Http {
            url: url.to_owned(),
            status,
        });
    }
    let mut body = Vec::new();
    resp.take(MAX_METADATA_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut {
                MetadataError::Timeout {
                    url: url.to_owned(),
                    after: timeout,
                }
            } else {
                MetadataError::Transport {
                    url: url.to_owned(),
                    detail: chain(&e),
                }
            }
        })?;
    Ok(body)
}

fn transport_error(url: &str, timeout: Duration, e: &reqwest::Error) -> MetadataError {
    let url = url.to_owned();
    if e.is_timeout() {
        MetadataError::Timeout {
            url,
            after: timeout,
        }
    } else if e.is_connect() {
        MetadataError::Connect {
            url,
            detail: chain(e),
        }
    } else {
        MetadataError::Transport {
            url,
            detail: chain(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_gets_a_trailing_slash_and_paths_join() {
        let m = MetadataClient::new(
            "http://127.0.0.1:1/latest/meta-data",
            Duration::from_secs(1),
        );
        assert_eq!(m.base_url(), "http://127.0.0.1:1/latest/meta-data/");
        assert_eq!(
            m.url_of("/placement/region"),
            "http://127.0.0.1:1/latest/meta-data/placement/region"
        );
    }

    #[test]
    fn a_non_http_url_is_rejected_without_io() {
        let m = MetadataClient::new("file:///etc/", Duration::from_secs(1));
        assert!(matches!(
            m.get("passwd"),
            Err(MetadataError::InvalidUrl { .. })
        ));
    }
}
