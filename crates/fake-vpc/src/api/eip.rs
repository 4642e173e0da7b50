//! EIP actions: DescribeAddresses, AllocateAddresses, AssociateAddress, DisassociateAddress
//! and DescribeTaskResult. A new EIP is `CREATING` until its task lands, then `UNBIND`; at most
//! [`MAX_EIPS`] per account (then `AddressQuotaLimitExceeded`). EIP writes return `TaskId` as a **string**; DescribeTaskResult takes it
//! as an **integer** (a string there is `InvalidParameterValue`), as documented. A busy EIP or
//! private IP answers `OperationDenied.MutexTaskRunning`, the EIP actions' documented code.

use serde_json::{Value, json};

use super::params::{self, Kind, Params};
use super::{ApiError, Ctx};
use crate::ids;
use crate::world::{Change, Eip, EipStatus, IpState, World};

const FILTERS: &[&str] = &[
    "address-id",
    "address-name",
    "address-ip",
    "address-status",
    "instance-id",
    "private-ip-address",
    "network-interface-id",
    "is-arrears",
    "instance-type",
    "address-type",
    "address-isp",
    "dedicated-cluster-id",
    "tag-key",
    "tag-value",
    "tag:*",
];

fn instance_of(w: &World, x: &Eip) -> Option<String> {
    if let Some(h) = &x.havip {
        return Some(h.clone());
    }
    x.eni
        .as_deref()
        .and_then(|e| w.eni(e))
        .and_then(|e| e.instance.clone())
}

fn address_json(w: &World, x: &Eip) -> Value {
    json!({
        "AddressId": x.id,
        "AddressName": x.name,
        "AddressStatus": x.status.as_str(),
        "AddressIp": x.ip.to_string(),
        "InstanceId": instance_of(w, x).unwrap_or_default(),
        "CreatedTime": ids::rfc3339(w.created_unix),
        "NetworkInterfaceId": x.eni.clone().unwrap_or_default(),
        "PrivateAddressIp": x.private_ip.map(|i| i.to_string()).unwrap_or_default(),
        "IsArrears": false,
        "IsBlocked": false,
        "IsEipDirectConnection": false,
        "AddressType": "EIP",
        "CascadeRelease": false,
        "InternetServiceProvider": "BGP",
        "Bandwidth": 10,
        "InternetChargeType": "TRAFFIC_POSTPAID_BY_HOUR",
        "InstanceType": instance_type(x),
        "TagSet": [],
    })
}

/// `InstanceType` of an EIP: `HAVIP` for a HAVIP's EIP, `CVM` when on an ENI, else empty.
fn instance_type(x: &Eip) -> &'static str {
    if x.havip.is_some() {
        "HAVIP"
    } else if x.eni.is_some() {
        "CVM"
    } else {
        ""
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        "InvalidAddressId.NotFound",
        format!("The EIP `{id}` does not exist."),
    )
}

fn mutex(what: &str) -> ApiError {
    ApiError::new(
        "OperationDenied.MutexTaskRunning",
        format!("A task on {what} is still running; retry when it has finished."),
    )
}

fn address_id(p: &Params) -> Result<&str, ApiError> {
    let id = params::str_req(p, "AddressId")?;
    params::id("AddressId", id, "eip-").map_err(|_| {
        ApiError::new(
            "InvalidAddressId.Malformed",
            format!("The EIP id `{id}` is malformed."),
        )
    })
}

pub(crate) fn describe_addresses(
    p: &Params,
    w: &mut World,
    _ctx: &Ctx<'_>,
) -> Result<Value, ApiError> {
    params::check(
        p,
        &[
            ("AddressIds", Kind::StrList, false),
            ("Filters", Kind::List, false),
            ("Offset", Kind::UInt, false),
            ("Limit", Kind::UInt, false),
        ],
    )?;
    let ids = params::str_list(p, "AddressIds");
    let filters = params::filters(p, FILTERS)?;
    if filters.len() > 10 || filters.iter().any(|f| f.values.len() > 100) {
        return Err(ApiError::new(
            "InvalidParameterValue.LimitExceeded",
            "At most 10 filters of at most 100 values each may be given.",
        ));
    }
    if !ids.is_empty() && filters.iter().any(|f| f.name == "address-id") {
        return Err(ApiError::new(
            "InvalidParameter.Coexist",
            "`AddressIds` and the filter `address-id` cannot be given together.",
        ));
    }
    let (offset, limit) = params::paging(p)?;
    let all: Vec<&Eip> = w
        .eips
        .iter()
        .filter(|x| ids.is_empty() || ids.contains(&x.id))
        .filter(|x| {
            filters.iter().all(|f| {
                let any = |s: &str| f.values.iter().any(|v| v == s);
                match f.name.as_str() {
                    "address-id" => any(&x.id),
                    "address-name" => any(&x.name),
                    "address-ip" => any(&x.ip.to_string()),
                    "address-status" => any(x.status.as_str()),
                    "instance-id" => instance_of(w, x).is_some_and(|i| any(&i)),
                    "private-ip-address" => x.private_ip.is_some_and(|i| any(&i.to_string())),
                    "network-interface-id" => x.eni.as_deref().is_some_and(any),
                    "is-arrears" => any("FALSE") || any("false"),
                    "address-type" => any("EIP"),
                    "instance-type" => any(instance_type(x)),
                    _ => false,
                }
            })
        })
        .collect();
    let set: Vec<Value> = params::page(&all, offset, limit)
        .into_iter()
        .map(|x| address_json(w, x))
        .collect();
    Ok(json!({ "TotalCount": all.len(), "AddressSet": set }))
}

