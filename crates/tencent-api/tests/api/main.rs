//! Integration tests of tencent-api against in-process loopback stubs (127.0.0.1 only).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client;
mod credentials;
mod deadline;
mod metadata;
mod raw_call;
mod retry;
mod retry_engine;
mod signing;
mod stub;
mod vpc;
