//! AssignPrivateIpAddresses and UnassignPrivateIpAddresses: addresses given or counted, the
//! per-ENI limit, ClientToken replays, and the asynchronous landing.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::params::{self, Kind, Params};
use super::*;
use super::{ApiError, Ctx};
use crate::world::{Change, World};

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
