//! The binaries (the four keepalived runs, and the operator's `tcvip`), run for real
//! (`CARGO_BIN_EXE_*`) against an in-process fake-vpc on loopback. Each module is one binary's contract; `util` is the harness.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod all_four;
mod check;
mod doctor;
mod exit_codes;
mod hostile;
mod hostile_cloud;
mod migrate;
mod notify;
mod operator;
mod query;
mod smoke;
mod util;