/// EIPs an account may hold (Tencent's default quota is of this order; the real one is per
/// account and region, see DescribeAddressQuota).
pub const MAX_EIPS: usize = 20;

pub(crate) fn allocate(p: &Params, w: &mut World, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    params::check(
        p,
        &[
            ("AddressCount", Kind::UInt, false),
            ("AddressName", Kind::Str, false),
            ("AddressType", Kind::Str, false),
            ("InternetServiceProvider", Kind::Str, false),
            ("InternetChargeType", Kind::Str, false),
            ("InternetMaxBandwidthOut", Kind::UInt, false),
            ("BandwidthPackageId", Kind::Str, false),
            ("Tags", Kind::List, false),
        ],
    )?;
    let count = params::u64_opt(p, "AddressCount").unwrap_or(1);
    if !(1..=20).contains(&count) {
        return Err(ApiError::new(
            "InvalidParameterValue.Range",
            format!("`AddressCount` must be from 1 to 20, not {count}."),
        ));
    }
    let count = count as usize;
    if w.eips.len() + count > MAX_EIPS {
        return Err(ApiError::new(
            "AddressQuotaLimitExceeded",
            format!(
                "The account holds {} EIPs in this region; at most {MAX_EIPS} are allowed.",
                w.eips.len()
            ),
        ));
    }
    let name = params::str_opt(p, "AddressName")
        .unwrap_or_default()
        .to_owned();
    let mut created = Vec::new();
    for _ in 0..count {
        match w.new_eip(&name) {
            Some(id) => created.push(id),
            None => {
                for id in &created {
                    w.eips.retain(|x| x.id != *id);
                }
                return Err(ApiError::new(
                    "AddressQuotaLimitExceeded",
                    "The simulator's pool of public addresses is used up.",
                ));
            }
        }
    }
    let changes = created
        .iter()
        .map(|id| Change::EipCreate { eip: id.clone() })
        .collect();
    let task = w.start_eip_task(changes, ctx.now);
    Ok(json!({ "AddressSet": created, "TaskId": task.to_string() }))
}

