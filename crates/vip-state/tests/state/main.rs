//! Behaviour of the state directory that tcvip's binaries rely on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod caches;
mod locks;
mod records;
mod util;
