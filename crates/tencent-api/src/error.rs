//! Everything a call can fail with, and how a caller should react ([`RetryClass`]).

use std::fmt;
use std::time::Duration;

use crate::credentials::CredentialError;

/// An error reply from the service: HTTP 200 with `Response.Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// E.g. `AuthFailure.SignatureFailure`.
    pub code: String,
    /// The service's human-readable message.
    pub message: String,
    /// `Response.RequestId`; empty when the service sent none.
    pub request_id: String,
    /// The action called, e.g. `MigratePrivateIpAddress`.
    pub action: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let request_id = if self.request_id.is_empty() {
            "none"
        } else {
            &self.request_id
        };
        write!(
            f,
            "{} failed: {}: {} (RequestId {request_id})",
            self.action, self.code, self.message
        )
    }
}

impl std::error::Error for ApiError {}

/// A failed API call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service answered with an error envelope.
    #[error("{0}")]
    Api(ApiError),
    /// The reply had an HTTP status other than 200.
    #[error("{action}: HTTP status {status} from the API endpoint: {body_excerpt:?}")]
    Http {
        action: String,
        status: u16,
        /// The start of the body, lossily decoded, at most a few hundred characters.
        body_excerpt: String,
    },
    /// The reply was not JSON, lacked the `Response` object, or had the wrong shape.
    #[error("{action}: cannot decode the reply: {detail}")]
    Decode { action: String, detail: String },
    /// The request body could not be serialized.
    #[error("{action}: cannot encode the request: {detail}")]
    Encode { action: String, detail: String },
    /// The request is invalid before it is sent (e.g. ids and filters together).
    #[error("{action}: invalid request: {detail}")]
    InvalidRequest { action: String, detail: String },
    /// The reply body exceeded the configured limit.
    #[error("{action}: reply body larger than the {limit}-byte limit")]
    BodyTooLarge { action: String, limit: usize },
    /// No complete reply within the configured timeout.
    #[error("{action}: timed out after {after:?} waiting for the API endpoint")]
    Timeout { action: String, after: Duration },
    /// The call's deadline (shorter than the timeout) came first: the request was cut after
    /// `after`, or not sent at all when `after` is zero.
    #[error("{action}: {}", deadline_text(*.after))]
    DeadlineReached { action: String, after: Duration },
    /// The connection (TCP, TLS or proxy) could not be established.
    #[error("{action}: cannot connect to {endpoint}: {detail}")]
    Connect {
        action: String,
        endpoint: String,
        detail: String,
    },
    /// Any other transport failure, e.g. the connection closed mid-reply.
    #[error("{action}: transport error: {detail}")]
    Transport { action: String, detail: String },
    /// No usable credentials.
    #[error("no usable credentials: {0}")]
    Credentials(#[from] CredentialError),
    /// The configured endpoint cannot be used.
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint { endpoint: String, reason: String },
    /// Some other configuration value cannot be used (e.g. a region that is not a valid header).
    #[error("invalid client configuration: {0}")]
    InvalidConfig(String),
    /// A paging helper stopped at its bound before it had every result.
    #[error("{action}: more than {limit} results; refine the query")]
    TooManyResults { action: String, limit: usize },
}

/// How a caller should react to an error, per the API reference's suggested classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryClass {
    /// Transient: back off and retry.
    Backoff,
    /// The request may or may not have taken effect: re-read the state, then decide.
    AfterReread,
    /// Refresh the credentials (and check the clock), then retry once.
    RefreshCredentials,
    /// Configuration, permission or parameter problem: do not retry.
    Fatal,
}

impl fmt::Display for RetryClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RetryClass::Backoff => "retry with backoff",
            RetryClass::AfterReread => "retry only after re-reading state",
            RetryClass::RefreshCredentials => "refresh credentials, then retry once",
            RetryClass::Fatal => "fatal",
        })
    }
}

/// Codes (or code families, matched as `X` or `X.*`) that are retried with backoff.
const BACKOFF_FAMILIES: &[&str] = &[
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "ResourceUnavailable",
    "ResourceInUse",
];

/// Exact codes retried with backoff.
const BACKOFF_CODES: &[&str] = &[
    "LimitExceeded.ActionLimited",
    "UnsupportedOperation.MutexOperationTaskRunning",
    "OperationDenied.MutexTaskRunning",
    "FailedOperation.NetDetectTimeOut",
];

/// Codes that leave the outcome unknown.
const REREAD_CODES: &[&str] = &["InternalServerError"];
const REREAD_FAMILIES: &[&str] = &["InternalError"];

/// Codes fixed by fresh credentials or a corrected clock.
const REFRESH_CODES: &[&str] = &["AuthFailure.TokenFailure", "AuthFailure.SignatureExpire"];

