//! Request and response structures, one group per action.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::de::{nd, string_or_number, u64_or_string};

/// One filter: `Name` with `Values` (values ORed; different filters ANDed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    /// E.g. `vpc-id`, `address-ip`, `ip-exact-match`, `attachment.instance-id`.
    pub name: String,
    /// Booleans are the strings `"TRUE"` / `"FALSE"`.
    pub values: Vec<String>,
}

impl Filter {
    /// A filter with several values.
    pub fn new<I, S>(name: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            name: name.into(),
            values: values.into_iter().map(Into::into).collect(),
        }
    }

    /// A filter with one value.
    pub fn one(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            values: vec![value.into()],
        }
    }
}

/// Outcome of an asynchronous task: `SUCCESS`, `FAILED`, `RUNNING`, or anything else verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum TaskStatus {
    Success,
    Failed,
    Running,
    /// An unexpected value (empty when the service sent none).
    Other(String),
}

impl TaskStatus {
    /// `SUCCESS` or `FAILED`.
    pub fn is_finished(&self) -> bool {
        matches!(self, TaskStatus::Success | TaskStatus::Failed)
    }
}

impl Default for TaskStatus {
    fn default() -> Self {
        TaskStatus::Other(String::new())
    }
}

impl From<String> for TaskStatus {
    fn from(s: String) -> Self {
        match s.as_str() {
            "SUCCESS" => TaskStatus::Success,
            "FAILED" => TaskStatus::Failed,
            "RUNNING" => TaskStatus::Running,
            _ => TaskStatus::Other(s),
        }
    }
}

impl From<TaskStatus> for String {
    fn from(s: TaskStatus) -> Self {
        s.to_string()
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskStatus::Success => "SUCCESS",
            TaskStatus::Failed => "FAILED",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Other(s) => s,
        })
    }
}

/// A response that carries nothing but its `RequestId`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RequestIdOnly {
    #[serde(deserialize_with = "nd")]
    pub request_id: String,
}

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

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Tag {
    #[serde(deserialize_with = "nd")]
    pub key: String,
    #[serde(deserialize_with = "nd")]
    pub value: String,
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_use_service_field_names_and_omit_unset_fields() {
        let r = MigratePrivateIpAddressRequest {
            source_network_interface_id: "eni-a".into(),
            destination_network_interface_id: "eni-b".into(),
            private_ip_address: Ipv4Addr::new(10, 0, 0, 100),
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"SourceNetworkInterfaceId":"eni-a","DestinationNetworkInterfaceId":"eni-b","PrivateIpAddress":"10.0.0.100"})
        );
        let d = DescribeNetworkInterfacesRequest::holder_of("vpc-1", Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            json!({"Filters":[
                {"Name":"vpc-id","Values":["vpc-1"]},
                {"Name":"address-ip","Values":["10.0.0.5"]},
                {"Name":"ip-exact-match","Values":["TRUE"]}]})
        );
        let a = AssignPrivateIpAddressesRequest {
            network_interface_id: "eni-a".into(),
            private_ip_addresses: vec![Ipv4Addr::new(10, 0, 0, 9).into()],
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            json!({"NetworkInterfaceId":"eni-a","PrivateIpAddresses":[{"PrivateIpAddress":"10.0.0.9"}]})
        );
        assert_eq!(
            serde_json::to_value(DescribeTaskResultRequest::task(50121411)).unwrap(),
            json!({"TaskId":50121411})
        );
    }

    #[test]
    fn responses_tolerate_nulls_unknown_and_missing_fields() {
        let v = json!({
            "TotalCount": 1,
            "NetworkInterfaceSet": [{
                "NetworkInterfaceId": "eni-1", "MacAddress": "20:90:6F:F5:34:C7",
                "Primary": null, "GroupSet": null, "Attachment": null, "Brand": "new",
                "PrivateIpAddressSet": [{"PrivateIpAddress": "10.0.0.100", "Primary": false,
                    "State": "MIGRATING", "AddressId": null, "QosLevel": null}]
            }],
            "RequestId": "r"
        });
        let r: DescribeNetworkInterfacesResponse = serde_json::from_value(v).unwrap();
        let eni = &r.network_interface_set[0];
        assert!(!eni.primary && eni.group_set.is_empty() && eni.attachment.is_none());
        let ip = eni.private_ip(Ipv4Addr::new(10, 0, 0, 100)).unwrap();
        assert_eq!(ip.state, "MIGRATING");
        assert!(eni.private_ip(Ipv4Addr::new(10, 0, 0, 10)).is_none());
        let empty: DescribeHaVipsResponse = serde_json::from_value(json!({})).unwrap();
        assert_eq!(empty.total_count, 0);
    }

    #[test]
    fn task_ids_are_strings_for_eip_writes_and_integers_for_polling() {
        let a: AssociateAddressResponse =
            serde_json::from_value(json!({"TaskId":"50121411","RequestId":"r"})).unwrap();
        assert_eq!(a.task_id, "50121411");
        assert_eq!(a.task_id_u64(), Some(50121411));
        let n: AssociateAddressResponse =
            serde_json::from_value(json!({"TaskId":50121411})).unwrap();
        assert_eq!(n.task_id, "50121411");
        let t: DescribeTaskResultResponse =
            serde_json::from_value(json!({"TaskId":50121411,"Result":"RUNNING"})).unwrap();
        assert_eq!((t.task_id, t.result), (50121411, TaskStatus::Running));
        let s: DescribeVpcTaskResultResponse = serde_json::from_value(json!({
            "Status":"SUCCESS","Output":"SUCCESS",
            "Result":[{"ResourceId":"eni-olifj433","Status":"SUCCESS"}],"RequestId":"r"}))
        .unwrap();
        assert!(s.status.is_finished());
        assert_eq!(s.result[0].status, TaskStatus::Success);
        let odd: DescribeVpcTaskResultResponse =
            serde_json::from_value(json!({"Status":"PAUSED"})).unwrap();
        assert_eq!(odd.status, TaskStatus::Other("PAUSED".into()));
    }
}
