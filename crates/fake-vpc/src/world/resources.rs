//! The simulated account's resources: VPCs, subnets, instances, ENIs and their private IPs,
//! EIPs, HAVIPs, temporary credentials, and the asynchronous tasks and changes.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::{Instant, SystemTime};

use serde::Serialize;

use crate::net::{Cidr, Mac};

#[derive(Debug, Clone, Serialize)]
pub struct Vpc {
    pub id: String,
    pub name: String,
    pub cidr: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Subnet {
    pub id: String,
    pub name: String,
    pub vpc: String,
    #[serde(serialize_with = "ser_display")]
    pub cidr: Cidr,
    pub zone: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    pub id: String,
    pub name: String,
    pub zone: String,
    pub role: Option<String>,
    pub vpc: String,
    pub uuid: String,
}

/// One elastic network interface and the private IPs it holds (primary first).
#[derive(Debug, Clone, Serialize)]
pub struct Eni {
    pub id: String,
    pub name: String,
    #[serde(serialize_with = "ser_display")]
    pub mac: Mac,
    pub subnet: String,
    pub vpc: String,
    pub zone: String,
    pub instance: Option<String>,
    pub primary: bool,
    pub ips: Vec<PrivateIp>,
}

impl Eni {
    /// The ENI's primary private IP.
    pub fn primary_ip(&self) -> Option<Ipv4Addr> {
        self.ips.iter().find(|p| p.primary).map(|p| p.ip)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PrivateIp {
    pub ip: Ipv4Addr,
    pub primary: bool,
    pub state: IpState,
}

/// `PrivateIpAddressSpecification.State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum IpState {
    Available,
    /// Being assigned; listed on the ENI already.
    Pending,
    /// Being migrated away; still on the source ENI.
    Migrating,
    /// Being unassigned; still listed.
    Deleting,
}

impl IpState {
    pub fn as_str(&self) -> &'static str {
        match self {
            IpState::Available => "AVAILABLE",
            IpState::Pending => "PENDING",
            IpState::Migrating => "MIGRATING",
            IpState::Deleting => "DELETING",
        }
    }
}

/// `AddressStatus` of an EIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EipStatus {
    /// Just allocated (AllocateAddresses), not usable yet.
    Creating,
    Unbind,
    Binding,
    Bind,
    Unbinding,
}

impl EipStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            EipStatus::Creating => "CREATING",
            EipStatus::Unbind => "UNBIND",
            EipStatus::Binding => "BINDING",
            EipStatus::Bind => "BIND",
            EipStatus::Unbinding => "UNBINDING",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Eip {
    pub id: String,
    pub name: String,
    pub ip: Ipv4Addr,
    pub status: EipStatus,
    pub eni: Option<String>,
    pub private_ip: Option<Ipv4Addr>,
    /// The HAVIP the EIP is bound to (HaVipAssociateAddressIp); then `eni` is `None` and
    /// `private_ip` is the HAVIP's address.
    pub havip: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HaVip {
    pub id: String,
    pub name: String,
    pub vip: Ipv4Addr,
    pub vpc: String,
    pub subnet: String,
    pub eni: Option<String>,
    pub address_ip: Option<Ipv4Addr>,
    /// When the binding last changed (unix seconds; `FlushedTime`), `None` never.
    pub flushed: Option<i64>,
}

/// What the VPC made of one gratuitous ARP (GARP) it saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GarpVerdict {
    /// For a HAVIP's address from an ENI of its VPC: binds after the learning delay (unless a
    /// later GARP for the same HAVIP supersedes it first).
    Learned,
    /// Seen but dropped by the `ignore_garps` fault.
    Ignored,
    /// For a HAVIP's address, but from a MAC no ENI of the HAVIP's VPC has.
    UnknownMac,
    /// For an address that is no HAVIP's (e.g. a node's own or a secondary IP).
    NotAHavip,
    /// Was `Learned`, but a later GARP for the same HAVIP came before the delay elapsed.
    Superseded,
}

impl GarpVerdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            GarpVerdict::Learned => "learned",
            GarpVerdict::Ignored => "ignored",
            GarpVerdict::UnknownMac => "unknown-mac",
            GarpVerdict::NotAHavip => "not-a-havip",
            GarpVerdict::Superseded => "superseded",
        }
    }
}

