//! The logic of the `call` example: one raw, signed call and its report.
//!
//! Kept in the library so that it is tested; `examples/call.rs` only parses arguments.

use std::sync::Arc;
use std::time::Duration;

use crate::client::{Client, ClientConfig};
use crate::credentials::CredentialProvider;
use crate::error::Error;

/// Exit code: the call succeeded.
pub const EXIT_OK: i32 = 0;
/// Exit code: the service answered with an API error.
pub const EXIT_API_ERROR: i32 = 1;
/// Exit code: bad arguments (body not a JSON object, unusable endpoint or region).
pub const EXIT_USAGE: i32 = 2;
/// Exit code: transport failure (connect, timeout, HTTP status, undecodable reply).
pub const EXIT_TRANSPORT: i32 = 3;
/// Exit code: no usable credentials.
pub const EXIT_CREDENTIALS: i32 = 4;

/// One raw call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawCall {
    pub action: String,
    pub region: String,
    /// Default `vpc.tencentcloudapi.com`.
    pub endpoint: Option<String>,
    /// Default `2017-03-12`.
    pub version: Option<String>,
    /// Default `vpc`.
    pub service: Option<String>,
    /// Request body, a JSON object; default `{}`.
    pub json: Option<String>,
    /// Total timeout; default the client's.
    pub timeout: Option<Duration>,
}

/// What to print and how to exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub exit_code: i32,
    /// The `Response` object, pretty-printed, on success.
    pub stdout: String,
    /// What went wrong, otherwise.
    pub stderr: String,
}

impl Outcome {
    fn fail(exit_code: i32, stderr: String) -> Self {
        Self {
            exit_code,
            stdout: String::new(),
            stderr,
        }
    }
}

/// Builds the client, makes the call, and reports.
pub fn run(call: &RawCall, credentials: Arc<dyn CredentialProvider>) -> Outcome {
    let body: serde_json::Value = match call.json.as_deref().map(serde_json::from_str) {
        None => serde_json::Value::Object(Default::default()),
        Some(Ok(v @ serde_json::Value::Object(_))) => v,
        Some(Ok(_)) => {
            return Outcome::fail(EXIT_USAGE, "--json must be a JSON object\n".into());
        }
        Some(Err(e)) => {
            return Outcome::fail(EXIT_USAGE, format!("--json is not valid JSON: {e}\n"));
        }
    };
    let mut config = ClientConfig::vpc(call.region.clone());
    if let Some(e) = &call.endpoint {
        config.endpoint = match e.parse() {
            Ok(endpoint) => endpoint,
            Err(e) => return Outcome::fail(EXIT_USAGE, format!("invalid endpoint: {e}\n")),
        };
    }
    if let Some(v) = &call.version {
        config.version = v.clone();
    }
    if let Some(s) = &call.service {
        config.service = s.clone();
    }
    if let Some(t) = call.timeout {
        config.timeout = t;
        config.connect_timeout = config.connect_timeout.min(t);
    }
    let client = match Client::new(config, credentials) {
        Ok(c) => c,
        Err(e) => return Outcome::fail(EXIT_USAGE, format!("{e}\n")),
    };
    match client.call_json(&call.action, &body) {
        Ok(response) => Outcome {
            exit_code: EXIT_OK,
            stdout: format!(
                "{}\n",
                serde_json::to_string_pretty(&response).unwrap_or_else(|_| response.to_string())
            ),
            stderr: String::new(),
        },
        Err(e) => report(&e),
    }
}

/// The stderr text and exit code for a failed call.
pub fn report(e: &Error) -> Outcome {
    match e {
        Error::Api(api) => Outcome::fail(
            EXIT_API_ERROR,
            format!(
                "API error from {}\n  code:       {}\n  message:    {}\n  request id: {}\n  retry:      {}\n",
                api.action,
                api.code,
                api.message,
                api.request_id,
                e.retry_class()
            ),
        ),
        Error::Credentials(_) => Outcome::fail(EXIT_CREDENTIALS, format!("{e}\n")),
        Error::InvalidEndpoint { .. }
        | Error::InvalidConfig(_)
        | Error::InvalidRequest { .. }
        | Error::Encode { .. } => Outcome::fail(EXIT_USAGE, format!("{e}\n")),
        _ => Outcome::fail(
            EXIT_TRANSPORT,
            format!("transport error ({}): {e}\n", e.kind()),
        ),
    }
}
