//! tcvip's one integration-test binary. The binaries (the four keepalived runs, and the
//! operator's `tcvip`) run for real (`CARGO_BIN_EXE_*`) against an in-process fake-vpc on
//! loopback, one module per binary's contract; beside them the library's edges a user meets
//! (`config`, `discovery`, `log_targets`, `nic`). `util` is the harness, `netns` the one
//! namespace helper: a test that needs root or a tool fails loudly without it, never passes
//! silently.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod all_four;
mod check;
mod check_limits;
mod check_standby;
mod config;
mod config_files;
mod deadline;
mod discovery;
mod doctor;
mod doctor_wiring;
mod exit_codes;
mod fake_vpc_client;
mod fifo;
mod handoff;
mod havip;
mod havip_ops;
mod hostile;
mod hostile_cloud;
mod hostile_state;
mod log_targets;
mod metrics;
mod migrate;
mod migrate_faults;
mod migrate_flight;
mod netns;
mod nic;
mod notify;
mod operator;
mod query;
mod smoke;
mod tls;
mod util;
