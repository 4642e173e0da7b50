//! HAVIP actions: DescribeHaVips, HaVipAssociateAddressIp and HaVipDisassociateAddressIp (the
//! EIP of a HAVIP; asynchronous, polled with DescribeVpcTaskResult).

use serde_json::{Value, json};

use super::params::{self, Kind, Params};
use super::{ApiError, Ctx};
use crate::ids;
use crate::world::{Change, Eip, EipStatus, HaVip, World};

const FILTERS: &[&str] = &[
    "havip-id",
    "havip-name",
    "vpc-id",
    "subnet-id",
    "vip",
    "address-ip",
    "havip-association.instance-id",
    "havip-association.instance-type",
    "check-associate",
    "cdc-id",
    "type",
    "termination-protection",
    "traffic-protection",
];

fn havip_json(w: &World, h: &HaVip) -> Value {
    let instance = h
        .eni
        .as_deref()
        .and_then(|e| w.eni(e))
        .and_then(|e| e.instance.clone())
        .unwrap_or_default();
    json!({
        "HaVipId": h.id,
        "HaVipName": h.name,
        "Vip": h.vip.to_string(),
        "VpcId": h.vpc,
        "SubnetId": h.subnet,
        "NetworkInterfaceId": h.eni.clone().unwrap_or_default(),
        "InstanceId": instance,
        "AddressIp": eip_of(w, &h.id)
            .filter(|x| x.status == EipStatus::Bind)
            .map(|x| x.ip.to_string())
            .unwrap_or_default(),
        "State": if h.eni.is_some() { "AVAILABLE" } else { "UNBIND" },
        "CreatedTime": ids::api_time(w.created_unix),
        "Business": "",
        "HaVipAssociationSet": [],
        "CheckAssociate": false,
        "CdcId": "",
        "FlushedTime": h
            .flushed
            .map(ids::api_time)
            .unwrap_or_else(|| "0000-00-00 00:00:00".to_string()),
        "TagSet": [],
    })
}

pub(crate) fn describe_ha_vips(
    p: &Params,
    w: &mut World,
    _ctx: &Ctx<'_>,
) -> Result<Value, ApiError> {
    params::check(
        p,
        &[
            ("HaVipIds", Kind::StrList, false),
            ("Filters", Kind::List, false),
            ("Offset", Kind::UInt, false),
            ("Limit", Kind::UInt, false),
        ],
    )?;
    let ids = params::str_list(p, "HaVipIds");
    let filters = params::filters(p, FILTERS)?;
    if !ids.is_empty() && !filters.is_empty() {
        return Err(ApiError::new(
            "InvalidParameter.Coexist",
            "The parameters `HaVipIds` and `Filters` cannot be specified at the same time.",
        ));
    }
    if filters.len() > 10 || filters.iter().any(|f| f.values.len() > 5) {
        return Err(ApiError::new(
            "InvalidParameterValue.LimitExceeded",
            "At most 10 filters of at most 5 values each may be given.",
        ));
    }
    for id in &ids {
        params::id("HaVipIds", id, "havip-")?;
    }
    let (offset, limit) = params::paging(p)?;
    let all: Vec<&HaVip> = w
        .havips
        .iter()
        .filter(|h| ids.is_empty() || ids.contains(&h.id))
        .filter(|h| {
            filters.iter().all(|f| {
                let any = |s: &str| f.values.iter().any(|v| v == s);
                match f.name.as_str() {
                    "havip-id" => any(&h.id),
                    "havip-name" => any(&h.name),
                    "vpc-id" => any(&h.vpc),
                    "subnet-id" => any(&h.subnet),
                    "vip" => any(&h.vip.to_string()),
                    "address-ip" => eip_of(w, &h.id)
                        .filter(|x| x.status == EipStatus::Bind)
                        .is_some_and(|x| any(&x.ip.to_string())),
                    "havip-association.instance-id" => h
                        .eni
                        .as_deref()
                        .and_then(|e| w.eni(e))
                        .and_then(|e| e.instance.as_deref())
                        .is_some_and(any),
                    _ => false,
                }
            })
        })
        .collect();
    let set: Vec<Value> = params::page(&all, offset, limit)
        .into_iter()
        .map(|h| havip_json(w, h))
        .collect();
    Ok(json!({ "TotalCount": all.len(), "HaVipSet": set }))
}

fn havip_id(p: &Params) -> Result<&str, ApiError> {
    params::id("HaVipId", params::str_req(p, "HaVipId")?, "havip-")
}

fn havip_not_found(id: &str) -> ApiError {
    ApiError::new(
        "ResourceNotFound",
        format!("The HAVIP `{id}` does not exist."),
    )
}

fn mutex(what: &str) -> ApiError {
    ApiError::new(
        "UnsupportedOperation.MutexOperationTaskRunning",
        format!("A task on {what} is still running; retry when it has finished."),
    )
}

