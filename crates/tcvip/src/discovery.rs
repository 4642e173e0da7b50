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

mod api;
mod error;
mod identity;
mod mac;
mod metadata;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tencent_api::credentials::CredentialProvider;
use tencent_api::metadata::MetadataClient;
use vip_state::StateDir;

use crate::config::Config;
use crate::nic;

pub use error::DiscoveryError;
pub use identity::{Discovery, Fact, FactSource, Identity};
pub use mac::MacAddr;

use identity::{Known, set};
use metadata::Reads;

/// Name of the identity cache in the state directory (`cache-identity.json`).
pub const IDENTITY_CACHE: &str = "identity";

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
}
