//! Who this node is in the cloud: instance id, region, VPC, subnet, primary MAC and IPv4, the ENI
//! that should hold the VIPs, and the local interface that carries that MAC.
//!
//! Facts come, in order of precedence, from the configuration (`[node]`, `cloud.region`,
//! `vip.interface`), from the identity cached in the state directory, from the CVM metadata
//! service, and — for the ENI id, which the metadata service does not know — from
//! DescribeNetworkInterfaces filtered by `attachment.instance-id` and matched on the MAC. The
//! local interface comes from `/sys/class/net/*/address`. A fact given by the configuration is
//! never looked up, so a fully configured node makes no call at all, and a warm cache makes none
//! either. With [`Discoverer::with_deadline`], every metadata read, credential fetch and API call
//! ends by that deadline, and a read the deadline cut names the slow metadata service.
//!
//! Nothing is logged here: [`Discovery::facts`] lists every fact with its source so the caller
//! logs those newly discovered, once. When a needed fact cannot be learned, the error names the
//! configuration key that would supply it.

mod mac;

use std::cell::Cell;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tencent_api::Client;
use tencent_api::credentials::CredentialProvider;
use tencent_api::metadata::{MetadataClient, MetadataError};
use tencent_api::vpc::{DescribeNetworkInterfacesRequest, Filter};
use vip_state::StateDir;

use crate::config::{Config, EniId, InstanceId, Region, SubnetId, VipConfig, VpcId};
use crate::nic::{self, NicError};

pub use mac::MacAddr;

/// Name of the identity cache in the state directory (`cache-identity.json`).
pub const IDENTITY_CACHE: &str = "identity";

/// The optional facts (zone, subnet, primary IPv4) are read only from a metadata service that
/// answered the needed ones this fast, on average: a slow one is asked only what is needed.
const QUICK_READ: Duration = Duration::from_millis(250);

/// At most this many ENIs are read for one instance (the service allows far fewer per CVM).
const MAX_ENIS: usize = 100;

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

/// The result of [`Discoverer::discover`].
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

/// Why the identity could not be established.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// A metadata read failed (unreachable, timed out, 404 …).
    #[error(
        "cannot learn the {fact} from the metadata service: {source}; set {key}, or check metadata.url"
    )]
    Metadata {
        /// The fact (`instance id`, `region`, …).
        fact: &'static str,
        /// The configuration key(s) that would make the read unnecessary.
        key: &'static str,
        /// The failure.
        source: MetadataError,
    },
    /// The deadline passed while the metadata service was being read: it was too slow.
    #[error(
        "the deadline passed while learning the {fact} from the metadata service, which was too slow ({reads} read(s) in {} ms): {source}; set {key} so that it is not read, or allow more time",
        spent.as_millis()
    )]
    MetadataTooSlow {
        /// The fact being read when the deadline came.
        fact: &'static str,
        /// The configuration key(s) that would make the read unnecessary.
        key: &'static str,
        /// Reads made in this discovery, the one cut included.
        reads: u32,
        /// Time spent reading.
        spent: Duration,
        /// The cut read.
        source: MetadataError,
    },
    /// The metadata service answered something unusable.
    #[error("the metadata service gave an unusable {fact}: {reason}; set {key}")]
    BadMetadata {
        /// The fact.
        fact: &'static str,
        /// The configuration key that would supply it.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// DescribeNetworkInterfaces failed.
    #[error(
        "cannot find the ENI of {instance} through DescribeNetworkInterfaces: {source}; set node.eni_id"
    )]
    Api {
        /// The instance.
        instance: InstanceId,
        /// The failure.
        source: tencent_api::Error,
    },
    /// No ENI of the instance carries the primary MAC.
    #[error(
        "no ENI attached to {instance} has MAC {mac} (attached: {}); set node.eni_id",
        if seen.is_empty() { "none".to_owned() } else { seen.join(", ") }
    )]
    NoMatchingEni {
        /// The instance.
        instance: InstanceId,
        /// The MAC looked for.
        mac: MacAddr,
        /// `eni-… (MAC)` of each ENI seen.
        seen: Vec<String>,
    },
    /// No local interface carries the primary MAC.
    #[error("no local network interface has MAC {mac}; set vip.interface")]
    NoInterface {
        /// The MAC.
        mac: MacAddr,
    },
    /// Reading `/sys/class/net` failed, or the MAC is on several interfaces.
    #[error(transparent)]
    Nic(#[from] NicError),
}

/// Discovers the identity of this node. Cheap to build; [`discover`](Self::discover) does the
/// work.
pub struct Discoverer<'a> {
    config: &'a Config,
    metadata: MetadataClient,
    state: Option<&'a StateDir>,
    sys_class_net: PathBuf,
    refresh: bool,
    credentials: Option<Arc<dyn CredentialProvider>>,
    deadline: Option<Instant>,
}