pub(crate) fn associate(p: &Params, w: &mut World, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    params::check(
        p,
        &[
            ("AddressId", Kind::Str, true),
            ("InstanceId", Kind::Str, false),
            ("NetworkInterfaceId", Kind::Str, false),
            ("PrivateIpAddress", Kind::Str, false),
            ("EipDirectConnection", Kind::Bool, false),
            ("InstanceRegion", Kind::Str, false),
        ],
    )?;
    let id = address_id(p)?;
    let instance = params::str_opt(p, "InstanceId");
    let eni = params::str_opt(p, "NetworkInterfaceId");
    let private = params::str_opt(p, "PrivateIpAddress");
    let (eni, ip) = match (instance, eni, private) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(ApiError::new(
                "InvalidParameterConflict",
                "`InstanceId` cannot be combined with `NetworkInterfaceId`/`PrivateIpAddress`.",
            ));
        }
        (Some(i), None, None) => {
            let i = params::id("InstanceId", i, "ins-")?;
            let e = w.primary_eni_of(i).ok_or_else(|| {
                ApiError::new(
                    "InvalidInstanceId.NotFound",
                    format!("The instance `{i}` does not exist."),
                )
            })?;
            let ip = e.primary_ip().ok_or_else(|| not_found(id))?;
            (e.id.clone(), ip)
        }
        (None, Some(e), Some(ip)) => {
            let e = params::id("NetworkInterfaceId", e, "eni-")?;
            let ip = params::ip("PrivateIpAddress", ip)?;
            let held = w.eni(e).ok_or_else(|| {
                ApiError::new(
                    "InvalidNetworkInterfaceId.NotFound",
                    format!("The network interface `{e}` does not exist."),
                )
            })?;
            if !held.ips.iter().any(|x| x.ip == ip) {
                return Err(ApiError::new(
                    "InvalidParameterValue",
                    format!("The network interface `{e}` does not hold the IP `{ip}`."),
                ));
            }
            (e.to_string(), ip)
        }
        (None, Some(_), None) => {
            return Err(ApiError::new(
                "MissingParameter",
                "The request is missing a required parameter `PrivateIpAddress`.",
            ));
        }
        (None, None, Some(_)) => {
            return Err(ApiError::new(
                "MissingParameter",
                "The request is missing a required parameter `NetworkInterfaceId`.",
            ));
        }
        (None, None, None) => {
            return Err(ApiError::new(
                "MissingParameter",
                "One of `InstanceId` and `NetworkInterfaceId`+`PrivateIpAddress` is required.",
            ));
        }
    };
    let Some(x) = w.eips.iter().find(|x| x.id == id) else {
        return Err(not_found(id));
    };
    match x.status {
        EipStatus::Unbind => {}
        EipStatus::Binding | EipStatus::Unbinding | EipStatus::Creating => {
            return Err(mutex(&format!("EIP `{id}`")));
        }
        EipStatus::Bind => {
            return Err(ApiError::new(
                "UnsupportedOperation.AddressStatusNotPermit",
                format!("The EIP `{id}` is bound; disassociate it first."),
            ));
        }
    }
    if w.ip_state(ip).is_some_and(|s| s != IpState::Available) {
        return Err(mutex(&format!("IP `{ip}`")));
    }
    if w.eips.iter().any(|x| x.private_ip == Some(ip)) {
        return Err(ApiError::new(
            "InvalidPrivateIpAddress.AlreadyBindEip",
            format!("The IP `{ip}` already has an EIP."),
        ));
    }
    if let Some(x) = w.eips.iter_mut().find(|x| x.id == id) {
        x.status = EipStatus::Binding;
        x.eni = Some(eni);
        x.private_ip = Some(ip);
    }
    let task = w.start_eip_task(
        vec![Change::EipBind {
            eip: id.to_string(),
        }],
        ctx.now,
    );
    Ok(json!({ "TaskId": task.to_string() }))
}

pub(crate) fn disassociate(p: &Params, w: &mut World, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    params::check(
        p,
        &[
            ("AddressId", Kind::Str, true),
            ("ReallocateNormalPublicIp", Kind::Bool, false),
        ],
    )?;
    let id = address_id(p)?;
    let Some(x) = w.eips.iter_mut().find(|x| x.id == id) else {
        return Err(not_found(id));
    };
    match x.status {
        EipStatus::Bind => {}
        EipStatus::Binding | EipStatus::Unbinding | EipStatus::Creating => {
            return Err(mutex(&format!("EIP `{id}`")));
        }
        EipStatus::Unbind => {
            return Err(ApiError::new(
                "UnsupportedOperation.AddressStatusNotPermit",
                format!("The EIP `{id}` is not bound."),
            ));
        }
    }
    x.status = EipStatus::Unbinding;
    let task = w.start_eip_task(
        vec![Change::EipUnbind {
            eip: id.to_string(),
        }],
        ctx.now,
    );
    Ok(json!({ "TaskId": task.to_string() }))
}

pub(crate) fn describe_task_result(
    p: &Params,
    w: &mut World,
    _ctx: &Ctx<'_>,
) -> Result<Value, ApiError> {
    params::check(
        p,
        &[
            ("TaskId", Kind::UInt, false),
            ("DealName", Kind::Str, false),
        ],
    )?;
    let Some(task_id) = params::u64_opt(p, "TaskId") else {
        if let Some(deal) = params::str_opt(p, "DealName") {
            return Err(ApiError::new(
                "ResourceNotFound",
                format!("The deal `{deal}` does not exist."),
            ));
        }
        return Err(ApiError::new(
            "MissingParameter",
            "The request is missing a required parameter `TaskId`.",
        ));
    };
    let task = w.eip_tasks.get(&task_id).ok_or_else(|| {
        ApiError::new(
            "ResourceNotFound",
            format!("The task `{task_id}` does not exist."),
        )
    })?;
    Ok(json!({ "TaskId": task.id, "Result": task.status.as_str() }))
}
