//! tcvip: keepalived VIP failover for Tencent Cloud VPC.
//!
//! The library behind the four binaries (`notify-action`, `vip-migrate`, `vip-query`,
//! `check-self`) and the operator's `tcvip` ([`operator`]), which stay thin: configuration, identity discovery, the NIC probe, logging and
//! the exit-code table live here.
pub mod check;
pub mod cli;
pub mod cloud;
pub mod config;
pub mod context;
pub mod core;
pub mod discovery;
pub mod exit;
pub mod fifo;
pub mod handoff;
pub mod ifaddrs;
pub mod keepalived;
pub mod log;
pub mod metrics;
pub mod migrate;
pub mod nic;
pub mod notify;
pub mod notify_args;
pub mod operator;
pub mod proc;
pub mod query;
pub mod signal;
pub mod vip_guard;
pub mod vips;