/// One GARP seen (control endpoint or `--garp-listen`), as `/_control/state` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct GarpRecord {
    /// Sequence number, from 1.
    pub seq: u64,
    /// When it was seen, unix milliseconds.
    pub time: u64,
    pub ip: Ipv4Addr,
    /// Lower-case, as on the wire.
    pub mac: String,
    /// The ENI with that MAC (in the HAVIP's VPC for a HAVIP address).
    pub eni: Option<String>,
    /// The HAVIP whose address it is.
    pub havip: Option<String>,
    /// Where it came from: `control` or the interface name.
    pub via: String,
    pub verdict: GarpVerdict,
}

impl GarpRecord {
    /// The stdout log line: `garp ip=... mac=... eni=...|none verdict=...`.
    pub fn log_line(&self) -> String {
        format!(
            "garp ip={} mac={} eni={} verdict={}",
            self.ip,
            self.mac,
            self.eni.as_deref().unwrap_or("none"),
            self.verdict.as_str()
        )
    }
}

/// Temporary credentials issued through the metadata service. Redacted in `Debug`.
#[derive(Clone)]
pub struct TempCredential {
    pub secret_id: String,
    pub secret_key: String,
    pub token: String,
    pub issued: SystemTime,
    pub expires: SystemTime,
    pub role: String,
    pub instance: String,
}

impl fmt::Debug for TempCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TempCredential")
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"<redacted>")
            .field("token", &"<redacted>")
            .field("expires", &self.expires)
            .field("role", &self.role)
            .field("instance", &self.instance)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TaskStatus {
    Running,
    Success,
    Failed,
}

impl TaskStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            TaskStatus::Running => "RUNNING",
            TaskStatus::Success => "SUCCESS",
            TaskStatus::Failed => "FAILED",
        }
    }
}

/// A task polled with DescribeVpcTaskResult, keyed by the RequestId of the call that made it.
#[derive(Debug, Clone, Serialize)]
pub struct VpcTask {
    pub id: String,
    pub action: String,
    pub status: TaskStatus,
    pub resource: String,
    pub output: String,
}

/// A task polled with DescribeTaskResult (EIP actions), keyed by an integer.
#[derive(Debug, Clone, Serialize)]
pub struct EipTask {
    pub id: u64,
    pub status: TaskStatus,
}

/// What a pending operation changes when it lands.
#[derive(Debug, Clone, Serialize)]
pub enum Change {
    Migrate {
        ip: Ipv4Addr,
        from: String,
        to: String,
    },
    Assign {
        ip: Ipv4Addr,
        eni: String,
    },
    Unassign {
        ip: Ipv4Addr,
        eni: String,
    },
    EipBind {
        eip: String,
    },
    EipUnbind {
        eip: String,
    },
    /// A new EIP (AllocateAddresses) becomes `UNBIND`.
    EipCreate {
        eip: String,
    },
    /// HaVipAssociateAddressIp: the EIP (`BINDING` meanwhile) becomes the HAVIP's `AddressIp`.
    HaVipEipBind {
        havip: String,
        eip: String,
    },
    /// HaVipDisassociateAddressIp: the EIP (`UNBINDING` meanwhile) leaves the HAVIP.
    HaVipEipUnbind {
        havip: String,
        eip: String,
    },
    /// A learned GARP: the HAVIP now routes to `eni` (and its instance).
    HaVipBind {
        havip: String,
        eni: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub enum TaskRef {
    Vpc(String),
    Eip(u64),
    /// A HAVIP binding learned from the GARP with this sequence number (no task to poll).
    Garp(u64),
}

/// An accepted asynchronous write that has not landed yet.
#[derive(Debug, Clone)]
pub struct Pending {
    pub changes: Vec<Change>,
    pub due: Instant,
    pub fail: bool,
    pub task: TaskRef,
}

/// An IP that changed holder: what the data-plane hook is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Landing {
    pub ip: Ipv4Addr,
    /// The new holder; `None` when the IP was released.
    pub eni: Option<String>,
    /// The primary IP of the new holder's instance, when it is attached.
    pub instance_primary_ip: Option<Ipv4Addr>,
}

fn ser_display<T: fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}
