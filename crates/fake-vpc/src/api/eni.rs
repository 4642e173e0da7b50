//! ENI actions: DescribeNetworkInterfaces, MigratePrivateIpAddress, AssignPrivateIpAddresses,
//! UnassignPrivateIpAddresses and DescribeVpcTaskResult.

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::params::{self, Kind, Params};
use super::{ApiError, Ctx};
use crate::ids;
use crate::world::{Change, Eni, IpState, World};

mod assign;

pub(crate) use assign::{assign, unassign};

/// Secondary IPs an ENI may hold (a typical instance-type quota).
pub const MAX_IPS_PER_ENI: usize = 20;

fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::new(
        "ResourceNotFound",
        format!("The {what} `{id}` does not exist."),
    )
}

fn mutex(ip: Ipv4Addr) -> ApiError {
    ApiError::new(
        "UnsupportedOperation.MutexOperationTaskRunning",
        format!("A task on IP `{ip}` is still running; retry when it has finished."),
    )
}

/// Whether `ip` is in the middle of an asynchronous operation.
fn busy(w: &World, ip: Ipv4Addr) -> bool {
    w.ip_state(ip).is_some_and(|s| s != IpState::Available)
}

fn eni_id<'a>(p: &'a Params, name: &str) -> Result<&'a str, ApiError> {
    params::id(name, params::str_req(p, name)?, "eni-")
}

/// One `PrivateIpAddressSpecification` as the API shows it.
fn ip_json(w: &World, e: &Eni, ip: Ipv4Addr, primary: bool, state: IpState) -> Value {
    let eip = w
        .eips
        .iter()
        .find(|x| x.private_ip == Some(ip) && x.eni.as_deref() == Some(e.id.as_str()));
    json!({
        "PrivateIpAddress": ip.to_string(),
        "Primary": primary,
        "PublicIpAddress": eip.map(|x| x.ip.to_string()).unwrap_or_default(),
        "AddressId": eip.map(|x| x.id.clone()).unwrap_or_default(),
        "Description": "",
        "IsWanIpBlocked": false,
        "State": state.as_str(),
        "QosLevel": "PT",
    })
}

/// One `NetworkInterface` as the API shows it.
pub(crate) fn eni_json(w: &World, e: &Eni) -> Value {
    let created = ids::api_time(w.created_unix);
    let attachment = match &e.instance {
        Some(instance) => json!({
            "InstanceId": instance,
            "DeviceIndex": if e.primary { 0 } else { 1 },
            "InstanceAccountId": "100000000001",
            "AttachTime": created,
        }),
        None => Value::Null,
    };
    let ips: Vec<Value> = e
        .ips
        .iter()
        .map(|p| ip_json(w, e, p.ip, p.primary, p.state))
        .collect();
    json!({
        "NetworkInterfaceId": e.id,
        "NetworkInterfaceName": e.name,
        "NetworkInterfaceDescription": "",
        "SubnetId": e.subnet,
        "VpcId": e.vpc,
        "GroupSet": [],
        "Primary": e.primary,
        "MacAddress": e.mac.to_string(),
        "State": "AVAILABLE",
        "NetworkInterfaceState": if e.instance.is_some() { "INUSE" } else { "AVAILABLE" },
        "PrivateIpAddressSet": ips,
        "Attachment": attachment,
        "Zone": e.zone,
        "CreatedTime": created,
        "Ipv6AddressSet": [],
        "TagSet": [],
        "EniType": if e.primary { 1 } else { 0 },
        "Business": "cvm",
        "CdcId": "",
        "AttachType": 0,
    })
}

const DNI_FILTERS: &[&str] = &[
    "vpc-id",
    "subnet-id",
    "network-interface-id",
    "attachment.instance-id",
    "groups.security-group-id",
    "network-interface-name",
    "network-interface-description",
    "address-ip",
    "ip-exact-match",
    "tag-key",
    "tag:*",
    "is-primary",
    "eni-type",
    "eni-qos",
    "address-ipv6",
    "public-address-ip",
    "address-type",
    "termination-protection",
    "traffic-protection",
];