/// `code` is `family` or `family.<anything>`.
fn in_family(code: &str, family: &str) -> bool {
    code.strip_prefix(family)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// The retry class of an API error code.
///
/// Every code not named in the reference's retryable rows is fatal, including unknown codes:
/// retrying what is not understood would only hide it.
pub fn classify_code(code: &str) -> RetryClass {
    if REFRESH_CODES.contains(&code) {
        RetryClass::RefreshCredentials
    } else if BACKOFF_CODES.contains(&code) || BACKOFF_FAMILIES.iter().any(|f| in_family(code, f)) {
        RetryClass::Backoff
    } else if REREAD_CODES.contains(&code) || REREAD_FAMILIES.iter().any(|f| in_family(code, f)) {
        RetryClass::AfterReread
    } else {
        RetryClass::Fatal
    }
}

impl Error {
    /// How the caller should react.
    ///
    /// Transport errors, timeouts, non-200 statuses and undecodable replies are
    /// [`RetryClass::Backoff`] (the reference's first row); API codes follow [`classify_code`];
    /// credential errors are `Backoff` when a metadata fetch failed transiently, else fatal;
    /// configuration and request errors are fatal.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            Error::Api(api) => classify_code(&api.code),
            Error::Http { .. }
            | Error::Decode { .. }
            | Error::Timeout { .. }
            | Error::DeadlineReached { .. }
            | Error::Connect { .. }
            | Error::Transport { .. } => RetryClass::Backoff,
            Error::Credentials(c) if c.is_transient() => RetryClass::Backoff,
            Error::Credentials(_)
            | Error::BodyTooLarge { .. }
            | Error::Encode { .. }
            | Error::InvalidRequest { .. }
            | Error::InvalidEndpoint { .. }
            | Error::InvalidConfig(_)
            | Error::TooManyResults { .. } => RetryClass::Fatal,
        }
    }

    /// An authentication problem: an `AuthFailure` / `AuthFailure.*` code, or no usable
    /// credentials at all.
    pub fn is_auth(&self) -> bool {
        match self {
            Error::Api(api) => in_family(&api.code, "AuthFailure"),
            Error::Credentials(_) => true,
            _ => false,
        }
    }

    /// A short stable name of the variant, for logs: `api`, `http-status`, `decode`,
    /// `encode`, `invalid-request`, `body-too-large`, `timeout`, `deadline`, `connect`, `transport`,
    /// `credentials`, `invalid-endpoint`, `invalid-config`, `too-many-results`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Api(_) => "api",
            Error::Http { .. } => "http-status",
            Error::Decode { .. } => "decode",
            Error::Encode { .. } => "encode",
            Error::InvalidRequest { .. } => "invalid-request",
            Error::BodyTooLarge { .. } => "body-too-large",
            Error::Timeout { .. } => "timeout",
            Error::DeadlineReached { .. } => "deadline",
            Error::Connect { .. } => "connect",
            Error::Transport { .. } => "transport",
            Error::Credentials(_) => "credentials",
            Error::InvalidEndpoint { .. } => "invalid-endpoint",
            Error::InvalidConfig(_) => "invalid-config",
            Error::TooManyResults { .. } => "too-many-results",
        }
    }

    /// Throttling: a `RequestLimitExceeded` / `RequestLimitExceeded.*` or
    /// `LimitExceeded.ActionLimited` code, or HTTP 429. Retried with longer waits.
    pub fn is_throttled(&self) -> bool {
        match self {
            Error::Api(api) => {
                in_family(&api.code, "RequestLimitExceeded")
                    || api.code == "LimitExceeded.ActionLimited"
            }
            Error::Http { status, .. } => *status == 429,
            _ => false,
        }
    }

    /// The API error, when the service answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(api) => Some(api),
            _ => None,
        }
    }

    /// The API error code, when the service answered with one.
    pub fn code(&self) -> Option<&str> {
        self.api().map(|a| a.code.as_str())
    }
}

/// What a call cut by its deadline says.
fn deadline_text(after: Duration) -> String {
    if after.is_zero() {
        "not sent: the deadline had passed".to_owned()
    } else {
        format!(
            "no reply within the {} ms left before the deadline",
            after.as_millis()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str) -> Error {
        Error::Api(ApiError {
            code: code.into(),
            message: "m".into(),
            request_id: "r".into(),
            action: "A".into(),
        })
    }

    #[test]
    fn families_match_whole_segments_only() {
        assert!(in_family("RequestLimitExceeded", "RequestLimitExceeded"));
        assert!(in_family(
            "RequestLimitExceeded.UinLimitExceeded",
            "RequestLimitExceeded"
        ));
        assert!(!in_family("RequestLimitExceededX", "RequestLimitExceeded"));
    }

    #[test]
    fn api_display_names_code_message_and_request_id() {
        let text = api("AuthFailure.SignatureFailure").to_string();
        assert_eq!(
            text,
            "A failed: AuthFailure.SignatureFailure: m (RequestId r)"
        );
    }

    #[test]
    fn throttling_is_the_request_limit_family_and_http_429() {
        assert!(api("RequestLimitExceeded").is_throttled());
        assert!(api("RequestLimitExceeded.UinLimitExceeded").is_throttled());
        assert!(api("LimitExceeded.ActionLimited").is_throttled());
        assert!(!api("LimitExceeded").is_throttled());
        assert!(!api("ResourceInUse").is_throttled());
        let http = |status| Error::Http {
            action: "A".into(),
            status,
            body_excerpt: String::new(),
        };
        assert!(http(429).is_throttled());
        assert!(!http(502).is_throttled());
    }

    #[test]
    fn a_deadline_cut_says_how_long_was_left() {
        let cut = |ms| {
            Error::DeadlineReached {
                action: "A".into(),
                after: Duration::from_millis(ms),
            }
            .to_string()
        };
        assert_eq!(cut(0), "A: not sent: the deadline had passed");
        assert_eq!(
            cut(300),
            "A: no reply within the 300 ms left before the deadline"
        );
    }

    #[test]
    fn is_auth_covers_auth_failures_and_missing_credentials() {
        assert!(api("AuthFailure").is_auth());
        assert!(api("AuthFailure.SecretIdNotFound").is_auth());
        assert!(!api("UnauthorizedOperation").is_auth());
        assert!(!api("AuthFailureX").is_auth());
    }
}
