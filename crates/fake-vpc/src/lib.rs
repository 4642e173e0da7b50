//! A faithful simulator of the Tencent Cloud VPC API (2017-03-12) and the CVM metadata
//! service, for tests (in-process, on `127.0.0.1:0`) and rehearsals (the `fake-vpc` binary in
//! a network namespace).
//!
//! It behaves like the real service where failover depends on it, awkward parts included:
//! TC3-HMAC-SHA256 verified exactly (with the signer of `tencent-api`), HTTP-200 error
//! envelopes, asynchronous moves that read `MIGRATING` until they land after a configurable
//! lag, tasks polled with DescribeVpcTaskResult, the `address-ip` suffix-match quirk, per-action
//! rate limits, temporary role credentials that expire. It refuses to be a general cloud: one
//! region, the actions listed in [`api::ACTIONS`], no persistence, no TLS.
//!
//! # Design
//! - **HTTP**: a small hand-written HTTP/1.1 server on std `TcpListener` ([`http`]): a thread
//!   per connection, keep-alive, `Content-Length` bodies, bounded sizes, a deadline on every
//!   read, so that faults are fully controllable (drop the connection, garbage, delay, HTTP
//!   500). One listener serves the API (`POST /`), the metadata service
//!   (`GET /latest/meta-data/...`) and the control endpoint (`/_control/...`, see [`control`]).
//!   Dropping the [`FakeVpcHandle`] stops the server, closes connections and joins the accept
//!   loop.
//! - **Which instance asks the metadata service**: an explicit path prefix
//!   `GET /<instance-id>/latest/meta-data/...` ([`FakeVpcHandle::metadata_url`], for in-process
//!   tests where every caller is 127.0.0.1), else the caller's source address matched against
//!   each instance's primary IP (the netns rehearsal: nodes 198.18.1.11 / .12 connect to the
//!   VPC namespace), else the topology's `metadata_default_instance`; an unknown caller gets
//!   404.
//! - **Landings**: asynchronous writes become pending operations due at `now + lag`; a ticker
//!   thread (every 5 ms) and every request land what is due, so the on-change hook fires on
//!   time even with no traffic.
//! - **Errors chosen where the reference leaves a choice**: Migrate from an ENI that does not
//!   hold the IP → `UnauthorizedOperation.AttachmentNotFound`; ENIs in different subnets →
//!   `UnsupportedOperation`; primary IP → `UnsupportedOperation.PrimaryIp`; `Limit` above 100 →
//!   `InvalidParameterValue.Range`; more than 100 ids → `InvalidParameterValue.LimitExceeded`;
//!   unknown task → `ResourceNotFound`; HAVIP EIP already bound → `UnsupportedOperation.BindEIP`,
//!   none to unbind → `UnsupportedOperation.UnbindEIP`; ENI/ HAVIP actions on a busy IP →
//!   `UnsupportedOperation.MutexOperationTaskRunning`, EIP actions on a busy EIP or IP →
//!   `OperationDenied.MutexTaskRunning` (each action's documented code); a region other than
//!   the topology's → `UnsupportedRegion`; wrong JSON type → `InvalidParameterValue`; malformed
//!   id or IP → `InvalidParameterValue.Malformed`.
//! - **Data-plane hook** (`on_change`): argv (no shell) plus the IP, the new holder ENI
//!   (`none` when released) and that ENI's instance primary IP (`none` if detached); run on
//!   every landing (migrate, assign, unassign, a HAVIP binding learned from a GARP) in order,
//!   and once at start for every secondary IP and bound HAVIP so the data plane starts
//!   consistent.
//! - **HAVIPs** (`world/garp.rs`, [`garp`]): a gratuitous ARP (sender IP == target IP) for a
//!   HAVIP's address from the MAC of an ENI in its VPC binds the HAVIP to that ENI after
//!   [`Options::havip_learn`] (`--havip-learn-ms`, default 1000), as a pending change landed
//!   like the others; a later GARP for the same HAVIP from another ENI before then supersedes it
//!   (the last GARP wins; a repeat from the same ENI does not restart the delay). A changed binding sets `FlushedTime` and runs the hook. GARPs come from
//!   `POST /_control/garp` / [`FakeVpcHandle::garp`] or from [`Options::garp_listen`]
//!   interfaces (`--garp-listen IFACE`: an `AF_PACKET` socket per interface, root or
//!   `CAP_NET_RAW`, a thread each). Each one gets a verdict (`learned`, `ignored` by the
//!   `ignore_garps` fault, `unknown-mac`, `not-a-havip`, later `superseded`), is listed under
//!   `garps` in `/_control/state` and, in the binary, logged to stdout as
//!   `garp ip=IP mac=MAC eni=ENI|none verdict=V`. HaVipAssociateAddressIp /
//!   HaVipDisassociateAddressIp bind and unbind a HAVIP's EIP as DescribeVpcTaskResult tasks.
//! - **Records**: every API call (time, action, parameters, caller SecretId, outcome code,
//!   latency) in [`FakeVpcHandle::calls`] and, with `calls_log`, as JSON lines. Never secrets,
//!   never the Authorization header.

pub mod api;
mod api_error;
mod auth;
mod calls;
pub mod control;
mod deny;
mod faults;
pub mod garp;
mod hook;
pub mod http;
mod ids;
mod metadata;
pub mod net;
mod ratelimit;
mod server;
mod shared;
pub mod tls;
pub mod topology;
pub mod world;

pub use calls::{CallRecord, MetadataRecord};
pub use faults::{Fault, FaultSpec};
pub use hook::NONE as HOOK_NONE;
pub use server::{FakeVpc, FakeVpcHandle, Options, StartError};
pub use topology::{EipOnMigrate, Topology, TopologyError};
pub use world::{IpState, World};
