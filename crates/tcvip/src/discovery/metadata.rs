//! The facts the CVM metadata service gives: the needed ones first, each failure naming the key
//! to set; the optional ones only from a service that answers quickly.

use std::cell::Cell;
use std::time::{Duration, Instant};

use tencent_api::metadata::{MetadataClient, MetadataError};

use super::identity::Known;
use super::{Discoverer, DiscoveryError, FactSource};

/// The optional facts (zone, subnet, primary IPv4) are read only from a metadata service that
/// answered the needed ones this fast, on average: a slow one is asked only what is needed.
const QUICK_READ: Duration = Duration::from_millis(250);

impl Discoverer<'_> {
    /// Fills what is missing from the metadata service. Required facts fail loudly, naming the
    /// key to set; optional ones (zone, subnet, primary IPv4) are read while the service is
    /// being asked anyway and answers quickly, and their failures are ignored. Every read ends
    /// by the discovery's deadline.
    pub(super) fn read_metadata(
        &self,
        md: &Reads,
        k: &mut Known,
        need_mac: bool,
        need_interface: bool,
    ) -> Result<(), DiscoveryError> {
        let src = FactSource::Metadata;
        if k.instance_id.is_none() {
            let v = get(md, "instance-id", "instance id", "node.instance_id")?;
            k.instance_id = Some((parse(&v, "instance id", "node.instance_id")?, src));
        }
        if k.region.is_none() {
            let v = get(md, "placement/region", "region", "cloud.region")?;
            k.region = Some((parse(&v, "region", "cloud.region")?, src));
        }
        if need_mac {
            let key = match (k.eni_id.is_none(), need_interface) {
                (true, true) => "node.eni_id and vip.interface",
                (true, false) => "node.eni_id",
                (false, true) => "vip.interface",
                (false, false) => "node.vpc_id",
            };
            let v = get(md, "mac", "primary MAC", key)?;
            k.mac = Some((parse(&v, "primary MAC", key)?, src));
        }
        let mac_path = |leaf: &str| {
            k.mac
                .as_ref()
                .map(|(m, _)| format!("network/interfaces/macs/{}/{leaf}", m.as_str()))
        };
        if k.vpc_id.is_none() {
            // need_mac is set whenever the VPC is unknown, so the MAC is known here.
            if let Some(path) = mac_path("vpc-id") {
                let v = get(md, &path, "VPC id", "node.vpc_id")?;
                k.vpc_id = Some((parse(&v, "VPC id", "node.vpc_id")?, src));
            }
        }
        // The optional facts are not worth asking a slow service for.
        if !md.is_quick() {
            return Ok(());
        }
        if k.subnet_id.is_none()
            && let Some(path) = mac_path("subnet-id")
        {
            k.subnet_id = md
                .get(&path)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .map(|v| (v, src));
        }
        if k.primary_ipv4.is_none() {
            k.primary_ipv4 = md
                .get("local-ipv4")
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .map(|v| (v, src));
        }
        if k.zone.is_none() {
            k.zone = md
                .get("placement/zone")
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty() && v.len() <= 64 && !v.contains(char::is_whitespace))
                .map(|v| (v, src));
        }
        Ok(())
    }
}

/// The metadata reads of one discovery, counted and timed so that a deadline passing says
/// how slow the service was.
pub(super) struct Reads {
    client: MetadataClient,
    started: Instant,
    count: Cell<u32>,
}

impl Reads {
    pub(super) fn new(client: MetadataClient) -> Self {
        Reads {
            client,
            started: Instant::now(),
            count: Cell::new(0),
        }
    }

    fn get(&self, path: &str) -> Result<String, MetadataError> {
        self.count.set(self.count.get().saturating_add(1));
        self.client.get(path)
    }

    /// Whether the reads so far took [`QUICK_READ`] or less each, on average.
    fn is_quick(&self) -> bool {
        let count = self.count.get().max(1);
        self.started.elapsed() <= QUICK_READ.saturating_mul(count)
    }
}

fn get(
    md: &Reads,
    path: &str,
    fact: &'static str,
    key: &'static str,
) -> Result<String, DiscoveryError> {
    md.get(path).map_err(|source| {
        if source.is_deadline() {
            DiscoveryError::MetadataTooSlow {
                fact,
                key,
                reads: md.count.get(),
                spent: md.started.elapsed(),
                source,
            }
        } else {
            DiscoveryError::Metadata { fact, key, source }
        }
    })
}

fn parse<T: std::str::FromStr<Err = String>>(
    v: &str,
    fact: &'static str,
    key: &'static str,
) -> Result<T, DiscoveryError> {
    v.trim()
        .parse()
        .map_err(|reason| DiscoveryError::BadMetadata { fact, key, reason })
}
