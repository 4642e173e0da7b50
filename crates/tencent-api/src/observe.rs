//! A hook told about every API call a [`Client`](crate::client::Client) makes: the action, how
//! it ended and how long it took (credentials, signing and the exchange). For metrics; it must
//! be quick and must not call the API itself.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::error::Error;

/// How one call ended, for an observer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// The service answered with a `Response` that carried no error.
    Ok,
    /// The service answered with an error envelope carrying this code.
    Api(&'a str),
    /// The call failed before or without an error envelope (transport, timeout, HTTP status,
    /// decoding, credentials, deadline): a short kind such as `timeout`.
    Failed(&'static str),
}

impl Outcome<'_> {
    /// The word metrics use: `ok`, the API error code, or the failure kind.
    pub fn code(&self) -> &str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Api(code) => code,
            Outcome::Failed(kind) => kind,
        }
    }
}

/// What an observer is called with.
pub type ObserveFn = dyn Fn(&str, Outcome<'_>, Duration) + Send + Sync;

/// An observer, set with [`Client::with_observer`](crate::client::Client::with_observer).
#[derive(Clone)]
pub struct Observer(pub Arc<ObserveFn>);

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observer")
    }
}

impl Observer {
    /// Tells the observer how `action` ended after `took`.
    pub(crate) fn call(&self, action: &str, result: Result<(), &Error>, took: Duration) {
        let outcome = match result {
            Ok(()) => Outcome::Ok,
            Err(e) => match e.code() {
                Some(code) => Outcome::Api(code),
                None => Outcome::Failed(failure_kind(e)),
            },
        };
        (self.0)(action, outcome, took);
    }
}

fn failure_kind(e: &Error) -> &'static str {
    match e {
        Error::Timeout { .. } => "timeout",
        Error::DeadlineReached { .. } => "deadline",
        Error::Http { .. } => "http",
        Error::Transport { .. } => "transport",
        Error::Connect { .. } => "connect",
        Error::Decode { .. } => "decode",
        Error::Credentials(_) => "credentials",
        _ => "error",
    }
}

static DEFAULT: OnceLock<Observer> = OnceLock::new();

/// Sets the observer every [`Client`](crate::client::Client) built from now on starts with, for
/// the life of the process; only the first call has an effect.
pub fn set_default(observer: Observer) {
    let _ = DEFAULT.set(observer);
}

/// The observer set by [`set_default`], if any.
pub fn default_observer() -> Option<Observer> {
    DEFAULT.get().cloned()
}