impl std::fmt::Debug for Discoverer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discoverer")
            .field("metadata", &self.metadata.base_url())
            .field("state", &self.state.map(StateDir::path))
            .field("sys_class_net", &self.sys_class_net)
            .field("refresh", &self.refresh)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl<'a> Discoverer<'a> {
    /// Uses `metadata.url`, `/sys/class/net`, the credentials `credentials.source` names, and
    /// no cache.
    pub fn new(config: &'a Config) -> Self {
        Discoverer {
            config,
            metadata: config.metadata_client(),
            state: None,
            sys_class_net: PathBuf::from(nic::SYS_CLASS_NET),
            refresh: false,
            credentials: None,
            deadline: None,
        }
    }

    /// Ends every metadata read, credential fetch and API call by `deadline`.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Reads and stores the identity cache in `state`.
    pub fn with_state_dir(mut self, state: &'a StateDir) -> Self {
        self.state = Some(state);
        self
    }

    /// Looks for interfaces under `path` instead of `/sys/class/net`.
    pub fn with_sys_class_net(mut self, path: impl Into<PathBuf>) -> Self {
        self.sys_class_net = path.into();
        self
    }

    /// Uses this metadata client instead of one for `metadata.url`.
    pub fn with_metadata(mut self, metadata: MetadataClient) -> Self {
        self.metadata = metadata;
        self
    }

    /// Signs DescribeNetworkInterfaces with these credentials instead of `credentials.source`.
    pub fn with_credentials(mut self, credentials: Arc<dyn CredentialProvider>) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Ignores the cached identity (it is still rewritten).
    pub fn refresh(mut self, refresh: bool) -> Self {
        self.refresh = refresh;
        self
    }

    /// Establishes the identity; see the module documentation for the order of sources.
    pub fn discover(&self) -> Result<Discovery, DiscoveryError> {
        let mut k = Known::default();
        let mut warnings = Vec::new();
        let node = &self.config.node;
        set(
            &mut k.instance_id,
            node.instance_id.clone(),
            FactSource::Config,
        );
        set(
            &mut k.region,
            self.config.cloud.region.clone(),
            FactSource::Config,
        );
        set(&mut k.vpc_id, node.vpc_id.clone(), FactSource::Config);
        set(&mut k.eni_id, node.eni_id.clone(), FactSource::Config);
        if !self.refresh {
            self.load_cache(&mut k, &mut warnings);
        }

        let need_interface = self.config.vips.iter().any(|v| v.interface.is_none());
        let need_mac =
            k.mac.is_none() && (k.eni_id.is_none() || k.vpc_id.is_none() || need_interface);
        let asked_metadata =
            k.instance_id.is_none() || k.region.is_none() || k.vpc_id.is_none() || need_mac;
        // When every cloud fact is known and the MAC is wanted only to name the local
        // interface, an unreachable metadata service leaves the interface unknown (check-self
        // says so) instead of stopping vip-migrate and vip-query, which need no interface.
        let only_for_interface = k.instance_id.is_some()
            && k.region.is_some()
            && k.vpc_id.is_some()
            && k.eni_id.is_some();
        if asked_metadata {
            let md = Reads::new(self.metadata.until_opt(self.deadline));
            match self.read_metadata(&md, &mut k, need_mac, need_interface) {
                Ok(()) => {}
                Err(e) if only_for_interface => warnings.push(e.to_string()),
                Err(e) => return Err(e),
            }
        }
        let mut asked_api = false;
        if k.eni_id.is_none() {
            self.eni_from_api(&mut k)?;
            asked_api = true;
        }

        let interface = if need_interface {
            // need_mac guaranteed a MAC (or an error) when an interface is needed.
            match &k.mac {
                // Only check-self needs the interface, and it says so when it is missing: the
                // cloud side (vip-migrate, vip-query) works without it.
                Some((mac, _)) => match nic::interface_by_mac(&self.sys_class_net, mac.as_str())? {
                    Some(name) => Some((name, FactSource::Sysfs)),
                    None => {
                        warnings.push(DiscoveryError::NoInterface { mac: mac.clone() }.to_string());
                        None
                    }
                },
                None => None,
            }
        } else {
            None
        };

        let identity = k.identity(interface.as_ref().map(|(n, _)| n.clone()))?;
        if (asked_metadata || asked_api)
            && let Some(state) = self.state
            && let Err(e) = state.write_cache(IDENTITY_CACHE, &identity)
        {
            warnings.push(format!("cannot cache the node identity: {e}"));
        }
        let facts = k.facts(interface.as_ref());
        Ok(Discovery {
            identity,
            facts,
            warnings,
        })
    }

    fn load_cache(&self, k: &mut Known, warnings: &mut Vec<String>) {
        let Some(state) = self.state else { return };
        let loaded = state.read_cache::<Identity>(IDENTITY_CACHE);
        if let Some(w) = loaded.warning {
            warnings.push(format!("ignoring the cached node identity: {w}"));
        }
        let Some(cached) = loaded.value else { return };
        let c = cached.value;
        // A cache written for another instance (a cloned disk) is worthless.
        if k.instance_id
            .as_ref()
            .is_some_and(|(id, _)| *id != c.instance_id)
        {
            warnings.push(format!(
                "ignoring the cached node identity: it is for {}, but node.instance_id is {}",
                c.instance_id,
                k.instance_id.as_ref().map_or("", |(id, _)| id.as_str())
            ));
            return;
        }
        let src = FactSource::Cache;
        set(&mut k.instance_id, Some(c.instance_id), src);
        set(&mut k.region, Some(c.region), src);
        set(&mut k.zone, c.zone, src);
        set(&mut k.vpc_id, Some(c.vpc_id), src);
        set(&mut k.subnet_id, c.subnet_id, src);
        set(&mut k.mac, c.mac, src);
        set(&mut k.primary_ipv4, c.primary_ipv4, src);
        set(&mut k.eni_id, Some(c.eni_id), src);
    }

    /// Fills what is missing from the metadata service. Required facts fail loudly, naming the
    /// key to set; optional ones (zone, subnet, primary IPv4) are read while the service is
    /// being asked anyway and answers quickly, and their failures are ignored. Every read ends
    /// by the discovery's deadline.
    fn read_metadata(
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

    /// The ENI attached to the instance whose MAC is the primary MAC.
    fn eni_from_api(&self, k: &mut Known) -> Result<(), DiscoveryError> {
        let (Some((instance, _)), Some((region, _)), Some((mac, _))) =
            (&k.instance_id, &k.region, &k.mac)
        else {
            // read_metadata filled all three or failed; reaching here means a logic error,
            // reported rather than panicking.
            return Err(DiscoveryError::BadMetadata {
                fact: "ENI",
                key: "node.eni_id",
                reason: "the instance id, region or MAC needed to look it up is unknown".into(),
            });
        };
        let api_err = |source| DiscoveryError::Api {
            instance: instance.clone(),
            source,
        };
        let creds = self
            .credentials
            .clone()
            .unwrap_or_else(|| self.config.credential_provider());
        let mut client = Client::new(self.config.client_config(region), creds).map_err(api_err)?;
        if let Some(deadline) = self.deadline {
            client = client.until(deadline);
        }
        let mut filters = vec![Filter::one("attachment.instance-id", instance.as_str())];
        if let Some((vpc, _)) = &k.vpc_id {
            filters.push(Filter::one("vpc-id", vpc.as_str()));
        }
        let enis = client
            .describe_all_network_interfaces(
                &DescribeNetworkInterfacesRequest::by_filters(filters),
                MAX_ENIS,
            )
            .map_err(api_err)?;
        let Some(eni) = enis.iter().find(|e| mac.matches(&e.mac_address)) else {
            return Err(DiscoveryError::NoMatchingEni {
                instance: instance.clone(),
                mac: mac.clone(),
                seen: enis
                    .iter()
                    .map(|e| format!("{} ({})", e.network_interface_id, e.mac_address))
                    .collect(),
            });
        };
        let id: EniId =
            eni.network_interface_id
                .parse()
                .map_err(|reason| DiscoveryError::BadMetadata {
                    fact: "ENI id from DescribeNetworkInterfaces",
                    key: "node.eni_id",
                    reason,
                })?;
        k.eni_id = Some((id, FactSource::Api));
        if k.subnet_id.is_none() {
            k.subnet_id = eni.subnet_id.parse().ok().map(|s| (s, FactSource::Api));
        }
        if k.vpc_id.is_none() {
            k.vpc_id = eni.vpc_id.parse().ok().map(|v| (v, FactSource::Api));
        }
        Ok(())
    }
}

/// The metadata reads of one discovery, counted and timed so that a deadline passing says
/// how slow the service was.
struct Reads {
    client: MetadataClient,
    started: Instant,
    count: Cell<u32>,
}

impl Reads {
    fn new(client: MetadataClient) -> Self {
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

fn set<T>(slot: &mut Option<(T, FactSource)>, value: Option<T>, source: FactSource) {
    if slot.is_none()
        && let Some(v) = value
    {
        *slot = Some((v, source));
    }
}

/// Facts gathered so far, each with its source.
#[derive(Default)]
struct Known {
    instance_id: Option<(InstanceId, FactSource)>,
    region: Option<(Region, FactSource)>,
    zone: Option<(String, FactSource)>,
    vpc_id: Option<(VpcId, FactSource)>,
    subnet_id: Option<(SubnetId, FactSource)>,
    mac: Option<(MacAddr, FactSource)>,
    primary_ipv4: Option<(Ipv4Addr, FactSource)>,
    eni_id: Option<(EniId, FactSource)>,
}

impl Known {
    fn identity(&self, interface: Option<String>) -> Result<Identity, DiscoveryError> {
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

    fn facts(&self, interface: Option<&(String, FactSource)>) -> Vec<Fact> {
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
