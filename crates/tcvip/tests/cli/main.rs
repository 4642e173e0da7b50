//! The four binaries, run for real (`CARGO_BIN_EXE_*`) against an in-process fake-vpc on
//! loopback. Each module is one binary's contract; `util` is the harness.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod all_four;
mod check;
mod hostile;
mod migrate;
mod notify;
mod query;
mod smoke;
mod util;
