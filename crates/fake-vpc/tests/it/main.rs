//! Integration tests of the simulator over loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
mod util;

mod auth;
mod binary;
mod eip;
mod eni;
mod faults;
mod garp_listen;
mod havip;
mod metadata;
mod records;
mod topology;