/// The EIP bound (or being bound or unbound) to HAVIP `id`.
fn eip_of<'a>(w: &'a World, id: &str) -> Option<&'a Eip> {
    w.eips.iter().find(|x| x.havip.as_deref() == Some(id))
}

/// HaVipAssociateAddressIp: binds the EIP whose address is `AddressIp` to the HAVIP;
/// asynchronous (the RequestId is the DescribeVpcTaskResult task; the EIP reads `BINDING`
/// until it lands, then `BIND` with `InstanceType` HAVIP).
///
/// Errors, checked in this order: malformed id/address (`InvalidParameterValue.Malformed`);
/// unknown HAVIP or no EIP with that address (`ResourceNotFound`); a task on the HAVIP or the
/// EIP still running (`UnsupportedOperation.MutexOperationTaskRunning`); the HAVIP already has
/// an EIP, or the EIP is bound elsewhere (`UnsupportedOperation.BindEIP`).
pub(crate) fn associate_address_ip(
    p: &Params,
    w: &mut World,
    ctx: &Ctx<'_>,
) -> Result<Value, ApiError> {
    params::check(
        p,
        &[("HaVipId", Kind::Str, true), ("AddressIp", Kind::Str, true)],
    )?;
    let id = havip_id(p)?;
    let address = params::ip("AddressIp", params::str_req(p, "AddressIp")?)?;
    if !w.havips.iter().any(|h| h.id == id) {
        return Err(havip_not_found(id));
    }
    let Some(x) = w.eips.iter().find(|x| x.ip == address) else {
        return Err(ApiError::new(
            "ResourceNotFound",
            format!("No EIP of this account has the address `{address}`."),
        ));
    };
    if let Some(current) = eip_of(w, id) {
        if current.status != EipStatus::Bind {
            return Err(mutex(&format!("HAVIP `{id}`")));
        }
        return Err(ApiError::new(
            "UnsupportedOperation.BindEIP",
            format!(
                "The HAVIP `{id}` already has the EIP `{}`; disassociate it first.",
                current.ip
            ),
        ));
    }
    match x.status {
        EipStatus::Unbind => {}
        EipStatus::Binding | EipStatus::Unbinding | EipStatus::Creating => {
            return Err(mutex(&format!("EIP `{address}`")));
        }
        EipStatus::Bind => {
            let to = x
                .havip
                .clone()
                .or_else(|| x.eni.clone())
                .unwrap_or_default();
            return Err(ApiError::new(
                "UnsupportedOperation.BindEIP",
                format!("The EIP `{address}` is already bound to `{to}`; disassociate it first."),
            ));
        }
    }
    let eip = x.id.clone();
    let vip = w.havips.iter().find(|h| h.id == id).map(|h| h.vip);
    if let Some(x) = w.eips.iter_mut().find(|x| x.id == eip) {
        x.status = EipStatus::Binding;
        x.eni = None;
        x.private_ip = vip;
        x.havip = Some(id.to_string());
    }
    w.start_vpc_task(
        ctx.request_id,
        "HaVipAssociateAddressIp",
        id,
        vec![Change::HaVipEipBind {
            havip: id.to_string(),
            eip,
        }],
        ctx.now,
    );
    Ok(json!({}))
}

/// HaVipDisassociateAddressIp: unbinds the HAVIP's EIP; asynchronous like
/// [`associate_address_ip`] (the EIP reads `UNBINDING` until it lands).
///
/// Errors: malformed id (`InvalidParameterValue.Malformed`); unknown HAVIP
/// (`ResourceNotFound`); a task on its EIP still running
/// (`UnsupportedOperation.MutexOperationTaskRunning`); no EIP bound
/// (`UnsupportedOperation.UnbindEIP`, the VPC's code for "not bound to an EIP").
pub(crate) fn disassociate_address_ip(
    p: &Params,
    w: &mut World,
    ctx: &Ctx<'_>,
) -> Result<Value, ApiError> {
    params::check(p, &[("HaVipId", Kind::Str, true)])?;
    let id = havip_id(p)?;
    if !w.havips.iter().any(|h| h.id == id) {
        return Err(havip_not_found(id));
    }
    let Some(x) = eip_of(w, id) else {
        return Err(ApiError::new(
            "UnsupportedOperation.UnbindEIP",
            format!("The HAVIP `{id}` has no EIP."),
        ));
    };
    if x.status != EipStatus::Bind {
        return Err(mutex(&format!("HAVIP `{id}`")));
    }
    let eip = x.id.clone();
    if let Some(x) = w.eips.iter_mut().find(|x| x.id == eip) {
        x.status = EipStatus::Unbinding;
    }
    w.start_vpc_task(
        ctx.request_id,
        "HaVipDisassociateAddressIp",
        id,
        vec![Change::HaVipEipUnbind {
            havip: id.to_string(),
            eip,
        }],
        ctx.now,
    );
    Ok(json!({}))
}
