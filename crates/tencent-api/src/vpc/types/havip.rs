//! HAVIPs: DescribeHaVips.

use serde::{Deserialize, Serialize};

use super::super::de::{nd, u64_or_string};
use super::{Filter, Tag};

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
    /// `AVAILABLE` or `UNBIND`.
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
