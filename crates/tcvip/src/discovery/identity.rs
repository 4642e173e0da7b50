//! The node's identity and the facts it is made of, each with where it came from.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::{DiscoveryError, MacAddr};
use crate::config::{EniId, InstanceId, Region, SubnetId, VipConfig, VpcId};

/// The node's identity in the cloud.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// CVM instance id.
    pub instance_id: InstanceId,
    /// Region, sent as `X-TC-Region`.
    pub region: Region,
    /// Availability zone, when the metadata service was asked.
    pub zone: Option<String>,
    /// The VPC of the primary ENI.
    pub vpc_id: VpcId,
    /// The subnet of the primary ENI, when known.
    pub subnet_id: Option<SubnetId>,
    /// The primary MAC, upper-case; `None` when configuration made it unnecessary.
    pub mac: Option<MacAddr>,
    /// The primary private IPv4, when the metadata service was asked.
    pub primary_ipv4: Option<Ipv4Addr>,
    /// The ENI the VIPs should be on.
    pub eni_id: EniId,
    /// The local interface whose MAC is `mac` (default for VIPs without `vip.interface`).
    /// Never cached: found afresh each time.
    #[serde(skip)]
    pub interface: Option<String>,
}

impl Identity {
    /// The interface a VIP belongs on: its `vip.interface`, else the discovered one.
    pub fn interface_for<'a>(&'a self, vip: &'a VipConfig) -> Option<&'a str> {
        vip.interface.as_deref().or(self.interface.as_deref())
    }
}

/// Where a fact came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactSource {
    /// The configuration file or a flag.
    Config,
    /// The identity cached in the state directory by an earlier run.
    Cache,
    /// The CVM metadata service, just now.
    Metadata,
    /// The VPC API (DescribeNetworkInterfaces), just now.
    Api,
    /// `/sys/class/net`, just now.
    Sysfs,
}

impl FactSource {
    /// `config`, `cache`, `metadata`, `api`, `sysfs`.
    pub fn as_str(self) -> &'static str {
        match self {
            FactSource::Config => "config",
            FactSource::Cache => "cache",
            FactSource::Metadata => "metadata",
            FactSource::Api => "api",
            FactSource::Sysfs => "sysfs",
        }
    }

    /// Learned in this run from outside (worth one log line).
    pub fn is_discovery(self) -> bool {
        matches!(
            self,
            FactSource::Metadata | FactSource::Api | FactSource::Sysfs
        )
    }
}

/// One fact and its source, for the caller's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fact {
    /// `instance_id`, `region`, `zone`, `vpc_id`, `subnet_id`, `mac`, `primary_ipv4`, `eni_id`,
    /// `interface`.
    pub name: &'static str,
    /// The value as text.
    pub value: String,
    /// Where it came from.
    pub source: FactSource,
}

/// The result of [`Discoverer::discover`](super::Discoverer::discover).
#[derive(Clone, Debug)]
pub struct Discovery {
    /// The identity.
    pub identity: Identity,
    /// Every known fact with its source, in a stable order.
    pub facts: Vec<Fact>,
    /// Problems that did not stop discovery (an unreadable cache, a cache that could not be
    /// written), for the log.
    pub warnings: Vec<String>,
}

impl Discovery {
    /// The facts learned from outside in this run: log each once.
    pub fn discovered(&self) -> impl Iterator<Item = &Fact> {
        self.facts.iter().filter(|f| f.source.is_discovery())
    }
}

pub(super) fn set<T>(slot: &mut Option<(T, FactSource)>, value: Option<T>, source: FactSource) {
    if slot.is_none()
        && let Some(v) = value
    {
        *slot = Some((v, source));
    }
}

/// Facts gathered so far, each with its source.
#[derive(Default)]
pub(super) struct Known {
    pub(super) instance_id: Option<(InstanceId, FactSource)>,
    pub(super) region: Option<(Region, FactSource)>,
    pub(super) zone: Option<(String, FactSource)>,
    pub(super) vpc_id: Option<(VpcId, FactSource)>,
    pub(super) subnet_id: Option<(SubnetId, FactSource)>,
    pub(super) mac: Option<(MacAddr, FactSource)>,
    pub(super) primary_ipv4: Option<(Ipv4Addr, FactSource)>,
    pub(super) eni_id: Option<(EniId, FactSource)>,
}

impl Known {
    pub(super) fn identity(&self, interface: Option<String>) -> Result<Identity, DiscoveryError> {
        let missing = |fact, key| DiscoveryError::BadMetadata {
            fact,
            key,
            reason: "not learned".into(),
        };
        Ok(Identity {
            instance_id: self
                .instance_id
                .clone()
                .ok_or_else(|| missing("instance id", "node.instance_id"))?
                .0,
            region: self
                .region
                .clone()
                .ok_or_else(|| missing("region", "cloud.region"))?
                .0,
            zone: self.zone.clone().map(|v| v.0),
            vpc_id: self
                .vpc_id
                .clone()
                .ok_or_else(|| missing("VPC id", "node.vpc_id"))?
                .0,
            subnet_id: self.subnet_id.clone().map(|v| v.0),
            mac: self.mac.clone().map(|v| v.0),
            primary_ipv4: self.primary_ipv4.map(|v| v.0),
            eni_id: self
                .eni_id
                .clone()
                .ok_or_else(|| missing("ENI id", "node.eni_id"))?
                .0,
            interface,
        })
    }

    pub(super) fn facts(&self, interface: Option<&(String, FactSource)>) -> Vec<Fact> {
        fn fact<T: ToString>(name: &'static str, v: &Option<(T, FactSource)>) -> Option<Fact> {
            v.as_ref().map(|(v, s)| Fact {
                name,
                value: v.to_string(),
                source: *s,
            })
        }
        [
            fact("instance_id", &self.instance_id),
            fact("region", &self.region),
            fact("zone", &self.zone),
            fact("vpc_id", &self.vpc_id),
            fact("subnet_id", &self.subnet_id),
            fact("mac", &self.mac),
            fact("primary_ipv4", &self.primary_ipv4),
            fact("eni_id", &self.eni_id),
            fact("interface", &interface.cloned()),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}
