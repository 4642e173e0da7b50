//! ENI private IPs: describe, migrate, assign, unassign, and the VPC task a move starts.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::super::de::{nd, u64_or_string};
use super::{Filter, RequestIdOnly, Tag, TaskStatus};

// ---- MigratePrivateIpAddress ------------------------------------------------------------

/// Moves a secondary private IP between two ENIs of the same subnet. Asynchronous: poll
/// DescribeVpcTaskResult with the returned RequestId.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MigratePrivateIpAddressRequest {
    /// The ENI that holds the IP now.
    pub source_network_interface_id: String,
    /// The ENI to move it to.
    pub destination_network_interface_id: String,
    pub private_ip_address: Ipv4Addr,
}

/// Only the RequestId, which is also the task id for DescribeVpcTaskResult.
pub type MigratePrivateIpAddressResponse = RequestIdOnly;

// ---- DescribeVpcTaskResult --------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeVpcTaskResultRequest {
    /// The RequestId returned by the asynchronous call.
    pub task_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeVpcTaskResultResponse {
    #[serde(deserialize_with = "nd")]
    pub status: TaskStatus,
    #[serde(deserialize_with = "nd")]
    pub output: String,
    /// Per-resource results, only for batch tasks.
    #[serde(deserialize_with = "nd")]
    pub result: Vec<VpcTaskResultDetail>,
    #[serde(deserialize_with = "nd")]
    pub request_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VpcTaskResultDetail {
    #[serde(deserialize_with = "nd")]
    pub resource_id: String,
    #[serde(deserialize_with = "nd")]
    pub status: TaskStatus,
}

// ---- DescribeNetworkInterfaces ----------------------------------------------------------

/// Ids or filters (never both), with paging. Build with [`by_ids`](Self::by_ids) or
/// [`by_filters`](Self::by_filters).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeNetworkInterfacesRequest {
    /// At most 100.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub network_interface_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Service default 20, at most 100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

impl DescribeNetworkInterfacesRequest {
    /// These ENIs.
    pub fn by_ids<I: IntoIterator<Item = S>, S: Into<String>>(ids: I) -> Self {
        Self {
            network_interface_ids: ids.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// ENIs matching all `filters`.
    pub fn by_filters(filters: Vec<Filter>) -> Self {
        Self {
            filters,
            ..Self::default()
        }
    }

    /// Who holds `ip` in `vpc_id`: `vpc-id` + `address-ip` + `ip-exact-match=TRUE` (a single
    /// `address-ip` is otherwise a suffix match). Still compare the addresses yourself.
    pub fn holder_of(vpc_id: impl Into<String>, ip: Ipv4Addr) -> Self {
        Self::by_filters(vec![
            Filter::one("vpc-id", vpc_id),
            Filter::one("address-ip", ip.to_string()),
            Filter::one("ip-exact-match", "TRUE"),
        ])
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeNetworkInterfacesResponse {
    #[serde(deserialize_with = "u64_or_string")]
    pub total_count: u64,
    #[serde(deserialize_with = "nd")]
    pub network_interface_set: Vec<NetworkInterface>,
    #[serde(deserialize_with = "nd")]
    pub request_id: String,
}

/// An elastic network interface (ENI).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkInterface {
    #[serde(deserialize_with = "nd")]
    pub network_interface_id: String,
    #[serde(deserialize_with = "nd")]
    pub network_interface_name: String,
    #[serde(deserialize_with = "nd")]
    pub network_interface_description: String,
    #[serde(deserialize_with = "nd")]
    pub subnet_id: String,
    #[serde(deserialize_with = "nd")]
    pub vpc_id: String,
    #[serde(deserialize_with = "nd")]
    pub group_set: Vec<String>,
    /// The instance's primary ENI.
    #[serde(deserialize_with = "nd")]
    pub primary: bool,
    /// Upper-case in the service's examples; compare case-insensitively.
    #[serde(deserialize_with = "nd")]
    pub mac_address: String,
    /// `PENDING`, `AVAILABLE`, `ATTACHING`, `DETACHING`, `DELETING`.
    #[serde(deserialize_with = "nd")]
    pub state: String,
    /// Like `State`, adding `INUSE`.
    #[serde(deserialize_with = "nd")]
    pub network_interface_state: String,
    #[serde(deserialize_with = "nd")]
    pub private_ip_address_set: Vec<PrivateIpAddressSpecification>,
    /// `None` when the ENI is not attached.
    pub attachment: Option<NetworkInterfaceAttachment>,
    #[serde(deserialize_with = "nd")]
    pub zone: String,
    #[serde(deserialize_with = "nd")]
    pub created_time: String,
    #[serde(deserialize_with = "nd")]
    pub tag_set: Vec<Tag>,
    #[serde(deserialize_with = "nd")]
    pub business: String,
    #[serde(deserialize_with = "nd")]
    pub cdc_id: String,
}

impl NetworkInterface {
    /// The entry for `ip` in `PrivateIpAddressSet`, compared as addresses.
    pub fn private_ip(&self, ip: Ipv4Addr) -> Option<&PrivateIpAddressSpecification> {
        self.private_ip_address_set
            .iter()
            .find(|p| p.ipv4() == Some(ip))
    }

    /// The attached instance id, if attached.
    pub fn instance_id(&self) -> Option<&str> {
        self.attachment
            .as_ref()
            .map(|a| a.instance_id.as_str())
            .filter(|s| !s.is_empty())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkInterfaceAttachment {
    #[serde(deserialize_with = "nd")]
    pub instance_id: String,
    #[serde(deserialize_with = "u64_or_string")]
    pub device_index: u64,
    #[serde(deserialize_with = "nd")]
    pub instance_account_id: String,
    #[serde(deserialize_with = "nd")]
    pub attach_time: String,
}

/// A private IP of an ENI, as described by the service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PrivateIpAddressSpecification {
    #[serde(deserialize_with = "nd")]
    pub private_ip_address: String,
    #[serde(deserialize_with = "nd")]
    pub primary: bool,
    #[serde(deserialize_with = "nd")]
    pub public_ip_address: String,
    /// EIP id bound to this IP, if any.
    #[serde(deserialize_with = "nd")]
    pub address_id: String,
    #[serde(deserialize_with = "nd")]
    pub description: String,
    #[serde(deserialize_with = "nd")]
    pub is_wan_ip_blocked: bool,
    /// `PENDING`, `MIGRATING`, `DELETING`, `AVAILABLE`.
    #[serde(deserialize_with = "nd")]
    pub state: String,
    #[serde(deserialize_with = "nd")]
    pub qos_level: String,
}

impl PrivateIpAddressSpecification {
    /// The address parsed, when it is an IPv4 address.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        self.private_ip_address.trim().parse().ok()
    }
}

// ---- AssignPrivateIpAddresses / UnassignPrivateIpAddresses --------------------------------

/// A private IP named in a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PrivateIpAddressInput {
    pub private_ip_address: Ipv4Addr,
}

impl From<Ipv4Addr> for PrivateIpAddressInput {
    fn from(private_ip_address: Ipv4Addr) -> Self {
        Self { private_ip_address }
    }
}

/// Adds secondary private IPs to an ENI. Asynchronous (DescribeVpcTaskResult).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AssignPrivateIpAddressesRequest {
    pub network_interface_id: String,
    /// At most 10; one of this and `SecondaryPrivateIpAddressCount` is required.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub private_ip_addresses: Vec<PrivateIpAddressInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary_private_ip_address_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos_level: Option<String>,
    /// Idempotency token, at most 64 ASCII characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AssignPrivateIpAddressesResponse {
    #[serde(deserialize_with = "nd")]
    pub private_ip_address_set: Vec<PrivateIpAddressSpecification>,
    #[serde(deserialize_with = "nd")]
    pub request_id: String,
}

/// Returns secondary private IPs of an ENI (any EIP on them is unbound). Asynchronous.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UnassignPrivateIpAddressesRequest {
    pub network_interface_id: String,
    /// At most 10.
    pub private_ip_addresses: Vec<PrivateIpAddressInput>,
    /// Only for the "return IP and detach" case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}

pub type UnassignPrivateIpAddressesResponse = RequestIdOnly;
