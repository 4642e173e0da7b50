//! ENI actions: DescribeNetworkInterfaces, MigratePrivateIpAddress, AssignPrivateIpAddresses,
//! UnassignPrivateIpAddresses and DescribeVpcTaskResult.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::params::{self, Kind, Params};
use super::{ApiError, Ctx};
use crate::ids;
use crate::world::{Change, Eni, IpState, World};

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

fn ip_list(p: &Params, name: &str) -> Result<Vec<Ipv4Addr>, ApiError> {
    let entries = params::list(p, name);
    if entries.len() > 10 {
        return Err(ApiError::new(
            "InvalidParameterValue.LimitExceeded",
            format!("At most 10 `{name}` may be given."),
        ));
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for entry in entries {
        let Some(obj) = entry.as_object() else {
            return Err(ApiError::new(
                "InvalidParameterValue",
                format!("Each element of `{name}` must be an object."),
            ));
        };
        for k in obj.keys() {
            let known = [
                "PrivateIpAddress",
                "Primary",
                "PublicIpAddress",
                "AddressId",
                "Description",
                "IsWanIpBlocked",
                "State",
                "QosLevel",
            ];
            if !known.contains(&k.as_str()) {
                return Err(ApiError::new(
                    "UnknownParameter",
                    format!("The parameter `{name}.{k}` is not recognized."),
                ));
            }
        }
        let Some(s) = obj.get("PrivateIpAddress").and_then(Value::as_str) else {
            return Err(ApiError::new(
                "MissingParameter",
                format!("The request is missing a required parameter `{name}.PrivateIpAddress`."),
            ));
        };
        if obj.get("Primary").and_then(Value::as_bool) == Some(true) {
            return Err(ApiError::new(
                "InvalidParameterValue",
                "A primary IP cannot be assigned or unassigned.",
            ));
        }
        let ip = params::ip("PrivateIpAddress", s)?;
        if !seen.insert(ip) {
            return Err(ApiError::new(
                "InvalidParameterValue.DuplicatePara",
                format!("The IP `{ip}` is given twice."),
            ));
        }
        out.push(ip);
    }
    Ok(out)
}

/// AssignPrivateIpAddresses: asynchronous; the IPs are listed as PENDING until they land.
pub(crate) fn assign(p: &Params, w: &mut World, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    params::check(
        p,
        &[
            ("NetworkInterfaceId", Kind::Str, true),
            ("PrivateIpAddresses", Kind::List, false),
            ("SecondaryPrivateIpAddressCount", Kind::UInt, false),
            ("QosLevel", Kind::Str, false),
            ("ClientToken", Kind::Str, false),
        ],
    )?;
    let eni = eni_id(p, "NetworkInterfaceId")?;
    let token = params::str_opt(p, "ClientToken").map(str::to_string);
    let key_params = {
        let mut q = p.clone();
        q.remove("ClientToken");
        Value::Object(q)
    };
    if let Some(t) = &token {
        if t.len() > 64 || !t.is_ascii() {
            return Err(ApiError::new(
                "InvalidParameterValue",
                "`ClientToken` must be at most 64 ASCII characters.",
            ));
        }
        if let Some((prev, response)) = w.client_tokens.get(t) {
            if *prev != key_params {
                return Err(ApiError::new(
                    "UnsupportedOperation.IdempotentParameterMismatch",
                    "The ClientToken was used before with different parameters.",
                ));
            }
            return Ok(response.clone());
        }
    }
    let listed = ip_list(p, "PrivateIpAddresses")?;
    let count = params::u64_opt(p, "SecondaryPrivateIpAddressCount");
    match (listed.is_empty(), count) {
        (true, None) | (true, Some(0)) => {
            return Err(ApiError::new(
                "MissingParameter",
                "One of `PrivateIpAddresses` and `SecondaryPrivateIpAddressCount` is required.",
            ));
        }
        (false, Some(_)) => {
            return Err(ApiError::new(
                "InvalidParameter.Coexist",
                "`PrivateIpAddresses` and `SecondaryPrivateIpAddressCount` cannot be given together.",
            ));
        }
        _ => {}
    }
    let e = w
        .eni(eni)
        .ok_or_else(|| not_found("network interface", eni))?;
    let Some(cidr) = w.subnet(&e.subnet).map(|s| s.cidr) else {
        return Err(not_found("subnet", &e.subnet));
    };
    let wanted = if listed.is_empty() {
        usize::try_from(count.unwrap_or(0)).unwrap_or(usize::MAX)
    } else {
        listed.len()
    };
    if wanted > 10 {
        return Err(ApiError::new(
            "InvalidParameterValue.LimitExceeded",
            "At most 10 IPs may be assigned in one call.",
        ));
    }
    if e.ips.len() + wanted > MAX_IPS_PER_ENI + 1 {
        return Err(ApiError::new(
            "LimitExceeded",
            format!(
                "The network interface `{eni}` may hold at most {MAX_IPS_PER_ENI} secondary IPs."
            ),
        ));
    }
    let ips: Vec<Ipv4Addr> = if listed.is_empty() {
        let free: Vec<Ipv4Addr> = cidr
            .hosts()
            .filter(|ip| !w.ip_in_use(*ip))
            .take(wanted)
            .collect();
        if free.len() < wanted {
            return Err(ApiError::new(
                "ResourceInsufficient.Subnet",
                format!("The subnet `{}` has too few free IPs.", e.subnet),
            ));
        }
        free
    } else {
        for ip in &listed {
            if !cidr.contains(*ip) {
                return Err(ApiError::new(
                    "InvalidParameterValue.Range",
                    format!(
                        "The IP `{ip}` is not inside subnet `{}` ({cidr}).",
                        e.subnet
                    ),
                ));
            }
            if cidr.is_reserved(*ip) {
                return Err(ApiError::new(
                    "InvalidParameterValue.Reserved",
                    format!("The IP `{ip}` is reserved in subnet `{}`.", e.subnet),
                ));
            }
            if busy(w, *ip) {
                return Err(mutex(*ip));
            }
            if w.ip_in_use(*ip) {
                return Err(ApiError::new(
                    "ResourceInUse",
                    format!("The IP `{ip}` is already in use."),
                ));
            }
        }
        listed
    };
    let changes = ips
        .iter()
        .map(|ip| Change::Assign {
            ip: *ip,
            eni: eni.to_string(),
        })
        .collect();
    w.start_vpc_task(
        ctx.request_id,
        "AssignPrivateIpAddresses",
        eni,
        changes,
        ctx.now,
    );
    let set: Vec<Value> = ips
        .iter()
        .map(|ip| {
            json!({
                "PrivateIpAddress": ip.to_string(),
                "Primary": false,
                "PublicIpAddress": "",
                "AddressId": "",
                "Description": "",
                "IsWanIpBlocked": false,
                "State": "PENDING",
                "QosLevel": "PT",
            })
        })
        .collect();
    let response = json!({ "PrivateIpAddressSet": set });
    if let Some(t) = token {
        w.client_tokens.insert(t, (key_params, response.clone()));
    }
    Ok(response)
}

/// UnassignPrivateIpAddresses: asynchronous; the IPs read DELETING until released. An EIP
/// bound to a released IP is unbound.
pub(crate) fn unassign(p: &Params, w: &mut World, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    params::check(
        p,
        &[
            ("NetworkInterfaceId", Kind::Str, true),
            ("PrivateIpAddresses", Kind::List, true),
            ("InstanceId", Kind::Str, false),
        ],
    )?;
    let eni = eni_id(p, "NetworkInterfaceId")?;
    let ips = ip_list(p, "PrivateIpAddresses")?;
    if ips.is_empty() {
        return Err(ApiError::new(
            "MissingParameter",
            "The request is missing a required parameter `PrivateIpAddresses`.",
        ));
    }
    if let Some(i) = params::str_opt(p, "InstanceId") {
        params::id("InstanceId", i, "ins-")?;
    }
    let e = w
        .eni(eni)
        .ok_or_else(|| not_found("network interface", eni))?;
    for ip in &ips {
        if busy(w, *ip) {
            return Err(mutex(*ip));
        }
        let Some(held) = e.ips.iter().find(|x| x.ip == *ip) else {
            return Err(ApiError::new(
                "UnsupportedOperation.AttachmentNotFound",
                format!("The network interface `{eni}` does not hold the IP `{ip}`."),
            ));
        };
        if held.primary {
            return Err(ApiError::new(
                "UnsupportedOperation.PrimaryIp",
                format!("The IP `{ip}` is the primary IP of `{eni}`."),
            ));
        }
    }
    let changes = ips
        .iter()
        .map(|ip| Change::Unassign {
            ip: *ip,
            eni: eni.to_string(),
        })
        .collect();
    w.start_vpc_task(
        ctx.request_id,
        "UnassignPrivateIpAddresses",
        eni,
        changes,
        ctx.now,
    );
    Ok(json!({}))
}
