//! Elastic IPs: describe, allocate, associate, disassociate, and the EIP task result.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::super::de::{nd, string_or_number, u64_or_string};
use super::{Filter, TaskStatus};

// ---- EIP: DescribeAddresses / AssociateAddress / DisassociateAddress / DescribeTaskResult --

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeAddressesRequest {
    /// Not combinable with the `address-id` filter.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub address_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeAddressesResponse {
    #[serde(deserialize_with = "u64_or_string")]
    pub total_count: u64,
    #[serde(deserialize_with = "nd")]
    pub address_set: Vec<Address>,
    #[serde(deserialize_with = "nd")]
    pub request_id: String,
}

/// An elastic IP (EIP).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Address {
    #[serde(deserialize_with = "nd")]
    pub address_id: String,
    #[serde(deserialize_with = "nd")]
    pub address_name: String,
    #[serde(deserialize_with = "nd")]
    pub address_ip: String,
    /// `CREATING`, `BINDING`, `BIND`, `UNBINDING`, `UNBIND`, `OFFLINING`, `BIND_ENI`.
    #[serde(deserialize_with = "nd")]
    pub address_status: String,
    #[serde(deserialize_with = "nd")]
    pub instance_id: String,
    #[serde(deserialize_with = "nd")]
    pub network_interface_id: String,
    #[serde(deserialize_with = "nd")]
    pub private_address_ip: String,
    #[serde(deserialize_with = "nd")]
    pub instance_type: String,
    #[serde(deserialize_with = "nd")]
    pub address_type: String,
    #[serde(deserialize_with = "nd")]
    pub is_arrears: bool,
    #[serde(deserialize_with = "nd")]
    pub is_blocked: bool,
    #[serde(deserialize_with = "nd")]
    pub is_eip_direct_connection: bool,
    #[serde(deserialize_with = "nd")]
    pub created_time: String,
}

/// Binds an EIP (state `UNBIND`) to an instance, or to an ENI's secondary IP. Poll the
/// returned TaskId with DescribeTaskResult.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AssociateAddressRequest {
    pub address_id: String,
    /// Not with `NetworkInterfaceId` / `PrivateIpAddress`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Together with `PrivateIpAddress`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_interface_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_ip_address: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eip_direct_connection: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_region: Option<String>,
}

/// `TaskId` is a string here (and an integer in DescribeTaskResult); numbers are accepted too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AssociateAddressResponse {
    #[serde(deserialize_with = "string_or_number")]
    pub task_id: String,
    #[serde(deserialize_with = "nd")]
    pub request_id: String,
}

/// Allocates new EIPs (state `CREATING` until its task lands, then `UNBIND`). Poll the
/// returned TaskId with DescribeTaskResult.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocateAddressesRequest {
    /// How many; default 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internet_charge_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internet_max_bandwidth_out: Option<u64>,
}

/// The new EIPs' ids and the (string) TaskId.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocateAddressesResponse {
    #[serde(deserialize_with = "nd")]
    pub address_set: Vec<String>,
    #[serde(deserialize_with = "string_or_number")]
    pub task_id: String,
    #[serde(deserialize_with = "nd")]
    pub request_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DisassociateAddressRequest {
    pub address_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reallocate_normal_public_ip: Option<bool>,
}

impl AssociateAddressResponse {
    /// The TaskId as the integer DescribeTaskResult takes, when it is one.
    pub fn task_id_u64(&self) -> Option<u64> {
        self.task_id.trim().parse().ok()
    }
}

pub type DisassociateAddressResponse = AssociateAddressResponse;

/// Polls an EIP task. `TaskId` is an integer here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeTaskResultRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deal_name: Option<String>,
}

impl DescribeTaskResultRequest {
    /// Polls `task_id`.
    pub fn task(task_id: u64) -> Self {
        Self {
            task_id: Some(task_id),
            deal_name: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeTaskResultResponse {
    #[serde(deserialize_with = "u64_or_string")]
    pub task_id: u64,
    /// `SUCCESS`, `FAILED` or `RUNNING`.
    #[serde(deserialize_with = "nd")]
    pub result: TaskStatus,
    #[serde(deserialize_with = "nd")]
    pub request_id: String,
}
