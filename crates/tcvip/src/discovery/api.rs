//! The ENI id, which the metadata service does not know: DescribeNetworkInterfaces filtered by
//! the instance, matched on the primary MAC.

use tencent_api::Client;
use tencent_api::vpc::{DescribeNetworkInterfacesRequest, Filter};

use super::identity::Known;
use super::{Discoverer, DiscoveryError, FactSource};
use crate::config::EniId;

/// At most this many ENIs are read for one instance (the service allows far fewer per CVM).
const MAX_ENIS: usize = 100;

impl Discoverer<'_> {
    /// The ENI attached to the instance whose MAC is the primary MAC.
    pub(super) fn eni_from_api(&self, k: &mut Known) -> Result<(), DiscoveryError> {
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