/// DescribeNetworkInterfaces: ids xor filters, the `address-ip` suffix quirk, paging.
pub(crate) fn describe_network_interfaces(
    p: &Params,
    w: &mut World,
    _ctx: &Ctx<'_>,
) -> Result<Value, ApiError> {
    params::check(
        p,
        &[
            ("NetworkInterfaceIds", Kind::StrList, false),
            ("Filters", Kind::List, false),
            ("Offset", Kind::UInt, false),
            ("Limit", Kind::UInt, false),
        ],
    )?;
    let ids = params::str_list(p, "NetworkInterfaceIds");
    let filters = params::filters(p, DNI_FILTERS)?;
    if !ids.is_empty() && !filters.is_empty() {
        return Err(ApiError::new(
            "InvalidParameter.Coexist",
            "The parameters `NetworkInterfaceIds` and `Filters` cannot be specified at the same time.",
        ));
    }
    if ids.len() > 100 {
        return Err(ApiError::new(
            "InvalidParameterValue.LimitExceeded",
            "At most 100 `NetworkInterfaceIds` may be given.",
        ));
    }
    for id in &ids {
        params::id("NetworkInterfaceIds", id, "eni-")?;
    }
    let (offset, limit) = params::paging(p)?;
    let mut exact = false;
    for f in filters.iter().filter(|f| f.name == "ip-exact-match") {
        for v in &f.values {
            exact = params::bool_value(&f.name, v)?;
        }
    }
    for f in filters.iter().filter(|f| f.name == "is-primary") {
        for v in &f.values {
            params::bool_value(&f.name, v)?;
        }
    }
    let matches = |e: &Eni| -> bool {
        if !ids.is_empty() {
            return ids.contains(&e.id);
        }
        filters.iter().all(|f| {
            let any = |s: &str| f.values.iter().any(|v| v == s);
            match f.name.as_str() {
                "vpc-id" => any(&e.vpc),
                "subnet-id" => any(&e.subnet),
                "network-interface-id" => any(&e.id),
                "attachment.instance-id" => e.instance.as_deref().is_some_and(any),
                "network-interface-name" => any(&e.name),
                "address-ip" => {
                    if f.values.len() == 1 && !exact {
                        // Documented: one value is a suffix (fuzzy) match.
                        let suffix = &f.values[0];
                        e.ips
                            .iter()
                            .any(|ip| ip.ip.to_string().ends_with(suffix.as_str()))
                    } else {
                        e.ips.iter().any(|ip| any(&ip.ip.to_string()))
                    }
                }
                "ip-exact-match" => true,
                "is-primary" => f
                    .values
                    .iter()
                    .any(|v| params::bool_value("is-primary", v).is_ok_and(|b| b == e.primary)),
                "eni-type" => any(if e.primary { "1" } else { "0" }),
                "public-address-ip" => w
                    .eips
                    .iter()
                    .any(|x| x.eni.as_deref() == Some(e.id.as_str()) && any(&x.ip.to_string())),
                // No security groups, tags, IPv6 or QoS are modelled: nothing matches.
                _ => false,
            }
        })
    };
    let all: Vec<&Eni> = w.enis.iter().filter(|e| matches(e)).collect();
    let set: Vec<Value> = params::page(&all, offset, limit)
        .into_iter()
        .map(|e| eni_json(w, e))
        .collect();
    Ok(json!({ "TotalCount": all.len(), "NetworkInterfaceSet": set }))
}

/// MigratePrivateIpAddress: asynchronous; the IP reads MIGRATING on the source until it lands.
///
/// Errors, checked in this order: malformed ids/IP (`InvalidParameterValue.Malformed`); unknown
/// ENI (`ResourceNotFound`); source and destination equal (`InvalidParameterValue`); IP busy
/// (`UnsupportedOperation.MutexOperationTaskRunning`); source does not hold the IP
/// (`UnauthorizedOperation.AttachmentNotFound`); primary IP (`UnsupportedOperation.PrimaryIp`);
/// different subnets (`UnsupportedOperation`).
pub(crate) fn migrate(p: &Params, w: &mut World, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    params::check(
        p,
        &[
            ("SourceNetworkInterfaceId", Kind::Str, true),
            ("DestinationNetworkInterfaceId", Kind::Str, true),
            ("PrivateIpAddress", Kind::Str, true),
        ],
    )?;
    let src_id = eni_id(p, "SourceNetworkInterfaceId")?;
    let dst_id = eni_id(p, "DestinationNetworkInterfaceId")?;
    let ip = params::ip("PrivateIpAddress", params::str_req(p, "PrivateIpAddress")?)?;
    let src = w
        .eni(src_id)
        .ok_or_else(|| not_found("network interface", src_id))?;
    let dst = w
        .eni(dst_id)
        .ok_or_else(|| not_found("network interface", dst_id))?;
    if src_id == dst_id {
        return Err(ApiError::new(
            "InvalidParameterValue",
            "The source and destination network interfaces are the same.",
        ));
    }
    if busy(w, ip) {
        return Err(mutex(ip));
    }
    let Some(held) = src.ips.iter().find(|x| x.ip == ip) else {
        return Err(ApiError::new(
            "UnauthorizedOperation.AttachmentNotFound",
            format!("The network interface `{src_id}` does not hold the IP `{ip}`."),
        ));
    };
    if held.primary {
        return Err(ApiError::new(
            "UnsupportedOperation.PrimaryIp",
            format!("The IP `{ip}` is the primary IP of `{src_id}` and cannot be migrated."),
        ));
    }
    if src.subnet != dst.subnet {
        return Err(ApiError::new(
            "UnsupportedOperation",
            format!(
                "The network interfaces `{src_id}` ({}) and `{dst_id}` ({}) are not in the same subnet.",
                src.subnet, dst.subnet
            ),
        ));
    }
    let change = Change::Migrate {
        ip,
        from: src_id.to_string(),
        to: dst_id.to_string(),
    };
    w.start_vpc_task(
        ctx.request_id,
        "MigratePrivateIpAddress",
        src_id,
        vec![change],
        ctx.now,
    );
    Ok(json!({}))
}

/// DescribeVpcTaskResult: `TaskId` is the RequestId (a string) of the asynchronous call.
pub(crate) fn describe_vpc_task_result(
    p: &Params,
    w: &mut World,
    _ctx: &Ctx<'_>,
) -> Result<Value, ApiError> {
    params::check(p, &[("TaskId", Kind::Str, true)])?;
    let id = params::str_req(p, "TaskId")?;
    let task = w.tasks.get(id).ok_or_else(|| not_found("task", id))?;
    Ok(json!({
        "Status": task.status.as_str(),
        "Output": task.output,
        "Result": [{ "ResourceId": task.resource, "Status": task.status.as_str() }],
    }))
}
