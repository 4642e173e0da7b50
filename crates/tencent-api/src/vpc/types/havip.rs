//! HAVIPs: DescribeHaVips, HaVipAssociateAddressIp, HaVipDisassociateAddressIp.

use serde::{Deserialize, Serialize};

use super::super::de::{nd, u64_or_string};
use super::{Filter, RequestIdOnly, Tag};

// ---- DescribeHaVips -----------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeHaVipsRequest {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ha_vip_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeHaVipsResponse {
    #[serde(deserialize_with = "u64_or_string")]
    pub total_count: u64,
    #[serde(deserialize_with = "nd")]
    pub ha_vip_set: Vec<HaVip>,
    #[serde(deserialize_with = "nd")]
    pub request_id: String,
}

/// A high-availability virtual IP.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HaVip {
    #[serde(deserialize_with = "nd")]
    pub ha_vip_id: String,
    #[serde(deserialize_with = "nd")]
    pub ha_vip_name: String,
    #[serde(deserialize_with = "nd")]
    pub vip: String,
    #[serde(deserialize_with = "nd")]
    pub vpc_id: String,
    #[serde(deserialize_with = "nd")]
    pub subnet_id: String,
    /// The ENI the HAVIP is on now.
    #[serde(deserialize_with = "nd")]
    pub network_interface_id: String,
    #[serde(deserialize_with = "nd")]
    pub instance_id: String,
    /// Bound EIP address.
    #[serde(deserialize_with = "nd")]
    pub address_ip: String,
    /// `AVAILABLE` (bound) or `UNBIND` (the model's spelling; examples also show `UNBOUND`):
    /// see [`HaVip::is_bound`].
    #[serde(deserialize_with = "nd")]
    pub state: String,
    #[serde(deserialize_with = "nd")]
    pub created_time: String,
    #[serde(deserialize_with = "nd")]
    pub business: String,
    #[serde(deserialize_with = "nd")]
    pub ha_vip_association_set: Vec<HaVipAssociation>,
    #[serde(deserialize_with = "nd")]
    pub check_associate: bool,
    #[serde(deserialize_with = "nd")]
    pub cdc_id: String,
    /// Refreshed when a gratuitous ARP moves the HAVIP.
    #[serde(deserialize_with = "nd")]
    pub flushed_time: String,
    #[serde(deserialize_with = "nd")]
    pub tag_set: Vec<Tag>,
}

impl HaVip {
    /// Whether the HAVIP is bound to an ENI: a `NetworkInterfaceId`, and a state that is not an
    /// unbound one (`UNBIND` as the model spells it, `UNBOUND` as examples do, any case).
    pub fn is_bound(&self) -> bool {
        !self.network_interface_id.is_empty() && !is_unbound_state(&self.state)
    }
}

/// `UNBIND` or `UNBOUND`, in any case: the two spellings of an unbound HAVIP's state.
pub fn is_unbound_state(state: &str) -> bool {
    state.eq_ignore_ascii_case("UNBIND") || state.eq_ignore_ascii_case("UNBOUND")
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HaVipAssociation {
    #[serde(deserialize_with = "nd")]
    pub ha_vip_id: String,
    #[serde(deserialize_with = "nd")]
    pub instance_id: String,
    /// `CVM` or `ENI`.
    #[serde(deserialize_with = "nd")]
    pub instance_type: String,
}

// ---- HaVipAssociateAddressIp / HaVipDisassociateAddressIp --------------------------------

/// Binds an EIP (by its address, not its id) to a HAVIP that has none. Asynchronous: the
/// RequestId is polled with DescribeVpcTaskResult.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HaVipAssociateAddressIpRequest {
    pub ha_vip_id: String,
    pub address_ip: String,
}

pub type HaVipAssociateAddressIpResponse = RequestIdOnly;

/// Unbinds the EIP of a HAVIP. Asynchronous, like the association.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HaVipDisassociateAddressIpRequest {
    pub ha_vip_id: String,
}

pub type HaVipDisassociateAddressIpResponse = RequestIdOnly;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn both_spellings_of_unbound_are_unbound() {
        let mut h = HaVip {
            network_interface_id: "eni-1".into(),
            state: "AVAILABLE".into(),
            ..HaVip::default()
        };
        assert!(h.is_bound());
        for s in ["UNBIND", "UNBOUND", "unbound"] {
            h.state = s.into();
            assert!(!h.is_bound(), "{s}");
        }
        h.state = "AVAILABLE".into();
        h.network_interface_id.clear();
        assert!(!h.is_bound());
    }

    #[test]
    fn association_requests_name_the_havip_and_the_address() {
        let req = HaVipAssociateAddressIpRequest {
            ha_vip_id: "havip-1".into(),
            address_ip: "203.0.113.9".into(),
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            serde_json::json!({"HaVipId": "havip-1", "AddressIp": "203.0.113.9"})
        );
    }
}
