//! Signed access to the Tencent Cloud VPC API (2017-03-12).
//!
//! What it does:
//! - signs requests with TC3-HMAC-SHA256 exactly as the official SDKs do ([`sign`], pure);
//! - finds credentials: static, environment, profile file, CVM instance role, and the default
//!   chain over the last three ([`credentials`]);
//! - reads the CVM metadata service, never through a proxy ([`metadata`]);
//! - sends blocking, time-limited POST JSON calls and turns every failure into a typed
//!   [`Error`] with a [`RetryClass`] ([`client`], [`error`]); [`Client::until`] and
//!   [`metadata::MetadataClient::until`] bind every call (credential fetches included) to a
//!   deadline;
//! - offers typed VPC actions ([`vpc`]) and the one retry engine ([`retry::Retry`]): from a
//!   deadline, a failure's classification and a backoff policy it decides the next attempt or
//!   gives up, on an injectable clock.
//!
//! What it refuses to do: it knows nothing of keepalived or of which node should hold a VIP; it
//! never retries on its own (callers decide, using [`Error::retry_class`]); it never logs, and
//! no `Debug` or `Display` it produces contains a secret key, a token or an Authorization
//! header.

#[cfg(feature = "client")]
pub mod client;
pub mod clock;
#[cfg(feature = "client")]
pub mod credentials;
#[cfg(feature = "client")]
mod deadline;
#[cfg(feature = "client")]
pub mod endpoint;
#[cfg(feature = "client")]
pub mod error;
#[cfg(feature = "client")]
mod error_chain;
#[cfg(feature = "client")]
pub mod metadata;
#[cfg(feature = "client")]
pub mod observe;
#[cfg(feature = "client")]
pub mod raw_call;
#[cfg(feature = "client")]
pub mod retry;
pub mod sign;
#[cfg(feature = "client")]
pub mod vpc;

#[cfg(feature = "client")]
pub use client::{Client, ClientConfig};
pub use clock::{Clock, ManualClock, SystemClock};
#[cfg(feature = "client")]
pub use credentials::{CredentialError, CredentialProvider, Credentials};
#[cfg(feature = "client")]
pub use endpoint::{Endpoint, EndpointError};
#[cfg(feature = "client")]
pub use error::{ApiError, Error, RetryClass};
