//! tcvip's one integration-test binary. The binaries (the four keepalived runs, and the
//! operator's `tcvip`) run for real (`CARGO_BIN_EXE_*`) against an in-process fake-vpc on
//! loopback, one module per binary's contract; beside them the library's edges a user meets
//! (`config`, `discovery`, `log_targets`, `nic`). `util` is the harness, `netns` the one
//! namespace helper: a test that needs root or a tool fails loudly without it, never passes
//! silently.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod all_four;
mod check;
mod config;
mod deadline;
mod discovery;
mod doctor;
mod exit_codes;
mod fifo;
mod hostile;
mod hostile_cloud;
mod log_targets;
mod migrate;
mod netns;
mod nic;
mod notify;
mod operator;
mod query;
mod smoke;
mod util;
