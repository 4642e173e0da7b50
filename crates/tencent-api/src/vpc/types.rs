//! Request and response structures, one group per action.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::de::nd;

mod eip;
mod eni;
mod havip;

pub use eip::*;
pub use eni::*;
pub use havip::*;

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

/// A resource tag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Tag {
    #[serde(deserialize_with = "nd")]
    pub key: String,
    #[serde(deserialize_with = "nd")]
    pub value: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::net::Ipv4Addr;

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
